//! Rendering a plan: every frame read again, the boxes of redacted tracks
//! hidden (blur, mosaic or solid; box or ellipse), and the frame encoded.
//! No model runs.

use std::path::Path;

use facekit_core::BBox;
#[cfg(test)]
use facekit_image::RgbImage;

use crate::plan::{Mask, Plan, RenderSettings, Style};
use crate::{FfmpegWriter, Frame, FrameSource, VideoError};

/// What a render did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderReport {
    /// Frames written.
    pub frames: u64,
    /// Face boxes hidden, over all frames.
    pub boxes_hidden: u64,
}

/// Renders `plan` over the frames of `source` into `output` (audio from
/// `audio_from`); `progress` is told each frame written.
pub fn render(
    source: &mut dyn FrameSource,
    plan: &Plan,
    output: &Path,
    audio_from: Option<&Path>,
    progress: &mut dyn FnMut(u64),
) -> Result<RenderReport, VideoError> {
    let info = source.info().clone();
    plan.check_against(&info)
        .map_err(|why| VideoError::BadPlan {
            path: output.to_path_buf(),
            why,
        })?;
    // Boxes by frame: the redacted tracks' observations, bucketed.
    let mut by_frame: Vec<Vec<BBox>> = vec![Vec::new(); info.frames as usize];
    for track in plan.tracks.iter().filter(|t| plan.redacted(t)) {
        for o in &track.boxes {
            let [x1, y1, x2, y2] = o.bbox;
            by_frame[o.frame as usize].push(BBox::new(x1, y1, x2, y2));
        }
    }
    let settings = &plan.render;
    let mut writer = FfmpegWriter::create(output, &info, audio_from, &settings.encode)?;
    let (mut frames, mut hidden) = (0u64, 0u64);
    while let Some(mut frame) = source.next_frame()? {
        let boxes = by_frame.get(frames as usize).map_or(&[][..], Vec::as_slice);
        hidden += hide_all(&mut frame, boxes, settings);
        writer.write(&frame)?;
        frames += 1;
        progress(frames);
    }
    writer.finish()?;
    Ok(RenderReport {
        frames,
        boxes_hidden: hidden,
    })
}

/// Hides `boxes` in `frame` as `settings` say (each grown by the box
/// scale, in order); how many.
pub(crate) fn hide_all(frame: &mut Frame, boxes: &[BBox], settings: &RenderSettings) -> u64 {
    for b in boxes {
        hide(
            frame,
            &scaled(b, settings.box_scale),
            settings.style,
            settings.mask,
        );
    }
    boxes.len() as u64
}

fn scaled(b: &BBox, factor: f32) -> BBox {
    let c = b.center();
    let (hw, hh) = (b.width() * factor / 2.0, b.height() * factor / 2.0);
    BBox::new(c.x - hw, c.y - hh, c.x + hw, c.y + hh)
}

/// Hides `b` in `frame`, plane by plane (chroma at half scale); solid is
/// black (Y 16, U and V 128).
pub fn hide(frame: &mut Frame, b: &BBox, style: Style, mask: Mask) {
    for (i, (plane, w, h)) in frame.planes_mut().into_iter().enumerate() {
        let s = if i == 0 { 1.0 } else { 0.5 };
        let scaled = BBox::new(b.x1 * s, b.y1 * s, b.x2 * s, b.y2 * s);
        hide_plane(
            plane,
            w,
            h,
            &scaled,
            style,
            mask,
            if i == 0 { 16 } else { 128 },
        );
    }
}

fn hide_plane(plane: &mut [u8], w: usize, h: usize, b: &BBox, style: Style, mask: Mask, black: u8) {
    let x0 = (b.x1.floor().max(0.0) as usize).min(w);
    let y0 = (b.y1.floor().max(0.0) as usize).min(h);
    let x1 = (b.x2.ceil().max(0.0) as usize).min(w);
    let y1 = (b.y2.ceil().max(0.0) as usize).min(h);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let (rw, rh) = (x1 - x0, y1 - y0);
    let side = rw.max(rh);
    // Blur and mosaic work on block means of the region; solid needs none.
    let (block, means) = match style {
        Style::Blur => {
            let radius = (side / 6).max(2);
            let k = (radius / 3).max(1);
            (
                k,
                Some(blurred_means(plane, w, (x0, y0, rw, rh), k, radius)),
            )
        }
        Style::Mosaic => {
            let k = (side / 8).max(2);
            (k, Some(block_means(plane, w, (x0, y0, rw, rh), k)))
        }
        Style::Solid => (1, None),
    };
    let (sw, sh) = (rw.div_ceil(block), rh.div_ceil(block));
    // Blur scales the blurred block means back up bilinearly; a tap is
    // (lower block, upper block, weight of the upper).
    let taps = |n: usize, m: usize| -> Vec<(usize, usize, f32)> {
        (0..n)
            .map(|i| {
                let p = ((i as f32 + 0.5) / block as f32 - 0.5).clamp(0.0, (m - 1) as f32);
                let i0 = p as usize;
                (i0, (i0 + 1).min(m - 1), p - i0 as f32)
            })
            .collect()
    };
    let xt = if style == Style::Blur {
        taps(rw, sw)
    } else {
        Vec::new()
    };
    let mut row_values = vec![0.0f32; sw];
    let (cx, cy) = (f64::from(b.x1 + b.x2) / 2.0, f64::from(b.y1 + b.y2) / 2.0);
    let (ax, ay) = (
        f64::from(b.width()).max(1.0) / 2.0,
        f64::from(b.height()).max(1.0) / 2.0,
    );
    for y in 0..rh {
        // The row's span inside the mask.
        let (from, to) = match mask {
            Mask::Box => (0, rw),
            Mask::Ellipse => {
                let dy = ((y0 + y) as f64 + 0.5 - cy) / ay;
                if dy.abs() > 1.0 {
                    continue;
                }
                let half = ax * (1.0 - dy * dy).sqrt();
                let left = ((cx - half - 0.5).ceil().max(x0 as f64) as usize).saturating_sub(x0);
                let right = (((cx + half - 0.5).floor() + 1.0).max(0.0) as usize)
                    .min(x1)
                    .saturating_sub(x0);
                (left.min(rw), right.max(left.min(rw)))
            }
        };
        let row = &mut plane[(y0 + y) * w + x0..(y0 + y) * w + x1];
        match (&means, style) {
            (None, _) => row[from..to].fill(black),
            (Some(m), Style::Mosaic) => {
                let blocks = &m[(y / block) * sw..(y / block + 1) * sw];
                for (x, v) in row.iter_mut().enumerate().take(to).skip(from) {
                    *v = blocks[x / block] as u8;
                }
            }
            (Some(m), _) => {
                let p = ((y as f32 + 0.5) / block as f32 - 0.5).clamp(0.0, (sh - 1) as f32);
                let (a, c, f) = (p as usize, (p as usize + 1).min(sh - 1), p - p.floor());
                let (top, bottom) = (&m[a * sw..(a + 1) * sw], &m[c * sw..(c + 1) * sw]);
                for ((v, t), d) in row_values.iter_mut().zip(top).zip(bottom) {
                    *v = t + (d - t) * f;
                }
                for (x, &(l, r, g)) in xt.iter().enumerate().take(to).skip(from) {
                    let (l, r) = (row_values[l], row_values[r]);
                    // Values stay within 0..=255: a cast after +0.5 rounds.
                    row[x] = (l + (r - l) * g + 0.5) as u8;
                }
            }
        }
    }
}

