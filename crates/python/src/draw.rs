//! `FaceAnalysis.draw_on`'s boxes and landmarks, pixel for pixel as
//! OpenCV draws them (`cv2.rectangle(…, 2)`, `cv2.circle(…, 1, …, 2)`), so
//! the drop-in needs no OpenCV. Written here rather than taken from the
//! CLI's annotator, which draws its own richer style.

use numpy::{PyArray3, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// InsightFace's colours, in the image's own channel order (BGR).
const RED: [u8; 3] = [0, 0, 255];
const GREEN: [u8; 3] = [0, 255, 0];

struct Canvas<'a> {
    data: &'a mut [u8],
    width: i64,
    height: i64,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            let i = ((y * self.width + x) * 3) as usize;
            self.data[i..i + 3].copy_from_slice(&color);
        }
    }

    /// A pixel and its four neighbours: OpenCV's 2-px-thick line is the
    /// 1-px line widened this way, its caps rounded the same.
    fn plus(&mut self, x: i64, y: i64, color: [u8; 3]) {
        for (dx, dy) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
            self.put(x + dx, y + dy, color);
        }
    }

    /// `cv2.rectangle(img, (x1, y1), (x2, y2), color, 2)`.
    fn rectangle(&mut self, [x1, y1, x2, y2]: [i64; 4], color: [u8; 3]) {
        let (left, right) = (x1.min(x2), x1.max(x2));
        let (top, bottom) = (y1.min(y2), y1.max(y2));
        // Clamp the walk to the image plus the 1-px widening: a box far
        // outside costs nothing.
        let xs = left.max(-1)..=right.min(self.width);
        let ys = top.max(-1)..=bottom.min(self.height);
        for x in xs {
            self.plus(x, top, color);
            self.plus(x, bottom, color);
        }
        for y in ys {
            self.plus(left, y, color);
            self.plus(right, y, color);
        }
    }

    /// `cv2.circle(img, (x, y), 1, color, 2)`: a disc of squared radius 5.
    fn dot(&mut self, x: i64, y: i64, color: [u8; 3]) {
        for dy in -2..=2i64 {
            for dx in -2..=2i64 {
                if dx * dx + dy * dy <= 5 {
                    self.put(x + dx, y + dy, color);
                }
            }
        }
    }
}

/// Draws into `img` (a C-contiguous `(H, W, 3)` uint8 array, changed in
/// place) each box `[x1, y1, x2, y2]` in red and each face's five
/// landmarks (the first and fourth in green), at integer pixel positions
/// as InsightFace truncates them.
#[pyfunction]
pub fn draw_faces(
    img: &Bound<'_, PyAny>,
    boxes: Vec<[i64; 4]>,
    kps: Vec<Option<Vec<[i64; 2]>>>,
) -> PyResult<()> {
    let Ok(array) = img.cast::<PyArray3<u8>>() else {
        return Err(PyTypeError::new_err(
            "draw_on needs a uint8 numpy image of shape (H, W, 3)",
        ));
    };
    let shape = array.shape().to_vec();
    if shape[2] != 3 {
        return Err(PyValueError::new_err(format!(
            "draw_on needs 3 channels; got shape {shape:?}"
        )));
    }
    let mut writable = array.readwrite();
    let data = writable
        .as_slice_mut()
        .map_err(|_| PyValueError::new_err("draw_on needs a C-contiguous image"))?;
    let mut canvas = Canvas {
        data,
        width: shape[1] as i64,
        height: shape[0] as i64,
    };
    for (b, points) in boxes.iter().zip(kps.iter().chain(std::iter::repeat(&None))) {
        canvas.rectangle(*b, RED);
        for (i, [x, y]) in points.iter().flatten().enumerate() {
            canvas.dot(*x, *y, if i == 0 || i == 3 { GREEN } else { RED });
        }
    }
    Ok(())
}
