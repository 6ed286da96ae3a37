//! Analysis: detection on a stride and at every cut, tracking in between,
//! each track's boxes on every frame it covers, and its best faces; with
//! policy `all`, rendering in the same pass. Memory is bounded: a few
//! frames in flight (about a second of them when rendering), plus a few
//! aligned 112×112 crops per track.

use std::sync::Arc;

use facekit_core::BBox;
use facekit_image::RgbImage;
use facekit_pipeline::{DetectionOptions, Face, FaceAnalyzer, FaceQuality, PipelineError};

use crate::plan::{BestFace, BoxSource, Identity, Observation, Policy, RenderSettings, Track};
use crate::render::hide_all;
use crate::scene::CutDetector;
use crate::track::{Motion, associate};
use crate::{FfmpegWriter, Frame, FrameSource, MediaInfo, RenderReport, VideoError};

/// How a video is analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// Frames analysed per second (default 15; every frame when the video
    /// has fewer).
    pub analysis_fps: f64,
    /// Frames of coverage before a track's first and after its last
    /// detection (default 3), so redaction does not start late.
    pub lead_frames: u64,
    /// A track unseen this long ends (default 1 s); shorter gaps are
    /// bridged by interpolation.
    pub max_gap_secs: f64,
    /// Best faces kept per track (default 5).
    pub best_faces: usize,
    /// Frames detected at once (default: the cores; give the analyzer one
    /// ONNX Runtime thread per worker).
    pub workers: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            analysis_fps: 15.0,
            lead_frames: 3,
            max_gap_secs: 1.0,
            best_faces: 5,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A finished track and the embeddings of its best faces (same order).
#[derive(Debug, Clone)]
pub struct AnalysedTrack {
    /// The track as the plan stores it.
    pub track: Track,
    /// Raw embeddings of `track.best_faces` (empty without a recognizer).
    pub embeddings: Vec<Vec<f32>>,
    /// The best face as a record (its quality; no embedding).
    pub best: Option<facekit_pipeline::FaceRecord>,
    /// The best face's aligned crop (for thumbnails).
    pub thumbnail: Option<RgbImage>,
}

/// The analysis of a whole video.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The video.
    pub info: MediaInfo,
    /// Frames read (fewer than `info.frames` for a damaged file).
    pub frames_read: u64,
    /// Detection stride.
    pub stride: u64,
    /// First frames of shots.
    pub cuts: Vec<u64>,
    /// Tracks, by first frame.
    pub tracks: Vec<AnalysedTrack>,
}

struct Candidate {
    face: BestFace,
    crop: Option<RgbImage>,
    record: facekit_pipeline::FaceRecord,
}

struct Live {
    id: u32,
    motion: Motion,
    anchors: Vec<(u64, BBox)>,
    candidates: Vec<Candidate>,
    shot_start: u64,
    last_seen: u64,
}

impl Live {
    /// Keeps the best candidates, at most one per `spacing`-frame window
    /// (fixed windows, so the kept faces stay spread in time); whether `c`
    /// was kept.
    fn offer(&mut self, c: Candidate, keep: usize, spacing: u64) -> bool {
        let window = c.face.frame / spacing;
        if let Some(same) = self
            .candidates
            .iter_mut()
            .find(|o| o.face.frame / spacing == window)
        {
            let better = c.face.quality > same.face.quality;
            if better {
                *same = c;
            }
            return better;
        }
        let frame = c.face.frame;
        self.candidates.push(c);
        if self.candidates.len() > keep {
            let worst = (0..self.candidates.len())
                .min_by(|&a, &b| {
                    self.candidates[a]
                        .face
                        .quality
                        .total_cmp(&self.candidates[b].face.quality)
                })
                .expect("non-empty");
            self.candidates.remove(worst);
        }
        self.candidates.iter().any(|o| o.face.frame == frame)
    }
}

fn lerp(a: &BBox, b: &BBox, t: f32) -> BBox {
    BBox::new(
        a.x1 + (b.x1 - a.x1) * t,
        a.y1 + (b.y1 - a.y1) * t,
        a.x2 + (b.x2 - a.x2) * t,
        a.y2 + (b.y2 - a.y2) * t,
    )
}

