use serde::Serialize;

use crate::meanshape::MEANSHAPE_68;

/// Head pose in degrees, as InsightFace's `Face.pose` (pitch, yaw, roll).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pose {
    /// Rotation about the horizontal axis (nodding).
    pub pitch: f32,
    /// Rotation about the vertical axis (turning).
    pub yaw: f32,
    /// Rotation in the image plane (tilting).
    pub roll: f32,
}

/// Head pose from 68 3-D landmarks, as InsightFace's `landmark.py`: the
/// least-squares affine map from the mean face (`estimate_affine_matrix_3d23d`),
/// its rotation with rows normalised (`P2sRt`), and that rotation's Euler
/// angles (`matrix2angle`). Fewer than 68 points give the fit over those given.
pub fn head_pose(points: &[[f32; 3]]) -> Pose {
    let p = affine_from_mean_shape(points);
    let norm = |r: [f64; 3]| {
        let n = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        r.map(|v| v / n)
    };
    let r1 = norm([p[0][0], p[0][1], p[0][2]]);
    let r2 = norm([p[1][0], p[1][1], p[1][2]]);
    let r3 = [
        r1[1] * r2[2] - r1[2] * r2[1],
        r1[2] * r2[0] - r1[0] * r2[2],
        r1[0] * r2[1] - r1[1] * r2[0],
    ];
    let sy = (r1[0] * r1[0] + r2[0] * r2[0]).sqrt();
    let (x, y, z) = if sy >= 1e-6 {
        (r3[1].atan2(r3[2]), (-r3[0]).atan2(sy), r2[0].atan2(r1[0]))
    } else {
        ((-r2[2]).atan2(r2[1]), (-r3[0]).atan2(sy), 0.0)
    };
    Pose {
        pitch: x.to_degrees() as f32,
        yaw: y.to_degrees() as f32,
        roll: z.to_degrees() as f32,
    }
}

/// The 3×4 affine `P` minimising `Σ |P·[x;1] − y|²` from mean-shape points
/// `x` to `points` `y` (NumPy's `lstsq`; solved here through the 4×4 normal
/// equations, which agree to far below the 0.01° the angles are printed at).
fn affine_from_mean_shape(points: &[[f32; 3]]) -> [[f64; 4]; 3] {
    let mut ata = [[0.0f64; 4]; 4];
    let mut aty = [[0.0f64; 3]; 4];
    for (m, y) in MEANSHAPE_68.iter().zip(points) {
        let x = [f64::from(m[0]), f64::from(m[1]), f64::from(m[2]), 1.0];
        for i in 0..4 {
            for j in 0..4 {
                ata[i][j] += x[i] * x[j];
            }
            for k in 0..3 {
                aty[i][k] += x[i] * f64::from(y[k]);
            }
        }
    }
    let solution = solve4(ata, aty);
    std::array::from_fn(|row| std::array::from_fn(|col| solution[col][row]))
}

/// Solves `a · x = b` (4×4, three right-hand sides) by Gaussian elimination
/// with partial pivoting. The mean shape makes `a` well conditioned.
fn solve4(mut a: [[f64; 4]; 4], mut b: [[f64; 3]; 4]) -> [[f64; 3]; 4] {
    for col in 0..4 {
        let pivot = (col..4)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("non-empty range");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (pivot_a, pivot_b) = (a[col], b[col]);
        for row in col + 1..4 {
            let f = a[row][col] / pivot_a[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_a[col..]) {
                *x -= f * p;
            }
            for (x, p) in b[row].iter_mut().zip(&pivot_b) {
                *x -= f * p;
            }
        }
    }
    let mut x = [[0.0f64; 3]; 4];
    for row in (0..4).rev() {
        for k in 0..3 {
            let tail: f64 = (row + 1..4).map(|j| a[row][j] * x[j][k]).sum();
            x[row][k] = (b[row][k] - tail) / a[row][row];
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated_mean_shape(pitch: f64, yaw: f64, roll: f64) -> Vec<[f32; 3]> {
        let (sx, cx) = pitch.to_radians().sin_cos();
        let (sy, cy) = yaw.to_radians().sin_cos();
        let (sz, cz) = roll.to_radians().sin_cos();
        // R = Rz · Ry · Rx, the convention matrix2angle inverts.
        let r = [
            [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
            [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
            [-sy, cy * sx, cy * cx],
        ];
        MEANSHAPE_68
            .iter()
            .map(|m| {
                let v = m.map(f64::from);
                std::array::from_fn(|i| {
                    (80.0 * (r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2])
                        + [300.0, 200.0, 0.0][i]) as f32
                })
            })
            .collect()
    }

    #[test]
    fn recovers_the_rotation_applied_to_the_mean_face() {
        for (pitch, yaw, roll) in [(0.0, 0.0, 0.0), (10.0, -25.0, 5.0), (-30.0, 40.0, -15.0)] {
            let pose = head_pose(&rotated_mean_shape(pitch, yaw, roll));
            assert!((f64::from(pose.pitch) - pitch).abs() < 1e-3, "{pose:?}");
            assert!((f64::from(pose.yaw) - yaw).abs() < 1e-3, "{pose:?}");
            assert!((f64::from(pose.roll) - roll).abs() < 1e-3, "{pose:?}");
        }
    }
}
