//! Geometry and face records shared by every facekit crate.
//!
//! This crate owns the plain data that flows through the pipeline — boxes,
//! landmark points, detections, 2×3 affine transforms — and the maths on them
//! that several stages need: the least-squares similarity fit used for face
//! alignment, InsightFace's NMS and `max_num` selection, and embedding
//! normalisation and cosine similarity, the SHA-256 digests that model
//! contracts, image records and caches are keyed on, and the per-stage
//! clocks that benchmarks read. It depends on nothing
//! but `serde` and `sha2`, so every other crate may depend on it.
//!
//! ```
//! use facekit_core::{BBox, Detection, nms};
//! let dets = vec![
//!     Detection::new(BBox::new(0.0, 0.0, 10.0, 10.0), 0.9, None),
//!     Detection::new(BBox::new(1.0, 1.0, 11.0, 11.0), 0.8, None),
//! ];
//! assert_eq!(nms(&dets, 0.4), vec![0]);
//! ```

mod embedding;
mod geometry;
mod stages;
mod suppression;
mod words;

pub use embedding::{cosine_similarity, l2_norm, l2_normalized};
pub use geometry::{Affine2, BBox, Detection, Point, estimate_similarity};
pub use stages::{Stage, StageTotals, current_stage, stage_totals, timed};
pub use suppression::{MaxNumMetric, nms, select_max_num};
pub use words::not_one_of;

/// SHA-256 of `bytes` as lowercase hex.
///
/// ```
/// assert!(facekit_core::sha256_hex(b"").starts_with("e3b0c442"));
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
