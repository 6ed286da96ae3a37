//! ONNX Runtime for facekit: finding the shared library, loading models,
//! describing their signatures and running them.
//!
//! This is the only crate that names `ort`. ONNX Runtime is loaded at run
//! time (`load-dynamic`) from the `libonnxruntime.so` shipped in PyPI's
//! `onnxruntime` wheel, found through an explicit path, `ORT_DYLIB_PATH`, or
//! the project-local folder `scripts/setup.sh` fills (see [`locate_library`]).
//! A loaded [`OnnxModel`] is `Send + Sync`: it keeps a pool of sessions so
//! parallel callers never serialise on one `Session::run`. Its
//! [`ModelSignature`] (input/output names and shapes, leading node names) is
//! what the model router decides on. Sessions run on the execution
//! providers [`RuntimeOptions::providers`] asks for ([`Provider`]: CPU,
//! CUDA, TensorRT, OpenVINO, Core ML); a missing accelerator is an error or,
//! when the list allows it, a fallback that is reported, never a silent one.
//!
//! ```no_run
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let model = runtime.load("det_500m.onnx".as_ref())?;
//! let input = vec![0.0f32; 3 * 640 * 640];
//! let outputs = model.run(&input, &[1, 3, 640, 640])?;
//! assert_eq!(outputs.len(), model.signature().outputs.len());
//! # Ok::<(), facekit_runtime::RuntimeError>(())
//! ```

mod graph;
mod library;
mod model;
mod provider;

pub use graph::{GraphError, GraphInfo};
pub use library::{ORT_VERSION, locate_library};
pub use model::{
    ModelSignature, OnnxModel, OutputTensor, ProvidersUnavailable, Runtime, RuntimeError,
    RuntimeOptions, TensorSpec, inference_nanos, with_intra_threads,
};
pub use provider::{Provider, UnknownProvider};
