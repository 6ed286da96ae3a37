//! Training face recognizers in Rust. [`recordio`] reads and writes
//! InsightFace's MXNet RecordIO datasets (`train.rec` + `train.idx`) without
//! MXNet; [`prepare`] turns a folder of identities into one with facekit's
//! detector and `norm_crop`; [`schedule`] is arcface_torch's learning-rate
//! schedule. With the `torch` feature (libtorch through the `tch` crate,
//! chosen by measurement: see the README's "Training" section), `margin`
//! holds ArcFace/CosFace's `CombinedMarginLoss`, `partial_fc` Partial FC
//! v2, `backbone` IResNet and MobileFaceNet with arcface_torch's names,
//! `data` the shuffled, flipped batches, `optim` SGD and AdamW with
//! checkpointable state, `trainer` the loop (log, report, verification,
//! checkpoints, resume) and `export` the ONNX recognizer facekit runs.
//! The libtorch comes from PyPI's `torch` wheel (`scripts/train-venv.sh`);
//! nothing else in facekit needs it.

pub mod prepare;
pub mod recordio;
pub mod schedule;

#[cfg(feature = "torch")]
pub mod backbone;
#[cfg(feature = "torch")]
pub mod data;
#[cfg(feature = "torch")]
pub mod export;
#[cfg(feature = "torch")]
pub mod margin;
#[cfg(feature = "torch")]
pub mod optim;
#[cfg(feature = "torch")]
pub mod partial_fc;
#[cfg(feature = "torch")]
pub mod trainer;