/// How a track's boxes are laid over the frames.
#[derive(Debug, Clone, Copy)]
struct Coverage {
    stride: u64,
    lead: u64,
}

impl Coverage {
    /// Anchor `i`, with 3-tap smoothing when its neighbours follow closely:
    /// removes the detector's jitter without lagging real motion.
    fn smoothed(&self, anchors: &[(u64, BBox)], i: usize) -> BBox {
        let close = |j: usize| anchors[i].0.abs_diff(anchors[j].0) <= 2 * self.stride;
        if i == 0 || i + 1 == anchors.len() || !close(i - 1) || !close(i + 1) {
            return anchors[i].1;
        }
        let (p, c, n) = (anchors[i - 1].1, anchors[i].1, anchors[i + 1].1);
        lerp(&lerp(&p, &n, 0.5), &c, 0.5)
    }

    /// The frames a track covers: a few before its first detection (not
    /// before its shot) to a few after its last (not past `shot_end`).
    fn span(&self, live: &Live, shot_end: u64) -> std::ops::RangeInclusive<u64> {
        let (first, last) = (live.anchors[0].0, live.anchors[live.anchors.len() - 1].0);
        let start = first.saturating_sub(self.lead).max(live.shot_start);
        let end = (last + self.stride - 1 + self.lead).min(shot_end.saturating_sub(1));
        start..=end
    }

    /// The track's box on `frame`: a (smoothed) detection, interpolation
    /// between two, or the motion's prediction before the first and after
    /// the last. The one definition of a track's boxes: the plan's and the
    /// ones rendered while analysing come from here.
    fn at(&self, live: &Live, frame: u64, shot_end: u64) -> Option<Observation> {
        if !self.span(live, shot_end).contains(&frame) {
            return None;
        }
        let anchors = &live.anchors;
        let observation = |bbox: BBox, source| Observation {
            frame,
            bbox: bbox.to_array(),
            source,
        };
        let after = anchors.partition_point(|(f, _)| *f <= frame);
        if after == 0 {
            return Some(observation(self.smoothed(anchors, 0), BoxSource::Tracked));
        }
        let i = after - 1;
        let (at, _) = anchors[i];
        if at == frame {
            return Some(observation(self.smoothed(anchors, i), BoxSource::Detector));
        }
        Some(match anchors.get(after) {
            Some(&(next, _)) => {
                let t = (frame - at) as f32 / (next - at) as f32;
                let (a, b) = (self.smoothed(anchors, i), self.smoothed(anchors, after));
                observation(lerp(&a, &b, t), BoxSource::Interpolated)
            }
            None => observation(live.motion.predict(frame), BoxSource::Tracked),
        })
    }

    /// Every box of a finished track.
    fn boxes(&self, live: &Live, shot_end: u64) -> Vec<Observation> {
        self.span(live, shot_end)
            .filter_map(|f| self.at(live, f, shot_end))
            .collect()
    }
}

/// A detection frame's faces, measured by a worker.
struct Detected {
    seq: u64,
    frame_no: u64,
    cut: bool,
    frame: RgbImage,
    faces: Vec<(Face, Option<FaceQuality>, Option<RgbImage>)>,
}

/// A frame the reader hands on: its sequence among detection frames, its
/// number, whether a shot starts there.
type Job = (u64, u64, bool, Arc<Frame>);

/// Detects the faces of one frame and measures them (quality, aligned crop).
fn detect(
    analyzer: &FaceAnalyzer,
    detection: &DetectionOptions,
    (seq, frame_no, cut, frame): Job,
) -> Result<Detected, VideoError> {
    // Colour only for the frames the detector sees.
    let frame = frame.to_rgb();
    let mut faces = Vec::new();
    for face in analyzer.detect_with(&frame, detection)? {
        let (quality, crop) = match face.kps.as_ref() {
            Some(kps) => (
                facekit_quality::assess(&frame, &face.bbox, kps, face.det_score, None),
                match analyzer.pack().recognizer() {
                    Some(rec) => Some(rec.align(&frame, kps).map_err(PipelineError::from)?),
                    None => None,
                },
            ),
            None => (None, None),
        };
        faces.push((face, quality, crop));
    }
    Ok(Detected {
        seq,
        frame_no,
        cut,
        frame,
        faces,
    })
}

