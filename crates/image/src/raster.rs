/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}×{})", self.width, self.height)
    }
}

impl RgbImage {
    /// The image mirrored left to right (the flip test of verification,
    /// the flip augmentation of training).
    ///
    /// ```
    /// let img = facekit_image::RgbImage::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
    /// assert_eq!(img.mirrored().as_raw(), &[4, 5, 6, 1, 2, 3]);
    /// ```
    pub fn mirrored(&self) -> RgbImage {
        let row_len = self.width as usize * 3;
        let mut data = Vec::with_capacity(self.data.len());
        for row in self.data.chunks_exact(row_len.max(1)) {
            for pixel in row.chunks_exact(3).rev() {
                data.extend_from_slice(pixel);
            }
        }
        RgbImage { data, ..*self }
    }

    /// A black image.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// Wraps interleaved RGB bytes; `None` when the length does not match.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        (data.len() == width as usize * height as usize * 3).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The interleaved RGB bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// The interleaved RGB bytes, mutable.
    pub fn as_raw_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Consumes the image, returning its bytes.
    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    /// One row of `width × 3` bytes.
    pub fn row(&self, y: u32) -> &[u8] {
        let stride = self.width as usize * 3;
        &self.data[y as usize * stride..(y as usize + 1) * stride]
    }

    /// The pixel at `(x, y)`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The `width × height` region whose top-left pixel is `(x, y)`, clipped
    /// to the image (an empty region gives a 0×0 image).
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> RgbImage {
        let x = x.min(self.width);
        let y = y.min(self.height);
        let w = width.min(self.width - x);
        let h = height.min(self.height - y);
        let mut data = Vec::with_capacity(w as usize * h as usize * 3);
        for row in y..y + h {
            data.extend_from_slice(&self.row(row)[x as usize * 3..(x + w) as usize * 3]);
        }
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    /// Writes `src` into this image with its top-left corner at the origin,
    /// clipping whatever does not fit.
    pub fn paste_top_left(&mut self, src: &RgbImage) {
        let w = src.width.min(self.width) as usize * 3;
        let stride = self.width as usize * 3;
        for y in 0..src.height.min(self.height) {
            let dst = &mut self.data[y as usize * stride..][..w];
            dst.copy_from_slice(&src.row(y)[..w]);
        }
    }
}
