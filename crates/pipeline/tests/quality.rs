//! Face quality on real photos: each component moves the right way as a
//! photo is degraded on purpose (blurred, darkened, shrunk, rotated), the
//! standard review refuses the degraded copies with the right reason while
//! accepting the originals, and the share of real photos in
//! `shared/identities` each review level refuses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use facekit_align::center_transform;
use facekit_core::Point;
use facekit_image::{DecodeLimits, RgbImage, decode_file, resize_linear, warp_affine};
use facekit_pipeline::{AnalyzeOptions, Face, FaceAnalyzer, FaceQuality};
use facekit_quality::{ReviewMode, review};
use facekit_testdata::{scrfd500m_sface_pack, shared};

fn analyzer(pack: &tempfile::TempDir) -> FaceAnalyzer {
    let options = AnalyzeOptions {
        quality: true,
        ..AnalyzeOptions::default()
    };
    FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), options).expect("det_500m + SFace")
}

fn largest(analyzer: &FaceAnalyzer, img: &RgbImage) -> Option<Face> {
    analyzer
        .analyze(img)
        .unwrap()
        .into_iter()
        .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
}

fn quality(analyzer: &FaceAnalyzer, img: &RgbImage) -> Option<FaceQuality> {
    largest(analyzer, img).and_then(|f| f.quality)
}

fn reasons(q: &FaceQuality, mode: ReviewMode) -> Vec<&'static str> {
    review(q, mode).into_iter().map(|r| r.reason).collect()
}

/// A separable Gaussian blur (edges clamped).
fn blur(img: &RgbImage, sigma: f64) -> RgbImage {
    let radius = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let (w, h) = (img.width() as i64, img.height() as i64);
    let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; src.len()];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let mut acc = 0.0;
                    for (k, weight) in kernel.iter().enumerate() {
                        let d = k as i64 - radius;
                        let (sx, sy) = if horizontal {
                            ((x + d).clamp(0, w - 1), y)
                        } else {
                            (x, (y + d).clamp(0, h - 1))
                        };
                        acc += weight * f64::from(src[((sy * w + sx) * 3 + c) as usize]);
                    }
                    out[((y * w + x) * 3 + c) as usize] = (acc / total).round() as u8;
                }
            }
        }
        out
    };
    let once = pass(img.as_raw(), true);
    RgbImage::from_raw(img.width(), img.height(), pass(&once, false)).unwrap()
}

fn darken(img: &RgbImage, factor: f64) -> RgbImage {
    let data = img
        .as_raw()
        .iter()
        .map(|&v| (f64::from(v) * factor).round() as u8)
        .collect();
    RgbImage::from_raw(img.width(), img.height(), data).unwrap()
}

fn shrink(img: &RgbImage, factor: f64) -> RgbImage {
    let w = (f64::from(img.width()) * factor).round() as u32;
    let h = (f64::from(img.height()) * factor).round() as u32;
    resize_linear(img, w, h)
}

fn rotate(img: &RgbImage, degrees: f64) -> RgbImage {
    let centre = Point::new(img.width() as f32 / 2.0, img.height() as f32 / 2.0);
    let side = img.width().max(img.height());
    warp_affine(
        img,
        &center_transform(centre, side, 1.0, degrees),
        side,
        side,
    )
}