/// Tracks being built from detections, fed in frame order.
struct Tracker<'a> {
    analyzer: &'a FaceAnalyzer,
    best_faces: usize,
    coverage: Coverage,
    max_gap: u64,
    /// Best faces are kept at most one per this many frames.
    spacing: u64,
    live: Vec<Live>,
    /// Ended tracks and where their shot ended (`u64::MAX`: not at a cut).
    done: Vec<(Live, u64)>,
    /// Indices in `done` of tracks with boxes still to render.
    unrendered: Vec<usize>,
    rendering: bool,
    next_id: u32,
    shot_start: u64,
}

impl Tracker<'_> {
    fn end(&mut self, ended: Vec<Live>, shot_end: u64) {
        for t in ended {
            if self.rendering {
                self.unrendered.push(self.done.len());
            }
            self.done.push((t, shot_end));
        }
    }

    /// Takes one detection frame's faces: each joins the track it
    /// continues or starts one; tracks unseen for too long end.
    fn observe(&mut self, d: Detected) -> Result<(), VideoError> {
        let f = d.frame_no;
        if d.cut {
            let ended = std::mem::take(&mut self.live);
            self.end(ended, f);
            self.shot_start = f;
        }
        let predicted: Vec<BBox> = self.live.iter().map(|t| t.motion.predict(f)).collect();
        let detected: Vec<BBox> = d.faces.iter().map(|(face, _, _)| face.bbox).collect();
        let mut owner: Vec<Option<usize>> = vec![None; detected.len()];
        for (t, i) in associate(&predicted, &detected) {
            owner[i] = Some(t);
        }
        for (i, (face, quality, crop)) in d.faces.into_iter().enumerate() {
            let t = match owner[i] {
                Some(t) => {
                    self.live[t].motion.update(&face.bbox, f);
                    t
                }
                None => {
                    self.live.push(Live {
                        id: self.next_id,
                        motion: Motion::new(&face.bbox, f),
                        anchors: Vec::new(),
                        candidates: Vec::new(),
                        shot_start: self.shot_start,
                        last_seen: f,
                    });
                    self.next_id += 1;
                    self.live.len() - 1
                }
            };
            let track = &mut self.live[t];
            track.anchors.push((f, face.bbox));
            track.last_seen = f;
            let Some(q) = quality else { continue };
            let mut described = face.clone();
            described.quality = Some(q.clone());
            let kept = track.offer(
                Candidate {
                    face: BestFace {
                        frame: f,
                        bbox: face.bbox.to_array(),
                        det_score: face.det_score,
                        quality: q.score,
                    },
                    crop,
                    record: facekit_pipeline::FaceRecord::new(&described, false),
                },
                self.best_faces,
                self.spacing,
            );
            // Attributes only for faces kept as best (a few per track per
            // second), not for every detection.
            if kept && self.analyzer.describes() {
                self.analyzer
                    .describe(&d.frame, std::slice::from_mut(&mut described))?;
                if let Some(c) = track.candidates.iter_mut().find(|c| c.face.frame == f) {
                    c.record = facekit_pipeline::FaceRecord::new(&described, false);
                }
            }
        }
        let max_gap = self.max_gap;
        let (ended, kept): (Vec<Live>, Vec<Live>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|t| f - t.last_seen > max_gap);
        self.live = kept;
        self.end(ended, u64::MAX);
        Ok(())
    }

    /// Every track's box on `frame`, in the plan's track order. Asked in
    /// frame order, once detections up to `frame + lag()` are observed, it
    /// gives exactly the boxes of the finished plan: every track covering
    /// `frame` has then either ended or has its anchors around it.
    fn boxes_on(&mut self, frame: u64) -> Vec<BBox> {
        let (coverage, done) = (self.coverage, &self.done);
        self.unrendered
            .retain(|&i| *coverage.span(&done[i].0, done[i].1).end() >= frame);
        let mut found: Vec<(u64, u32, BBox)> = self
            .unrendered
            .iter()
            .map(|&i| (&done[i].0, done[i].1))
            .chain(self.live.iter().map(|t| (t, u64::MAX)))
            .filter_map(|(t, shot_end)| {
                let o = coverage.at(t, frame, shot_end)?;
                let [x1, y1, x2, y2] = o.bbox;
                Some((
                    *coverage.span(t, shot_end).start(),
                    t.id,
                    BBox::new(x1, y1, x2, y2),
                ))
            })
            .collect();
        found.sort_by_key(|&(first, id, _)| (first, id));
        found.into_iter().map(|(_, _, b)| b).collect()
    }

    /// The finished tracks of a video of `frames` frames.
    fn finish(mut self, frames: u64) -> Result<Vec<AnalysedTrack>, VideoError> {
        let recognizer = self.analyzer.pack().recognizer();
        let ended = std::mem::take(&mut self.live);
        self.end(ended, u64::MAX);
        let mut tracks = Vec::new();
        for (mut t, cut_end) in self.done {
            let observations = self.coverage.boxes(&t, cut_end.min(frames));
            t.candidates.sort_by_key(|c| c.face.frame);
            let best_at = (0..t.candidates.len()).max_by(|&a, &b| {
                t.candidates[a]
                    .face
                    .quality
                    .total_cmp(&t.candidates[b].face.quality)
            });
            let thumbnail = best_at.and_then(|i| t.candidates[i].crop.clone());
            let best = best_at.map(|i| t.candidates[i].record.clone());
            let crops: Vec<RgbImage> = t
                .candidates
                .iter_mut()
                .filter_map(|c| c.crop.take())
                .collect();
            let embeddings = match recognizer {
                Some(rec) if !crops.is_empty() => {
                    rec.embed_aligned(&crops).map_err(PipelineError::from)?
                }
                _ => Vec::new(),
            };
            tracks.push(AnalysedTrack {
                track: Track {
                    id: t.id,
                    first_frame: observations.first().map_or(0, |o| o.frame),
                    last_frame: observations.last().map_or(0, |o| o.frame),
                    identity: Identity::default(),
                    redact: None,
                    best_faces: t.candidates.iter().map(|c| c.face.clone()).collect(),
                    boxes: observations,
                },
                embeddings,
                best,
                thumbnail,
            });
        }
        tracks.sort_by_key(|t| (t.track.first_frame, t.track.id));
        Ok(tracks)
    }
}

