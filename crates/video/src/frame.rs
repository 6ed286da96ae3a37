//! Frames as FFmpeg's `yuv420p` carries them: a full-size luma plane, then
//! the two chroma planes at half size (rounded up). Video stays in this
//! layout from decoder to encoder — colour conversion both ways cost more
//! than the whole encode on this machine (a 720p pipe round trip: 4.5 s in
//! RGB, 2.6 s in yuv420p) — and is turned into RGB only for the frames
//! the detector sees.

use facekit_image::RgbImage;

/// One `yuv420p` frame (BT.601, limited range, as FFmpeg's default).
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}×{} yuv420p)", self.width, self.height)
    }
}

/// Size of the chroma planes of a `width × height` frame.
pub fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// Bytes of one `width × height` frame.
pub fn frame_bytes(width: u32, height: u32) -> usize {
    let (cw, ch) = chroma_size(width, height);
    width as usize * height as usize + 2 * cw * ch
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

impl Frame {
    /// A frame from its bytes (`None` when the length does not fit).
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        (data.len() == frame_bytes(width, height)).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The bytes, planes Y, U, V.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// The luma plane (a grey picture).
    pub fn luma(&self) -> &[u8] {
        &self.data[..self.width as usize * self.height as usize]
    }

    /// The three planes, each with its width and height, for editing.
    pub fn planes_mut(&mut self) -> [(&mut [u8], usize, usize); 3] {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = chroma_size(self.width, self.height);
        let (y, rest) = self.data.split_at_mut(w * h);
        let (u, v) = rest.split_at_mut(cw * ch);
        [(y, w, h), (u, cw, ch), (v, cw, ch)]
    }

    /// The RGB picture (BT.601, limited range; SIMD, `yuvutils-rs`): this
    /// runs on every analysed frame.
    pub fn to_rgb(&self) -> RgbImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = chroma_size(self.width, self.height);
        let (y, rest) = self.data.split_at(w * h);
        let (u, v) = rest.split_at(cw * ch);
        let planes = yuvutils_rs::YuvPlanarImage {
            y_plane: y,
            y_stride: self.width,
            u_plane: u,
            u_stride: cw as u32,
            v_plane: v,
            v_stride: cw as u32,
            width: self.width,
            height: self.height,
        };
        let mut out = vec![0u8; w * h * 3];
        yuvutils_rs::yuv420_to_rgb(
            &planes,
            &mut out,
            self.width * 3,
            yuvutils_rs::YuvRange::Limited,
            yuvutils_rs::YuvStandardMatrix::Bt601,
        )
        .expect("planes sized by the frame");
        RgbImage::from_raw(self.width, self.height, out).expect("sized")
    }

    /// The frame of an RGB picture (chroma averaged over 2×2 pixels).
    pub fn from_rgb(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (cw, ch) = chroma_size(img.width(), img.height());
        let px = img.as_raw();
        let mut data = vec![0u8; frame_bytes(img.width(), img.height())];
        let (y, rest) = data.split_at_mut(w * h);
        let (u, v) = rest.split_at_mut(cw * ch);
        let rgb = |i: usize| {
            (
                i32::from(px[i * 3]),
                i32::from(px[i * 3 + 1]),
                i32::from(px[i * 3 + 2]),
            )
        };
        for (i, luma) in y.iter_mut().enumerate() {
            let (r, g, b) = rgb(i);
            *luma = clamp(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
        }
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut sr, mut sg, mut sb, mut n) = (0, 0, 0, 0);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, yy) = (cx * 2 + dx, cy * 2 + dy);
                    if x < w && yy < h {
                        let (r, g, b) = rgb(yy * w + x);
                        (sr, sg, sb, n) = (sr + r, sg + g, sb + b, n + 1);
                    }
                }
                let (r, g, b) = (sr / n, sg / n, sb / n);
                u[cy * cw + cx] = clamp(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                v[cy * cw + cx] = clamp(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }
        Self {
            width: img.width(),
            height: img.height(),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_survives_a_round_trip_within_a_few_levels() {
        let img = facekit_image::decode_file(
            &facekit_testdata::shared("images/t1.jpg"),
            &Default::default(),
        )
        .unwrap();
        let back = Frame::from_rgb(&img).to_rgb();
        let mean_error: f64 = img
            .as_raw()
            .iter()
            .zip(back.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / img.as_raw().len() as f64;
        // 4:2:0 chroma loses colour detail at edges; on average little.
        assert!(mean_error < 4.0, "{mean_error}");
        let odd = RgbImage::from_raw(5, 3, vec![200; 5 * 3 * 3]).unwrap();
        let frame = Frame::from_rgb(&odd);
        assert_eq!(frame.as_raw().len(), 5 * 3 + 2 * 3 * 2);
        let grey = frame.to_rgb();
        assert!(
            grey.as_raw().iter().all(|&v| v.abs_diff(200) <= 2),
            "{grey:?}"
        );
    }
}
