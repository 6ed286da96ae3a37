//! Clustering at scale on face-like synthetic vectors (the gallery
//! benchmark's, 512-d, 10 faces per person): a full run over N faces, then
//! 1 % more faces added incrementally, with the time of each and BCubed /
//! pairwise F against the truth. Run by `scripts/bench-cluster.sh`, which
//! also measures peak memory.
//!
//!   cargo bench -p facekit-cluster --bench cluster_scale -- 100000

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use facekit_cluster::metrics::score;
use facekit_cluster::{ClusterOptions, Clusterer, Constraints, FaceVector};
use facekit_gallery::conformance::synthetic::FaceLikeVectors;

const PER_PERSON: usize = 10;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(100_000, |a| a.parse().expect("a number of faces"));
    let added = (n / 100).max(1);
    let people = n / PER_PERSON;
    let started = Instant::now();
    let data = FaceLikeVectors::generate(n, PER_PERSON, added);
    let generated = started.elapsed().as_secs_f64();
    let mut truth: Vec<u32> = (0..n).map(|i| (i / PER_PERSON) as u32).collect();
    truth.extend((0..added).map(|i| ((i * 7919) % people) as u32));
    let to_faces = |vectors: Vec<Vec<f32>>, first: usize| -> Vec<FaceVector> {
        vectors
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| FaceVector {
                embedding,
                photo: (first + i) as u64,
            })
            .collect()
    };
    let (initial, more) = (to_faces(data.vectors, 0), to_faces(data.probes, n));
    // Synthetic faces are ≈ 0.5 alike within a person (0 ± 0.13 between).
    let options = ClusterOptions {
        threshold: 0.4,
        ..ClusterOptions::default()
    };
    let mut clusterer = Clusterer::new(options.clone()).expect("valid options");
    let none = Constraints::default();
    let t = Instant::now();
    clusterer.add(&initial, &none).expect("faces");
    let full = t.elapsed().as_secs_f64();
    drop(initial);
    let first = clusterer.clustering();
    let first_scores = score(&first.labels, &truth[..n]);
    let t = Instant::now();
    clusterer.add(&more, &none).expect("faces");
    let incremental = t.elapsed().as_secs_f64();
    let scores = score(&clusterer.clustering().labels, &truth);
    println!(
        "{}",
        serde_json::json!({
            "faces": n,
            "added": added,
            "people": people,
            "generate_seconds": generated,
            "full_seconds": full,
            "incremental_seconds": incremental,
            "incremental_share_of_full": incremental / full,
            "full_scores": first_scores,
            "after_adding": scores,
            "settings": options,
            "threads": rayon::current_num_threads(),
        })
    );
}
