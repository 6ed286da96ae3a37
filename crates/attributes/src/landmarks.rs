use facekit_core::Point;
use facekit_runtime::OnnxModel;

use crate::box_model::{AttributeError, BoxCropModel, BoxCrops};
use crate::pose::{Pose, head_pose};

/// Dense landmarks of one face, in photo pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Landmarks {
    /// 2-D points (106 for `2d106det.onnx`).
    TwoD(Vec<Point>),
    /// The 3-D 68-point model's `(x, y, z)` (z scaled like x and y) and the
    /// head pose fitted to them.
    ThreeD {
        /// The 68 points.
        points: Vec<[f32; 3]>,
        /// Pitch, yaw and roll.
        pose: Pose,
    },
}

/// A 192×192 landmark model (InsightFace's `Landmark`): 2-D models output
/// `2 × points` values; the 3-D model outputs 3309, whose last 68 × 3 are
/// the points.
#[derive(Debug)]
pub struct LandmarkModel {
    inner: BoxCropModel,
    points: usize,
    three_d: bool,
}

impl LandmarkModel {
    /// Wraps a loaded model with its input normalisation
    /// (`(pixel − mean) / std`, RGB).
    pub fn new(model: OnnxModel, mean: f32, std: f32) -> Result<Self, AttributeError> {
        let inner = BoxCropModel::new(model, mean, std, "landmark")?;
        // InsightFace's rule: 3309 outputs is the 68-point 3-D model.
        let (points, three_d) = match inner.outputs {
            3309 => (68, true),
            n if n % 2 == 0 => (n / 2, false),
            n => {
                return Err(AttributeError::WrongModel {
                    path: inner.model.path().display().to_string(),
                    role: "landmark",
                    reason: format!(
                        "{n} outputs is neither 2-D points nor the 3-D 68-point layout"
                    ),
                });
            }
        };
        Ok(Self {
            inner,
            points,
            three_d,
        })
    }

    /// InsightFace's task name, e.g. `landmark_2d_106` or `landmark_3d_68`.
    pub fn task(&self) -> String {
        format!(
            "landmark_{}d_{}",
            if self.three_d { 3 } else { 2 },
            self.points
        )
    }

    /// Number of points per face.
    pub fn points(&self) -> usize {
        self.points
    }

    /// Whether the points are 3-D (and come with a pose).
    pub fn is_3d(&self) -> bool {
        self.three_d
    }

    /// The underlying model.
    pub fn model(&self) -> &OnnxModel {
        &self.inner.model
    }

    /// Landmarks for each face box, mapped back to photo pixels.
    pub fn predict(&self, crops: &mut BoxCrops<'_>) -> Result<Vec<Landmarks>, AttributeError> {
        let half = (self.inner.size / 2) as f32;
        let dims = if self.three_d { 3 } else { 2 };
        let mut out = Vec::new();
        for (pred, to_crop) in self.inner.run(crops.at(self.inner.size))? {
            let to_photo = to_crop.inverse();
            // Crop coordinates are in [-1, 1]; only the last `points` rows count.
            let rows = pred
                .chunks_exact(dims)
                .skip(pred.len() / dims - self.points);
            let mapped = rows.map(|r| {
                let p = to_photo.apply(Point::new((r[0] + 1.0) * half, (r[1] + 1.0) * half));
                let z = r
                    .get(2)
                    .map(|&z| (f64::from(z * half) * to_photo.scale()) as f32);
                (p, z)
            });
            out.push(if self.three_d {
                let points: Vec<[f32; 3]> =
                    mapped.map(|(p, z)| [p.x, p.y, z.unwrap_or(0.0)]).collect();
                let pose = head_pose(&points);
                Landmarks::ThreeD { points, pose }
            } else {
                Landmarks::TwoD(mapped.map(|(p, _)| p).collect())
            });
        }
        Ok(out)
    }
}
