//! Gallery at scale: `cargo bench -p facekit-gallery --bench gallery_scale -- 100000 1000000`.
//!
//! For each size N, enrolls N clustered 512-d vectors (N/10 people × 10
//! samples) into a gallery file with an HNSW
//! collection, then reports: enroll rate (SQLite commit + index insert),
//! index memory, and for the exact f32 scan, the int8 scan (with f32
//! re-scoring of 40 candidates), the HNSW graph alone and the gallery's
//! search over it, the search latency p50/p99 and recall@10 against the
//! exact scan, over 200 probes that are new samples of enrolled people
//! (after one untimed pass over them). One JSON line per size and index.
//!
//! The vectors imitate face embeddings: a person's samples have cosine ≈ 0.7
//! to the person's centre (so ≈ 0.5 to each other), and people's centres come from a 64-dimensional latent
//! space, so two different people have cosine 0 ± 0.13, the spread ArcFace
//! impostor pairs show. Centres drawn uniformly on the 512-d sphere (0 ±
//! 0.044) are the worst case for HNSW: every other person is equally far,
//! so the graph cannot navigate (measured: recall@10 0.79 at 300,000).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use facekit_core::cosine_similarity;
use facekit_gallery::conformance::synthetic::{
    FaceLikeVectors, Timing, enroll_all, measure, rss_mb,
};
use facekit_gallery::{
    EmbeddingContract, ExactIndex, FaceGallery, Gallery, HnswIndex, IndexKind, Int8Index,
    VectorIndex,
};

const DIM: usize = 512;
const PER_PERSON: usize = 10;
const PROBES: usize = 200;
const CANDIDATES: usize = 40;

/// Re-scores index candidates with the exact vectors (what the gallery does
/// with the stored ones) and keeps the top 10.
fn rescored(index: &dyn VectorIndex, vectors: &[Vec<f32>], q: &[f32]) -> Vec<i64> {
    let mut c: Vec<(i64, f32)> = index
        .search(q, CANDIDATES)
        .into_iter()
        .map(|(id, _)| (id, cosine_similarity(q, &vectors[id as usize - 1])))
        .collect();
    c.sort_by(|a, b| b.1.total_cmp(&a.1));
    c.into_iter().take(10).map(|(id, _)| id).collect()
}

fn run(n: usize) {
    let FaceLikeVectors { vectors, probes } = FaceLikeVectors::generate(n, PER_PERSON, PROBES);
    let contract = EmbeddingContract {
        model_sha256: "00".repeat(32),
        dimension: DIM,
        preprocessing: "synthetic".into(),
    };

    // Enroll through the gallery: SQLite commit + HNSW insert, 1,000 per transaction.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    let gallery = Gallery::open(&db).expect("gallery");
    gallery
        .create_collection("bench", &contract, IndexKind::Hnsw)
        .expect("collection");
    let rss_before = rss_mb();
    let (_, enroll_s) = enroll_all(&gallery, "bench", &contract, &vectors, PER_PERSON);
    let stats = gallery.stats("bench").expect("stats");
    let file_mb = std::fs::metadata(&db).map_or(0, |m| m.len()) as f64 / 1e6;
    // Closing saves the HNSW graph; opening loads it instead of rebuilding.
    let start = Instant::now();
    drop(gallery);
    let save_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let gallery = Gallery::open(&db).expect("reopen");
    let open_s = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "n": n, "stage": "enroll (SQLite + HNSW)", "seconds": enroll_s,
            "per_second": n as f64 / enroll_s, "hnsw_index_mb": stats.index_bytes as f64 / 1e6,
            "rss_growth_mb": rss_mb() - rss_before, "db_file_mb": file_mb,
            "save_index_seconds": save_s, "open_seconds": open_s,
        })
    );
    let hnsw = HnswIndex::load(
        DIM,
        std::path::Path::new(&format!("{}.1.hnsw", db.display())),
    )
    .expect("saved index");

    // Exact f32 scan: the ground truth and the reference latency.
    let mut exact = ExactIndex::new(DIM);
    let mut int8 = Int8Index::new(DIM);
    for (i, v) in vectors.iter().enumerate() {
        exact.insert(i as i64 + 1, v);
        int8.insert(i as i64 + 1, v);
    }
    let truth: Vec<Vec<i64>> = probes
        .iter()
        .map(|q| exact.search(q, 10).into_iter().map(|h| h.0).collect())
        .collect();
    let report = |name: &str, t: Timing, memory: usize| {
        println!(
            "{}",
            serde_json::json!({
                "n": n, "stage": "search", "index": name, "p50_ms": t.p50, "p99_ms": t.p99,
                "recall_at_10": t.recall, "index_mb": memory as f64 / 1e6,
                "index_bytes_per_million_vectors_mb": memory as f64 / n as f64,
            })
        );
    };
    // HNSW first, while the scans have not pushed its graph out of the caches.
    let t = measure(&probes, &truth, |q| rescored(&hnsw, &vectors, q));
    report(
        "hnsw alone (graph + f16 re-score of 40)",
        t,
        hnsw.memory_bytes(),
    );
    let t = measure(&probes, &truth, |q| {
        exact.search(q, 10).into_iter().map(|h| h.0).collect()
    });
    report("exact f32 scan", t, exact.memory_bytes());
    let t = measure(&probes, &truth, |q| rescored(&int8, &vectors, q));
    report("int8 scan + f32 re-score of 40", t, int8.memory_bytes());

    // The gallery last, holding only what a server would: the reference
    // structures above are gone, so the file's pages compete with nothing.
    drop((exact, int8, hnsw, vectors));
    let t = measure(&probes, &truth, |q| {
        gallery
            .nearest_samples("bench", &contract, q, 10)
            .expect("search")
            .into_iter()
            .map(|m| m.sample_id)
            .collect()
    });
    report(
        "hnsw via the gallery (persons named from the file)",
        t,
        stats.index_bytes,
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    for n in if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    } {
        run(n);
    }
}
