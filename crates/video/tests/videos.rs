//! Video end to end, on test videos made here with FFmpeg from real photos
//! of ../shared (pans, zooms, a fast segment, cuts, faces entering and
//! leaving, a tone as audio), with ground-truth boxes that follow from the
//! InsightFace goldens moved by each frame's known crop and scale.

use std::path::{Path, PathBuf};
use std::process::Command;

use facekit_core::BBox;
use facekit_image::{DecodeLimits, RgbImage, decode_file, resize_linear};
use facekit_pipeline::{AnalyzeOptions, Face, FaceAnalyzer};
use facekit_testdata::{scrfd500m_sface_pack, shared};
use facekit_video::mot::{Labelled, evaluate};
use facekit_video::plan::{IdentityStatus, Policy};
use facekit_video::{
    AnalysisOptions, FfmpegReader, FfmpegWriter, Frame, FrameSource, MediaInfo, ONE_PASS_MAX_BYTES,
    Plan, References, RenderSettings, VideoError, analyze, analyze_and_render, identify,
    one_pass_bytes, plan_of, probe, render,
};

const W: u32 = 640;
const H: u32 = 480;
const FPS: u32 = 24;

fn analyzer(pack: &tempfile::TempDir) -> FaceAnalyzer {
    FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), AnalyzeOptions::default()).unwrap()
}

fn photo(rel: &str) -> RgbImage {
    decode_file(&shared(rel), &DecodeLimits::default()).unwrap()
}

/// A 440 Hz tone of `secs` seconds (AAC).
fn tone(dir: &Path, secs: f64) -> PathBuf {
    let path = dir.join("tone.m4a");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args(["-c:a", "aac"])
        .arg(&path)
        .status()
        .expect("ffmpeg (bash scripts/setup.sh installs it)");
    assert!(ok.success());
    path
}

/// A window of `(x, y, w, h)` of `img` scaled to the video size, and the
/// map from photo coordinates into it.
fn view(img: &RgbImage, x: f32, y: f32, w: f32) -> (RgbImage, impl Fn(&BBox) -> BBox) {
    let h = w * H as f32 / W as f32;
    let crop = img.crop(x as u32, y as u32, w as u32, h as u32);
    let s = W as f32 / w.floor();
    let (ox, oy) = (x.floor(), y.floor());
    (resize_linear(&crop, W, H), move |b: &BBox| {
        BBox::new(
            (b.x1 - ox) * s,
            (b.y1 - oy) * s,
            (b.x2 - ox) * s,
            (b.y2 - oy) * s,
        )
    })
}

/// Encodes `frames` with the tone as audio; returns the video's path.
fn write_video(dir: &Path, name: &str, frames: &[RgbImage]) -> PathBuf {
    let path = dir.join(name);
    let audio = tone(dir, frames.len() as f64 / f64::from(FPS));
    let info = MediaInfo {
        width: W,
        height: H,
        fps_num: FPS,
        fps_den: 1,
        frames: frames.len() as u64,
        rotation: 0,
        audio_codec: Some("aac".into()),
    };
    let mut writer = FfmpegWriter::create(&path, &info, Some(&audio), &Default::default()).unwrap();
    for f in frames {
        writer.write(&Frame::from_rgb(f)).unwrap();
    }
    writer.finish().unwrap();
    path
}

/// The golden faces of t1.jpg (InsightFace 2.1, det_500m at 640).
fn t1_truth() -> Vec<BBox> {
    let text = std::fs::read_to_string(shared(
        "golden/insightface-2.1/scrfd500m_sface/images/t1.jpg.json",
    ))
    .unwrap();
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    golden["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b: Vec<f32> = f["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            BBox::new(b[0], b[1], b[2], b[3])
        })
        .collect()
}

