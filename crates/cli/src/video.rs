//! `facekit video …`: tracks, plans and redaction of video files.

use std::path::Path;

use anyhow::{Context, Result};
use facekit_gallery::contract_of;
use facekit_service::FaceService;
use facekit_video::plan::Policy;
use facekit_video::{
    AnalysedTrack, AnalysisOptions, EncodeSettings, FfmpegReader, FrameSource, Matcher,
    ONE_PASS_MAX_BYTES, Plan, References, RenderReport, RenderSettings, VideoError, analyze,
    analyze_and_render, identify, one_pass_bytes, plan_of, render,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{
    Common, VideoAnalysisArgs, VideoCommand, VideoIdentityArgs, VideoPlanArgs, VideoRenderArgs,
};
use crate::gallery::{open_address, print};
use crate::{Stages, analyzer, cores, save};

/// A gallery collection as the references.
struct GalleryMatcher {
    service: FaceService,
    collection: String,
    contract: facekit_gallery::EmbeddingContract,
}

impl Matcher for GalleryMatcher {
    fn best(&self, embedding: &[f32]) -> Result<Option<(String, f32)>, VideoError> {
        let found = self
            .service
            .identify_embedding(&self.collection, &self.contract, embedding, 1, -1.0)
            .map_err(|e| VideoError::Invalid(format!("gallery: {e}")))?;
        Ok(found.matches.into_iter().next().map(|m| (m.key, m.score)))
    }
}

fn progress_bar(frames: u64, what: &str) -> ProgressBar {
    ProgressBar::new(frames).with_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} frames {what} ({{per_sec}}, ETA {{eta}})"
        ))
        .expect("valid template"),
    )
}

/// Loads the models, analyses `input` (writing it redacted to `render_to`'s
/// output in the same pass when given and the pass fits in memory) and
/// decides identities; whether it rendered.
fn analysed(
    input: &Path,
    common: &Common,
    args: &VideoAnalysisArgs,
    identity: &VideoIdentityArgs,
    render_to: Option<(&RenderSettings, &Path)>,
) -> Result<(facekit_video::Analysis, AnalysisOptions, f32, bool)> {
    // One detector per core, one ONNX Runtime thread each.
    let analyzer = &analyzer(common, cores(), Stages::VIDEO)?;
    let options = AnalysisOptions {
        analysis_fps: args.analysis_fps,
        lead_frames: args.lead_frames,
        workers: cores(),
        ..AnalysisOptions::default()
    };
    let mut source = FfmpegReader::open(input)?;
    let render_to = render_to
        .filter(|_| one_pass_bytes(source.info(), &options).is_ok_and(|b| b <= ONE_PASS_MAX_BYTES));
    let bar = progress_bar(
        source.info().frames,
        if render_to.is_some() {
            "processed"
        } else {
            "analysed"
        },
    );
    let progress = &mut |n| bar.set_position(n);
    let mut analysis = match render_to {
        Some((settings, output)) => {
            let (analysis, report) = analyze_and_render(
                &mut source,
                analyzer,
                &options,
                settings,
                output,
                Some(input),
                progress,
            )?;
            bar.finish_and_clear();
            wrote(output, &report);
            analysis
        }
        None => {
            let analysis = analyze(&mut source, analyzer, &options, progress)?;
            bar.finish_and_clear();
            analysis
        }
    };
    let needs_contract = identity.db.is_some() || identity.decision.far.is_some();
    let contract = if needs_contract {
        Some(contract_of(analyzer)?)
    } else {
        None
    };
    let threshold = identity.decision.threshold(|| {
        Ok(contract
            .as_ref()
            .map(|c| c.model_sha256.clone())
            .unwrap_or_default())
    })?;
    let matcher: Option<Box<dyn Matcher>> = match (&identity.references, &identity.db) {
        (Some(dir), _) => Some(Box::new(References::load(dir, analyzer)?)),
        (None, Some(db)) => Some(Box::new(GalleryMatcher {
            service: open_address(Some(db), &identity.gallery_key)?,
            collection: identity.collection.clone().unwrap_or_default(),
            contract: contract.expect("computed for --db"),
        })),
        (None, None) => None,
    };
    if let Some(matcher) = matcher {
        identify(&mut analysis.tracks, matcher.as_ref(), threshold)?;
    }
    Ok((analysis, options, threshold, render_to.is_some()))
}