/// Where the frames go while analysing, when they are rendered.
struct Output<'a> {
    writer: FfmpegWriter,
    settings: &'a RenderSettings,
    report: RenderReport,
}

impl Output<'_> {
    /// Renders and writes the frames before `end` (all of them for
    /// `u64::MAX`) from `frames`, where the reader put them in order.
    fn render_until(
        &mut self,
        end: u64,
        frames: &std::sync::mpsc::Receiver<(u64, Arc<Frame>)>,
        tracker: &mut Tracker,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), VideoError> {
        while self.report.frames < end {
            let Ok((n, frame)) = frames.recv() else {
                break;
            };
            // The detector's copy was dropped when its result was observed.
            let mut frame = Arc::try_unwrap(frame).unwrap_or_else(|shared| (*shared).clone());
            self.report.boxes_hidden += hide_all(&mut frame, &tracker.boxes_on(n), self.settings);
            self.writer.write(&frame)?;
            self.report.frames = n + 1;
            progress(self.report.frames);
        }
        Ok(())
    }
}

/// How an analysis steps through a video.
struct Pace {
    /// Detection on every `stride`-th frame.
    stride: u64,
    /// A track unseen for more frames ends.
    max_gap: u64,
    /// Frames a box waits after its frame before it is final: a gap long
    /// enough to end a track, the next anchor's smoothing neighbour, the
    /// lead of a track starting later.
    lag: u64,
    /// Frames the one pass holds at most: the lag, and enough ahead to
    /// keep every worker busy (over `lag + stride`, so the reader never
    /// waits on a tracker that needs its next frame).
    waiting: u64,
}