/// Ground truth of one frame: the mapped golden faces mostly inside it.
fn visible(mapped: impl Iterator<Item = BBox>) -> Vec<(u32, BBox)> {
    let frame = BBox::new(0.0, 0.0, W as f32, H as f32);
    mapped
        .enumerate()
        .filter(|(_, b)| {
            let inside = BBox::new(
                b.x1.max(0.0),
                b.y1.max(0.0),
                b.x2.min(frame.x2),
                b.y2.min(frame.y2),
            );
            inside.width() > 0.0 && inside.height() > 0.0 && inside.area() >= 0.7 * b.area()
        })
        .map(|(i, b)| (i as u32, b))
        .collect()
}

/// A pan across t1.jpg (faces enter and leave), fast in its last third, or
/// a zoom into it; frames and ground truth.
fn t1_clip(zoom: bool) -> (Vec<RgbImage>, Vec<Labelled>) {
    let img = photo("images/t1.jpg");
    let truth = t1_truth();
    let (mut frames, mut labels) = (Vec::new(), Vec::new());
    for f in 0..72u32 {
        let (x, y, w) = if zoom {
            let w = 1180.0 - 9.0 * f as f32;
            (640.0 - w / 2.0, 443.0 - w * 0.375, w)
        } else {
            let x = if f < 48 {
                6.0 * f as f32
            } else {
                288.0 + 14.0 * (f - 48) as f32
            };
            (x, 150.0, 640.0)
        };
        let (frame, map) = view(&img, x, y, w);
        for (id, b) in visible(truth.iter().map(&map)) {
            labels.push((u64::from(f), id, b));
        }
        frames.push(frame);
    }
    (frames, labels)
}

fn hypothesis(plan: &Plan) -> Vec<Labelled> {
    plan.tracks
        .iter()
        .flat_map(|t| {
            t.boxes.iter().map(move |o| {
                (
                    o.frame,
                    t.id,
                    BBox::new(o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[3]),
                )
            })
        })
        .collect()
}

fn all_frames(path: &Path) -> Vec<RgbImage> {
    let mut reader = FfmpegReader::open(path).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().unwrap() {
        frames.push(f.to_rgb());
    }
    frames
}

/// Faces a user would call detectable: score ≥ 0.5, larger than 40 px.
fn detectable(analyzer: &FaceAnalyzer, frame: &RgbImage) -> Vec<Face> {
    analyzer
        .detect(frame)
        .unwrap()
        .into_iter()
        .filter(|f| f.det_score >= 0.5 && f.bbox.width().min(f.bbox.height()) > 40.0)
        .collect()
}

fn plan_for(
    path: &Path,
    analyzer: &FaceAnalyzer,
    policy: Policy,
) -> (facekit_video::Analysis, Plan) {
    let options = AnalysisOptions::default();
    let analysis = analyze(
        &mut FfmpegReader::open(path).unwrap(),
        analyzer,
        &options,
        &mut |_| {},
    )
    .unwrap();
    let render = RenderSettings {
        policy,
        ..RenderSettings::default()
    };
    let plan = plan_of(&analysis, &options, 0.3, render);
    (analysis, plan)
}

/// Renders `plan` and checks the stream kept its shape and audio.
fn rendered(input: &Path, plan: &Plan, name: &str) -> PathBuf {
    let output = input.with_file_name(name);
    render(
        &mut FfmpegReader::open(input).unwrap(),
        plan,
        &output,
        Some(input),
        &mut |_| {},
    )
    .unwrap();
    let (a, b) = (probe(input).unwrap(), probe(&output).unwrap());
    assert_eq!(
        (b.width, b.height, b.fps_num, b.fps_den, b.frames),
        (a.width, a.height, a.fps_num, a.fps_den, a.frames)
    );
    assert_eq!(b.audio_codec.as_deref(), Some("aac"), "audio kept");
    assert!(
        !std::fs::read_dir(output.parent().unwrap())
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".partial"))
    );
    output
}