/// Means of the `k × k` blocks of a region `(x, y, width, height)` of a
/// plane (edge blocks smaller), row-major.
fn block_means(
    plane: &[u8],
    w: usize,
    (x0, y0, rw, rh): (usize, usize, usize, usize),
    k: usize,
) -> Vec<f32> {
    let (sw, sh) = (rw.div_ceil(k), rh.div_ceil(k));
    let mut sums = vec![0u32; sw * sh];
    for y in 0..rh {
        let row = &plane[(y0 + y) * w + x0..(y0 + y) * w + x0 + rw];
        let line = &mut sums[(y / k) * sw..(y / k + 1) * sw];
        for (sum, chunk) in line.iter_mut().zip(row.chunks(k)) {
            *sum += chunk.iter().map(|&v| u32::from(v)).sum::<u32>();
        }
    }
    let count = |i: usize, n: usize| (k.min(n - i * k)) as f32;
    (0..sw * sh)
        .map(|i| {
            let (bx, by) = (i % sw, i / sw);
            sums[i] as f32 / (count(bx, rw) * count(by, rh))
        })
        .collect()
}

/// Three box blurs of `radius` (horizontal and vertical each), close to a
/// Gaussian of σ ≈ radius. A blur that strong keeps no detail finer than
/// the radius, so it runs on the means of `k × k` blocks (k = radius/3),
/// which the caller scales back up: the same look at a ninth of the work.
fn blurred_means(
    plane: &[u8],
    w: usize,
    region: (usize, usize, usize, usize),
    k: usize,
    radius: usize,
) -> Vec<f32> {
    let mut small = block_means(plane, w, region, k);
    let (sw, sh) = (region.2.div_ceil(k), region.3.div_ceil(k));
    let r = (radius / k).max(1);
    let mut tmp = vec![0.0f32; small.len()];
    for _ in 0..3 {
        box_pass(&small, &mut tmp, sw, sh, r, true);
        box_pass(&tmp, &mut small, sw, sh, r, false);
    }
    small
}

/// A running-sum box filter along rows (`horizontal`) or columns, edges
/// clamped.
fn box_pass(src: &[f32], dst: &mut [f32], w: usize, h: usize, r: usize, horizontal: bool) {
    let (len, lines) = if horizontal { (w, h) } else { (h, w) };
    let at = |line: usize, i: usize| {
        if horizontal {
            line * w + i
        } else {
            i * w + line
        }
    };
    let norm = 1.0 / (2 * r + 1) as f32;
    for line in 0..lines {
        let sample = |i: isize| src[at(line, i.clamp(0, len as isize - 1) as usize)];
        let mut sum: f32 = (-(r as isize)..=r as isize).map(sample).sum();
        for i in 0..len {
            dst[at(line, i)] = sum * norm;
            sum += sample(i as isize + r as isize + 1) - sample(i as isize - r as isize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hiding_changes_only_the_masked_pixels() {
        let data: Vec<u8> = (0..100 * 100 * 3).map(|i| ((i * 7) % 251) as u8).collect();
        let original = Frame::from_rgb(&RgbImage::from_raw(100, 100, data).unwrap());
        let b = BBox::new(20.0, 20.0, 60.0, 80.0);
        let luma = |f: &Frame, x: usize, y: usize| f.luma()[y * 100 + x];
        for style in [Style::Blur, Style::Mosaic, Style::Solid] {
            let mut img = original.clone();
            hide(&mut img, &b, style, Mask::Ellipse);
            // Outside the box and in the ellipse's corners: untouched.
            assert_eq!(luma(&img, 10, 10), luma(&original, 10, 10));
            assert_eq!(luma(&img, 21, 21), luma(&original, 21, 21));
            assert_ne!(luma(&img, 40, 50), luma(&original, 40, 50), "{style:?}");
        }
        let mut solid = original.clone();
        hide(&mut solid, &b, Style::Solid, Mask::Box);
        assert_eq!(solid.to_rgb().pixel(21, 21), [0, 0, 0]);
    }
}