impl Pace {
    fn of(info: &MediaInfo, options: &AnalysisOptions) -> Result<Self, VideoError> {
        if !(options.analysis_fps.is_finite() && options.analysis_fps > 0.0) {
            return Err(VideoError::Invalid(format!(
                "analysis fps {} is not positive",
                options.analysis_fps
            )));
        }
        let stride = ((info.fps() / options.analysis_fps).round() as u64).max(1);
        let max_gap = ((options.max_gap_secs * info.fps()).round() as u64).max(stride);
        let lag = max_gap + 2 * stride + options.lead_frames + 1;
        let workers = options.workers.max(1) as u64;
        Ok(Self {
            stride,
            max_gap,
            lag,
            waiting: lag + (2 * workers + 2) * stride,
        })
    }
}

/// The most frame memory [`analyze_and_render`] takes on: beyond it (4K on
/// many cores, or a very low analysis rate), analyse, then render.
pub const ONE_PASS_MAX_BYTES: u64 = 1 << 30;

/// Bytes of frames [`analyze_and_render`] holds at most for `info` under
/// `options`.
pub fn one_pass_bytes(info: &MediaInfo, options: &AnalysisOptions) -> Result<u64, VideoError> {
    let frame = crate::frame::frame_bytes(info.width, info.height) as u64;
    Ok(Pace::of(info, options)?.waiting.saturating_mul(frame))
}