/// The plan of `input` (analysis, identities, render settings), with the
/// video rendered in the same pass to `output` when given (policy `all`)
/// and it fits; whether it rendered.
fn planned(input: &Path, job: &VideoPlanArgs, output: Option<&Path>) -> Result<(Plan, bool)> {
    let settings = render_settings(&job.render);
    let (result, options, threshold, rendered) = analysed(
        input,
        &job.common,
        &job.analysis,
        &job.identity,
        output.map(|o| (&settings, o)),
    )?;
    Ok((plan_of(&result, &options, threshold, settings), rendered))
}

fn render_settings(args: &VideoRenderArgs) -> RenderSettings {
    RenderSettings {
        policy: args.policy,
        style: args.style,
        mask: args.mask,
        box_scale: args.box_scale,
        encode: EncodeSettings {
            crf: args.crf,
            preset: args.preset.clone(),
        },
    }
}

fn render_plan(input: &Path, plan: &Plan, output: &Path) -> Result<()> {
    let mut source = FfmpegReader::open(input)?;
    let bar = progress_bar(source.info().frames, "rendered");
    let report = render(&mut source, plan, output, Some(input), &mut |n| {
        bar.set_position(n)
    })?;
    bar.finish_and_clear();
    wrote(output, &report);
    Ok(())
}

fn wrote(output: &Path, report: &RenderReport) {
    eprintln!(
        "facekit: wrote {} ({} frames, {} face boxes hidden)",
        output.display(),
        report.frames,
        report.boxes_hidden
    );
}

fn track_line(t: &AnalysedTrack, fps: f64) -> serde_json::Value {
    let track = &t.track;
    let best: Vec<serde_json::Value> = track
        .best_faces
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut v = serde_json::to_value(f).expect("serialisable");
            if let Some(e) = t.embeddings.get(i) {
                v["embedding"] = json!(e);
            }
            v
        })
        .collect();
    json!({
        "track": track.id,
        "first_frame": track.first_frame,
        "last_frame": track.last_frame,
        "start_secs": track.first_frame as f64 / fps,
        "end_secs": (track.last_frame + 1) as f64 / fps,
        "detections": track.boxes.iter().filter(|o| o.source == facekit_video::plan::BoxSource::Detector).count(),
        "identity": track.identity,
        "best_faces": best,
        "best": t.best,
    })
}

pub fn run(command: VideoCommand) -> Result<bool> {
    match command {
        VideoCommand::Tracks {
            input,
            thumbnails,
            analysis,
            identity,
            common,
        } => {
            let (result, ..) = analysed(&input, &common, &analysis, &identity, None)?;
            if let Some(dir) = &thumbnails {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let fps = result.info.fps();
            for t in &result.tracks {
                if let (Some(dir), Some(thumb)) = (&thumbnails, &t.thumbnail) {
                    save(thumb, &dir.join(format!("track{}.png", t.track.id)))?;
                }
                print(&track_line(t, fps))?;
            }
            Ok(true)
        }
        VideoCommand::Analyze { input, plan, job } => {
            let (made, _) = planned(&input, &job, None)?;
            made.write(&plan)?;
            eprintln!(
                "facekit: {} tracks in {} frames; plan in {}",
                made.tracks.len(),
                made.source.frames,
                plan.display()
            );
            Ok(true)
        }
        VideoCommand::Render {
            input,
            plan,
            output,
        } => {
            let plan = Plan::read(&plan)?;
            render_plan(&input, &plan, &output)?;
            Ok(true)
        }
        VideoCommand::Process {
            input,
            output,
            plan,
            job,
        } => {
            // Policy `all` needs no identity to decide what to hide: one
            // pass. The others render once every track's identity is known.
            let one_pass = job.render.policy == Policy::All;
            let (made, rendered) = planned(&input, &job, one_pass.then_some(output.as_path()))?;
            if let Some(path) = &plan {
                made.write(path)?;
            }
            if !rendered {
                render_plan(&input, &made, &output)?;
            }
            Ok(true)
        }
    }
}
