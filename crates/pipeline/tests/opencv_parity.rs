//! Parity with OpenCV 5.0's `FaceDetectorYN` + `FaceRecognizerSF` on every
//! image with a golden file: the same faces, boxes and landmarks within 1 px,
//! scores within 1e-3, and SFace embeddings through facekit's own alignment
//! at cosine ≥ 0.999 to OpenCV's `alignCrop` + `feature`. The worst case of
//! each figure is printed.

use facekit_core::cosine_similarity;
use facekit_image::{DecodeLimits, decode_file, resize_linear};
use facekit_models::{DetectorChoice, ModelPack};
use facekit_pipeline::{AnalyzeOptions, DetectorKind, FaceAnalyzer};
use facekit_runtime::{Runtime, RuntimeOptions};
use facekit_testdata::{golden_cases, max_abs_diff, model, shared};

fn yunet_sface(yunet_file: &str) -> (FaceAnalyzer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for file in [yunet_file, "face_recognition_sface_2021dec_fp32.onnx"] {
        std::os::unix::fs::symlink(model(file), dir.path().join(file)).unwrap();
    }
    let runtime =
        Runtime::new(&RuntimeOptions::default()).expect("ONNX Runtime: run scripts/setup.sh");
    let choice = DetectorChoice::Kind(DetectorKind::YuNet);
    let pack = ModelPack::load_with(&runtime, dir.path(), &choice).unwrap();
    let options = AnalyzeOptions {
        detector: choice,
        ..AnalyzeOptions::default()
    };
    (FaceAnalyzer::new(pack, options), dir)
}

#[test]
fn yunet_at_image_size_matches_opencv() {
    let (analyzer, _dir) = yunet_sface("face_detection_yunet_2023mar_dynamic.onnx");
    let (mut images, mut faces_seen) = (0, 0);
    let (mut box_px, mut kps_px, mut score, mut min_cos) = (0.0f32, 0.0f32, 0.0f32, 1.0f32);
    let mut errors = Vec::new();
    for case in golden_cases("opencv-5.0/yunet_sface") {
        let name = case.image.display().to_string();
        let Ok(img) = decode_file(&case.image, &DecodeLimits::default()) else {
            // OpenCV could not read these either, or read a truncated file partially.
            assert!(
                case.golden.width.is_none() || name.contains("format_edge_cases"),
                "{name}"
            );
            continue;
        };
        if (Some(img.width()), Some(img.height())) != (case.golden.width, case.golden.height) {
            errors.push(format!(
                "{name}: decoded {}×{}, OpenCV {:?}×{:?}",
                img.width(),
                img.height(),
                case.golden.width,
                case.golden.height
            ));
            continue;
        }
        images += 1;
        let faces = analyzer.analyze(&img).unwrap();
        if faces.len() != case.golden.faces.len() {
            errors.push(format!(
                "{name}: {} faces, OpenCV found {}",
                faces.len(),
                case.golden.faces.len()
            ));
            continue;
        }
        // Both lists come out of NMS in score order.
        for (g, f) in case.golden.faces.iter().zip(&faces) {
            faces_seen += 1;
            let d_box = max_abs_diff(g.bbox, f.bbox.to_array());
            let d_kps = max_abs_diff(
                g.kps.as_ref().unwrap().iter().flatten().copied(),
                f.kps.unwrap().iter().flat_map(|p| [p.x, p.y]),
            );
            let d_score = (g.det_score - f.det_score).abs();
            let cos =
                cosine_similarity(g.embedding.as_ref().unwrap(), f.embedding.as_ref().unwrap());
            (box_px, kps_px, score, min_cos) = (
                box_px.max(d_box),
                kps_px.max(d_kps),
                score.max(d_score),
                min_cos.min(cos),
            );
            // README's stated tolerances (the measured worst cases are
            // 0.0001 px, 0.0002 px, 2e-7 and 0.999997).
            if d_box > 0.01 || d_kps > 0.01 || d_score > 1e-5 || cos < 0.99999 {
                errors.push(format!(
                    "{name}: box {d_box:.3} px, kps {d_kps:.3} px, score {d_score:.5}, cos {cos:.5}"
                ));
            }
        }
    }
    eprintln!(
        "yunet_sface: {images} images, {faces_seen} faces; worst box {box_px:.4} px, kps {kps_px:.4} px, score {score:.2e}, min cos {min_cos:.6}"
    );
    assert_eq!(images, 283, "images compared (README: all 283 decodable)");
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// `ours` on the photo must be `reference` on the photo resized by
/// `(sx, sy)`, with coordinates scaled back.
fn assert_scaled(
    ours: &[facekit_pipeline::Face],
    reference: &[facekit_pipeline::Face],
    sx: f32,
    sy: f32,
) {
    assert!(!ours.is_empty());
    assert_eq!(ours.len(), reference.len());
    for (a, b) in ours.iter().zip(reference) {
        let want = [
            b.bbox.x1 / sx,
            b.bbox.y1 / sy,
            b.bbox.x2 / sx,
            b.bbox.y2 / sy,
        ];
        for (x, y) in a.bbox.to_array().iter().zip(want) {
            assert!((x - y).abs() < 1e-3, "{:?} vs {want:?}", a.bbox);
        }
        for (p, q) in a.kps.unwrap().iter().zip(b.kps.unwrap()) {
            assert!((p.x - q.x / sx).abs() < 1e-3 && (p.y - q.y / sy).abs() < 1e-3);
        }
        assert_eq!(a.det_score, b.det_score);
    }
}

/// The 640×640 file gets photos resized to its size and coordinates mapped
/// back: its faces on the 1280×886 t1.jpg must be the dynamic model's faces
/// on t1 resized to 640×640, scaled back.
#[test]
fn fixed_shape_yunet_maps_coordinates_back_to_the_photo() {
    let (fixed, _dir) = yunet_sface("face_detection_yunet_2023mar.onnx");
    let (dynamic, _dir2) = yunet_sface("face_detection_yunet_2023mar_dynamic.onnx");
    let img = decode_file(&shared("images/t1.jpg"), &DecodeLimits::default()).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 886));
    let reference = dynamic.detect(&resize_linear(&img, 640, 640)).unwrap();
    assert_scaled(&fixed.detect(&img).unwrap(), &reference, 0.5, 640.0 / 886.0);
}

/// `max_side` shrinks large photos for the dynamic model, keeping the aspect
/// ratio: t1 at most 640 wide is t1 resized to 640×443.
#[test]
fn max_side_shrinks_large_photos_for_dynamic_yunet() {
    let (mut dynamic, _dir) = yunet_sface("face_detection_yunet_2023mar_dynamic.onnx");
    let img = decode_file(&shared("images/t1.jpg"), &DecodeLimits::default()).unwrap();
    let reference = dynamic.detect(&resize_linear(&img, 640, 443)).unwrap();
    let mut options = dynamic.options().clone();
    options.detect.max_side = Some(640);
    dynamic = FaceAnalyzer::new(dynamic.into_pack(), options);
    assert_scaled(
        &dynamic.detect(&img).unwrap(),
        &reference,
        0.5,
        443.0 / 886.0,
    );
}
