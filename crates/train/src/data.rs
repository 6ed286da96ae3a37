//! Batches from a RecordIO training set: a reproducible shuffle per epoch
//! (from the seed and the epoch alone, so a resumed run sees the same
//! order), images decoded in parallel, mirrored at random (the same draw
//! for the same seed, epoch and position, as arcface_torch's
//! `RandomHorizontalFlip`), normalised to `(x − 127.5) / 127.5` in RGB.
//! Incomplete last batches are dropped, as arcface_torch's loader does.

use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;
use tch::{Kind, Tensor};

use crate::recordio::{ImageHeader, IndexedReader, RecordIoError};

/// SplitMix64: a tiny, well-mixed generator, enough for shuffles and coin
/// flips, identical on every platform.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Why a batch could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The RecordIO files.
    #[error(transparent)]
    RecordIo(#[from] RecordIoError),
    /// A record whose image does not decode or is not 112×112.
    #[error("record {key}: {problem}")]
    Image {
        /// The record.
        key: u64,
        /// What is wrong.
        problem: String,
    },
}

/// An epoch's order of positions and the `(seed, epoch)` it was made for.
type EpochOrder = ((u64, u64), Vec<usize>);

/// A training set: the image keys and the reader.
pub struct TrainingSet {
    reader: Mutex<IndexedReader>,
    keys: Vec<u64>,
    /// The current epoch's order.
    order: Mutex<Option<EpochOrder>>,
}

impl TrainingSet {
    /// Opens `dir/train.rec` + `dir/train.idx`.
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        let mut reader = IndexedReader::open(dir.join("train.rec"), dir.join("train.idx"))?;
        let keys = reader.image_keys()?;
        Ok(Self {
            reader: Mutex::new(reader),
            keys,
            order: Mutex::new(None),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Full batches per epoch.
    pub fn batches_per_epoch(&self, batch: usize) -> usize {
        self.keys.len() / batch.max(1)
    }

    /// The epoch's order of positions, from `seed` and `epoch` only.
    pub fn order(&self, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        let mut state = splitmix64(seed ^ splitmix64(epoch));
        for i in (1..order.len()).rev() {
            state = splitmix64(state);
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        order
    }

    /// Batch `index` of `epoch`: images `[batch, 3, 112, 112]` and class
    /// labels `[batch]` (i64).
    pub fn batch(
        &self,
        seed: u64,
        epoch: u64,
        index: usize,
        batch: usize,
    ) -> Result<(Tensor, Tensor), DataError> {
        let positions: Vec<usize> = {
            let mut cached = self.order.lock().unwrap_or_else(|e| e.into_inner());
            if cached
                .as_ref()
                .is_none_or(|(made_for, _)| *made_for != (seed, epoch))
            {
                *cached = Some(((seed, epoch), self.order(seed, epoch)));
            }
            let (_, order) = cached.as_ref().expect("made above");
            order[index * batch..(index + 1) * batch].to_vec()
        };
        let records: Vec<(u64, Vec<u8>)> = {
            let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
            positions
                .iter()
                .map(|&p| Ok((self.keys[p], reader.record(self.keys[p])?)))
                .collect::<Result<_, RecordIoError>>()?
        };
        let samples: Vec<(Vec<u8>, f32)> = records
            .par_iter()
            .enumerate()
            .map(|(slot, (key, record))| {
                let (header, jpeg) = ImageHeader::unpack(*key, record)?;
                let bad = |problem: String| DataError::Image { key: *key, problem };
                let img = facekit_image::decode_bytes(jpeg, &Default::default())
                    .map_err(|e| bad(e.to_string()))?;
                if (img.width(), img.height()) != (112, 112) {
                    return Err(bad(format!(
                        "{}×{}, not 112×112",
                        img.width(),
                        img.height()
                    )));
                }
                let coin = splitmix64(
                    seed ^ splitmix64(epoch ^ splitmix64((index * batch + slot) as u64)),
                );
                let img = if coin & 1 == 1 { img.mirrored() } else { img };
                Ok((img.into_raw(), header.class()))
            })
            .collect::<Result<_, DataError>>()?;
        let pixels: Vec<u8> = samples
            .iter()
            .flat_map(|(p, _)| p.iter().copied())
            .collect();
        let labels: Vec<i64> = samples.iter().map(|(_, c)| *c as i64).collect();
        Ok((to_input(&pixels, batch as i64), Tensor::from_slice(&labels)))
    }
}

/// `[n, 112, 112, 3]` RGB bytes as the network's `[n, 3, 112, 112]` input.
pub fn to_input(pixels: &[u8], n: i64) -> Tensor {
    let hwc = Tensor::from_slice(pixels)
        .view([n, 112, 112, 3])
        .permute([0, 3, 1, 2]);
    (hwc.to_kind(Kind::Float) - 127.5) / 127.5
}
