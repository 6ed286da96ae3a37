//! facekit's errors as Python exceptions. Messages are the CLI's: the
//! error and its causes joined by `: ` (anyhow's `{:#}`), after the image
//! path when one is known.

use facekit_gallery::GalleryError as LibGalleryError;
use facekit_models::PackError;
use facekit_pipeline::PipelineError;
use facekit_runtime::RuntimeError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _facekit,
    FacekitError,
    PyException,
    "Base class of every facekit error."
);
create_exception!(
    _facekit,
    ImageError,
    FacekitError,
    "An image could not be read or decoded."
);
create_exception!(
    _facekit,
    ModelError,
    FacekitError,
    "Models could not be found, loaded or run."
);
create_exception!(
    _facekit,
    OnnxRuntimeNotFound,
    ModelError,
    "ONNX Runtime (PyPI's onnxruntime or onnxruntime-gpu) is missing or unusable."
);
create_exception!(
    _facekit,
    GalleryError,
    FacekitError,
    "A gallery operation failed."
);
create_exception!(_facekit, EvalError, FacekitError, "An evaluation failed.");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FacekitError", py.get_type::<FacekitError>())?;
    m.add("ImageError", py.get_type::<ImageError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("OnnxRuntimeNotFound", py.get_type::<OnnxRuntimeNotFound>())?;
    m.add("GalleryError", py.get_type::<GalleryError>())?;
    m.add("EvalError", py.get_type::<EvalError>())?;
    Ok(())
}

/// The CLI's rendering of an error: it and its causes.
pub fn message(e: impl Into<anyhow::Error>) -> String {
    format!("{:#}", e.into())
}

fn runtime_error(e: &RuntimeError) -> bool {
    matches!(
        e,
        RuntimeError::LibraryNotFound { .. } | RuntimeError::Init { .. }
    )
}

/// The exception for a pipeline error, its message prefixed by `context`
/// (the image) when given.
pub fn pipeline(e: PipelineError, context: Option<&str>) -> PyErr {
    let missing_runtime = match &e {
        PipelineError::Runtime(r) | PipelineError::Pack(PackError::Runtime(r)) => runtime_error(r),
        _ => false,
    };
    let is_image = matches!(e, PipelineError::Decode(_));
    let is_model = matches!(e, PipelineError::Pack(_) | PipelineError::Runtime(_));
    let text = match context {
        Some(c) => format!("{c}: {}", message(e)),
        None => message(e),
    };
    if missing_runtime {
        OnnxRuntimeNotFound::new_err(text)
    } else if is_image {
        ImageError::new_err(text)
    } else if is_model {
        ModelError::new_err(text)
    } else {
        FacekitError::new_err(text)
    }
}

/// The exception for a model-pack error.
pub fn pack(e: PackError) -> PyErr {
    pipeline(PipelineError::Pack(e), None)
}

/// The exception for a gallery error (pipeline failures inside it keep
/// their own class).
pub fn gallery(e: LibGalleryError) -> PyErr {
    match e {
        LibGalleryError::Pipeline(p) => pipeline(p, None),
        other => GalleryError::new_err(message(other)),
    }
}
