use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::PackSpec;

/// The most one unpacked file may hold (the largest official model,
/// `inswapper_128.onnx`, is 554 MB): a cap on zip bombs.
const MAX_FILE_BYTES: u64 = 2 << 30;

/// Why a pack could not be fetched. Whatever the reason, no pack folder
/// and no partial files are left behind.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed or the connection broke.
    #[error("downloading {url} failed: {reason}")]
    Download {
        /// The address.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The address.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body ended before the announced or expected size.
    #[error("download of {url} stopped after {got} of {expected} bytes")]
    Truncated {
        /// The address.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The zip or a file in it is not what was published.
    #[error(
        "SHA-256 mismatch for {what}: expected {expected}, got {actual}; the download is corrupt or not the official file"
    )]
    HashMismatch {
        /// The zip's address, or the file's name in it.
        what: String,
        /// The published hash.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },
    /// The zip cannot be read.
    #[error("{what} is not a valid zip: {reason}")]
    BadZip {
        /// The address.
        what: String,
        /// What the zip reader said.
        reason: String,
    },
    /// The zip's model files are not the pack's.
    #[error("the zip does not hold pack {pack}'s files: {reason}")]
    WrongContents {
        /// The pack.
        pack: String,
        /// Missing, unexpected, duplicated or oversized files.
        reason: String,
    },
    /// The model home could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// How to fetch.
#[derive(Default)]
pub struct FetchOptions<'a> {
    /// Replace a pack folder that already exists.
    pub force: bool,
    /// Called as bytes arrive with `(received, total if known)`.
    pub progress: Option<&'a (dyn Fn(u64, Option<u64>) + Sync)>,
}

/// A fetched (or already present) pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The pack folder.
    pub dir: PathBuf,
    /// False when the folder was already there and nothing was downloaded.
    pub downloaded: bool,
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Downloads `spec`'s zip from `url` (its official address, or a mirror)
/// into `<home>/<name>`: hash-checked, unpacked flat into a hidden folder
/// beside it, every model file hash-checked, then renamed into place.
pub fn fetch_pack(
    spec: &PackSpec<'_>,
    url: &str,
    home: &Path,
    options: &FetchOptions<'_>,
) -> Result<Fetched, FetchError> {
    let dir = home.join(spec.name);
    if dir.exists() && !options.force {
        return Ok(Fetched {
            dir,
            downloaded: false,
        });
    }
    std::fs::create_dir_all(home).map_err(io_at(home))?;
    let mut zip_file = tempfile::Builder::new()
        .prefix(&format!(".{}.download-", spec.name))
        .tempfile_in(home)
        .map_err(io_at(home))?;
    let digest = download(url, spec.size, zip_file.as_file_mut(), options)?;
    check_hash(url, spec.sha256, &digest)?;

    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.unpack-", spec.name))
        .tempdir_in(home)
        .map_err(io_at(home))?;
    unpack(spec, zip_file.as_file_mut(), url, staging.path())?;
    drop(zip_file);

    // The one step that makes the pack visible; an old pack moves aside first.
    let old = dir
        .exists()
        .then(|| home.join(format!(".{}.old-{}", spec.name, std::process::id())));
    if let Some(old) = &old {
        std::fs::rename(&dir, old).map_err(io_at(&dir))?;
    }
    let staged = staging.keep();
    if let Err(source) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        if let Some(old) = &old {
            let _ = std::fs::rename(old, &dir);
        }
        return Err(FetchError::Io { path: dir, source });
    }
    if let Some(old) = old {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(Fetched {
        dir,
        downloaded: true,
    })
}

/// Streams the body into `out`, returning its SHA-256.
fn download(
    url: &str,
    expected_size: Option<u64>,
    out: &mut File,
    options: &FetchOptions<'_>,
) -> Result<String, FetchError> {
    let failed = |reason: String| FetchError::Download {
        url: url.to_string(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
        });
    }
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let total = announced.or(expected_size);
    let mut body = response.into_body().into_reader();
    let stored = |e: std::io::Error| failed(format!("cannot store the download: {e}"));
    let (got, digest) = copy_hashed(
        &mut body,
        out,
        |got, e| failed(format!("after {got} bytes: {e}")),
        stored,
        |got| {
            if let Some(progress) = options.progress {
                progress(got, total);
            }
            Ok(())
        },
    )?;
    if let Some(expected) = total.filter(|&t| t != got) {
        return Err(FetchError::Truncated {
            url: url.to_string(),
            got,
            expected,
        });
    }
    Ok(digest)
}

/// Streams `src` into `dst` (buffered, flushed at the end), hashing what
/// passes: the one copy loop of the download and of unpacking. `after(total)`
/// runs after every chunk and may stop the copy with an error. Returns the
/// byte count and the SHA-256.
fn copy_hashed(
    src: &mut impl Read,
    dst: impl Write,
    read_failed: impl Fn(u64, std::io::Error) -> FetchError,
    write_failed: impl Fn(std::io::Error) -> FetchError,
    mut after: impl FnMut(u64) -> Result<(), FetchError>,
) -> Result<(u64, String), FetchError> {
    let mut writer = BufWriter::new(dst);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_failed(total, e)),
        };
        total += n as u64;
        after(total)?;
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(&write_failed)?;
    }
    writer.flush().map_err(&write_failed)?;
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_hash(what: &str, expected: &str, actual: &str) -> Result<(), FetchError> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(FetchError::HashMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Writes every model file of the zip into `dest` (flat: InsightFace's
/// zips differ in whether files sit in a subfolder), checking each hash and
/// that the set of files is exactly the pack's.
fn unpack(
    spec: &PackSpec<'_>,
    zip_file: &mut File,
    url: &str,
    dest: &Path,
) -> Result<(), FetchError> {
    let bad_zip = |e: zip::result::ZipError| FetchError::BadZip {
        what: url.to_string(),
        reason: e.to_string(),
    };
    let wrong = |reason: String| FetchError::WrongContents {
        pack: spec.name.to_string(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(zip_file).map_err(bad_zip)?;
    let mut seen: Vec<String> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad_zip)?;
        if entry.is_dir() {
            continue;
        }
        let Some(name) = entry
            .enclosed_name()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".onnx"))
        else {
            continue;
        };
        let Some(&(_, expected)) = spec.files.iter().find(|(f, _)| *f == name) else {
            return Err(wrong(format!("unexpected file {name}")));
        };
        if seen.contains(&name) {
            return Err(wrong(format!("{name} appears twice")));
        }
        let path = dest.join(&name);
        let out = File::create(&path).map_err(io_at(&path))?;
        let (_, digest) = copy_hashed(
            &mut (&mut entry).take(MAX_FILE_BYTES + 1),
            out,
            |_, e| FetchError::BadZip {
                what: format!("{url} ({name})"),
                reason: e.to_string(),
            },
            io_at(&path),
            |written| {
                if written > MAX_FILE_BYTES {
                    return Err(wrong(format!(
                        "{name} unpacks to more than {MAX_FILE_BYTES} bytes"
                    )));
                }
                Ok(())
            },
        )?;
        check_hash(&name, expected, &digest)?;
        seen.push(name);
    }
    let missing: Vec<&str> = spec
        .files
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !seen.iter().any(|s| s == f))
        .collect();
    if !missing.is_empty() {
        return Err(wrong(format!("missing {}", missing.join(", "))));
    }
    Ok(())
}
