use std::path::{Path, PathBuf};

use crate::RuntimeError;

/// The ONNX Runtime version facekit is built and tested against (the PyPI
/// `onnxruntime` wheel `scripts/setup.sh` installs).
pub const ORT_VERSION: &str = "1.32.0";

const LIBRARY_NAME: &str = "libonnxruntime.so";

/// Finds `libonnxruntime.so`, in this order: `explicit` (a file or a folder
/// holding it), `$ORT_DYLIB_PATH`, `$FACEKIT_HOME/runtime`, `~/.facekit/runtime`,
/// `runtime/` beside the executable, and the checkout's `.facekit/runtime`
/// that `scripts/setup.sh` fills.
pub fn locate_library(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("FACEKIT_HOME") {
        candidates.push(PathBuf::from(home).join("runtime"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".facekit/runtime"));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("runtime"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.facekit/runtime"));

    for candidate in &candidates {
        let file = if candidate.is_dir() {
            candidate.join(LIBRARY_NAME)
        } else {
            candidate.clone()
        };
        if file.is_file() {
            return Ok(file);
        }
    }
    // An explicit path that does not exist is an error of its own: say so.
    if let Some(p) = explicit.or(std::env::var_os("ORT_DYLIB_PATH").as_deref().map(Path::new)) {
        return Err(RuntimeError::LibraryNotFound {
            searched: format!("{} (given explicitly or by ORT_DYLIB_PATH)", p.display()),
        });
    }
    Err(RuntimeError::LibraryNotFound {
        searched: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