#[test]
fn pans_and_zooms_are_tracked_and_every_face_is_redacted() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let dir = tempfile::tempdir().unwrap();
    for zoom in [false, true] {
        let name = if zoom { "zoom" } else { "pan" };
        let (frames, truth) = t1_clip(zoom);
        let input = write_video(dir.path(), &format!("{name}.mp4"), &frames);
        let (_, plan) = plan_for(&input, &analyzer, Policy::All);
        let scores = evaluate(&truth, &hypothesis(&plan), 0.5);
        let faces = truth
            .iter()
            .map(|l| l.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        eprintln!(
            "{name}: {} tracks for {faces} faces; {scores:?}",
            plan.tracks.len()
        );
        assert!(
            scores.id_switches <= faces,
            "{name}: at most one switch per face: {scores:?}"
        );
        assert!(scores.mota > 0.6 && scores.idf1 > 0.6, "{name}: {scores:?}");

        let output = rendered(&input, &plan, &format!("{name}.blurred.mp4"));
        let (before, after) = (all_frames(&input), all_frames(&output));

        // One pass (policy all): the same tracks and the same pixels as
        // analysing, then rendering the plan.
        let one_pass = dir.path().join(format!("{name}.one-pass.mp4"));
        let options = AnalysisOptions::default();
        let (analysis, report) = analyze_and_render(
            &mut FfmpegReader::open(&input).unwrap(),
            &analyzer,
            &options,
            &plan.render,
            &one_pass,
            Some(&input),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            plan_of(&analysis, &options, 0.3, plan.render.clone()),
            plan,
            "{name}: one pass finds the same tracks"
        );
        assert_eq!(report.frames, plan.source.frames);
        assert!(report.boxes_hidden > 100, "{report:?}");
        assert!(
            all_frames(&one_pass) == after,
            "{name}: one pass renders the pixels analyse + render do"
        );
        let mut checked = 0;
        for (f, (a, b)) in before.iter().zip(&after).enumerate() {
            let faces_in = detectable(&analyzer, a);
            checked += faces_in.len();
            for leak in detectable(&analyzer, b) {
                assert!(
                    faces_in.iter().all(|i| i.bbox.iou(&leak.bbox) < 0.3),
                    "{name} frame {f}: a face is still detectable at {:?} (score {})",
                    leak.bbox,
                    leak.det_score
                );
            }
        }
        assert!(checked > 100, "{name}: {checked} input faces checked");
    }
}

#[test]
fn one_pass_refuses_policies_that_need_identities() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let dir = tempfile::tempdir().unwrap();
    let (frames, _) = t1_clip(false);
    let input = write_video(dir.path(), "pan.mp4", &frames[..12]);
    let output = dir.path().join("out.mp4");
    for policy in [Policy::Only, Policy::Except] {
        let err = analyze_and_render(
            &mut FfmpegReader::open(&input).unwrap(),
            &analyzer,
            &AnalysisOptions::default(),
            &RenderSettings {
                policy,
                ..RenderSettings::default()
            },
            &output,
            None,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(&err, VideoError::Invalid(why) if why.contains("policy 'all' only")),
            "{err}"
        );
        assert!(!output.exists());
    }
    // A rate so low that a second's lag is thousands of frames: the one
    // pass would hold gigabytes, so it refuses (the CLI then analyses and
    // renders in two passes).
    let slow = AnalysisOptions {
        analysis_fps: 0.01,
        ..AnalysisOptions::default()
    };
    let info = probe(&input).unwrap();
    assert!(one_pass_bytes(&info, &slow).unwrap() > ONE_PASS_MAX_BYTES);
    let usual = one_pass_bytes(&info, &AnalysisOptions::default()).unwrap();
    assert!(usual < 64 << 20, "{usual} bytes at 640×480");
    let err = analyze_and_render(
        &mut FfmpegReader::open(&input).unwrap(),
        &analyzer,
        &slow,
        &RenderSettings::default(),
        &output,
        None,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("one pass would hold"), "{err}");
    assert!(!output.exists());
}

