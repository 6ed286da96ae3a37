//! The plan: everything a render needs, as a versioned JSON a person can
//! edit (drop a track, force one on or off, change the policy or style, add
//! a manual box) and render again without any model.

use serde::{Deserialize, Serialize};

use crate::{EncodeSettings, MediaInfo, VideoError};

/// Version of the plan format.
pub const PLAN_FORMAT: u32 = 1;

/// Where a box of a track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxSource {
    /// The detector found it on this frame.
    Detector,
    /// Predicted by the track's motion (before its first or after its last
    /// detection, so redaction starts early and ends late).
    Tracked,
    /// Between two detections of the track.
    Interpolated,
    /// Added by a person.
    Manual,
}

/// One box of a track on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Frame index, from 0.
    pub frame: u64,
    /// `[left, top, right, bottom]`, pixels.
    pub bbox: [f32; 4],
    /// Where it came from.
    pub source: BoxSource,
}

/// Who a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityStatus {
    /// Several samples, spread in time, agree on one person.
    Confirmed,
    /// No reference matched (or too few samples to decide).
    #[default]
    Unknown,
    /// Samples match different people.
    Conflict,
}

/// A track's identity decision.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// The decision.
    pub status: IdentityStatus,
    /// The person, when confirmed (the best-voted one otherwise, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The best similarity of an agreeing sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// Samples that matched the person at or above the threshold.
    #[serde(default)]
    pub votes: u32,
    /// Samples compared.
    #[serde(default)]
    pub samples: u32,
}

/// One of a track's best faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestFace {
    /// The frame.
    pub frame: u64,
    /// The detector's box.
    pub bbox: [f32; 4],
    /// The detector's score.
    pub det_score: f32,
    /// The face-quality score (`facekit-quality`).
    pub quality: f32,
}

/// A face followed through one shot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Unique in the plan.
    pub id: u32,
    /// First frame with a box.
    pub first_frame: u64,
    /// Last frame with a box.
    pub last_frame: u64,
    /// Who it is.
    #[serde(default)]
    pub identity: Identity,
    /// Forces this track redacted (`true`) or visible (`false`) whatever
    /// the policy; absent: the policy decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<bool>,
    /// Its best faces by quality, spread in time.
    #[serde(default)]
    pub best_faces: Vec<BestFace>,
    /// Its box on every frame it covers, in frame order.
    pub boxes: Vec<Observation>,
}

/// Which faces are redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Every face.
    #[default]
    All,
    /// Only the people confirmed as references.
    Only,
    /// Everyone but the people confirmed as references (unknown and
    /// conflicting tracks are redacted: fail safe).
    Except,
}

/// How a face is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// A strong blur (three box blurs, a Gaussian's shape).
    #[default]
    Blur,
    /// Blocks of one colour.
    Mosaic,
    /// Black.
    Solid,
}

/// The shape hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mask {
    /// The (scaled) box.
    Box,
    /// The ellipse inscribed in it.
    #[default]
    Ellipse,
}

facekit_core::from_words!(Policy, "policy", { "all" => All, "only" => Only, "except" => Except });
facekit_core::from_words!(Style, "style", { "blur" => Blur, "mosaic" => Mosaic, "solid" => Solid });
facekit_core::from_words!(Mask, "mask", { "box" => Box, "ellipse" => Ellipse });

/// How the plan is rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderSettings {
    /// Which faces.
    pub policy: Policy,
    /// How.
    pub style: Style,
    /// Which shape.
    pub mask: Mask,
    /// Each box is grown about its centre by this factor (default 1.5:
    /// hair, ears and chin too; from √2 the ellipse covers the whole
    /// detected box).
    pub box_scale: f32,
    /// The output encoding.
    pub encode: EncodeSettings,
}

impl RenderSettings {
    /// Checks the settings are in range.
    pub fn check(&self) -> Result<(), String> {
        if !(self.box_scale.is_finite() && (0.5..=4.0).contains(&self.box_scale)) {
            return Err(format!(
                "box_scale {} is not between 0.5 and 4",
                self.box_scale
            ));
        }
        Ok(())
    }
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            policy: Policy::All,
            style: Style::Blur,
            mask: Mask::Ellipse,
            box_scale: 1.5,
            encode: EncodeSettings::default(),
        }
    }
}

/// How the analysis ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSettings {
    /// Frames analysed per second asked for.
    pub analysis_fps: f64,
    /// Detection ran on every `stride`-th frame (and on every cut).
    pub stride: u64,
    /// Frames where a new shot starts.
    pub cuts: Vec<u64>,
    /// The similarity a reference match needs.
    pub threshold: f32,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT`].
    pub facekit_video_plan: u32,
    /// The video it was made for.
    pub source: MediaInfo,
    /// How it was analysed.
    pub analysis: AnalysisSettings,
    /// How it renders.
    pub render: RenderSettings,
    /// The tracks.
    pub tracks: Vec<Track>,
}

/// Largest plan file read (a plan of a long video with many faces is tens
/// of MB; anything far larger is not a plan).
const MAX_PLAN_BYTES: u64 = 512 << 20;

impl Plan {
    /// Reads and checks a plan file.
    pub fn read(path: &std::path::Path) -> Result<Self, VideoError> {
        let bad = |why: String| VideoError::BadPlan {
            path: path.to_path_buf(),
            why,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > MAX_PLAN_BYTES {
            return Err(bad(format!(
                "{size} bytes is over the {MAX_PLAN_BYTES}-byte limit"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if plan.facekit_video_plan != PLAN_FORMAT {
            return Err(bad(format!(
                "format {} (this facekit reads {PLAN_FORMAT})",
                plan.facekit_video_plan
            )));
        }
        Ok(plan)
    }

    /// Writes the plan (pretty-printed, for people to edit).
    pub fn write(&self, path: &std::path::Path) -> Result<(), VideoError> {
        let text = serde_json::to_string_pretty(self).expect("a plan serialises");
        std::fs::write(path, text).map_err(|e| VideoError::Io {
            what: format!("writing {}", path.display()),
            source: e,
        })
    }

    /// Checks that the plan fits `video` (size, rate, frame count) and that
    /// its boxes are in range.
    pub fn check_against(&self, video: &MediaInfo) -> Result<(), String> {
        let s = &self.source;
        if (s.width, s.height) != (video.width, video.height) {
            return Err(format!(
                "the plan is for a {}×{} video, this one is {}×{}",
                s.width, s.height, video.width, video.height
            ));
        }
        if (s.fps_num, s.fps_den) != (video.fps_num, video.fps_den) {
            return Err(format!(
                "the plan is for {}/{} fps, this video is {}/{}",
                s.fps_num, s.fps_den, video.fps_num, video.fps_den
            ));
        }
        if s.frames != video.frames {
            return Err(format!(
                "the plan is for {} frames, this video has {}",
                s.frames, video.frames
            ));
        }
        self.render.check()?;
        for t in &self.tracks {
            if let Some(o) = t
                .boxes
                .iter()
                .find(|o| o.frame >= video.frames || o.bbox.iter().any(|v| !v.is_finite()))
            {
                return Err(format!(
                    "track {} has a box on frame {} that the video cannot have",
                    t.id, o.frame
                ));
            }
        }
        Ok(())
    }

    /// Whether each track is redacted under the plan's policy and overrides.
    pub fn redacted(&self, track: &Track) -> bool {
        if let Some(forced) = track.redact {
            return forced;
        }
        let confirmed = track.identity.status == IdentityStatus::Confirmed;
        match self.render.policy {
            Policy::All => true,
            Policy::Only => confirmed,
            Policy::Except => !confirmed,
        }
    }
}
