//! In-memory vector indexes over L2-normalised embeddings, rebuilt from the
//! store at open and updated on every write. The exact `f32` scan and the
//! HNSW graph (which re-scores its candidates with f16 copies: cosine within
//! 1e-3 of `f32`) score their own results; the int8 scan only proposes, and
//! the gallery re-scores its candidates with the stored `f32` vectors.

/// A searchable set of `(sample id, unit vector)`.
pub trait VectorIndex: Send + Sync {
    /// Adds a vector (already L2-normalised, of the index's dimension).
    fn insert(&mut self, id: i64, unit: &[f32]);
    /// Adds many vectors; indexes that can use several cores do.
    fn insert_many(&mut self, items: &[(i64, Vec<f32>)]) {
        for (id, unit) in items {
            self.insert(*id, unit);
        }
    }
    /// Removes a vector; unknown ids are ignored.
    fn remove(&mut self, id: i64);
    /// About the `k` most similar vectors, best first, as `(id, score)`;
    /// the score is the cosine for [`ExactIndex`], an estimate otherwise.
    fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)>;
    /// Number of vectors.
    fn len(&self) -> usize;
    /// Whether it holds no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes the index holds in memory.
    fn memory_bytes(&self) -> usize;
    /// Whether [`search`](Self::search) scores are final cosine similarities
    /// (to 1e-4); otherwise the caller re-scores candidates.
    fn final_scores(&self) -> bool {
        true
    }
    /// Writes the index to `path` when rebuilding it at open would be slow;
    /// `Ok(false)` when there is nothing worth saving.
    fn save(&self, _path: &std::path::Path) -> Result<bool, String> {
        Ok(false)
    }
    /// What [`save`](Self::save) writes, as one buffer (to seal before
    /// writing) with `spare` bytes of room after it; `None` when there is
    /// nothing worth saving.
    fn to_bytes(&self, _spare: usize) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Dot product written as independent lanes so the compiler vectorises it
/// (a hand-rolled loop because the crates that do this pull in far more).
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
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

#[inline(always)]
fn dot_i8_lanes(a: &[i8], b: &[i8]) -> i32 {
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

/// The same loops compiled for AVX2 (+FMA), chosen at run time: the default
/// x86-64 target only has SSE2, which has no widening 8-bit multiply-add, and
/// a release binary must still run on CPUs without AVX2.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    #[target_feature(enable = "avx2,fma")]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        super::dot_lanes(a, b)
    }

    #[target_feature(enable = "avx2")]
    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        super::dot_i8_lanes(a, b)
    }
}

// The only unsafe calls in the crate: a target-feature function called after
// the run-time check that the CPU has the feature.
#[allow(unsafe_code)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { avx2::dot(a, b) };
    }
    dot_lanes(a, b)
}

#[allow(unsafe_code)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { avx2::dot_i8(a, b) };
    }
    dot_i8_lanes(a, b)
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

/// Rows below which a scan stays on one thread (spawning costs more).
const PARALLEL_SCAN_ROWS: usize = 50_000;

