//! Face quality: how usable one detected face is for recognition, as a
//! score in [0, 1] with the measurements behind it, and the enrollment
//! review that refuses bad photos with named reasons (InsightFace Server's
//! `review_mode` standard/strict; strict's comparisons with the gallery are
//! in `facekit-service`). The same score picks a video track's best faces.
//!
//! Every measurement needs no extra model. Each exists because it predicts
//! false matches or misses:
//!
//! | component | measured as | why |
//! |---|---|---|
//! | `det_score` | the detector's confidence | low scores are partial faces, profiles, non-faces |
//! | `face_size` | shorter box side, px | under ~40 px the 112-px crop is upsampled: little identity left |
//! | `sharpness` | variance of the Laplacian of the aligned 112×112 grey crop (inside the image only) | blur and heavy compression erase the detail embeddings use |
//! | `brightness`, `contrast` | mean and standard deviation of that grey crop | under- and over-exposed faces embed poorly |
//! | `yaw`, `pitch`, `roll` | degrees, from the 5 landmarks (or the 68-point 3-D pose when the pack has that model) | turned faces match other turned faces better than the same person |
//! | `alignment_residual` | RMS distance of the 5 points from the ArcFace template after the best similarity fit, as a share of the template's eye distance | a high residual means odd landmarks: a profile, an occlusion, a false detection |
//! | `coverage` | share of the face region of the aligned crop (brows to chin) that lies inside the image | faces cut by the border leave black in the crop |
//!
//! The score is the weighted mean of each measurement mapped to [0, 1]
//! (see [`FaceQuality::score`]).
//!
//! ```
//! use facekit_align::ARCFACE_TEMPLATE;
//! use facekit_core::{BBox, Point};
//! use facekit_image::RgbImage;
//! use facekit_quality::{ReviewMode, assess, review};
//! // A flat grey "photo" with the template's own landmarks: frontal and
//! // aligned, but with no detail at all.
//! let img = RgbImage::from_raw(112, 112, vec![128; 112 * 112 * 3]).unwrap();
//! let q = assess(&img, &BBox::new(20.0, 20.0, 92.0, 110.0), &ARCFACE_TEMPLATE, 0.9, None).unwrap();
//! assert!(q.yaw.abs() < 2.0 && q.coverage > 0.99);
//! let refused: Vec<_> = review(&q, ReviewMode::Standard).into_iter().map(|r| r.reason).collect();
//! assert!(refused.contains(&"blurred"));
//! ```

use facekit_align::{ARCFACE_TEMPLATE, estimate_norm};
use facekit_core::{BBox, Point};
use facekit_image::{RgbImage, warp_affine};
use serde::{Deserialize, Serialize};

/// The aligned crop side the measurements use (the recognizers' input).
const CROP: u32 = 112;
/// The face itself in the aligned crop (brows to chin, cheek to cheek):
/// measurements look here, not at the background the crop's margin holds.
const FACE_X: std::ops::Range<usize> = 22..90;
const FACE_Y: std::ops::Range<usize> = 30..110;
/// Eye distance of the ArcFace template, px at 112.
const TEMPLATE_EYE_DISTANCE: f64 = 35.24;
/// Nose height between the eye and mouth lines in the template (0.495).
const TEMPLATE_NOSE_HEIGHT: f64 = (71.7366 - 51.5989) / (92.2848 - 51.5989);
/// Nose-tip protrusion over eye distance, and over eye-to-mouth height, of
/// an average adult face: what turns landmark offsets into angles.
const NOSE_DEPTH_PER_EYE_DISTANCE: f64 = 0.55;
const NOSE_DEPTH_PER_FACE_HEIGHT: f64 = 0.48;

/// Head pose in degrees and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeadPose {
    /// Nodding (positive: looking down).
    pub pitch: f32,
    /// Turning (positive: nose toward the image's right).
    pub yaw: f32,
    /// Tilting in the image plane (positive: clockwise).
    pub roll: f32,
}

/// One face's quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceQuality {
    /// The weighted mean of the components mapped to [0, 1].
    pub score: f32,
    /// Detector confidence.
    pub det_score: f32,
    /// Shorter box side, pixels.
    pub face_size: f32,
    /// Variance of the Laplacian of the aligned grey crop.
    pub sharpness: f32,
    /// Mean grey level of the aligned crop, 0–255.
    pub brightness: f32,
    /// Standard deviation of the grey levels.
    pub contrast: f32,
    /// Degrees.
    pub yaw: f32,
    /// Degrees.
    pub pitch: f32,
    /// Degrees.
    pub roll: f32,
    /// `landmarks_5` or `landmark_3d_68`.
    pub pose_from: &'static str,
    /// RMS landmark distance from the template after alignment, in eye
    /// distances.
    pub alignment_residual: f32,
    /// Share of the aligned crop inside the image.
    pub coverage: f32,
}

