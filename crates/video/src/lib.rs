//! Faces in video: media through FFmpeg (raw frames over pipes), scene
//! cuts, detection on a stride with tracking in between, each track's best
//! faces and identity, and redaction rendered from an editable plan. Above
//! the pipeline, beside the gallery: identities come from reference photos
//! or from any [`Matcher`] (the CLI plugs the gallery in).
//!
//! Frames come from a [`FrameSource`] (a file through [`FfmpegReader`] now;
//! a live stream is one more implementation), so [`analyze`] and [`render`]
//! do not care where they come from. Depends on `facekit-core`,
//! `facekit-image`, `facekit-pipeline` and `facekit-quality`, and on the
//! `ffmpeg`/`ffprobe` programs at run time.
//!
//! ```no_run
//! use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
//! use facekit_video::{AnalysisOptions, FfmpegReader, analyze, plan_of, render};
//! let analyzer = FaceAnalyzer::from_pack("buffalo_s", AnalyzeOptions::default())?;
//! let input = std::path::Path::new("clip.mp4");
//! let analysis = analyze(&mut FfmpegReader::open(input)?, &analyzer, &AnalysisOptions::default(), &mut |_| {})?;
//! let plan = plan_of(&analysis, &AnalysisOptions::default(), 0.3, Default::default());
//! plan.write("plan.json".as_ref())?;
//! render(&mut FfmpegReader::open(input)?, &plan, "blurred.mp4".as_ref(), Some(input), &mut |_| {})?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod analyze;
mod frame;
mod identity;
mod media;
pub mod mot;
pub mod plan;
mod render;
mod scene;
mod track;

use std::path::PathBuf;

pub use analyze::{
    AnalysedTrack, Analysis, AnalysisOptions, ONE_PASS_MAX_BYTES, analyze, analyze_and_render,
    one_pass_bytes,
};
pub use frame::Frame;
pub use identity::{MIN_AGREEING, Matcher, References, identify};
pub use media::{EncodeSettings, FfmpegReader, FfmpegWriter, FrameSource, MediaInfo, probe};
pub use plan::{Plan, RenderSettings};
pub use render::{RenderReport, hide, render};
pub use scene::CutDetector;
pub use track::associate;

/// Why a video could not be read, analysed or written.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// `ffmpeg` or `ffprobe` is not installed.
    #[error("{0} is not installed: run 'bash scripts/setup.sh' or 'sudo apt-get install ffmpeg'")]
    FfmpegMissing(String),
    /// The file is not a video FFmpeg can read.
    #[error("{path}: not a readable video: {why}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// FFmpeg's words.
        why: String,
    },
    /// Encoding the output failed.
    #[error("{output}: {why}")]
    Encode {
        /// The output asked for.
        output: PathBuf,
        /// FFmpeg's words.
        why: String,
    },
    /// A plan that cannot be used.
    #[error("plan {path}: {why}")]
    BadPlan {
        /// The plan file (or the output it was rendered for).
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A setting or input out of range.
    #[error("{0}")]
    Invalid(String),
    /// A model failed.
    #[error(transparent)]
    Pipeline(#[from] facekit_pipeline::PipelineError),
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The plan of an analysis (tracks with their identities) with `render`
/// settings.
pub fn plan_of(
    analysis: &Analysis,
    options: &AnalysisOptions,
    threshold: f32,
    render: RenderSettings,
) -> Plan {
    Plan {
        facekit_video_plan: plan::PLAN_FORMAT,
        source: MediaInfo {
            frames: analysis.frames_read,
            ..analysis.info.clone()
        },
        analysis: plan::AnalysisSettings {
            analysis_fps: options.analysis_fps,
            stride: analysis.stride,
            cuts: analysis.cuts.clone(),
            threshold,
        },
        render,
        tracks: analysis.tracks.iter().map(|t| t.track.clone()).collect(),
    }
}