/// The best `k` of `score(row)` over `rows` rows, as `(row, score)`, with the
/// scan split over the cores for large indexes.
fn scan(rows: usize, k: usize, score: impl Fn(usize) -> f32 + Sync) -> Vec<(i64, f32)> {
    let threads = if rows < PARALLEL_SCAN_ROWS {
        1
    } else {
        cores()
    };
    let per = rows.div_ceil(threads.max(1));
    let score = &score;
    let parts: Vec<Vec<(i64, f32)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per)..((t + 1) * per).min(rows);
                s.spawn(move || top_k(range.map(|i| (i as i64, score(i))), k))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan thread"))
            .collect()
    });
    top_k(parts.into_iter().flatten(), k)
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

    fn remove(&mut self, id: i64) {
        if let Some(at) = self.ids.iter().position(|&x| x == id) {
            self.remove_row(at);
        }
    }

    /// Removes row `at` by moving the last row into its place; returns the
    /// id now at `at`, if a row moved.
    fn remove_row(&mut self, at: usize) -> Option<i64> {
        let last = self.ids.len() - 1;
        self.ids.swap_remove(at);
        if at != last {
            let (head, tail) = self.data.split_at_mut(last * self.dim);
            head[at * self.dim..(at + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
        }
        self.data.truncate(last * self.dim);
        self.ids.get(at).copied()
    }

    fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// `(row, score)` → `(id, score)`.
    fn ids_of(&self, found: Vec<(i64, f32)>) -> Vec<(i64, f32)> {
        found
            .into_iter()
            .map(|(row, s)| (self.ids[row as usize], s))
            .collect()
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
        self.rows.ids_of(scan(self.rows.ids.len(), k, |i| {
            dot(query, self.rows.row(i))
        }))
    }

    fn len(&self) -> usize {
        self.rows.ids.len()
    }

    fn memory_bytes(&self) -> usize {
        self.rows.data.len() * 4 + self.rows.ids.len() * 8
    }
}

/// Exact scan over int8-quantised unit vectors (each component × 127): a
/// quarter of the memory and scan bandwidth of `f32`. Its ranking is close
/// to exact; the gallery re-scores its candidates in `f32`.
#[derive(Debug)]
pub struct Int8Index {
    rows: Rows<i8>,
}

impl Int8Index {
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

fn quantise(unit: &[f32]) -> impl Iterator<Item = i8> + '_ {
    unit.iter()
        .map(|&v| (v * 127.0).round().clamp(-127.0, 127.0) as i8)
}

impl VectorIndex for Int8Index {
    fn insert(&mut self, id: i64, unit: &[f32]) {
        self.rows.push(id, quantise(unit));
    }

    fn remove(&mut self, id: i64) {
        self.rows.remove(id);
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        let q: Vec<i8> = quantise(query).collect();
        let scale = 1.0 / (127.0 * 127.0);
        let rows = &self.rows;
        rows.ids_of(scan(rows.ids.len(), k, |i| {
            dot_i8(&q, rows.row(i)) as f32 * scale
        }))
    }

    fn len(&self) -> usize {
        self.rows.ids.len()
    }

    fn memory_bytes(&self) -> usize {
        self.rows.data.len() + self.rows.ids.len() * 8
    }

    fn final_scores(&self) -> bool {
        false
    }
}

/// HNSW expansion (candidate list length) when adding and searching.
const EXPANSION: usize = 128;

/// Candidates an HNSW search takes from the graph before re-scoring.
const HNSW_CANDIDATES: usize = 40;

/// Approximate search: a usearch HNSW graph over int8-quantised vectors
/// (M = 16, expansion 128 when adding and searching; measured at recall@10
/// 0.99 on clustered face vectors), whose candidates are re-scored with an
/// in-memory f16 copy of each vector (cosine within 1e-3 of `f32`), so its
/// scores are final. The copy costs 1 KB per 512-d vector; reading the
/// `f32` vectors back from the gallery file instead costs 5 ms of random
/// reads per search at a million samples, and an f16 graph searches 2×
/// slower than the int8 one.
pub struct HnswIndex {
    index: usearch::Index,
    vectors: KeyedRows,
}

/// f16 rows with an id → row map (re-scoring looks rows up by id).
#[derive(Debug, Default)]
struct KeyedRows {
    rows: Rows<half::f16>,
    row_of: std::collections::HashMap<i64, usize>,
}

impl KeyedRows {
    fn insert(&mut self, id: i64, unit: &[f32]) {
        // A re-inserted id replaces its row.
        self.remove(id);
        self.row_of.insert(id, self.rows.ids.len());
        self.rows
            .push(id, unit.iter().map(|&v| half::f16::from_f32(v)));
    }

    fn remove(&mut self, id: i64) {
        if let Some(row) = self.row_of.remove(&id)
            && let Some(moved) = self.rows.remove_row(row)
        {
            self.row_of.insert(moved, row);
        }
    }

    fn cosine(&self, query: &[f32], id: i64, buf: &mut [f32]) -> Option<f32> {
        use half::slice::HalfFloatSliceExt;
        self.rows
            .row(*self.row_of.get(&id)?)
            .convert_to_f32_slice(buf);
        Some(dot(query, buf))
    }

    /// `FKV1`, dim (u32), count (u64), the ids (i64), then the f16 bits;
    /// all little-endian.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        self.append_bytes(&mut out);
        out
    }

    fn byte_len(&self) -> usize {
        16 + self.rows.ids.len() * 8 + self.rows.data.len() * 2
    }

    /// [`KeyedRows::to_bytes`] appended to `out`.
    fn append_bytes(&self, out: &mut Vec<u8>) {
        let Rows { dim, ids, data } = &self.rows;
        out.extend_from_slice(b"FKV1");
        out.extend_from_slice(&(*dim as u32).to_le_bytes());
        out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
        for id in ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        for v in data {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }

    fn from_bytes(bytes: &[u8], dim: usize) -> Result<Self, String> {
        let bad = || "the saved vectors file is damaged".to_string();
        if bytes.len() < 16 || &bytes[..4] != b"FKV1" {
            return Err(bad());
        }
        let saved_dim = u32::from_le_bytes(bytes[4..8].try_into().map_err(|_| bad())?) as usize;
        let n = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad())?) as usize;
        // Checked: the count comes from the file and may be anything.
        let expected = n
            .checked_mul(8 + dim * 2)
            .and_then(|body| body.checked_add(16));
        if saved_dim != dim || expected != Some(bytes.len()) {
            return Err(bad());
        }
        let (ids, data) = bytes[16..].split_at(n * 8);
        let ids: Vec<i64> = ids
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let data = data
            .chunks_exact(2)
            .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
            .collect();
        let row_of = ids.iter().enumerate().map(|(row, &id)| (id, row)).collect();
        Ok(Self {
            rows: Rows { dim, ids, data },
            row_of,
        })
    }
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("len", &self.index.size())
            .finish()
    }
}

