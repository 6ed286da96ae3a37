//! Training face recognizers in Rust. [`recordio`] reads and writes
//! InsightFace's MXNet RecordIO datasets (`train.rec` + `train.idx`) without
//! MXNet. With the `torch` feature, [`margin`] holds ArcFace/CosFace's
//! `CombinedMarginLoss` and [`partial_fc`] Partial FC v2 as
//! `arcface_torch` computes them, on libtorch through the `tch` crate
//! (chosen by measurement: see the README's "Training" section). The
//! libtorch comes from PyPI's `torch` wheel (`scripts/train-venv.sh`); it
//! is needed only to build and run training, never by the rest of facekit.

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
