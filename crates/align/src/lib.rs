//! Face alignment as InsightFace's `face_align`: `norm_crop` (a similarity
//! transform from the five detected landmarks to the ArcFace template) for
//! recognition, and `transform` (a box-centred square crop) for the landmark
//! and attribute models, each followed by an OpenCV-identical bilinear warp
//! with a black border.
//!
//! Depends on `facekit-core` (the similarity estimate) and `facekit-image`
//! (the warp).
//!
//! ```
//! use facekit_align::{ARCFACE_TEMPLATE, norm_crop};
//! use facekit_image::RgbImage;
//! let img = RgbImage::new(200, 200);
//! let crop = norm_crop(&img, &ARCFACE_TEMPLATE, 112)?;
//! assert_eq!((crop.width(), crop.height()), (112, 112));
//! # Ok::<(), facekit_align::AlignError>(())
//! ```

use facekit_core::{Affine2, BBox, Point, estimate_similarity};
use facekit_image::{RgbImage, warp_affine};

/// The five ArcFace landmark positions in a 112×112 crop (InsightFace's
/// `arcface_dst`): left eye, right eye, nose tip, left and right mouth corner.
pub const ARCFACE_TEMPLATE: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// Why a face could not be aligned.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    /// InsightFace's template only scales to multiples of 112 or 128.
    #[error("crop size {0} is not a multiple of 112 or 128")]
    UnsupportedSize(u32),
    /// The landmarks coincide, so no transform fits them.
    #[error("the five landmarks are degenerate (all at one point)")]
    DegenerateLandmarks,
}

/// The template scaled for `image_size`, as `estimate_norm` does: ×size/112
/// for multiples of 112, else ×size/128 shifted right by 8·size/128.
pub fn template_for(image_size: u32) -> Result<[Point; 5], AlignError> {
    let (ratio, diff_x) = if image_size.is_multiple_of(112) {
        (image_size as f32 / 112.0, 0.0)
    } else if image_size.is_multiple_of(128) {
        let r = image_size as f32 / 128.0;
        (r, 8.0 * r)
    } else {
        return Err(AlignError::UnsupportedSize(image_size));
    };
    Ok(ARCFACE_TEMPLATE.map(|p| Point::new(p.x * ratio + diff_x, p.y * ratio)))
}

/// The transform `norm_crop` applies: landmarks → template for `image_size`.
pub fn estimate_norm(landmarks: &[Point; 5], image_size: u32) -> Result<Affine2, AlignError> {
    let dst = template_for(image_size)?;
    estimate_similarity(landmarks, &dst).ok_or(AlignError::DegenerateLandmarks)
}

/// The aligned `image_size × image_size` face crop.
pub fn norm_crop(
    img: &RgbImage,
    landmarks: &[Point; 5],
    image_size: u32,
) -> Result<RgbImage, AlignError> {
    let m = estimate_norm(landmarks, image_size)?;
    Ok(warp_affine(img, &m, image_size, image_size))
}

/// InsightFace's `face_align.transform`: scale by `scale` about `center`,
/// rotate by `rotation_deg`, and move the centre to the middle of an
/// `output_size` square. The centre is scaled in `f32` and the matrix kept in
/// `f64`, as InsightFace's NumPy types do, so crops match to the bit.
pub fn center_transform(center: Point, output_size: u32, scale: f32, rotation_deg: f64) -> Affine2 {
    let (cx, cy) = (f64::from(center.x * scale), f64::from(center.y * scale));
    let (sin, cos) = rotation_deg.to_radians().sin_cos();
    let s = f64::from(scale);
    let half = f64::from(output_size) / 2.0;
    Affine2([
        [s * cos, -s * sin, -(cos * cx - sin * cy) + half],
        [s * sin, s * cos, -(sin * cx + cos * cy) + half],
    ])
}

/// The square crop InsightFace's landmark and attribute models see
/// (`landmark.py`, `attribute.py`): centred on the box, unrotated, the box's
/// longer side filling 1/1.5 of the `size × size` crop. Returns the crop and
/// the source → crop transform (invert it to map predictions back).
pub fn box_crop(img: &RgbImage, bbox: &BBox, size: u32) -> (RgbImage, Affine2) {
    let longer = bbox.width().max(bbox.height());
    let scale = size as f32 / (longer * 1.5);
    let m = center_transform(bbox.center(), size, scale, 0.0);
    (warp_affine(img, &m, size, size), m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_maps_to_itself() {
        let m = estimate_norm(&ARCFACE_TEMPLATE, 112).unwrap();
        assert!((m.scale() - 1.0).abs() < 1e-6);
        assert!(m.0[0][2].abs() < 1e-4 && m.0[1][2].abs() < 1e-4);
    }

    #[test]
    fn sizes_follow_insightface() {
        assert_eq!(
            template_for(224).unwrap()[0],
            Point::new(38.2946 * 2.0, 51.6963 * 2.0)
        );
        assert_eq!(template_for(128).unwrap()[0].x, 38.2946 + 8.0);
        assert_eq!(template_for(100), Err(AlignError::UnsupportedSize(100)));
        assert_eq!(
            norm_crop(&RgbImage::new(4, 4), &[Point::new(1.0, 1.0); 5], 112),
            Err(AlignError::DegenerateLandmarks)
        );
    }

    #[test]
    fn box_crop_centres_the_box_at_two_thirds() {
        let (crop, m) = box_crop(
            &RgbImage::new(300, 200),
            &BBox::new(100.0, 50.0, 160.0, 140.0),
            96,
        );
        assert_eq!((crop.width(), crop.height()), (96, 96));
        // Longer side 90 px → 96 / 135 per pixel; the centre lands mid-crop.
        assert!((m.scale() - 96.0 / 135.0).abs() < 1e-6);
        let c = m.apply(Point::new(130.0, 95.0));
        assert!((c.x - 48.0).abs() < 1e-4 && (c.y - 48.0).abs() < 1e-4);
        let r = center_transform(Point::new(0.0, 0.0), 10, 1.0, 90.0);
        let p = r.apply(Point::new(1.0, 0.0));
        assert!((p.x - 5.0).abs() < 1e-6 && (p.y - 6.0).abs() < 1e-6);
    }
}