/// The vectors file saved beside the graph file.
fn vectors_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".vectors");
    p.into()
}

impl HnswIndex {
    /// An index saved by [`VectorIndex::save`], for `dim`-dimensional vectors.
    pub fn load(dim: usize, path: &std::path::Path) -> Result<Self, String> {
        let mut index = Self::new(dim)?;
        let bytes = std::fs::read(vectors_path(path)).map_err(|e| e.to_string())?;
        index.vectors = KeyedRows::from_bytes(&bytes, dim)?;
        let graph = path.to_str().ok_or("index path is not UTF-8")?;
        index.index.load(graph).map_err(|e| e.to_string())?;
        index.checked(dim)
    }

    /// An index from [`VectorIndex::to_bytes`]'s buffer: `FKH1`, the
    /// graph's length (u64 little-endian), the graph, the vectors.
    pub fn from_bytes(dim: usize, bytes: &[u8]) -> Result<Self, String> {
        let bad = || "the saved index is damaged".to_string();
        if bytes.len() < 12 || &bytes[..4] != b"FKH1" {
            return Err(bad());
        }
        let graph_len = u64::from_le_bytes(bytes[4..12].try_into().map_err(|_| bad())?);
        let graph_len = usize::try_from(graph_len).map_err(|_| bad())?;
        let rest = &bytes[12..];
        if graph_len > rest.len() {
            return Err(bad());
        }
        let (graph, vectors) = rest.split_at(graph_len);
        let mut index = Self::new(dim)?;
        index.vectors = KeyedRows::from_bytes(vectors, dim)?;
        index
            .index
            .load_from_buffer(graph)
            .map_err(|e| e.to_string())?;
        index.checked(dim)
    }

    /// Refuses a loaded graph that does not match its vectors.
    fn checked(self, dim: usize) -> Result<Self, String> {
        if self.index.dimensions() != dim || self.index.size() != self.vectors.rows.ids.len() {
            return Err(format!(
                "saved index has {} vectors of {} dimensions, its vectors file {} of {dim}",
                self.index.size(),
                self.index.dimensions(),
                self.vectors.rows.ids.len()
            ));
        }
        Ok(self)
    }

