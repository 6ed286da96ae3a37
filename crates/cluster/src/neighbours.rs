//! The neighbour graph: each face's most similar faces above the threshold.

use facekit_gallery::{ExactIndex, HnswIndex, VectorIndex};
use rayon::prelude::*;

/// Each face's neighbours, `(face, cosine)`, best first, itself excluded.
pub type Neighbours = Vec<Vec<(u32, f32)>>;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The at most `k` most similar faces of each face at or above
/// `threshold`: from an exact scan up to `exact_up_to` faces, from an HNSW
/// index beyond (its candidates re-scored exactly). Queries run on every
/// core.
pub fn neighbours(vectors: &[&[f32]], k: usize, threshold: f32, exact_up_to: usize) -> Neighbours {
    let Some(dim) = vectors.first().map(|v| v.len()) else {
        return Vec::new();
    };
    let mut index: Box<dyn VectorIndex> = if vectors.len() <= exact_up_to {
        Box::new(ExactIndex::new(dim))
    } else {
        Box::new(HnswIndex::new(dim).expect("a dimension the gallery accepts"))
    };
    // In slices, so the copy handed to the index stays small.
    for (c, chunk) in vectors.chunks(16_384).enumerate() {
        let items: Vec<(i64, Vec<f32>)> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| ((c * 16_384 + i) as i64, v.to_vec()))
            .collect();
        index.insert_many(&items);
    }
    let exact = index.final_scores();
    vectors
        .par_iter()
        .enumerate()
        .map(|(i, v)| {
            let mut found: Vec<(u32, f32)> = index
                .search(v, k + 1)
                .into_iter()
                .filter(|&(j, _)| j as usize != i)
                .map(|(j, s)| {
                    let s = if exact {
                        s
                    } else {
                        dot(v, vectors[j as usize])
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
