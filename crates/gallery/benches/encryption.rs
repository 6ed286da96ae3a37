//! Encryption at rest against plaintext, in one run on the same vectors:
//! `cargo bench -p facekit-gallery --bench encryption -- 100000`
//! (`bash scripts/bench-encryption.sh`).
//!
//! For each index kind (exact, int8, hnsw) and each mode (plaintext, then
//! encrypted, then plaintext and encrypted again: the median of two runs
//! each), enrolls N face-like 512-d vectors (N/10 people × 10 samples,
//! 1,000 per transaction) into a fresh gallery file and reports the
//! enrollment rate, the time to open the file again (an encrypted HNSW
//! collection has no saved graph: it is rebuilt), and identify latency
//! p50/p99 over 200 probes (after one untimed pass). One JSON line per
//! run, then one line of encrypted/plaintext ratios per index kind.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use facekit_gallery::conformance::synthetic::{FaceLikeVectors, enroll_all, measure};
use facekit_gallery::{EmbeddingContract, FaceGallery, Gallery, IndexKind, MasterKey};

const PER_PERSON: usize = 10;
const PROBES: usize = 200;

/// One run's figures: enrollments per second, reopen seconds, p50 and p99 ms.
#[derive(Clone, Copy)]
struct Figures {
    enroll_per_s: f64,
    open_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn run(n: usize, kind: IndexKind, encrypted: bool, data: &FaceLikeVectors) -> Figures {
    let contract = EmbeddingContract {
        model_sha256: "00".repeat(32),
        dimension: 512,
        preprocessing: "synthetic".into(),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    let master = MasterKey::generate().expect("key");
    let key = || encrypted.then(|| MasterKey::from_hex(&master.to_hex()).expect("key"));
    let gallery = Gallery::open_with_key(&db, key()).expect("gallery");
    gallery
        .create_collection("bench", &contract, kind)
        .expect("collection");
    let (_, enroll_s) = enroll_all(&gallery, "bench", &contract, &data.vectors, PER_PERSON);
    drop(gallery);
    let start = Instant::now();
    let gallery = Gallery::open_with_key(&db, key()).expect("reopen");
    let open_s = start.elapsed().as_secs_f64();
    // Latency only: recall is the index's business, the same in both modes.
    let none: Vec<Vec<i64>> = vec![Vec::new(); data.probes.len()];
    let t = measure(&data.probes, &none, |q| {
        let found = gallery
            .identify("bench", &contract, q, 5, 0.3)
            .expect("identify");
        found.matches.iter().map(|m| m.sample_id).collect()
    });
    let figures = Figures {
        enroll_per_s: n as f64 / enroll_s,
        open_s,
        p50_ms: t.p50,
        p99_ms: t.p99,
    };
    println!(
        "{}",
        serde_json::json!({
            "n": n, "index": kind.to_string(), "encrypted": encrypted,
            "enroll_per_second": figures.enroll_per_s, "open_seconds": open_s,
            "identify_p50_ms": t.p50, "identify_p99_ms": t.p99,
        })
    );
    figures
}

fn median2(a: f64, b: f64) -> f64 {
    (a + b) / 2.0
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let data = FaceLikeVectors::generate(n, PER_PERSON, PROBES);
    for kind in [IndexKind::Exact, IndexKind::Int8, IndexKind::Hnsw] {
        // Alternated, so that drift of the machine's speed hits both modes.
        let runs: Vec<(bool, Figures)> = [false, true, false, true]
            .into_iter()
            .map(|encrypted| (encrypted, run(n, kind, encrypted, &data)))
            .collect();
        let mode = |encrypted: bool, f: fn(&Figures) -> f64| {
            let v: Vec<f64> = runs
                .iter()
                .filter(|(e, _)| *e == encrypted)
                .map(|(_, r)| f(r))
                .collect();
            median2(v[0], v[1])
        };
        let ratio = |f: fn(&Figures) -> f64| mode(true, f) / mode(false, f);
        println!(
            "{}",
            serde_json::json!({
                "n": n, "index": kind.to_string(),
                "encrypted_over_plaintext": {
                    "enroll_rate": ratio(|r| r.enroll_per_s),
                    "open_seconds": ratio(|r| r.open_s),
                    "identify_p50": ratio(|r| r.p50_ms),
                    "identify_p99": ratio(|r| r.p99_ms),
                },
                "plaintext": {"enroll_per_second": mode(false, |r| r.enroll_per_s), "open_seconds": mode(false, |r| r.open_s), "identify_p50_ms": mode(false, |r| r.p50_ms), "identify_p99_ms": mode(false, |r| r.p99_ms)},
                "encrypted": {"enroll_per_second": mode(true, |r| r.enroll_per_s), "open_seconds": mode(true, |r| r.open_s), "identify_p50_ms": mode(true, |r| r.p50_ms), "identify_p99_ms": mode(true, |r| r.p99_ms)},
            })
        );
    }
}