    /// An empty index of `dim`-dimensional vectors.
    pub fn new(dim: usize) -> Result<Self, String> {
        let options = usearch::IndexOptions {
            dimensions: dim,
            metric: usearch::MetricKind::IP,
            quantization: usearch::ScalarKind::I8,
            connectivity: 16,
            expansion_add: EXPANSION,
            expansion_search: EXPANSION,
            multi: false,
        };
        let index = usearch::Index::new(&options).map_err(|e| e.to_string())?;
        Ok(Self {
            index,
            vectors: KeyedRows {
                rows: Rows {
                    dim,
                    ..Rows::default()
                },
                ..KeyedRows::default()
            },
        })
    }

    /// Moves an index saved at `from` (both its files) to `to`.
    pub fn rename_saved(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        std::fs::rename(vectors_path(from), vectors_path(to))?;
        std::fs::rename(from, to)
    }

    /// Deletes the files [`VectorIndex::save`] wrote at `path`, if any.
    pub fn remove_saved(path: &std::path::Path) {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(vectors_path(path));
    }

    /// Makes room for `n` vectors up front (a large rebuild otherwise
    /// regrows the graph many times), for one adding thread per core.
    pub fn reserve(&self, n: usize) {
        // A failed reservation only costs the regrowth later.
        let _ = self.index.reserve_capacity_and_threads(n, cores());
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl VectorIndex for HnswIndex {
    fn insert(&mut self, id: i64, unit: &[f32]) {
        if self.index.size() + 1 > self.index.capacity() {
            self.reserve((self.index.capacity() * 2).max(1024));
        }
        // Adding fails only on allocation failure, which Rust would abort on too.
        self.index
            .add(id as u64, unit)
            .expect("usearch could not add a vector");
        self.vectors.insert(id, unit);
    }

    /// Graph insertion dominates enrollment: spread it over the cores
    /// (usearch supports concurrent adds).
    fn insert_many(&mut self, items: &[(i64, Vec<f32>)]) {
        let needed = self.index.size() + items.len();
        if needed > self.index.capacity() {
            self.reserve(needed.max(self.index.capacity() * 2));
        }
        let threads = cores().min(items.len().div_ceil(64)).max(1);
        let index = &self.index;
        std::thread::scope(|scope| {
            for t in 0..threads {
                scope.spawn(move || {
                    for (id, unit) in items.iter().skip(t).step_by(threads) {
                        index
                            .add(*id as u64, unit)
                            .expect("usearch could not add a vector");
                    }
                });
            }
        });
        for (id, unit) in items {
            self.vectors.insert(*id, unit);
        }
    }

    fn remove(&mut self, id: i64) {
        let _ = self.index.remove(id as u64);
        self.vectors.remove(id);
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        // usearch widens the search to the count asked for when it exceeds 128.
        let Ok(found) = self.index.search(query, k.max(HNSW_CANDIDATES)) else {
            return Vec::new();
        };
        let mut buf = vec![0.0f32; self.vectors.rows.dim];
        let mut scored: Vec<(i64, f32)> = found
            .keys
            .iter()
            .filter_map(|&key| {
                let id = key as i64;
                Some((id, self.vectors.cosine(query, id, &mut buf)?))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
            + self.vectors.rows.data.len() * 2
            + self.vectors.rows.ids.len() * 8
    }

    fn save(&self, path: &std::path::Path) -> Result<bool, String> {
        let graph = path.to_str().ok_or("index path is not UTF-8")?;
        self.index.save(graph).map_err(|e| e.to_string())?;
        std::fs::write(vectors_path(path), self.vectors.to_bytes()).map_err(|e| e.to_string())?;
        Ok(true)
    }

    fn to_bytes(&self, spare: usize) -> Result<Option<Vec<u8>>, String> {
        let graph_len = self.index.serialized_length();
        let mut out = Vec::with_capacity(12 + graph_len + self.vectors.byte_len() + spare);
        out.extend_from_slice(b"FKH1");
        out.extend_from_slice(&(graph_len as u64).to_le_bytes());
        out.resize(12 + graph_len, 0);
        self.index
            .save_to_buffer(&mut out[12..])
            .map_err(|e| e.to_string())?;
        self.vectors.append_bytes(&mut out);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hnsw_index_round_trips_through_one_buffer() {
        let dim = 32;
        let mut index = HnswIndex::new(dim).unwrap();
        let units: Vec<(i64, Vec<f32>)> = (0..200)
            .map(|i| {
                let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let v: Vec<f32> = (0..dim)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect();
                (i as i64 + 1, facekit_core::l2_normalized(&v))
            })
            .collect();
        index.insert_many(&units);
        let bytes = index.to_bytes(0).unwrap().unwrap();
        let again = HnswIndex::from_bytes(dim, &bytes).unwrap();
        assert_eq!(again.len(), 200);
        for (id, unit) in units.iter().step_by(37) {
            assert_eq!(again.search(unit, 1)[0].0, *id);
            assert_eq!(again.search(unit, 5), index.search(unit, 5));
        }
        assert!(HnswIndex::from_bytes(dim, &bytes[..bytes.len() - 1]).is_err());
        assert!(HnswIndex::from_bytes(dim + 1, &bytes).is_err());
        let mut huge = bytes.clone();
        huge[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(HnswIndex::from_bytes(dim, &huge).is_err());
    }

    #[test]
    fn a_saved_vectors_file_with_an_impossible_count_is_refused() {
        let mut bytes = b"FKV1".to_vec();
        bytes.extend_from_slice(&512u32.to_le_bytes());
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 64]);
        assert!(KeyedRows::from_bytes(&bytes, 512).is_err());
        bytes[8..16].copy_from_slice(&(1u64 << 61).to_le_bytes());
        assert!(KeyedRows::from_bytes(&bytes, 512).is_err());
    }

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
    fn dispatched_dot_products_equal_the_portable_loops() {
        // Odd length: exercises the lane tail; ±127 is the quantised extreme.
        let a: Vec<i8> = (0..517).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..517).map(|i| ((i * 91) % 255 - 127) as i8).collect();
        assert_eq!(dot_i8(&a, &b), dot_i8_lanes(&a, &b));
        assert_eq!(dot_i8(&[127; 512], &[-127; 512]), -127 * 127 * 512);
        let data = pseudo_random_units(2, 517);
        let (x, y) = (dot(&data[0], &data[1]), dot_lanes(&data[0], &data[1]));
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }

    #[test]
    fn int8_and_hnsw_candidates_hold_the_exact_top_10() {
        let data = pseudo_random_units(500, 64);
        let mut exact = ExactIndex::new(64);
        let mut int8 = Int8Index::new(64);
        let mut hnsw = HnswIndex::new(64).unwrap();
        for (i, v) in data.iter().enumerate() {
            exact.insert(i as i64, v);
            int8.insert(i as i64, v);
            hnsw.insert(i as i64, v);
        }
        for id in (0..500).step_by(3) {
            exact.remove(id);
            int8.remove(id);
            hnsw.remove(id);
        }
        assert_eq!((exact.len(), int8.len(), hnsw.len()), (333, 333, 333));
        for q in data.iter().take(50) {
            let want = exact.search(q, 10);
            assert!(want.windows(2).all(|w| w[0].1 >= w[1].1));
            for got in [int8.search(q, 40), hnsw.search(q, 40)] {
                assert!(want.iter().all(|(id, _)| got.iter().any(|(g, _)| g == id)));
                assert!(
                    got.iter().all(|(id, _)| id % 3 != 0),
                    "a removed vector came back"
                );
            }
            // HNSW scores are final: f16 cosines within 1e-3 of f32.
            for (id, score) in hnsw.search(q, 10) {
                let cosine = dot(q, &data[id as usize]);
                assert!((score - cosine).abs() < 1e-3, "{score} vs {cosine}");
            }
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
    fn a_parallel_scan_finds_what_a_single_thread_finds() {
        let rows = PARALLEL_SCAN_ROWS + 1234;
        let score = |i: usize| ((i * 7919) % 100_003) as f32;
        let want = top_k((0..rows).map(|i| (i as i64, score(i))), 25);
        assert_eq!(scan(rows, 25, score), want);
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let got = top_k([(1, 0.2), (2, 0.9), (3, 0.5), (4, 0.7)].into_iter(), 2);
        assert_eq!(got, vec![(2, 0.9), (4, 0.7)]);
        assert!(top_k(std::iter::empty(), 3).is_empty());
    }
}