#[test]
fn cuts_start_shots_and_tracks_take_the_identity_of_their_references() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let dir = tempfile::tempdir().unwrap();
    let knn = "identities/face_recognition_knn/train";
    // Three shots of other photos of two referenced people and one unknown.
    let shots = [
        "obama/obama2.jpg",
        "biden/biden2.jpg",
        "kit_harington/john2.jpeg",
    ];
    let mut frames = Vec::new();
    for shot in shots {
        let img = photo(&format!("{knn}/{shot}"));
        let w0 = (img.width() as f32).min(img.height() as f32 * 4.0 / 3.0);
        for f in 0..30 {
            let w = w0 * (1.0 - 0.004 * f as f32);
            let (x, y) = (
                (img.width() as f32 - w) / 2.0,
                (img.height() as f32 - w * 0.75) / 2.0,
            );
            frames.push(view(&img, x, y, w).0);
        }
    }
    let input = write_video(dir.path(), "people.mp4", &frames);
    let references = dir.path().join("references");
    std::fs::create_dir(&references).unwrap();
    for person in ["obama", "biden"] {
        std::os::unix::fs::symlink(
            shared(&format!("{knn}/{person}/{person}.jpg")),
            references.join(format!("{person}.jpg")),
        )
        .unwrap();
    }
    let references = References::load(&references, &analyzer).unwrap();
    assert_eq!(references.names(), ["biden", "obama"]);

    let (mut analysis, _) = plan_for(&input, &analyzer, Policy::Except);
    assert_eq!(analysis.cuts, [0, 30, 60], "a cut at each new photo");
    identify(&mut analysis.tracks, &references, 0.3).unwrap();
    let plan = plan_of(
        &analysis,
        &AnalysisOptions::default(),
        0.3,
        RenderSettings {
            policy: Policy::Except,
            ..RenderSettings::default()
        },
    );
    let who = |shot: u64| -> Vec<(IdentityStatus, Option<String>)> {
        plan.tracks
            .iter()
            .filter(|t| {
                t.first_frame / 30 == shot && t.last_frame / 30 == shot && t.boxes.len() > 10
            })
            .map(|t| (t.identity.status, t.identity.person.clone()))
            .collect()
    };
    assert_eq!(
        who(0),
        [(IdentityStatus::Confirmed, Some("obama".into()))],
        "{:?}",
        plan.tracks
    );
    assert_eq!(who(1), [(IdentityStatus::Confirmed, Some("biden".into()))]);
    assert_eq!(
        who(2).iter().map(|w| w.0).collect::<Vec<_>>(),
        [IdentityStatus::Unknown]
    );
    assert!(
        plan.tracks
            .iter()
            .all(|t| t.first_frame / 30 == t.last_frame / 30),
        "no track crosses a cut"
    );

    // `except`: exactly the referenced people stay visible.
    let output = rendered(&input, &plan, "people.except.mp4");
    let after = all_frames(&output);
    for (shot, visible) in [(0usize, true), (1, true), (2, false)] {
        let frame = &after[shot * 30 + 15];
        assert_eq!(
            !detectable(&analyzer, frame).is_empty(),
            visible,
            "shot {shot}"
        );
    }
}

