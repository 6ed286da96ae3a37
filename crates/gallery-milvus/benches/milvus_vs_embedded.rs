//! Milvus against the embedded store on the same face-like vectors:
//! `bash scripts/bench-milvus.sh [N=100000]` (starts Milvus 2.3.5 in a
//! private network namespace and runs this inside it).
//!
//! Both backends get the same N clustered 512-d vectors (N/10 people × 10
//! samples, `conformance::synthetic`) in HNSW collections (M 16), enrolled
//! 1,000 per call through `FaceGallery::enroll_batch`, then: enroll rate,
//! index build (Milvus: flush and wait until every row is indexed; embedded:
//! the graph is built during enroll, so saving and reopening it), and
//! nearest-sample search p50/p99 and recall@10 against the exact scan over
//! 200 probes (after one untimed pass), Milvus read at strong consistency
//! (facekit's default) and at bounded staleness. One JSON line per backend.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use facekit_gallery::conformance::synthetic::{DIM, FaceLikeVectors, enroll_all, measure};
use facekit_gallery::{
    EmbeddingContract, ExactIndex, FaceGallery, Gallery, IndexKind, VectorIndex,
};
use facekit_gallery_milvus::{MilvusAddress, MilvusGallery};

const PER_PERSON: usize = 10;
const PROBES: usize = 200;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let url = std::env::var("FACEKIT_MILVUS_URL")
        .expect("FACEKIT_MILVUS_URL (run through scripts/bench-milvus.sh)");
    let FaceLikeVectors { vectors, probes } = FaceLikeVectors::generate(n, PER_PERSON, PROBES);
    let contract = EmbeddingContract {
        model_sha256: "00".repeat(32),
        dimension: DIM,
        preprocessing: "synthetic".into(),
    };
    // Ground truth: the exact top 10, as positions in `vectors`.
    let mut exact = ExactIndex::new(DIM);
    for (i, v) in vectors.iter().enumerate() {
        exact.insert(i as i64, v);
    }
    let truth: Vec<Vec<i64>> = probes
        .iter()
        .map(|q| exact.search(q, 10).into_iter().map(|h| h.0).collect())
        .collect();
    drop(exact);

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    let embedded = Gallery::open(&db).expect("gallery");
    let milvus =
        MilvusGallery::connect(&MilvusAddress::parse(&url).expect("address")).expect("Milvus");
    let _ = milvus.delete_collection("bench");
    let backends: [(&str, &dyn FaceGallery); 2] = [
        ("embedded (SQLite + usearch HNSW)", &embedded),
        ("milvus 2.3.5 (HNSW), consistency=strong", &milvus),
    ];
    let mut built = Vec::new();
    for (name, g) in backends {
        g.create_collection("bench", &contract, IndexKind::Hnsw)
            .expect("collection");
        let (ids, enroll_s) = enroll_all(g, "bench", &contract, &vectors, PER_PERSON);
        built.push((name, ids, enroll_s));
    }
    // Index build: Milvus indexes sealed segments in the background; the
    // embedded graph grew during enroll and is saved on close, loaded at open.
    let start = Instant::now();
    milvus.wait_until_indexed("bench").expect("indexed");
    let milvus_index_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    drop(embedded);
    let embedded = Gallery::open(&db).expect("reopen");
    let embedded_index_s = start.elapsed().as_secs_f64();

    // The same Milvus data read at Milvus's default consistency (bounded
    // staleness) instead of strong.
    let bounded = MilvusGallery::connect(
        &MilvusAddress::parse(&format!("{url}?consistency=bounded")).expect("address"),
    )
    .expect("Milvus");
    let (milvus_ids, milvus_enroll_s) = (built[1].1.clone(), built[1].2);
    built.push((
        "milvus 2.3.5 (HNSW), consistency=bounded",
        milvus_ids,
        milvus_enroll_s,
    ));
    let searched: [(&dyn FaceGallery, f64); 3] = [
        (&embedded, embedded_index_s),
        (&milvus, milvus_index_s),
        (&bounded, milvus_index_s),
    ];
    for ((name, ids, enroll_s), (g, index_s)) in built.into_iter().zip(searched) {
        let position: std::collections::HashMap<i64, i64> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as i64))
            .collect();
        let t = measure(&probes, &truth, |q| {
            g.nearest_samples("bench", &contract, q, 10)
                .expect("search")
                .into_iter()
                .map(|m| position[&m.sample_id])
                .collect()
        });
        println!(
            "{}",
            serde_json::json!({
                "backend": name, "n": n, "enroll_seconds": enroll_s,
                "enroll_per_second": n as f64 / enroll_s, "index_seconds": index_s,
                "search_p50_ms": t.p50, "search_p99_ms": t.p99, "recall_at_10": t.recall,
            })
        );
    }
    milvus.delete_collection("bench").expect("clean up");
}
