//! The neighbour graph: each face's most similar faces above the threshold.

use facekit_gallery::{ExactIndex, HnswIndex, VectorIndex};
use rayon::prelude::*;

use crate::dot;

/// Each face's neighbours, `(face, cosine)`, best first, itself excluded.
pub(crate) type Neighbours = Vec<Vec<(u32, f32)>>;

/// The faces, searchable: an exact scan for small sets, HNSW beyond.
pub(crate) struct FaceIndex {
    index: Box<dyn VectorIndex>,
    /// Whether search scores are exact cosines (no re-scoring needed).
    exact: bool,
    /// Whether it is the exact scan (HNSW otherwise).
    pub(crate) scan: bool,
}

impl FaceIndex {
    /// An index for about `expected` vectors of `dim` values.
    pub(crate) fn new(dim: usize, expected: usize, exact_up_to: usize) -> Self {
        let scan = expected <= exact_up_to;
        let index: Box<dyn VectorIndex> = if scan {
            Box::new(ExactIndex::new(dim))
        } else {
            Box::new(HnswIndex::new(dim).expect("a dimension the gallery accepts"))
        };
        let exact = index.final_scores();
        Self { index, exact, scan }
    }

    /// Adds `vectors`, numbered from `first`.
    pub(crate) fn add(&mut self, first: usize, vectors: &[&[f32]]) {
        // In slices, so the copy handed to the index stays small.
        for (c, chunk) in vectors.chunks(16_384).enumerate() {
            let items: Vec<(i64, Vec<f32>)> = chunk
                .iter()
                .enumerate()
                .map(|(i, v)| ((first + c * 16_384 + i) as i64, v.to_vec()))
                .collect();
            self.index.insert_many(&items);
        }
    }

    /// The neighbours of `all[i]` for each `i` in `queries`, on every core.
    pub(crate) fn query(
        &self,
        all: &[&[f32]],
        queries: std::ops::Range<usize>,
        k: usize,
        threshold: f32,
    ) -> Neighbours {
        queries
            .into_par_iter()
            .map(|i| {
                let v = all[i];
                let mut found: Vec<(u32, f32)> = self
                    .index
                    .search(v, k + 1)
                    .into_iter()
                    .filter(|&(j, _)| j as usize != i)
                    .map(|(j, s)| {
                        let s = if self.exact {
                            s
                        } else {
                            dot(v, all[j as usize])
                        };
                        (j as u32, s)
                    })
                    .filter(|&(_, s)| s >= threshold)
                    .collect();
                found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                found.truncate(k);
                found
            })
            .collect()
    }
}