#[test]
fn a_track_deleted_from_the_plan_stays_visible_and_the_rest_is_redacted() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let dir = tempfile::tempdir().unwrap();
    let (frames, _) = t1_clip(false);
    let input = write_video(dir.path(), "pan.mp4", &frames);
    let (_, plan) = plan_for(&input, &analyzer, Policy::All);
    let path = dir.path().join("plan.json");
    plan.write(&path).unwrap();
    // The edit a person makes: drop the longest track from the JSON.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let tracks = json["tracks"].as_array_mut().unwrap();
    let longest = (0..tracks.len())
        .max_by_key(|&i| tracks[i]["boxes"].as_array().unwrap().len())
        .unwrap();
    let dropped = tracks.remove(longest);
    std::fs::write(&path, json.to_string()).unwrap();
    let edited = Plan::read(&path).unwrap();
    let output = rendered(&input, &edited, "pan.edited.mp4");

    let after = all_frames(&output);
    let (mut kept_visible, mut leaks) = (0, 0);
    for o in dropped["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["source"] == "detector")
    {
        let frame = o["frame"].as_u64().unwrap() as usize;
        let b: Vec<f32> = o["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let dropped_box = BBox::new(b[0], b[1], b[2], b[3]);
        for face in detectable(&analyzer, &after[frame]) {
            if face.bbox.iou(&dropped_box) >= 0.5 {
                kept_visible += 1;
            } else {
                leaks += 1;
            }
        }
    }
    assert!(
        kept_visible >= 10,
        "the dropped track's face is visible: {kept_visible}"
    );
    assert_eq!(leaks, 0, "every other face stays redacted");
    // A plan for another video is refused.
    let mut wrong = edited.clone();
    wrong.source.frames += 1;
    let err = render(
        &mut FfmpegReader::open(&input).unwrap(),
        &wrong,
        &dir.path().join("x.mp4"),
        None,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("frames"), "{err}");
}

#[test]
fn damaged_videos_are_processed_to_the_damage_and_non_videos_are_refused() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let dir = tempfile::tempdir().unwrap();
    let (frames, _) = t1_clip(false);
    let input = write_video(dir.path(), "pan.mp4", &frames[..48]);
    // Cut the file short: the moov atom of an MP4 is at its end, so write
    // an MKV (playable up to where it stops) instead.
    let mkv = dir.path().join("pan.mkv");
    assert!(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&input)
            .args(["-c", "copy"])
            .arg(&mkv)
            .status()
            .unwrap()
            .success()
    );
    let bytes = std::fs::read(&mkv).unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let analysis = analyze(
        &mut FfmpegReader::open(&cut).unwrap(),
        &analyzer,
        &AnalysisOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        analysis.frames_read > 5 && analysis.frames_read < 48,
        "{} frames read",
        analysis.frames_read
    );

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all").unwrap();
    match FfmpegReader::open(&text) {
        Err(VideoError::Unreadable { path, .. }) => assert_eq!(path, text),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a text file opened as a video"),
    }
}

#[test]
fn rotation_is_honoured_and_audio_that_mp4_cannot_hold_is_reencoded() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let dir = tempfile::tempdir().unwrap();
    let (frames, _) = t1_clip(false);
    let plain = write_video(dir.path(), "pan.mp4", &frames[..24]);
    // The same frames stored sideways with a 90° display rotation, and PCM
    // audio (which MP4 does not take as is), in QuickTime.
    let (stored, sideways) = (
        dir.path().join("stored.mov"),
        dir.path().join("sideways.mov"),
    );
    let ffmpeg = |args: &[&str], input: &Path, output: &Path| {
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(input)
            .args(args)
            .arg(output)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    ffmpeg(
        &["-vf", "transpose=2", "-c:v", "libx264", "-c:a", "pcm_s16le"],
        &plain,
        &stored,
    );
    // The rotation tag survives only a stream copy.
    ffmpeg(
        &["-c", "copy", "-metadata:s:v:0", "rotate=90"],
        &stored,
        &sideways,
    );
    let info = probe(&sideways).unwrap();
    assert_eq!(
        (info.width, info.height, info.rotation.rem_euclid(180)),
        (W, H, 90),
        "{info:?}"
    );
    assert_eq!(info.audio_codec.as_deref(), Some("pcm_s16le"));
    let (_, plan) = plan_for(&sideways, &analyzer, Policy::All);
    assert!(!plan.tracks.is_empty(), "faces found upright");
    let output = dir.path().join("upright.mp4");
    render(
        &mut FfmpegReader::open(&sideways).unwrap(),
        &plan,
        &output,
        Some(&sideways),
        &mut |_| {},
    )
    .unwrap();
    let out = probe(&output).unwrap();
    assert_eq!(
        (out.width, out.height, out.rotation, out.frames),
        (W, H, 0, 24)
    );
    assert_eq!(
        out.audio_codec.as_deref(),
        Some("aac"),
        "PCM re-encoded to AAC"
    );
}