fn unit(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
}

impl FaceQuality {
    /// Each component mapped to [0, 1] with its weight; the score is their
    /// weighted mean. A component reaches 1 where it stops mattering:
    /// detection 0.9, a 112-px face (the recognizer's own resolution),
    /// sharpness 400, brightness 128 (0 at 28 or 228), contrast 40, a
    /// frontal head (0 at 60°), a residual of 0 (0 at 0.3 eye distances), a
    /// crop wholly inside the image.
    pub fn components(&self) -> [(&'static str, f64, f64); 8] {
        let turned = f64::from(self.yaw.abs().max(self.pitch.abs()));
        [
            (
                "det_score",
                0.15,
                unit((f64::from(self.det_score) - 0.3) / 0.6),
            ),
            (
                "face_size",
                0.20,
                unit((f64::from(self.face_size) - 16.0) / 96.0),
            ),
            ("sharpness", 0.20, unit(f64::from(self.sharpness) / 400.0)),
            (
                "brightness",
                0.10,
                unit(1.0 - (f64::from(self.brightness) - 128.0).abs() / 100.0),
            ),
            ("contrast", 0.05, unit(f64::from(self.contrast) / 40.0)),
            ("frontal", 0.15, unit(1.0 - turned / 60.0)),
            (
                "alignment",
                0.10,
                unit(1.0 - f64::from(self.alignment_residual) / 0.3),
            ),
            ("coverage", 0.05, unit(f64::from(self.coverage))),
        ]
    }

    fn weighted_score(&self) -> f32 {
        self.components().iter().map(|(_, w, s)| w * s).sum::<f64>() as f32
    }
}

/// Head pose from the five landmarks: roll from the eye line; yaw and
/// pitch from how far the nose tip sits off the face's midline and off its
/// height in the ArcFace template, turned into angles by an average nose
/// depth (`offset = depth · tan(angle)`). Good to ~10° up to ~50°.
pub fn pose_from_landmarks(kps: &[Point; 5]) -> HeadPose {
    let p = kps.map(|p| (f64::from(p.x), f64::from(p.y)));
    let (le, re, nose, lm, rm) = (p[0], p[1], p[2], p[3], p[4]);
    let roll = (re.1 - le.1).atan2(re.0 - le.0);
    // Undo the roll about the eyes' midpoint.
    let eye_mid = ((le.0 + re.0) / 2.0, (le.1 + re.1) / 2.0);
    let (sin, cos) = (-roll).sin_cos();
    let level = |(x, y): (f64, f64)| {
        let (dx, dy) = (x - eye_mid.0, y - eye_mid.1);
        (dx * cos - dy * sin, dx * sin + dy * cos)
    };
    let (le, re, nose, lm, rm) = (level(le), level(re), level(nose), level(lm), level(rm));
    let eye_distance = (re.0 - le.0).abs().max(1e-6);
    let mouth_mid = ((lm.0 + rm.0) / 2.0, (lm.1 + rm.1) / 2.0);
    let midline = mouth_mid.0 / 2.0; // between the eye midpoint (0) and the mouth's
    let height = mouth_mid.1.abs().max(1e-6);
    let yaw = ((nose.0 - midline) / eye_distance / NOSE_DEPTH_PER_EYE_DISTANCE).atan();
    let pitch = ((nose.1 / height - TEMPLATE_NOSE_HEIGHT) / NOSE_DEPTH_PER_FACE_HEIGHT).atan();
    HeadPose {
        pitch: pitch.to_degrees() as f32,
        yaw: yaw.to_degrees() as f32,
        roll: roll.to_degrees() as f32,
    }
}

/// Measures one face. `pose_3d` is the 68-point model's pose when the pack
/// has it (used instead of the 5-point estimate). `None` when the landmarks
/// are degenerate.
pub fn assess(
    img: &RgbImage,
    bbox: &BBox,
    kps: &[Point; 5],
    det_score: f32,
    pose_3d: Option<HeadPose>,
) -> Option<FaceQuality> {
    let to_crop = estimate_norm(kps, CROP).ok()?;
    let crop = warp_affine(img, &to_crop, CROP, CROP);
    // Which crop pixels come from inside the image.
    let from_crop = to_crop.inverse();
    let side = CROP as usize;
    let in_face = |i: usize| FACE_X.contains(&(i % side)) && FACE_Y.contains(&(i / side));
    let inside: Vec<bool> = (0..side * side)
        .map(|i| {
            let p = from_crop.apply(Point::new((i % side) as f32, (i / side) as f32));
            in_face(i)
                && p.x >= 0.0
                && p.y >= 0.0
                && p.x <= (img.width() - 1) as f32
                && p.y <= (img.height() - 1) as f32
        })
        .collect();
    let grey: Vec<f64> = crop
        .as_raw()
        .chunks_exact(3)
        .map(|px| 0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2]))
        .collect();
    let (brightness, contrast) = mean_and_std(
        grey.iter()
            .zip(&inside)
            .filter(|(_, i)| **i)
            .map(|(g, _)| *g),
    );
    let laplacian = (1..side - 1)
        .flat_map(|y| (1..side - 1).map(move |x| (x, y)))
        .filter_map(|(x, y)| {
            let at = |x: usize, y: usize| y * side + x;
            let neighbours = [
                at(x, y),
                at(x - 1, y),
                at(x + 1, y),
                at(x, y - 1),
                at(x, y + 1),
            ];
            neighbours.iter().all(|&i| inside[i]).then(|| {
                grey[at(x - 1, y)] + grey[at(x + 1, y)] + grey[at(x, y - 1)] + grey[at(x, y + 1)]
                    - 4.0 * grey[at(x, y)]
            })
        });
    let (_, laplacian_std) = mean_and_std(laplacian);
    let residual = (kps
        .iter()
        .zip(ARCFACE_TEMPLATE)
        .map(|(k, t)| {
            let p = to_crop.apply(*k);
            f64::from((p.x - t.x).powi(2) + (p.y - t.y).powi(2))
        })
        .sum::<f64>()
        / 5.0)
        .sqrt()
        / TEMPLATE_EYE_DISTANCE;
    let (pose, pose_from) = match pose_3d {
        Some(p) => (p, "landmark_3d_68"),
        None => (pose_from_landmarks(kps), "landmarks_5"),
    };
    let mut quality = FaceQuality {
        score: 0.0,
        det_score,
        face_size: bbox.width().min(bbox.height()),
        sharpness: (laplacian_std * laplacian_std) as f32,
        brightness: brightness as f32,
        contrast: contrast as f32,
        yaw: pose.yaw,
        pitch: pose.pitch,
        roll: pose.roll,
        pose_from,
        alignment_residual: residual as f32,
        coverage: (inside.iter().filter(|i| **i).count() as f64
            / (FACE_X.len() * FACE_Y.len()) as f64) as f32,
    };
    quality.score = quality.weighted_score();
    Some(quality)
}

