//! The clusterer kept up to date: new faces placed without moving the
//! others, and corrections (name, merge, split, move, "not this person")
//! intact after every incremental and full run. Face-like synthetic vectors
//! (the gallery benchmark's: cosine ≈ 0.7 to a person's centre, so ≈ 0.5
//! between two of their faces, and 0 ± 0.13 between people), linked from
//! 0.4.

use std::collections::{HashMap, HashSet};

use facekit_cluster::{ClusterOptions, Clusterer, Clustering, Constraints, FaceVector};
use facekit_gallery::conformance::synthetic::FaceLikeVectors;

const PER_PERSON: usize = 10;

fn options() -> ClusterOptions {
    ClusterOptions {
        threshold: 0.4,
        ..ClusterOptions::default()
    }
}

fn faces(vectors: &[Vec<f32>], first_photo: u64) -> Vec<FaceVector> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| FaceVector {
            embedding: v.clone(),
            photo: first_photo + i as u64,
        })
        .collect()
}

/// The cluster of every face of `faces`, which must be one.
fn one_cluster(c: &Clustering, faces: impl IntoIterator<Item = usize>) -> u32 {
    let labels: HashSet<Option<u32>> = faces.into_iter().map(|i| c.labels[i]).collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    labels.into_iter().next().unwrap().expect("clustered")
}

fn key_of(c: &Clustering, cluster: u32) -> Option<u32> {
    c.keys[cluster as usize]
}

#[test]
fn new_faces_join_their_people_and_corrections_survive_every_run() {
    let data = FaceLikeVectors::generate(6 * PER_PERSON, PER_PERSON, 12);
    let mut clusterer = Clusterer::new(options()).unwrap();
    let none = Constraints::default();
    clusterer.add(&faces(&data.vectors, 0), &none).unwrap();
    let first = clusterer.clustering();
    assert_eq!(first.clusters, 6, "{:?}", first.labels);
    let person = |p: usize| p * PER_PERSON..(p + 1) * PER_PERSON;
    let people: HashSet<u32> = (0..6).map(|p| one_cluster(&first, person(p))).collect();
    assert_eq!(people.len(), 6, "six people, six clusters");

    // Incremental: the probes are new photos of person (i·7919) mod 6.
    let before = first.labels.clone();
    clusterer.add(&faces(&data.probes, 1_000), &none).unwrap();
    let after = clusterer.clustering();
    for (i, _) in data.probes.iter().enumerate() {
        let p = (i * 7919) % 6;
        let face = 6 * PER_PERSON + i;
        let joined = after.labels[face].expect("placed");
        assert_eq!(
            joined,
            after.labels[person(p).start].unwrap(),
            "probe {i} joins person {p}"
        );
    }
    // The faces already placed stayed together.
    for p in 0..6 {
        one_cluster(&after, person(p));
    }
    assert_eq!(before.len(), 6 * PER_PERSON);

    // Corrections: name person 0 (key 100); split person 1 into keys 101
    // and 102; merge persons 2 and 3 into key 103; move face 40 (person 4)
    // to key 100; face 50 (person 5) is "not person 5" (key 105, which the
    // rest of person 5 is named).
    let mut constraints = Constraints::default();
    for f in person(0) {
        constraints.pinned.insert(f, 100);
    }
    for f in person(1) {
        constraints.pinned.insert(f, if f < 15 { 101 } else { 102 });
    }
    for f in person(2).chain(person(3)) {
        constraints.pinned.insert(f, 103);
    }
    constraints.pinned.insert(40, 100);
    for f in person(5).skip(1) {
        constraints.pinned.insert(f, 105);
    }
    constraints.forbidden.insert((50, 105));
    let check = |c: &Clustering| {
        let named = |faces: Vec<usize>, key: u32| {
            let cluster = one_cluster(c, faces);
            assert_eq!(key_of(c, cluster), Some(key));
        };
        named(person(0).chain([40]).collect(), 100);
        named((10..15).collect(), 101);
        named((15..20).collect(), 102);
        named(person(2).chain(person(3)).collect(), 103);
        named(person(5).skip(1).collect(), 105);
        assert_ne!(
            c.labels[50], c.labels[51],
            "face 50 is not the person its look-alikes are"
        );
        // Person 4 less face 40 is still one cluster, without a key.
        let rest = one_cluster(c, 41..50);
        assert_eq!(key_of(c, rest), None);
    };
    clusterer.recluster(&constraints).unwrap();
    check(&clusterer.clustering());
    // New photos arrive: placed incrementally, corrections intact.
    let more = FaceLikeVectors::generate(6 * PER_PERSON, PER_PERSON, 24).probes;
    clusterer
        .add(&faces(&more[12..], 2_000), &constraints)
        .unwrap();
    check(&clusterer.clustering());
    // And a full run from scratch keeps them too.
    clusterer.recluster(&constraints).unwrap();
    check(&clusterer.clustering());
    let sizes: HashMap<u32, usize> =
        clusterer
            .clustering()
            .labels
            .iter()
            .flatten()
            .fold(HashMap::new(), |mut m, l| {
                *m.entry(*l).or_default() += 1;
                m
            });
    assert!(sizes.values().all(|&n| n >= 2));
}

#[test]
fn corrections_naming_faces_that_do_not_exist_are_refused() {
    let data = FaceLikeVectors::generate(20, PER_PERSON, 0);
    let mut clusterer = Clusterer::new(options()).unwrap();
    clusterer
        .add(&faces(&data.vectors, 0), &Constraints::default())
        .unwrap();
    let mut bad = Constraints::default();
    bad.pinned.insert(20, 1);
    assert!(clusterer.recluster(&bad).is_err());
    let mut bad = Constraints::default();
    bad.forbidden.insert((0, u32::MAX));
    assert!(clusterer.recluster(&bad).is_err());
    let mixed = [FaceVector {
        embedding: vec![1.0; 3],
        photo: 9,
    }];
    let err = clusterer.add(&mixed, &Constraints::default()).unwrap_err();
    assert!(err.to_string().contains("face 20"), "{err}");
    assert_eq!(clusterer.len(), 20, "a refused batch adds nothing");
}

#[test]
fn a_batch_with_a_bad_correction_adds_nothing() {
    let data = FaceLikeVectors::generate(20, PER_PERSON, 0);
    let mut clusterer = Clusterer::new(options()).unwrap();
    let mut bad = Constraints::default();
    bad.pinned.insert(25, 1);
    assert!(clusterer.add(&faces(&data.vectors, 0), &bad).is_err());
    assert!(clusterer.is_empty());
}
