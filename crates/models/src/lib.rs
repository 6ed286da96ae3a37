//! Model routing and model packs.
//!
//! An InsightFace model pack is a folder of `.onnx` files with no manifest
//! (`~/.insightface/models/buffalo_l`); each file's task is inferred from its
//! input/output signature by [`route`], with InsightFace's rules, and the
//! first file (in name order) per task wins, as in InsightFace's
//! `FaceAnalysis`. [`resolve_pack`] turns a pack name or folder into a path.
//! Depends on `facekit-runtime`, `facekit-detection`, `facekit-recognition`,
//! `facekit-attributes` and `facekit-liveness`.
//!
//! ```no_run
//! use facekit_models::{ModelPack, resolve_pack};
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let pack = ModelPack::load(&runtime, &resolve_pack("buffalo_l")?)?;
//! for entry in pack.entries() {
//!     println!("{} -> {}", entry.file.display(), entry.status);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod pack;
mod router;

pub use pack::{
    DetectorChoice, EntryStatus, LoadedModel, ModelPack, PackEntry, PackError, facekit_home,
    models_home, resolve_pack,
};
pub use router::{ModelKind, Route, insightface_normalization, route};
