//! Marks drawn on images — rectangles and short labels — for annotated
//! copies (`facekit draw`) and live previews. Labels use a built-in 3×5
//! pixel font (digits, `.`, Latin letters drawn as capitals, `-`, `_`,
//! space), so nothing needs a font file; other characters are skipped.

use crate::RgbImage;

/// Rows of a 3×5 glyph, three bits per row (the leftmost pixel the 4s bit).
type Glyph = [u8; 5];

const DIGITS: [Glyph; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

const LETTERS: [Glyph; 26] = [
    [2, 5, 7, 5, 5],
    [6, 5, 6, 5, 6],
    [3, 4, 4, 4, 3],
    [6, 5, 5, 5, 6],
    [7, 4, 6, 4, 7],
    [7, 4, 6, 4, 4],
    [3, 4, 5, 5, 3],
    [5, 5, 7, 5, 5],
    [7, 2, 2, 2, 7],
    [1, 1, 1, 5, 2],
    [5, 5, 6, 5, 5],
    [4, 4, 4, 4, 7],
    [5, 7, 7, 5, 5],
    [6, 5, 5, 5, 5],
    [2, 5, 5, 5, 2],
    [6, 5, 6, 4, 4],
    [2, 5, 5, 6, 3],
    [6, 5, 6, 5, 5],
    [3, 4, 2, 1, 6],
    [7, 2, 2, 2, 2],
    [5, 5, 5, 5, 7],
    [5, 5, 5, 5, 2],
    [5, 5, 7, 7, 5],
    [5, 5, 2, 5, 5],
    [5, 5, 2, 2, 2],
    [7, 1, 2, 4, 7],
];

fn glyph(ch: char) -> Option<Glyph> {
    match ch {
        '0'..='9' => Some(DIGITS[ch as usize - '0' as usize]),
        'a'..='z' => Some(LETTERS[ch as usize - 'a' as usize]),
        'A'..='Z' => Some(LETTERS[ch as usize - 'A' as usize]),
        '.' => Some([0, 0, 0, 0, 2]),
        '-' => Some([0, 0, 7, 0, 0]),
        '_' => Some([0, 0, 0, 0, 7]),
        ' ' => Some([0; 5]),
        _ => None,
    }
}

/// Sets one pixel; outside the image nothing happens.
pub fn put_pixel(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3]) {
    if x >= 0 && y >= 0 && x < i64::from(img.width()) && y < i64::from(img.height()) {
        let i = (y as usize * img.width() as usize + x as usize) * 3;
        img.as_raw_mut()[i..i + 3].copy_from_slice(&color);
    }
}

/// A rectangle's outline from `(x1, y1)` to `(x2, y2)` inclusive,
/// `thickness` pixels wide inwards.
pub fn draw_rect(img: &mut RgbImage, [x1, y1, x2, y2]: [i64; 4], thickness: i64, color: [u8; 3]) {
    // Clamped to the image (plus the width), so a far-off box costs nothing.
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for t in 0..thickness {
        for x in x1.max(-1)..=x2.min(w) {
            put_pixel(img, x, y1 + t, color);
            put_pixel(img, x, y2 - t, color);
        }
        for y in y1.max(-1)..=y2.min(h) {
            put_pixel(img, x1 + t, y, color);
            put_pixel(img, x2 - t, y, color);
        }
    }
}

/// `text` with its top-left corner at `(x, y)`, each font pixel `scale`
/// pixels square, four font pixels per character.
///
/// ```
/// use facekit_image::{RgbImage, draw_text};
/// let mut img = RgbImage::new(20, 7);
/// draw_text(&mut img, "Hi 1", 1, 1, 1, [255, 255, 255]);
/// assert_eq!(img.as_raw()[(1 * 20 + 1) * 3], 255, "H's top-left pixel");
/// ```
pub fn draw_text(img: &mut RgbImage, text: &str, x: i64, y: i64, scale: i64, color: [u8; 3]) {
    let mut pen = x;
    for glyph in text.chars().filter_map(glyph) {
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        put_pixel(
                            img,
                            pen + col * scale + dx,
                            y + row as i64 * scale + dy,
                            color,
                        );
                    }
                }
            }
        }
        pen += 4 * scale;
    }
}
