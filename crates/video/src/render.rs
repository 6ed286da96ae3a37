//! Rendering a plan: every frame read again, the boxes of redacted tracks
//! hidden (blur, mosaic or solid; box or ellipse), and the frame encoded.
//! No model runs.

use std::path::Path;

use facekit_core::BBox;
#[cfg(test)]
use facekit_image::RgbImage;

use crate::plan::{Mask, Plan, Style};
use crate::{FfmpegWriter, Frame, FrameSource, VideoError};

/// What a render did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        for b in by_frame.get(frames as usize).map_or(&[][..], Vec::as_slice) {
            hide(
                &mut frame,
                &scaled(b, settings.box_scale),
                settings.style,
                settings.mask,
            );
            hidden += 1;
        }
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
    let region: Vec<u8> = (y0..y1)
        .flat_map(|y| plane[y * w + x0..y * w + x1].iter().copied())
        .collect();
    let side = rw.max(rh);
    let hidden = match style {
        Style::Blur => blurred(&region, rw, rh, (side / 6).max(2)),
        Style::Mosaic => mosaic(&region, rw, rh, (side / 8).max(2)),
        Style::Solid => vec![black; rw * rh],
    };
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
        let row = (y0 + y) * w + x0;
        plane[row + from..row + to].copy_from_slice(&hidden[y * rw + from..y * rw + to]);
    }
}

/// Three box blurs of `radius` (horizontal and vertical each), close to a
/// Gaussian of σ ≈ radius. A blur that strong keeps no detail finer than
/// the radius, so it runs on the region shrunk by radius/3 (block means)
/// and is scaled back up: the same look at a ninth of the work.
fn blurred(region: &[u8], w: usize, h: usize, radius: usize) -> Vec<u8> {
    let k = (radius / 3).max(1);
    let (sw, sh) = (w.div_ceil(k), h.div_ceil(k));
    let (mut small, mut counts) = (vec![0.0f32; sw * sh], vec![0.0f32; sw * sh]);
    for y in 0..h {
        for x in 0..w {
            let i = (y / k) * sw + x / k;
            small[i] += f32::from(region[y * w + x]);
            counts[i] += 1.0;
        }
    }
    small.iter_mut().zip(&counts).for_each(|(v, n)| *v /= n);
    let r = (radius / k).max(1);
    let mut tmp = vec![0.0f32; small.len()];
    for _ in 0..3 {
        box_pass(&small, &mut tmp, sw, sh, r, true);
        box_pass(&tmp, &mut small, sw, sh, r, false);
    }
    // Back up to the region's size, bilinearly: columns first, then rows.
    let taps = |n: usize, m: usize| -> Vec<(usize, usize, f32)> {
        (0..n)
            .map(|i| {
                let p = ((i as f32 + 0.5) / k as f32 - 0.5).clamp(0.0, (m - 1) as f32);
                let i0 = p as usize;
                (i0, (i0 + 1).min(m - 1), p - i0 as f32)
            })
            .collect()
    };
    let (xt, yt) = (taps(w, sw), taps(h, sh));
    let mut wide = vec![0.0f32; w * sh];
    for sy in 0..sh {
        let row = &small[sy * sw..(sy + 1) * sw];
        for (x, &(a, b, f)) in xt.iter().enumerate() {
            wide[sy * w + x] = row[a] * (1.0 - f) + row[b] * f;
        }
    }
    let mut out = vec![0u8; w * h];
    for (y, &(a, b, f)) in yt.iter().enumerate() {
        let (top, bottom) = (&wide[a * w..(a + 1) * w], &wide[b * w..(b + 1) * w]);
        for (o, (t, d)) in out[y * w..(y + 1) * w]
            .iter_mut()
            .zip(top.iter().zip(bottom))
        {
            *o = (t * (1.0 - f) + d * f).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
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

fn mosaic(region: &[u8], w: usize, h: usize, block: usize) -> Vec<u8> {
    let mut out = region.to_vec();
    for by in (0..h).step_by(block) {
        for bx in (0..w).step_by(block) {
            let (ex, ey) = ((bx + block).min(w), (by + block).min(h));
            let mut sum = 0u64;
            for y in by..ey {
                for x in bx..ex {
                    sum += u64::from(region[y * w + x]);
                }
            }
            let mean = (sum / ((ex - bx) * (ey - by)) as u64) as u8;
            for y in by..ey {
                out[y * w + bx..y * w + ex].fill(mean);
            }
        }
    }
    out
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