fn mean_and_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut n, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        sum += v;
        sum_sq += v * v;
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / n;
    (mean, (sum_sq / n - mean * mean).max(0.0).sqrt())
}

/// How strictly enrollment photos are reviewed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReviewMode {
    /// Enroll whatever passes the size and score filters.
    #[default]
    Off,
    /// Refuse faces too small, blurred, badly exposed, turned or cut off.
    Standard,
    /// Tighter limits, and the sample must fit its person and no other
    /// (checked against the gallery by `facekit-service`).
    Strict,
}

impl std::fmt::Display for ReviewMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Standard => "standard",
            Self::Strict => "strict",
        })
    }
}

facekit_core::from_words!(ReviewMode, "review", {
    "off" => Off, "standard" => Standard, "strict" => Strict
});

/// A face refused at enrollment, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    /// Stable code: `too_small`, `low_detection_score`, `blurred`,
    /// `too_dark`, `too_bright`, `low_contrast`, `turned_away`, `tilted`,
    /// `cut_off`, `misaligned`, `spoof_detected`, `closer_to_other_person`,
    /// `far_from_own_samples`.
    pub reason: &'static str,
    /// The measurement and the limit it broke.
    pub message: String,
}

/// The limits of one review level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReviewLimits {
    /// Least shorter box side, px.
    pub min_face_size: f32,
    /// Least detection score.
    pub min_det_score: f32,
    /// Least variance of the Laplacian.
    pub min_sharpness: f32,
    /// Mean grey level bounds.
    pub brightness: (f32, f32),
    /// Least grey-level standard deviation.
    pub min_contrast: f32,
    /// Largest |yaw|, |pitch| and |roll|, degrees.
    pub max_yaw: f32,
    /// See `max_yaw`.
    pub max_pitch: f32,
    /// See `max_yaw`.
    pub max_roll: f32,
    /// Least share of the crop inside the image.
    pub min_coverage: f32,
    /// Largest alignment residual (eye distances).
    pub max_residual: f32,
}

