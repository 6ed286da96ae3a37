//! Execution providers: which accelerator ONNX Runtime runs the models on,
//! and what happens when the one asked for is not there.
//!
//! ONNX Runtime itself falls back to the CPU without a word when an
//! accelerator cannot be used (InsightFace users' second most common
//! complaint, insightface #2344). facekit resolves the list up front
//! against the providers the loaded library was built with: an accelerator
//! that is missing is an error, unless the list names a later provider to
//! fall back to, in which case the fallback is logged as a warning and kept
//! in [`Runtime::fallbacks`](crate::Runtime::fallbacks) for callers to show.

use std::fmt;
use std::str::FromStr;

use ort::ep::{self, ExecutionProvider, ExecutionProviderDispatch};

/// An ONNX Runtime execution provider facekit can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// The CPU (always there).
    Cpu,
    /// NVIDIA GPUs through CUDA (PyPI's `onnxruntime-gpu`).
    Cuda,
    /// NVIDIA TensorRT (`onnxruntime-gpu` plus TensorRT's libraries).
    TensorRt,
    /// Intel CPUs, GPUs and NPUs (PyPI's `onnxruntime-openvino`).
    OpenVino,
    /// Apple's Core ML (ONNX Runtime's macOS builds).
    CoreMl,
}

impl Provider {
    /// Every provider, in the order `--provider` lists them.
    pub const ALL: [Provider; 5] = [
        Provider::Cpu,
        Provider::Cuda,
        Provider::TensorRt,
        Provider::OpenVino,
        Provider::CoreMl,
    ];

    /// facekit's name (`--provider` value).
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::OpenVino => "openvino",
            Provider::CoreMl => "coreml",
        }
    }

    /// ONNX Runtime's name, as Python's `providers=[...]` spells it.
    pub fn onnxruntime_name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPUExecutionProvider",
            Provider::Cuda => "CUDAExecutionProvider",
            Provider::TensorRt => "TensorrtExecutionProvider",
            Provider::OpenVino => "OpenVINOExecutionProvider",
            Provider::CoreMl => "CoreMLExecutionProvider",
        }
    }

    /// Where a build of ONNX Runtime with this provider comes from.
    pub fn install_hint(self) -> &'static str {
        match self {
            Provider::Cpu => "any onnxruntime build has it",
            Provider::Cuda => {
                "run `scripts/setup.sh --provider cuda` (PyPI's onnxruntime-gpu) or, from Python, \
                 `pip install onnxruntime-gpu` in place of onnxruntime"
            }
            Provider::TensorRt => {
                "run `scripts/setup.sh --provider tensorrt` (PyPI's onnxruntime-gpu) and install \
                 NVIDIA TensorRT's libraries"
            }
            Provider::OpenVino => {
                "run `scripts/setup.sh --provider openvino` (PyPI's onnxruntime-openvino) or, from \
                 Python, `pip install onnxruntime-openvino` in place of onnxruntime"
            }
            Provider::CoreMl => "Core ML is in ONNX Runtime's macOS builds only",
        }
    }

    /// Whether the loaded ONNX Runtime library was built with this provider.
    pub(crate) fn is_compiled_in(self) -> Result<bool, ort::Error> {
        match self {
            Provider::Cpu => Ok(true),
            Provider::Cuda => ep::CUDA::is_available(),
            Provider::TensorRt => ep::TensorRT::is_available(),
            Provider::OpenVino => ep::OpenVINO::is_available(),
            Provider::CoreMl => ep::CoreML::is_available(),
        }
    }

    /// What to register on a session; `None` for the CPU, which ONNX
    /// Runtime always appends last.
    pub(crate) fn dispatch(self) -> Option<ExecutionProviderDispatch> {
        let dispatch = match self {
            Provider::Cpu => return None,
            Provider::Cuda => ep::CUDA::default().build(),
            Provider::TensorRt => ep::TensorRT::default().build(),
            Provider::OpenVino => ep::OpenVINO::default().build(),
            Provider::CoreMl => ep::CoreML::default().build(),
        };
        Some(dispatch.error_on_failure())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that is not one of [`Provider::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown execution provider '{0}'; expected cpu, cuda, tensorrt, openvino or coreml (or ONNX Runtime's names, such as CUDAExecutionProvider)"
)]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// facekit's names (`cuda`) and ONNX Runtime's (`CUDAExecutionProvider`),
    /// in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Provider::ALL
            .into_iter()
            .find(|p| {
                p.name().eq_ignore_ascii_case(wanted)
                    || p.onnxruntime_name().eq_ignore_ascii_case(wanted)
            })
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

/// The providers to use, from those asked for (in order of preference) and
/// what the library has. An empty request means the CPU, plus CUDA when the
/// library was built with it (what installing `onnxruntime-gpu` is for).
///
/// Returns the providers kept, in order, and one line per provider
/// skipped. `Err` names each provider asked for when none is there.
pub(crate) fn resolve(
    requested: &[Provider],
    compiled_in: impl Fn(Provider) -> bool,
) -> Result<(Vec<Provider>, Vec<String>), Vec<Provider>> {
    if requested.is_empty() {
        let mut auto: Vec<Provider> = [Provider::Cuda]
            .into_iter()
            .filter(|&p| compiled_in(p))
            .collect();
        auto.push(Provider::Cpu);
        return Ok((auto, Vec::new()));
    }
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for &p in requested {
        if kept.contains(&p) {
            continue;
        }
        if compiled_in(p) {
            kept.push(p);
        } else {
            skipped.push(p);
        }
    }
    if kept.is_empty() {
        return Err(skipped);
    }
    let fallbacks = skipped
        .iter()
        .map(|p| {
            format!(
                "execution provider '{p}' is not in this ONNX Runtime build; using {} instead ({})",
                kept.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
                p.install_hint()
            )
        })
        .collect();
    Ok((kept, fallbacks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_both_spellings() {
        for p in Provider::ALL {
            assert_eq!(p.name().parse::<Provider>(), Ok(p));
            assert_eq!(p.onnxruntime_name().parse::<Provider>(), Ok(p));
            assert_eq!(p.name().to_uppercase().parse::<Provider>(), Ok(p));
        }
        let err = "tpu".parse::<Provider>().unwrap_err();
        assert!(err.to_string().contains("'tpu'"), "{err}");
    }

    #[test]
    fn a_missing_accelerator_falls_back_only_when_the_list_says_so() {
        let cpu_only = |p: Provider| p == Provider::Cpu;
        assert_eq!(
            resolve(&[Provider::Cuda], cpu_only),
            Err(vec![Provider::Cuda])
        );
        let (kept, fallbacks) = resolve(&[Provider::Cuda, Provider::Cpu], cpu_only).unwrap();
        assert_eq!(kept, vec![Provider::Cpu]);
        assert_eq!(fallbacks.len(), 1);
        assert!(fallbacks[0].contains("'cuda'") && fallbacks[0].contains("onnxruntime-gpu"));
        // Nothing asked for: the CPU, and CUDA first when the build has it.
        assert_eq!(resolve(&[], cpu_only), Ok((vec![Provider::Cpu], vec![])));
        let gpu_build = |p: Provider| matches!(p, Provider::Cpu | Provider::Cuda);
        assert_eq!(
            resolve(&[], gpu_build).unwrap().0,
            vec![Provider::Cuda, Provider::Cpu]
        );
        assert_eq!(
            resolve(
                &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
                gpu_build
            )
            .unwrap()
            .0,
            vec![Provider::Cuda, Provider::Cpu]
        );
    }
}