/// Analyses every frame of `source`; `progress` is told how far it got.
///
/// Three stages run at once: a reader (decoding through FFmpeg, cut
/// detection on every frame), `workers` detectors (whole frames in
/// parallel: on a small machine, frames side by side with one ONNX Runtime
/// thread each beat one frame with all of them), and the tracker, which
/// takes their results back in frame order. Detection runs at the
/// analyzer's sizes fitted to the frames ([`DetSize::fitted`](facekit_pipeline::DetSize::fitted)).
pub fn analyze(
    source: &mut (dyn FrameSource + Send),
    analyzer: &FaceAnalyzer,
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Analysis, VideoError> {
    Ok(run(source, analyzer, options, None, progress)?.0)
}

/// Analyses `source` and writes it to `output` (audio from `audio_from`)
/// with every face hidden, in one pass: each frame is rendered as soon as
/// its boxes are final (about `max_gap_secs` after it was read), so the
/// video is decoded once and encoding overlaps detection. The boxes and
/// the video are those of [`analyze`] followed by [`render`](crate::render)
/// of its plan. Policy `all` only: the others need every track's identity,
/// which is known only at the end; and at most [`ONE_PASS_MAX_BYTES`] of
/// frames held ([`one_pass_bytes`]). `progress` is told each frame written.
pub fn analyze_and_render(
    source: &mut (dyn FrameSource + Send),
    analyzer: &FaceAnalyzer,
    options: &AnalysisOptions,
    settings: &RenderSettings,
    output: &std::path::Path,
    audio_from: Option<&std::path::Path>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Analysis, RenderReport), VideoError> {
    if settings.policy != Policy::All {
        return Err(VideoError::Invalid(format!(
            "one pass renders policy 'all' only ({:?} needs every track's identity first: analyse, then render)",
            settings.policy
        )));
    }
    settings.check().map_err(VideoError::Invalid)?;
    let holds = one_pass_bytes(source.info(), options)?;
    if holds > ONE_PASS_MAX_BYTES {
        return Err(VideoError::Invalid(format!(
            "one pass would hold {} MiB of frames (over {} MiB): analyse, then render",
            holds >> 20,
            ONE_PASS_MAX_BYTES >> 20
        )));
    }
    let writer = FfmpegWriter::create(output, source.info(), audio_from, &settings.encode)?;
    let output = Output {
        writer,
        settings,
        report: RenderReport::default(),
    };
    let (analysis, output) = run(source, analyzer, options, Some(output), progress)?;
    let output = output.expect("rendered");
    output.writer.finish()?;
    Ok((analysis, output.report))
}

fn run<'a>(
    source: &mut (dyn FrameSource + Send),
    analyzer: &FaceAnalyzer,
    options: &AnalysisOptions,
    mut output: Option<Output<'a>>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Analysis, Option<Output<'a>>), VideoError> {
    let info = source.info().clone();
    let Pace {
        stride,
        max_gap,
        lag,
        waiting,
    } = Pace::of(&info, options)?;
    let workers = options.workers.max(1);
    let mut detection = analyzer.options().detect.clone();
    detection.det_size = detection.det_size.fitted(info.width, info.height);
    let mut tracker = Tracker {
        analyzer,
        best_faces: options.best_faces,
        coverage: Coverage {
            stride,
            lead: options.lead_frames,
        },
        max_gap,
        spacing: (info.fps() / 2.0).round().max(1.0) as u64,
        live: Vec::new(),
        done: Vec::new(),
        unrendered: Vec::new(),
        rendering: output.is_some(),
        next_id: 1,
        shot_start: 0,
    };
    let detection = &detection;
    let (frame_no, cuts) = std::thread::scope(|s| -> Result<(u64, Vec<u64>), VideoError> {
        // Every end of a channel lives in this closure or a thread, so an
        // early return (an error) hangs nobody up: each stage's next send
        // fails and it stops.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(workers);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        let (results, finished) =
            std::sync::mpsc::sync_channel::<Result<Detected, VideoError>>(2 * workers);
        // Frames waiting to be rendered: those whose boxes are not final
        // yet, and enough ahead to keep every worker busy. The reader sends
        // a frame here before its detection job, so a frame the tracker has
        // seen is always in this channel, and its room (over `lag + stride`)
        // never stops the reader before the tracker can free some.
        let (frames, waiting_frames) =
            std::sync::mpsc::sync_channel::<(u64, Arc<Frame>)>(if output.is_some() {
                waiting as usize
            } else {
                0
            });
        let frames = output.is_some().then_some(frames);
        let reader = s.spawn(move || -> Result<(u64, Vec<u64>), VideoError> {
            let (mut cuts_seen, mut cuts, mut n, mut seq) =
                (CutDetector::default(), Vec::new(), 0u64, 0u64);
            while let Some(frame) = source.next_frame()? {
                let f = n;
                n += 1;
                let cut = cuts_seen.is_cut(&frame);
                if cut {
                    cuts.push(f);
                }
                let frame = Arc::new(frame);
                if let Some(frames) = &frames
                    && frames.send((f, frame.clone())).is_err()
                {
                    break;
                }
                if cut || f % stride == 0 {
                    if jobs.send((seq, f, cut, frame)).is_err() {
                        break;
                    }
                    seq += 1;
                }
            }
            Ok((n, cuts))
        });
        for _ in 0..workers {
            let (results, queue) = (results.clone(), queue.clone());
            s.spawn(move || {
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = job else { break };
                    if results.send(detect(analyzer, detection, job)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((results, queue));
        // The tracker: results back in the order they were sent.
        let (mut waiting, mut next_seq) = (std::collections::BTreeMap::new(), 0u64);
        for result in finished.iter() {
            let d = result?;
            waiting.insert(d.seq, d);
            while let Some(d) = waiting.remove(&next_seq) {
                next_seq += 1;
                let f = d.frame_no;
                tracker.observe(d)?;
                match output.as_mut() {
                    Some(out) => out.render_until(
                        (f + 1).saturating_sub(lag),
                        &waiting_frames,
                        &mut tracker,
                        progress,
                    )?,
                    None => progress(f + 1),
                }
            }
        }
        let read = reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        // Every track has ended: the last frames' boxes are final.
        let ended = std::mem::take(&mut tracker.live);
        tracker.end(ended, u64::MAX);
        if let Some(out) = output.as_mut() {
            out.render_until(u64::MAX, &waiting_frames, &mut tracker, progress)?;
        }
        Ok(read)
    })?;
    progress(frame_no);
    Ok((
        Analysis {
            info,
            frames_read: frame_no,
            stride,
            cuts,
            tracks: tracker.finish(frame_no)?,
        },
        output,
    ))
}