impl ReviewLimits {
    /// The limits of `mode` (`None` for off). Measured on
    /// `shared/identities` (see the README for the share each refuses).
    pub fn of(mode: ReviewMode) -> Option<Self> {
        match mode {
            ReviewMode::Off => None,
            ReviewMode::Standard => Some(Self {
                min_face_size: 40.0,
                min_det_score: 0.6,
                min_sharpness: 40.0,
                brightness: (40.0, 215.0),
                min_contrast: 12.0,
                max_yaw: 45.0,
                max_pitch: 40.0,
                max_roll: 40.0,
                min_coverage: 0.85,
                max_residual: 0.25,
            }),
            ReviewMode::Strict => Some(Self {
                min_face_size: 64.0,
                min_det_score: 0.7,
                min_sharpness: 80.0,
                brightness: (60.0, 200.0),
                min_contrast: 20.0,
                max_yaw: 30.0,
                max_pitch: 25.0,
                max_roll: 25.0,
                min_coverage: 0.95,
                max_residual: 0.18,
            }),
        }
    }
}

/// The quality refusals of one face under `mode` (empty: accepted).
pub fn review(q: &FaceQuality, mode: ReviewMode) -> Vec<Refusal> {
    let Some(l) = ReviewLimits::of(mode) else {
        return Vec::new();
    };
    let mut refusals = Vec::new();
    let mut refuse = |broken: bool, reason: &'static str, message: String| {
        if broken {
            refusals.push(Refusal { reason, message });
        }
    };
    refuse(
        q.face_size < l.min_face_size,
        "too_small",
        format!(
            "the face is {:.0} px across, under {:.0}",
            q.face_size, l.min_face_size
        ),
    );
    refuse(
        q.det_score < l.min_det_score,
        "low_detection_score",
        format!(
            "detection score {:.2} is under {:.2}",
            q.det_score, l.min_det_score
        ),
    );
    refuse(
        q.sharpness < l.min_sharpness,
        "blurred",
        format!(
            "sharpness {:.1} is under {:.0}",
            q.sharpness, l.min_sharpness
        ),
    );
    refuse(
        q.brightness < l.brightness.0,
        "too_dark",
        format!(
            "brightness {:.0} is under {:.0}",
            q.brightness, l.brightness.0
        ),
    );
    refuse(
        q.brightness > l.brightness.1,
        "too_bright",
        format!(
            "brightness {:.0} is over {:.0}",
            q.brightness, l.brightness.1
        ),
    );
    refuse(
        q.contrast < l.min_contrast,
        "low_contrast",
        format!("contrast {:.1} is under {:.0}", q.contrast, l.min_contrast),
    );
    refuse(
        q.yaw.abs() > l.max_yaw || q.pitch.abs() > l.max_pitch,
        "turned_away",
        format!(
            "the head is turned (yaw {:.0}°, pitch {:.0}°; limits {:.0}° and {:.0}°)",
            q.yaw, q.pitch, l.max_yaw, l.max_pitch
        ),
    );
    refuse(
        q.roll.abs() > l.max_roll,
        "tilted",
        format!("the head is tilted {:.0}°, over {:.0}°", q.roll, l.max_roll),
    );
    refuse(
        q.coverage < l.min_coverage,
        "cut_off",
        format!(
            "{:.0} % of the face is inside the photo, under {:.0} %",
            q.coverage * 100.0,
            l.min_coverage * 100.0
        ),
    );
    refuse(
        q.alignment_residual > l.max_residual,
        "misaligned",
        format!(
            "the landmarks are {:.2} eye distances off the template, over {:.2}",
            q.alignment_residual, l.max_residual
        ),
    );
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_frontal_and_a_rotated_template_is_rolled() {
        let p = pose_from_landmarks(&ARCFACE_TEMPLATE);
        assert!(
            p.yaw.abs() < 1.0 && p.pitch.abs() < 1.0 && p.roll.abs() < 1.0,
            "{p:?}"
        );
        let (sin, cos) = 30f32.to_radians().sin_cos();
        let rotated =
            ARCFACE_TEMPLATE.map(|q| Point::new(q.x * cos - q.y * sin, q.x * sin + q.y * cos));
        let r = pose_from_landmarks(&rotated);
        assert!((r.roll - 30.0).abs() < 0.5 && r.yaw.abs() < 1.0, "{r:?}");
    }

    #[test]
    fn a_nose_off_the_midline_is_a_turned_head() {
        let mut turned = ARCFACE_TEMPLATE;
        turned[2].x += 12.0;
        let p = pose_from_landmarks(&turned);
        assert!(p.yaw > 25.0 && p.pitch.abs() < 5.0, "{p:?}");
        let mut nodding = ARCFACE_TEMPLATE;
        nodding[2].y += 10.0;
        assert!(pose_from_landmarks(&nodding).pitch > 20.0);
    }

    #[test]
    fn review_modes_parse() {
        assert_eq!("strict".parse::<ReviewMode>().unwrap(), ReviewMode::Strict);
        assert!("lenient".parse::<ReviewMode>().is_err());
    }
}