#[test]
fn degraded_copies_move_each_component_and_standard_review_refuses_them() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    for name in ["obama/obama.jpg", "biden/biden.jpg"] {
        let img = decode_file(
            &shared(&format!("identities/face_recognition_knn/train/{name}")),
            &DecodeLimits::default(),
        )
        .unwrap();
        let original = quality(&analyzer, &img).expect("a face with landmarks");
        eprintln!("{name} original: {original:?}");
        assert!(
            reasons(&original, ReviewMode::Standard).is_empty(),
            "{name}: {original:?}"
        );

        let mut last = original.clone();
        for sigma in [1.5, 3.0, 6.0] {
            let q = quality(&analyzer, &blur(&img, sigma)).expect("still a face");
            eprintln!(
                "{name} blur {sigma}: sharpness {} score {}",
                q.sharpness, q.score
            );
            assert!(
                q.sharpness < last.sharpness && q.score < last.score,
                "{name} blur {sigma}"
            );
            last = q;
        }
        assert!(
            reasons(&last, ReviewMode::Standard).contains(&"blurred"),
            "{name}: {last:?}"
        );

        let mut last = original.clone();
        for factor in [0.6, 0.35, 0.15] {
            let q = quality(&analyzer, &darken(&img, factor)).expect("still a face");
            eprintln!(
                "{name} darken {factor}: brightness {} contrast {} score {}",
                q.brightness, q.contrast, q.score
            );
            assert!(
                q.brightness < last.brightness && q.score < last.score,
                "{name} darken {factor}"
            );
            last = q;
        }
        assert!(
            reasons(&last, ReviewMode::Standard).contains(&"too_dark"),
            "{name}: {last:?}"
        );

        let mut last = original.clone();
        for factor in [0.5, 0.25, 0.12] {
            let q = quality(&analyzer, &shrink(&img, factor)).expect("still a face");
            eprintln!(
                "{name} shrink {factor}: size {} score {}",
                q.face_size, q.score
            );
            assert!(
                q.face_size < last.face_size && q.score < last.score,
                "{name} shrink {factor}"
            );
            last = q;
        }
        assert!(
            reasons(&last, ReviewMode::Standard).contains(&"too_small"),
            "{name}: {last:?}"
        );

        let mut last = original.clone();
        for degrees in [15.0, 30.0, 50.0] {
            let q = quality(&analyzer, &rotate(&img, degrees)).expect("still a face");
            eprintln!("{name} rotate {degrees}: roll {} score {}", q.roll, q.score);
            assert!(
                q.roll.abs() > last.roll.abs() + 5.0,
                "{name} rotate {degrees}: {q:?}"
            );
            last = q;
        }
        assert!(
            reasons(&last, ReviewMode::Standard).contains(&"tilted"),
            "{name}: {last:?}"
        );
    }
}

/// Every photo under `shared/identities` whose folder names its person.
fn identity_photos() -> Vec<PathBuf> {
    let mut photos: Vec<PathBuf> = walk(&shared("identities"));
    photos.retain(|p| {
        let s = p.to_string_lossy();
        !s.contains("aligned")
            && p.extension().is_some_and(|e| {
                ["jpg", "jpeg", "png"].contains(&e.to_string_lossy().to_lowercase().as_str())
            })
    });
    photos.sort();
    photos
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

#[test]
fn review_levels_refuse_few_real_photos_of_shared_identities() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let photos = identity_photos();
    assert!(photos.len() >= 80, "{} photos", photos.len());
    let (mut faces, mut refused) = (0usize, BTreeMap::<&str, usize>::new());
    let mut reasons_seen = BTreeMap::<(&str, &str), usize>::new();
    for path in &photos {
        let Ok(img) = decode_file(path, &DecodeLimits::default()) else {
            continue;
        };
        let Some(q) = quality(&analyzer, &img) else {
            continue;
        };
        faces += 1;
        for (level, mode) in [
            ("standard", ReviewMode::Standard),
            ("strict", ReviewMode::Strict),
        ] {
            let r = reasons(&q, mode);
            if !r.is_empty() {
                *refused.entry(level).or_default() += 1;
                eprintln!("{level} refuses {}: {r:?} {q:?}", path.display());
            }
            for reason in r {
                *reasons_seen.entry((level, reason)).or_default() += 1;
            }
        }
    }
    let share = |level| *refused.get(level).unwrap_or(&0) as f64 / faces as f64;
    eprintln!(
        "{faces} photos with a face: standard refuses {:.1} %, strict {:.1} % (quality limits only); reasons {reasons_seen:?}",
        100.0 * share("standard"),
        100.0 * share("strict")
    );
    assert!(faces >= 80);
    assert!(
        share("standard") <= 0.05,
        "standard refuses {:.1} % of real photos",
        100.0 * share("standard")
    );
    assert!(share("strict") >= share("standard") && share("strict") <= 0.20);
}
