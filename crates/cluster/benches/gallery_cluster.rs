//! Clustering a gallery collection at scale, as `facekit gallery cluster`
//! runs it: N face-like synthetic vectors (the gallery benchmark's, 512-d,
//! 10 per person) enrolled without a person into an embedded HNSW
//! collection and clustered in full; then 1 % more faces added and, from a
//! freshly opened gallery (a later process), clustered incrementally. Times
//! of each step, the incremental share of the full run, and BCubed /
//! pairwise F against the truth. Run by `scripts/bench-cluster.sh --gallery`.
//!
//!   cargo bench -p facekit-cluster --bench gallery_cluster -- 100000

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::time::Instant;

use facekit_cluster::ClusterOptions;
use facekit_cluster::collection::{Run, cluster_collection};
use facekit_cluster::metrics::score;
use facekit_gallery::conformance::contract;
use facekit_gallery::conformance::synthetic::FaceLikeVectors;
use facekit_gallery::{FaceGallery, Gallery, IndexKind, NewSample};

const PER_PERSON: usize = 10;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(100_000, |a| a.parse().expect("a number of faces"));
    let added = (n / 100).max(1);
    let people = n / PER_PERSON;
    let data = FaceLikeVectors::generate(n, PER_PERSON, added);
    let dim = data.vectors[0].len();
    let c = contract(dim);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("photos.db");
    // Each face its own photo; the truth is its person.
    let samples = |vectors: &[Vec<f32>], first: usize| -> Vec<NewSample> {
        vectors
            .iter()
            .enumerate()
            .map(|(i, v)| NewSample {
                image_sha256: Some(format!("{:016x}{}", first + i + 1, "0".repeat(48))),
                ..NewSample::embedding(v.clone())
            })
            .collect()
    };
    let mut truth: HashMap<i64, u32> = HashMap::new();
    // Synthetic faces are ≈ 0.5 alike within a person (0 ± 0.13 between).
    let options = ClusterOptions {
        threshold: 0.4,
        ..ClusterOptions::default()
    };
    let (enroll, full, report) = {
        let g = Gallery::open(&path).expect("gallery");
        g.create_collection("bench", &c, IndexKind::Hnsw)
            .expect("collection");
        let t = Instant::now();
        for (chunk, vectors) in data.vectors.chunks(10_000).enumerate() {
            let ids = g
                .enroll_unassigned("bench", &c, &samples(vectors, chunk * 10_000))
                .expect("enroll");
            for (i, id) in ids.into_iter().enumerate() {
                truth.insert(id, ((chunk * 10_000 + i) / PER_PERSON) as u32);
            }
        }
        let enroll = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let report = cluster_collection(&g, "bench", &options, Run::Full).expect("full run");
        (enroll, t.elapsed().as_secs_f64(), report)
    };
    let first_scores = scores(&path, &truth);
    {
        let g = Gallery::open(&path).expect("gallery");
        let ids = g
            .enroll_unassigned("bench", &c, &samples(&data.probes, n))
            .expect("enroll more");
        for (i, id) in ids.into_iter().enumerate() {
            truth.insert(id, ((i * 7919) % people) as u32);
        }
    }
    let t = Instant::now();
    let g = Gallery::open(&path).expect("gallery");
    let open = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let more =
        cluster_collection(&g, "bench", &options, Run::Incremental).expect("incremental run");
    let incremental = t.elapsed().as_secs_f64();
    drop(g);
    println!(
        "{}",
        serde_json::json!({
            "faces": n,
            "added": added,
            "people": people,
            "enroll_seconds": enroll,
            "full_seconds": full,
            "full_new_persons": report.new_persons.len(),
            "reopen_seconds": open,
            "incremental_seconds": incremental,
            "incremental_placed": more.placed,
            "incremental_joined": more.joined,
            "incremental_share_of_full": incremental / full,
            "full_scores": first_scores,
            "after_adding": scores(&path, &truth),
            "settings": options,
        })
    );
}

/// The collection's clustering scored against the truth (faces of no
/// person count as unclustered).
fn scores(
    path: &std::path::Path,
    truth: &HashMap<i64, u32>,
) -> facekit_cluster::metrics::ClusterScores {
    let g = Gallery::open(path).expect("gallery");
    let faces = g.cluster_faces("bench").expect("faces");
    let mut label_of: HashMap<String, u32> = HashMap::new();
    let labels: Vec<Option<u32>> = faces
        .iter()
        .map(|f| {
            (!f.person.is_empty()).then(|| {
                let next = label_of.len() as u32;
                *label_of.entry(f.person.clone()).or_insert(next)
            })
        })
        .collect();
    let truth: Vec<u32> = faces.iter().map(|f| truth[&f.id]).collect();
    score(&labels, &truth)
}
