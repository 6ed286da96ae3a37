//! In-memory vector indexes over L2-normalised embeddings, rebuilt from the
//! store at open and updated on every write. Scores are cosine similarities.

/// A searchable set of `(sample id, unit vector)`.
pub trait VectorIndex: Send + Sync {
    /// Adds a vector (already L2-normalised, of the index's dimension).
    fn insert(&mut self, id: i64, unit: &[f32]);
    /// Removes a vector; unknown ids are ignored.
    fn remove(&mut self, id: i64);
    /// The `k` most similar vectors, best first, as `(id, cosine)`.
    fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)>;
    /// Number of vectors.
    fn len(&self) -> usize;
    /// Whether it holds no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes held for vectors (not counting ids).
    fn vector_bytes(&self) -> usize;
}

/// Dot product written as independent lanes so the compiler vectorises it
/// (a hand-rolled loop because the crates that do this pull in far more).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 32;
    let mut acc = [0i32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Keeps the best `k` of a stream of `(id, score)`, best first.
fn top_k(scored: impl Iterator<Item = (i64, f32)>, k: usize) -> Vec<(i64, f32)> {
    let mut best: Vec<(i64, f32)> = Vec::with_capacity(k + 1);
    for (id, s) in scored {
        if best.len() == k && best.last().is_some_and(|&(_, worst)| s <= worst) {
            continue;
        }
        let at = best.partition_point(|&(_, b)| b >= s);
        best.insert(at, (id, s));
        best.truncate(k);
    }
    best
}

/// Flat rows of vectors with swap-remove, shared by both exact indexes.
#[derive(Debug, Default)]
struct Rows<T> {
    dim: usize,
    ids: Vec<i64>,
    data: Vec<T>,
}

impl<T: Copy> Rows<T> {
    fn push(&mut self, id: i64, row: impl IntoIterator<Item = T>) {
        self.ids.push(id);
        self.data.extend(row);
    }

    fn remove(&mut self, id: i64) -> Option<usize> {
        let at = self.ids.iter().position(|&x| x == id)?;
        let last = self.ids.len() - 1;
        self.ids.swap_remove(at);
        if at != last {
            let (head, tail) = self.data.split_at_mut(last * self.dim);
            head[at * self.dim..(at + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
        }
        self.data.truncate(last * self.dim);
        Some(at)
    }

    fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Exact search over `f32` unit vectors: a full scan, the reference every
/// other index is checked against.
#[derive(Debug)]
pub struct ExactIndex {
    rows: Rows<f32>,
}

impl ExactIndex {
    /// An empty index of `dim`-dimensional vectors.
    pub fn new(dim: usize) -> Self {
        Self {
            rows: Rows {
                dim,
                ..Rows::default()
            },
        }
    }
}

impl VectorIndex for ExactIndex {
    fn insert(&mut self, id: i64, unit: &[f32]) {
        self.rows.push(id, unit.iter().copied());
    }

    fn remove(&mut self, id: i64) {
        self.rows.remove(id);
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        let scored =
            (0..self.rows.ids.len()).map(|i| (self.rows.ids[i], dot(query, self.rows.row(i))));
        top_k(scored, k)
    }

    fn len(&self) -> usize {
        self.rows.ids.len()
    }

    fn vector_bytes(&self) -> usize {
        self.rows.data.len() * 4
    }
}

/// How many int8 candidates get their exact `f32` score back.
const RESCORE: usize = 40;

/// Exact search over int8-quantised unit vectors (each component × 127),
/// with the best [`RESCORE`] candidates re-scored in `f32`: a quarter of the
/// scan bandwidth with the same top results. Keeps the `f32` rows for the
/// re-scoring.
#[derive(Debug)]
pub struct Int8Index {
    quantised: Rows<i8>,
    exact: ExactIndex,
}

impl Int8Index {
    /// An empty index of `dim`-dimensional vectors.
    pub fn new(dim: usize) -> Self {
        Self {
            quantised: Rows {
                dim,
                ..Rows::default()
            },
            exact: ExactIndex::new(dim),
        }
    }
}

fn quantise(unit: &[f32]) -> impl Iterator<Item = i8> + '_ {
    unit.iter()
        .map(|&v| (v * 127.0).round().clamp(-127.0, 127.0) as i8)
}

impl VectorIndex for Int8Index {
    fn insert(&mut self, id: i64, unit: &[f32]) {
        self.quantised.push(id, quantise(unit));
        self.exact.insert(id, unit);
    }

    fn remove(&mut self, id: i64) {
        self.quantised.remove(id);
        self.exact.remove(id);
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        let q: Vec<i8> = quantise(query).collect();
        let rows = &self.quantised;
        let candidates = top_k(
            (0..rows.ids.len()).map(|i| (i as i64, dot_i8(&q, rows.row(i)) as f32)),
            k.max(RESCORE),
        );
        // Candidate positions are the same in both row sets (same pushes and swap-removes).
        let rescored = candidates.into_iter().map(|(i, _)| {
            (
                rows.ids[i as usize],
                dot(query, self.exact.rows.row(i as usize)),
            )
        });
        top_k(rescored, k)
    }

    fn len(&self) -> usize {
        self.quantised.ids.len()
    }

    fn vector_bytes(&self) -> usize {
        self.quantised.data.len() + self.exact.vector_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        facekit_core::l2_normalized(v)
    }

    fn pseudo_random_units(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                let v: Vec<f32> = (0..dim)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 2001) as f32 / 1000.0 - 1.0
                    })
                    .collect();
                unit(&v)
            })
            .collect()
    }

    #[test]
    fn exact_and_int8_agree_and_removal_keeps_rows_aligned() {
        let data = pseudo_random_units(500, 64);
        let mut exact = ExactIndex::new(64);
        let mut int8 = Int8Index::new(64);
        for (i, v) in data.iter().enumerate() {
            exact.insert(i as i64, v);
            int8.insert(i as i64, v);
        }
        for id in (0..500).step_by(3) {
            exact.remove(id);
            int8.remove(id);
        }
        assert_eq!((exact.len(), int8.len()), (333, 333));
        for q in data.iter().take(50) {
            let a = exact.search(q, 10);
            let b = int8.search(q, 10);
            assert_eq!(a, b);
            assert!(a.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        // A stored vector finds itself with cosine 1.
        let hit = exact.search(&data[1], 1);
        assert_eq!(hit[0].0, 1);
        assert!((hit[0].1 - 1.0).abs() < 1e-5);
        assert!(
            exact
                .search(&data[0], 500)
                .iter()
                .all(|&(id, _)| id % 3 != 0)
        );
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let got = top_k([(1, 0.2), (2, 0.9), (3, 0.5), (4, 0.7)].into_iter(), 2);
        assert_eq!(got, vec![(2, 0.9), (4, 0.7)]);
        assert!(top_k(std::iter::empty(), 3).is_empty());
    }
}
