//! The native half of the `facekit` Python package (`facekit._facekit`):
//! InsightFace's `FaceAnalysis` and single models over facekit's pipeline,
//! batches analysed in parallel with the GIL released, alignment and
//! drawing on numpy images, the gallery and verification evaluation. The
//! Python half (`python/facekit`) gives these InsightFace's names, `Face`
//! records and dtypes; every behaviour is the library's, called as the CLI
//! and the server call it. Built by maturin as one abi3 wheel
//! (`scripts/python-wheel.sh`); tested by pytest (`crates/python/tests`).
//!
//! ```python
//! import cv2, facekit
//! app = facekit.FaceAnalysis(name="buffalo_l")
//! app.prepare(ctx_id=0, det_size=(640, 640))
//! faces = app.get(cv2.imread("t1.jpg"))
//! print(len(faces), faces[0].bbox, faces[0].normed_embedding.shape)
//! ```

mod analysis;
mod arrays;
mod draw;
mod errors;
mod evaluation;
mod gallery;
mod models;

use pyo3::prelude::*;

/// mimalloc for the extension's own allocations, as the CLI has and for its
/// reason (glibc's per-thread arenas keep freed multi-megabyte buffers, so
/// resident memory ratchets up across threads; measured on the server, not
/// here). Its effect on `get_batch`'s speed was within this VM's noise
/// (`scripts/bench_python.py`, `perf`); the page clearing it was meant to
/// cut went away with the reused input buffer (`facekit_image::with_nchw`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _facekit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<analysis::Analyzer>()?;
    m.add_class::<models::Model>()?;
    m.add_class::<gallery::Gallery>()?;
    m.add_function(wrap_pyfunction!(arrays::norm_crop, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::estimate_norm, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::decode, m)?)?;
    m.add_function(wrap_pyfunction!(draw::draw_faces, m)?)?;
    m.add_function(wrap_pyfunction!(evaluation::verify, m)?)?;
    errors::register(m)?;
    m.add("ORT_VERSION", facekit_runtime::ORT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
