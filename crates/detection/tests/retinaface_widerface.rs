//! The PyTorch RetinaFace MobileNet-0.25 export on real WIDER FACE photos:
//! it must find at least 80 % of the valid ground-truth faces larger than
//! 32 px at IoU ≥ 0.5.

use facekit_core::BBox;
use facekit_detection::{DetectOptions, DetectorKind, FaceDetector};
use facekit_image::{DecodeLimits, decode_file};
use facekit_runtime::{Runtime, RuntimeOptions};
use facekit_testdata::{model, shared};

/// `(image file name, valid faces)` from WIDER's `x y w h blur expression
/// illumination invalid occlusion pose` lines.
fn ground_truth() -> Vec<(String, Vec<BBox>)> {
    let root = shared("detection/widerface_val_subset");
    let text = std::fs::read_to_string(root.join("wider_face_val_bbx_gt.subset.txt")).unwrap();
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(name) = lines.next() {
        let count: usize = lines.next().unwrap().trim().parse().unwrap();
        // WIDER writes one all-zero line for images without faces.
        let rows = count.max(1);
        let faces = (0..rows)
            .filter_map(|_| {
                let v: Vec<f32> = lines
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .map(|x| x.parse().unwrap())
                    .collect();
                (count > 0 && v[7] == 0.0).then(|| BBox::new(v[0], v[1], v[0] + v[2], v[1] + v[3]))
            })
            .collect();
        let file = name.rsplit('/').next().unwrap().to_string();
        out.push((file, faces));
    }
    out
}

#[test]
fn finds_four_in_five_faces_larger_than_32_px() {
    let runtime =
        Runtime::new(&RuntimeOptions::default()).expect("ONNX Runtime: run scripts/setup.sh");
    let detector = FaceDetector::new(
        DetectorKind::RetinaFace,
        runtime.load(&model("retinaface_mnet025_640.onnx")).unwrap(),
    )
    .unwrap();
    let images = shared("detection/widerface_val_subset/images");
    let (mut found, mut total, mut images_seen) = (0usize, 0usize, 0usize);
    for (file, truth) in ground_truth() {
        let path = images.join(&file);
        if !path.exists() {
            continue;
        }
        images_seen += 1;
        let img = decode_file(&path, &DecodeLimits::default()).unwrap();
        let dets = detector.detect(&img, &DetectOptions::default()).unwrap();
        assert!(dets.iter().all(|d| d.score > 0.5 && d.kps.is_some()));
        for face in truth.iter().filter(|b| b.width().max(b.height()) > 32.0) {
            total += 1;
            found += usize::from(dets.iter().any(|d| face.iou(&d.bbox) >= 0.5));
        }
    }
    let recall = found as f64 / total as f64;
    eprintln!(
        "RetinaFace mnet0.25: {found}/{total} faces > 32 px found on {images_seen} WIDER images (recall {recall:.3})"
    );
    assert_eq!(images_seen, 10);
    assert!(total > 20, "too few faces to judge: {total}");
    assert!(recall >= 0.8, "recall {recall:.3}");
}
