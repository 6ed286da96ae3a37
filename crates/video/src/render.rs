//! Rendering a plan: every frame read again, the boxes of redacted tracks
//! hidden (blur, mosaic or solid; box or ellipse), and the frame encoded.
//! No model runs.

use std::path::Path;

use facekit_core::BBox;
use facekit_image::{RgbImage, resize_linear};

use crate::plan::{Mask, Plan, Style};
use crate::{FfmpegWriter, FrameSource, VideoError};

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

/// Hides `b` in `frame`.
pub fn hide(frame: &mut RgbImage, b: &BBox, style: Style, mask: Mask) {
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let x0 = (b.x1.floor() as i64).clamp(0, w);
    let y0 = (b.y1.floor() as i64).clamp(0, h);
    let x1 = (b.x2.ceil() as i64).clamp(0, w);
    let y1 = (b.y2.ceil() as i64).clamp(0, h);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let (rw, rh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let region = frame.crop(x0 as u32, y0 as u32, rw as u32, rh as u32);
    let hidden = match style {
        Style::Blur => blurred(&region, (rw.max(rh) / 6).max(3)),
        Style::Mosaic => mosaic(&region, (rw.max(rh) / 8).max(4)),
        Style::Solid => RgbImage::new(rw as u32, rh as u32),
    };
    let (cx, cy) = (f64::from(b.x1 + b.x2) / 2.0, f64::from(b.y1 + b.y2) / 2.0);
    let (ax, ay) = (
        f64::from(b.width()).max(1.0) / 2.0,
        f64::from(b.height()).max(1.0) / 2.0,
    );
    let stride = frame.width() as usize * 3;
    let data = frame.as_raw_mut();
    for y in 0..rh {
        for x in 0..rw {
            if mask == Mask::Ellipse {
                let dx = (x0 as f64 + x as f64 + 0.5 - cx) / ax;
                let dy = (y0 as f64 + y as f64 + 0.5 - cy) / ay;
                if dx * dx + dy * dy > 1.0 {
                    continue;
                }
            }
            let dst = (y0 as usize + y) * stride + (x0 as usize + x) * 3;
            let src = (y * rw + x) * 3;
            data[dst..dst + 3].copy_from_slice(&hidden.as_raw()[src..src + 3]);
        }
    }
}

/// Three box blurs of `radius` (horizontal and vertical each), close to a
/// Gaussian of σ ≈ radius. A blur that strong keeps no detail finer than
/// the radius, so it runs on the region shrunk by radius/3 (block means)
/// and is scaled back up: the same look at a ninth of the work.
fn blurred(img: &RgbImage, radius: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let k = (radius / 3).max(1);
    let (sw, sh) = (w.div_ceil(k), h.div_ceil(k));
    let mut small = vec![0.0f32; sw * sh * 3];
    let mut counts = vec![0.0f32; sw * sh];
    for y in 0..h {
        let row = img.row(y as u32);
        for x in 0..w {
            let i = (y / k) * sw + x / k;
            counts[i] += 1.0;
            for c in 0..3 {
                small[i * 3 + c] += f32::from(row[x * 3 + c]);
            }
        }
    }
    for (i, n) in counts.iter().enumerate() {
        for c in 0..3 {
            small[i * 3 + c] /= n;
        }
    }
    let r = (radius / k).max(1);
    let mut tmp = vec![0.0f32; small.len()];
    for _ in 0..3 {
        box_pass(&small, &mut tmp, sw, sh, r, true);
        box_pass(&tmp, &mut small, sw, sh, r, false);
    }
    let data = small
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    let small = RgbImage::from_raw(sw as u32, sh as u32, data).expect("same size");
    resize_linear(&small, w as u32, h as u32)
}

/// A running-sum box filter along rows (`horizontal`) or columns, edges
/// clamped.
fn box_pass(src: &[f32], dst: &mut [f32], w: usize, h: usize, r: usize, horizontal: bool) {
    let (len, lines) = if horizontal { (w, h) } else { (h, w) };
    let at = |line: usize, i: usize| {
        if horizontal {
            (line * w + i) * 3
        } else {
            (i * w + line) * 3
        }
    };
    let norm = 1.0 / (2 * r + 1) as f32;
    for line in 0..lines {
        for c in 0..3 {
            let sample = |i: isize| src[at(line, i.clamp(0, len as isize - 1) as usize) + c];
            let mut sum: f32 = (-(r as isize)..=r as isize).map(sample).sum();
            for i in 0..len {
                dst[at(line, i) + c] = sum * norm;
                sum += sample(i as isize + r as isize + 1) - sample(i as isize - r as isize);
            }
        }
    }
}

fn mosaic(img: &RgbImage, block: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = img.clone();
    let data = img.as_raw();
    let dst = out.as_raw_mut();
    for by in (0..h).step_by(block) {
        for bx in (0..w).step_by(block) {
            let (ex, ey) = ((bx + block).min(w), (by + block).min(h));
            let mut sum = [0u64; 3];
            for y in by..ey {
                for x in bx..ex {
                    for c in 0..3 {
                        sum[c] += u64::from(data[(y * w + x) * 3 + c]);
                    }
                }
            }
            let n = ((ex - bx) * (ey - by)) as u64;
            let mean = sum.map(|s| (s / n) as u8);
            for y in by..ey {
                for x in bx..ex {
                    dst[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&mean);
                }
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
        let original = RgbImage::from_raw(100, 100, data).unwrap();
        let b = BBox::new(20.0, 20.0, 60.0, 80.0);
        for style in [Style::Blur, Style::Mosaic, Style::Solid] {
            let mut img = original.clone();
            hide(&mut img, &b, style, Mask::Ellipse);
            // Outside the box and the ellipse's corners: untouched.
            assert_eq!(img.pixel(10, 10), original.pixel(10, 10));
            assert_eq!(img.pixel(21, 21), original.pixel(21, 21));
            assert_ne!(img.pixel(40, 50), original.pixel(40, 50), "{style:?}");
        }
        let mut solid = original.clone();
        hide(&mut solid, &b, Style::Solid, Mask::Box);
        assert_eq!(solid.pixel(21, 21), [0, 0, 0]);
    }
}
