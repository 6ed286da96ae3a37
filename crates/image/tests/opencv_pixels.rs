//! Decoded and resized pixels compared with OpenCV 5.0's, bit for bit
//! (`shared/golden/opencv-5.0/pixels`).

use facekit_image::{DecodeLimits, RgbImage, decode_bytes, decode_file, resize_linear};
use facekit_testdata::shared;

fn load_png(path: &std::path::Path) -> RgbImage {
    decode_bytes(&std::fs::read(path).unwrap(), &DecodeLimits::default()).unwrap()
}

/// (max abs difference, number of differing samples)
fn diff(a: &RgbImage, b: &RgbImage) -> (u8, usize) {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .fold((0, 0), |(m, n), (&x, &y)| {
            let d = x.abs_diff(y);
            (m.max(d), n + usize::from(d > 0))
        })
}

#[test]
fn decode_and_resize_match_opencv_exactly() {
    let dir = shared("golden/opencv-5.0/pixels");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let entries = index.as_array().unwrap();
    assert!(entries.len() >= 6);
    for entry in entries {
        let image = entry["image"].as_str().unwrap();
        let ours = decode_file(&shared("images").join(image), &DecodeLimits::default()).unwrap();
        let reference = load_png(&dir.join(entry["decoded"].as_str().unwrap()));
        assert_eq!(diff(&ours, &reference), (0, 0), "decoded pixels of {image}");
        for resized in entry["resized"].as_array().unwrap() {
            let (w, h) = (
                resized["width"].as_u64().unwrap() as u32,
                resized["height"].as_u64().unwrap() as u32,
            );
            let expected = load_png(&dir.join(resized["file"].as_str().unwrap()));
            let got = resize_linear(&reference, w, h);
            assert_eq!(diff(&got, &expected), (0, 0), "{image} resized to {w}×{h}");
        }
    }
}

#[test]
fn exif_orientation_is_applied() {
    let img = decode_file(
        &shared("images/inspireface/bulk/image_T1.jpeg"),
        &DecodeLimits::default(),
    )
    .unwrap();
    // Stored 640×480 with orientation 6; OpenCV returns it upright, 480×640.
    assert_eq!((img.width(), img.height()), (480, 640));
}

#[test]
fn corrupt_and_empty_files_give_clear_errors() {
    let limits = DecodeLimits::default();
    let err = decode_file(&shared("images/format_edge_cases/corrupted.png"), &limits).unwrap_err();
    assert!(
        err.to_string().contains("PNG") || err.to_string().contains("unrecognised"),
        "{err}"
    );
    let err = decode_file(&shared("images/format_edge_cases/empty.png"), &limits).unwrap_err();
    assert!(!err.to_string().is_empty());
    let err = decode_file(&shared("images/does-not-exist.jpg"), &limits).unwrap_err();
    assert!(err.to_string().contains("does-not-exist.jpg"), "{err}");
    // Thousands of scans: refused before libjpeg spends minutes on them.
    let t1 = std::fs::read(shared("images/t1.jpg")).unwrap();
    let header_end = t1.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mut crafted = t1[..header_end].to_vec();
    for _ in 0..5000 {
        crafted.extend_from_slice(&[
            0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x12, 0x34,
        ]);
    }
    crafted.extend_from_slice(&[0xFF, 0xD9]);
    let started = std::time::Instant::now();
    let err = decode_bytes(&crafted, &limits).unwrap_err();
    assert!(err.to_string().contains("scans"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // A device that never ends is refused, not read.
    let started = std::time::Instant::now();
    let err = decode_file(std::path::Path::new("/dev/zero"), &limits).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn every_format_decodes_to_the_same_size() {
    for name in [
        "einstein.bmp",
        "einstein.gif",
        "einstein.jpeg",
        "einstein.png",
        "einstein.tiff",
        "einstein.webp",
    ] {
        let img = decode_file(
            &shared("images/format_edge_cases").join(name),
            &DecodeLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width(), img.height()), (256, 256), "{name}");
    }
}
