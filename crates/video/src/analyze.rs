//! Analysis: detection on a stride and at every cut, tracking in between,
//! each track's boxes on every frame it covers, and its best faces. Memory
//! is bounded: one frame at a time, plus a few aligned 112×112 crops per
//! live track.

use facekit_core::BBox;
use facekit_image::RgbImage;
use facekit_pipeline::{Face, FaceAnalyzer, FaceQuality, PipelineError};

use crate::plan::{BestFace, BoxSource, Identity, Observation, Track};
use crate::scene::CutDetector;
use crate::track::{Motion, associate};
use crate::{Frame, FrameSource, MediaInfo, VideoError};

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

/// Every frame's box of a finished track: detections (lightly smoothed),
/// interpolation between them, and coverage before and after.
fn boxes(live: &Live, stride: u64, lead: u64, shot_end: u64) -> Vec<Observation> {
    let anchors = &live.anchors;
    // 3-tap smoothing of anchors that follow each other closely: removes
    // the detector's jitter without lagging real motion.
    let smoothed: Vec<BBox> = (0..anchors.len())
        .map(|i| {
            let close = |j: usize| anchors[i].0.abs_diff(anchors[j].0) <= 2 * stride;
            if i == 0 || i + 1 == anchors.len() || !close(i - 1) || !close(i + 1) {
                return anchors[i].1;
            }
            let (p, c, n) = (anchors[i - 1].1, anchors[i].1, anchors[i + 1].1);
            lerp(&lerp(&p, &n, 0.5), &c, 0.5)
        })
        .collect();
    let mut out = Vec::new();
    let first = anchors[0].0;
    let start = first.saturating_sub(lead).max(live.shot_start);
    for frame in start..first {
        out.push(Observation {
            frame,
            bbox: smoothed[0].to_array(),
            source: BoxSource::Tracked,
        });
    }
    for (i, (frame, _)) in anchors.iter().enumerate() {
        out.push(Observation {
            frame: *frame,
            bbox: smoothed[i].to_array(),
            source: BoxSource::Detector,
        });
        if let Some((next, _)) = anchors.get(i + 1) {
            for f in frame + 1..*next {
                let t = (f - frame) as f32 / (next - frame) as f32;
                out.push(Observation {
                    frame: f,
                    bbox: lerp(&smoothed[i], &smoothed[i + 1], t).to_array(),
                    source: BoxSource::Interpolated,
                });
            }
        }
    }
    let last = anchors[anchors.len() - 1].0;
    let end = (last + stride - 1 + lead).min(shot_end.saturating_sub(1));
    for frame in last + 1..=end {
        out.push(Observation {
            frame,
            bbox: live.motion.predict(frame).to_array(),
            source: BoxSource::Tracked,
        });
    }
    out
}

/// A detection frame's faces, measured by a worker.
struct Detected {
    seq: u64,
    frame_no: u64,
    cut: bool,
    frame: RgbImage,
    faces: Vec<(Face, Option<FaceQuality>, Option<RgbImage>)>,
}

/// Detects the faces of one frame and measures them (quality, aligned crop).
fn detect(
    analyzer: &FaceAnalyzer,
    (seq, frame_no, cut, frame): (u64, u64, bool, Frame),
) -> Result<Detected, VideoError> {
    // Colour only for the frames the detector sees.
    let frame = frame.to_rgb();
    let mut faces = Vec::new();
    for face in analyzer.detect(&frame)? {
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

/// Analyses every frame of `source`; `progress` is told how far it got.
///
/// Three stages run at once: a reader (decoding through FFmpeg, cut
/// detection on every frame), `workers` detectors (whole frames in
/// parallel: on a small machine, frames side by side with one ONNX Runtime
/// thread each beat one frame with all of them), and the tracker, which
/// takes their results back in frame order.
pub fn analyze(
    source: &mut (dyn FrameSource + Send),
    analyzer: &FaceAnalyzer,
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Analysis, VideoError> {
    let info = source.info().clone();
    if !(options.analysis_fps.is_finite() && options.analysis_fps > 0.0) {
        return Err(VideoError::Invalid(format!(
            "analysis fps {} is not positive",
            options.analysis_fps
        )));
    }
    let stride = ((info.fps() / options.analysis_fps).round() as u64).max(1);
    let max_gap = ((options.max_gap_secs * info.fps()).round() as u64).max(stride);
    let workers = options.workers.max(1);
    let spacing = (info.fps() / 2.0).round().max(1.0) as u64;
    let (mut live, mut done): (Vec<Live>, Vec<(Live, u64)>) = (Vec::new(), Vec::new());
    let (mut next_id, mut shot_start) = (1u32, 0u64);
    let (frame_no, cuts) = std::thread::scope(|s| -> Result<(u64, Vec<u64>), VideoError> {
        // Every end of a channel lives in this closure or a thread, so an
        // early return (an error) hangs nobody up: each stage's next send
        // fails and it stops.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<(u64, u64, bool, Frame)>(workers);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let (results, finished) =
            std::sync::mpsc::sync_channel::<Result<Detected, VideoError>>(2 * workers);
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
                    if results.send(detect(analyzer, job)).is_err() {
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
                progress(d.frame_no + 1);
                let f = d.frame_no;
                if d.cut {
                    done.extend(live.drain(..).map(|t| (t, f)));
                    shot_start = f;
                }
                let predicted: Vec<BBox> = live.iter().map(|t| t.motion.predict(f)).collect();
                let detected: Vec<BBox> = d.faces.iter().map(|(face, _, _)| face.bbox).collect();
                let mut owner: Vec<Option<usize>> = vec![None; detected.len()];
                for (t, i) in associate(&predicted, &detected) {
                    owner[i] = Some(t);
                }
                for (i, (face, quality, crop)) in d.faces.into_iter().enumerate() {
                    let t = match owner[i] {
                        Some(t) => {
                            live[t].motion.update(&face.bbox, f);
                            t
                        }
                        None => {
                            live.push(Live {
                                id: next_id,
                                motion: Motion::new(&face.bbox, f),
                                anchors: Vec::new(),
                                candidates: Vec::new(),
                                shot_start,
                                last_seen: f,
                            });
                            next_id += 1;
                            live.len() - 1
                        }
                    };
                    let track = &mut live[t];
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
                        options.best_faces,
                        spacing,
                    );
                    // Attributes only for faces kept as best (a few per
                    // track per second), not for every detection.
                    if kept && analyzer.describes() {
                        analyzer.describe(&d.frame, std::slice::from_mut(&mut described))?;
                        if let Some(c) = track.candidates.iter_mut().find(|c| c.face.frame == f) {
                            c.record = facekit_pipeline::FaceRecord::new(&described, false);
                        }
                    }
                }
                let (ended, kept): (Vec<Live>, Vec<Live>) =
                    live.drain(..).partition(|t| f - t.last_seen > max_gap);
                done.extend(ended.into_iter().map(|t| (t, u64::MAX)));
                live = kept;
            }
        }
        reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })?;
    progress(frame_no);
    let recognizer = analyzer.pack().recognizer();
    done.extend(live.into_iter().map(|t| (t, u64::MAX)));
    let mut tracks = Vec::new();
    for (mut t, cut_end) in done {
        let shot_end = cut_end.min(frame_no);
        let observations = boxes(&t, stride, options.lead_frames, shot_end);
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
    Ok(Analysis {
        info,
        frames_read: frame_no,
        stride,
        cuts,
        tracks,
    })
}
