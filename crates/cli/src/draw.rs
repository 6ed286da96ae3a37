//! Annotating a copy of an image: boxes, landmarks, scores, and when the
//! pack has the models, the 106/68 dense landmarks and head-pose axes.
//!
//! Boxes and score labels are `facekit-image`'s marks (a built-in 3×5
//! pixel font, so the tool needs no font file).

use facekit_image::{RgbImage, draw_rect, draw_text, put_pixel};
use facekit_pipeline::{Face, Pose};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const YELLOW: [u8; 3] = [255, 220, 0];
const CYAN: [u8; 3] = [0, 220, 255];
const MAGENTA: [u8; 3] = [255, 0, 255];
const BLUE: [u8; 3] = [40, 80, 255];

fn dot(img: &mut RgbImage, cx: i64, cy: i64, radius: i64, color: [u8; 3]) {
    for y in -radius..=radius {
        for x in -radius..=radius {
            if x * x + y * y <= radius * radius {
                put_pixel(img, cx + x, cy + y, color);
            }
        }
    }
}

fn line(img: &mut RgbImage, from: (f32, f32), to: (f32, f32), thickness: i64, color: [u8; 3]) {
    let steps = (to.0 - from.0)
        .abs()
        .max((to.1 - from.1).abs())
        .ceil()
        .max(1.0) as i64;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let (x, y) = (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
        dot(img, x as i64, y as i64, thickness / 2, color);
    }
}

/// The head's x (red), y (green) and z (blue) axes projected from `origin`,
/// as head-pose demos (Hopenet's `draw_axis`) draw them.
fn pose_axes(img: &mut RgbImage, origin: (f32, f32), pose: &Pose, size: f32, thickness: i64) {
    let (p, y, r) = (
        pose.pitch.to_radians(),
        -pose.yaw.to_radians(),
        pose.roll.to_radians(),
    );
    let (ox, oy) = origin;
    let x_axis = (
        ox + size * y.cos() * r.cos(),
        oy + size * (p.cos() * r.sin() + r.cos() * p.sin() * y.sin()),
    );
    let y_axis = (
        ox - size * y.cos() * r.sin(),
        oy + size * (p.cos() * r.cos() - p.sin() * y.sin() * r.sin()),
    );
    let z_axis = (ox + size * y.sin(), oy - size * y.cos() * p.sin());
    line(img, origin, x_axis, thickness, RED);
    line(img, origin, y_axis, thickness, GREEN);
    line(img, origin, z_axis, thickness, BLUE);
}

/// Draws each face's box, its five landmarks (eyes' left and mouth's left in
/// green, as InsightFace's `draw_on`), its score above the box, and where
/// present the 106 landmarks (cyan), 68 landmarks (magenta) and pose axes
/// from the nose.
pub fn annotate(img: &mut RgbImage, faces: &[Face]) {
    let side = img.width().max(img.height()) as i64;
    let thickness = (side / 500).max(1) + 1;
    let scale = (side / 400).max(2);
    for face in faces {
        let b = face.bbox;
        draw_rect(
            img,
            [b.x1 as i64, b.y1 as i64, b.x2 as i64, b.y2 as i64],
            thickness,
            RED,
        );
        if let Some(kps) = &face.kps {
            for (i, p) in kps.iter().enumerate() {
                let color = if i == 0 || i == 3 { GREEN } else { RED };
                dot(img, p.x as i64, p.y as i64, thickness, color);
            }
        }
        for p in face.landmark_2d_106.iter().flatten() {
            dot(img, p.x as i64, p.y as i64, thickness / 2, CYAN);
        }
        for p in face.landmark_3d_68.iter().flatten() {
            dot(img, p[0] as i64, p[1] as i64, thickness / 2, MAGENTA);
        }
        if let Some(pose) = &face.pose {
            let nose = face
                .kps
                .map_or(((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0), |k| {
                    (k[2].x, k[2].y)
                });
            pose_axes(img, nose, pose, b.width() / 2.0, thickness);
        }
        let label = format!("{:.2}", face.det_score);
        draw_text(
            img,
            &label,
            b.x1 as i64,
            b.y1 as i64 - 6 * scale - thickness,
            scale,
            YELLOW,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facekit_core::BBox;

    #[test]
    fn draws_box_edges_and_score_digits() {
        let mut img = RgbImage::new(100, 100);
        let face = Face {
            bbox: BBox::new(20.0, 40.0, 60.0, 80.0),
            kps: None,
            det_score: 0.87,
            ..Face::default()
        };
        annotate(&mut img, std::slice::from_ref(&face));
        assert_eq!(img.pixel(20, 60), RED);
        assert_eq!(img.pixel(40, 40), RED);
        assert_eq!(img.pixel(40, 60), [0, 0, 0]);
        let yellow = img.as_raw().chunks(3).filter(|p| *p == YELLOW).count();
        assert!(yellow > 20, "score text drawn ({yellow} px)");
    }

    #[test]
    fn draws_dense_landmarks_and_frontal_pose_axes() {
        let mut img = RgbImage::new(100, 100);
        let face = Face {
            bbox: BBox::new(20.0, 20.0, 80.0, 80.0),
            landmark_2d_106: Some(vec![facekit_core::Point::new(30.0, 30.0)]),
            landmark_3d_68: Some(vec![[70.0, 30.0, 0.0]]),
            pose: Some(Pose {
                pitch: 0.0,
                yaw: 0.0,
                roll: 0.0,
            }),
            ..Face::default()
        };
        annotate(&mut img, &[face]);
        assert_eq!(img.pixel(30, 30), CYAN);
        assert_eq!(img.pixel(70, 30), MAGENTA);
        // A frontal head: x axis to the right, y axis down from the box centre.
        assert_eq!(img.pixel(65, 50), RED);
        assert_eq!(img.pixel(50, 65), GREEN);
    }
}
