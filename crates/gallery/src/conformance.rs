//! The behaviour every [`FaceGallery`] backend must show, as one suite that
//! the embedded store's tests and the Milvus backend's tests both run
//! (feature `conformance`, for tests only). Each check creates its own
//! collection and deletes it at the end, so a shared server stays clean.

use crate::{
    ClusterFace, Edit, EmbeddingContract, FaceGallery, GalleryError, IndexKind, NewSample,
    PersonInfo, UNASSIGNED,
};

/// A 16-d test contract.
pub fn contract(dim: usize) -> EmbeddingContract {
    EmbeddingContract {
        model_sha256: "ab".repeat(32),
        dimension: dim,
        preprocessing: "arcface norm_crop 112x112; RGB (x-127.5)/127.5".into(),
    }
}

/// A vector pointing mostly along axis `axis`, with a wobble.
pub fn vector(axis: usize, wobble: f32) -> Vec<f32> {
    (0..16)
        .map(|i| {
            if i == axis {
                1.0
            } else {
                wobble * ((i * 7 + axis) % 5) as f32 / 5.0
            }
        })
        .collect()
}

/// Runs every check on `gallery` with each index kind in `kinds`;
/// collection names start with `prefix`.
pub fn run_all(gallery: &dyn FaceGallery, kinds: &[IndexKind], prefix: &str) {
    for &kind in kinds {
        identify_and_verify_rank_persons_by_their_best_sample(
            gallery,
            kind,
            &format!("{prefix}rank_{kind}"),
        );
    }
    another_model_or_dimension_is_refused(gallery, kinds[0], &format!("{prefix}contract"));
    deletes_remove_samples_persons_and_collections(gallery, kinds[0], &format!("{prefix}delete"));
    persons_are_created_updated_and_counted(gallery, kinds[0], &format!("{prefix}persons"));
    unusable_contracts_and_vectors_are_refused(gallery, kinds[0], &format!("{prefix}refused"));
    faces_of_no_person_and_clustering_edits(gallery, kinds[0], &format!("{prefix}edits"));
}

fn enroll_one(g: &dyn FaceGallery, name: &str, key: &str, v: Vec<f32>) -> i64 {
    g.enroll(
        name,
        &contract(16),
        &PersonInfo::new(key),
        &[NewSample::embedding(v)],
    )
    .unwrap()[0]
}

/// Persons are ranked by their best sample; far from everyone is unknown.
pub fn identify_and_verify_rank_persons_by_their_best_sample(
    g: &dyn FaceGallery,
    kind: IndexKind,
    name: &str,
) {
    let c = contract(16);
    g.create_collection(name, &c, kind).unwrap();
    for (key, axis) in [("ann", 0), ("bob", 1), ("cid", 2)] {
        let samples: Vec<NewSample> = (0..3)
            .map(|i| NewSample::embedding(vector(axis, 0.1 * i as f32)))
            .collect();
        let ids = g.enroll(name, &c, &PersonInfo::new(key), &samples).unwrap();
        assert_eq!(ids.len(), 3);
    }
    let found = g.identify(name, &c, &vector(1, 0.05), 2, 0.5).unwrap();
    assert_eq!(found.best.as_ref().unwrap().key, "bob", "{kind}");
    assert_eq!(found.matches.len(), 2);
    assert!(found.matches[0].score > found.matches[1].score);
    // Far from everyone: unknown, but the ranking is still given.
    let stranger: Vec<f32> = (0..16).map(|i| if i >= 8 { 1.0 } else { 0.0 }).collect();
    let found = g.identify(name, &c, &stranger, 3, 0.5).unwrap();
    assert!(found.best.is_none());
    assert_eq!(found.matches.len(), 3);

    let v = g.verify(name, &c, "ann", &vector(0, 0.0), 0.5).unwrap();
    assert!(v.same && v.score > 0.99, "{v:?}");
    assert!(
        !g.verify(name, &c, "ann", &vector(2, 0.0), 0.5)
            .unwrap()
            .same
    );
    assert_eq!(g.stats(name).unwrap().samples, 9);
    g.delete_collection(name).unwrap();
}

/// Another model, a wrong dimension, bad values, a missing collection or
/// person are refused, and a refused batch stores nothing.
pub fn another_model_or_dimension_is_refused(g: &dyn FaceGallery, kind: IndexKind, name: &str) {
    let c = contract(16);
    g.create_collection(name, &c, kind).unwrap();
    let mut other = c.clone();
    other.model_sha256 = "cd".repeat(32);
    let ann = PersonInfo::new("ann");
    let err = g
        .enroll(name, &other, &ann, &[NewSample::embedding(vector(0, 0.0))])
        .unwrap_err();
    assert!(
        matches!(err, GalleryError::ContractMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("abababababab"), "{err}");
    let err = g
        .identify(name, &other, &vector(0, 0.0), 1, 0.3)
        .unwrap_err();
    assert!(matches!(err, GalleryError::ContractMismatch { .. }));

    let err = g
        .enroll(name, &c, &ann, &[NewSample::embedding(vec![1.0; 15])])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("15 values; collection '{name}' takes 16")),
        "{err}"
    );
    let err = g.identify(name, &c, &[1.0; 15], 1, 0.3).unwrap_err();
    assert!(matches!(err, GalleryError::WrongDimension { .. }), "{err}");
    let err = g
        .enroll(name, &c, &ann, &[NewSample::embedding(vec![f32::NAN; 16])])
        .unwrap_err();
    assert!(matches!(err, GalleryError::Invalid(_)));
    // All or nothing: a bad sample after a good one stores neither.
    let batch = [
        NewSample::embedding(vector(0, 0.0)),
        NewSample::embedding(vec![0.0; 16]),
    ];
    assert!(g.enroll(name, &c, &ann, &batch).is_err());
    assert!(g.persons(name).unwrap().is_empty());

    let err = g
        .identify("nobody", &c, &vector(0, 0.0), 1, 0.3)
        .unwrap_err();
    assert!(
        err.to_string().contains("no collection named 'nobody'"),
        "{err}"
    );
    assert!(matches!(
        g.create_collection(name, &c, kind),
        Err(GalleryError::CollectionExists(_))
    ));
    assert!(matches!(
        g.verify(name, &c, "zed", &vector(0, 0.0), 0.3),
        Err(GalleryError::NoSuchPerson { .. })
    ));
    g.delete_collection(name).unwrap();
}

/// Deleting a sample, a person or a collection removes it from searches,
/// listings and counts.
pub fn deletes_remove_samples_persons_and_collections(
    g: &dyn FaceGallery,
    kind: IndexKind,
    name: &str,
) {
    let c = contract(16);
    g.create_collection(name, &c, kind).unwrap();
    enroll_one(g, name, "ann", vector(0, 0.0));
    let ids = g
        .enroll(
            name,
            &c,
            &PersonInfo::new("bob"),
            &[
                NewSample::embedding(vector(3, 0.0)),
                NewSample::embedding(vector(1, 0.0)),
            ],
        )
        .unwrap();
    assert_eq!(g.stats(name).unwrap().samples, 3);
    g.delete_sample(name, ids[0]).unwrap();
    assert_eq!(g.stats(name).unwrap().samples, 2);
    let remaining: Vec<i64> = g
        .samples(name, Some("bob"))
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(remaining, [ids[1]]);
    assert!(matches!(
        g.delete_sample(name, ids[0]),
        Err(GalleryError::NoSuchSample { .. })
    ));
    assert_eq!(g.delete_person(name, "bob").unwrap(), 1);
    assert_eq!(g.stats(name).unwrap().samples, 1);
    assert_eq!(g.stats(name).unwrap().persons, 1);
    let found = g.identify(name, &c, &vector(1, 0.0), 5, 0.0).unwrap();
    assert!(found.matches.iter().all(|m| m.key == "ann"), "{found:?}");
    assert!(matches!(
        g.delete_person(name, "bob"),
        Err(GalleryError::NoSuchPerson { .. })
    ));
    // The newest sample deleted, the next one still gets a new id: a client
    // holding the old id can never delete someone else's face with it.
    let newest = enroll_one(g, name, "cid", vector(2, 0.0));
    g.delete_sample(name, newest).unwrap();
    let next = enroll_one(g, name, "cid", vector(2, 0.0));
    assert!(next > newest, "sample id {newest} was reused ({next})");
    g.delete_collection(name).unwrap();
    assert!(g.collections().unwrap().iter().all(|x| x.name != name));
    assert!(matches!(
        g.stats(name),
        Err(GalleryError::NoSuchCollection(_))
    ));
}

/// Contracts no collection can honour, and vectors that cannot be
/// normalised, are refused with a clear error.
pub fn unusable_contracts_and_vectors_are_refused(
    g: &dyn FaceGallery,
    kind: IndexKind,
    name: &str,
) {
    for (dimension, sha) in [(0, "ab"), (1_000_000_000, "ab"), (16, "")] {
        let bad = EmbeddingContract {
            model_sha256: sha.into(),
            dimension,
            ..contract(16)
        };
        let err = g.create_collection(name, &bad, kind).unwrap_err();
        assert!(matches!(err, GalleryError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("contract"), "{err}");
    }
    // A non-ASCII model hash is summarised in errors without panicking.
    let odd = EmbeddingContract {
        model_sha256: "é".repeat(20),
        ..contract(16)
    };
    g.create_collection(name, &odd, kind).unwrap();
    let err = g
        .identify(name, &contract(16), &vector(0, 0.0), 1, 0.0)
        .unwrap_err();
    assert!(
        matches!(err, GalleryError::ContractMismatch { .. }),
        "{err}"
    );
    let huge = vec![1e38f32; 16];
    let err = g
        .enroll(
            name,
            &odd,
            &PersonInfo::new("x"),
            &[NewSample::embedding(huge)],
        )
        .unwrap_err();
    assert!(matches!(err, GalleryError::Invalid(_)), "{err}");
    g.delete_collection(name).unwrap();
}

/// Persons exist without samples, keep their details, and count samples.
pub fn persons_are_created_updated_and_counted(g: &dyn FaceGallery, kind: IndexKind, name: &str) {
    let c = contract(16);
    g.create_collection(name, &c, kind).unwrap();
    let mut ann = PersonInfo::new("ann");
    ann.name = "Ann A.".into();
    ann.metadata = serde_json::json!({"team": "ops"});
    let created = g.create_person(name, &ann).unwrap();
    assert_eq!((created.key.as_str(), created.samples), ("ann", 0));
    assert!(matches!(
        g.create_person(name, &ann),
        Err(GalleryError::PersonExists { .. })
    ));
    assert!(matches!(
        g.create_person(name, &PersonInfo::new(" ")),
        Err(GalleryError::Invalid(_))
    ));
    let renamed = g.update_person(name, "ann", Some("Ann B."), None).unwrap();
    assert_eq!(renamed.name, "Ann B.");
    assert_eq!(renamed.metadata, serde_json::json!({"team": "ops"}));
    let team = serde_json::json!({"team": "dev"});
    let moved = g.update_person(name, "ann", None, Some(&team)).unwrap();
    assert_eq!((moved.name.as_str(), &moved.metadata), ("Ann B.", &team));
    assert!(matches!(
        g.update_person(name, "nobody", Some("x"), None),
        Err(GalleryError::NoSuchPerson { .. })
    ));
    enroll_one(g, name, "ann", vector(0, 0.0));
    enroll_one(g, name, "bob", vector(1, 0.0));
    assert_eq!(g.person(name, "ann").unwrap().samples, 1);
    let keys: Vec<String> = g
        .persons(name)
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(keys, ["ann", "bob"]);
    assert!(matches!(
        g.person(name, "nobody"),
        Err(GalleryError::NoSuchPerson { .. })
    ));
    g.delete_collection(name).unwrap();
}

/// Face-like synthetic vectors and timing helpers for the scale benchmarks
/// (the embedded store's and Milvus's measure the same data the same way).
pub mod synthetic {
    use std::time::Instant;

    use facekit_core::l2_normalized;

    use crate::{EmbeddingContract, FaceGallery, NewSample, PersonInfo};

    /// Vector length of the synthetic embeddings (ArcFace's).
    pub const DIM: usize = 512;
    /// Dimension of the space people's centres are drawn from.
    const LATENT: usize = 64;

    /// xorshift64* with Box–Muller: reproducible Gaussian noise without a crate.
    struct Noise(u64);

    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn gaussian(&mut self) -> f32 {
            let (u, v) = (self.uniform().max(1e-12), self.uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        }

        fn unit(&mut self) -> Vec<f32> {
            l2_normalized(&(0..DIM).map(|_| self.gaussian()).collect::<Vec<_>>())
        }

        /// A sample of `center`: per-component noise 0.045 gives cosine ≈ 0.7
        /// to it (1/√(1 + 0.045² · 512)).
        fn sample_of(&mut self, center: &[f32]) -> Vec<f32> {
            l2_normalized(
                &center
                    .iter()
                    .map(|c| c + 0.045 * self.gaussian())
                    .collect::<Vec<_>>(),
            )
        }
    }

    /// Enrolled vectors (`per_person` consecutive samples per person) and
    /// probes (new samples of enrolled people), reproducible.
    ///
    /// The vectors imitate face embeddings: a person's samples have cosine
    /// ≈ 0.7 to the person's centre (so ≈ 0.5 to each other), and people's centres come from a 64-dimensional
    /// latent space, so two different people have cosine 0 ± 0.13, the
    /// spread ArcFace impostor pairs show.
    pub struct FaceLikeVectors {
        /// Samples to enroll, person by person.
        pub vectors: Vec<Vec<f32>>,
        /// Search probes.
        pub probes: Vec<Vec<f32>>,
    }

    impl FaceLikeVectors {
        /// `n` vectors of `n / per_person` people and `probes` probes.
        pub fn generate(n: usize, per_person: usize, probes: usize) -> Self {
            let mut noise = Noise(0x5eed_f00d_dead_beef);
            let people = n / per_person;
            let basis: Vec<Vec<f32>> = (0..LATENT).map(|_| noise.unit()).collect();
            let centers: Vec<Vec<f32>> = (0..people)
                .map(|_| {
                    let z: Vec<f32> = (0..LATENT).map(|_| noise.gaussian()).collect();
                    l2_normalized(
                        &(0..DIM)
                            .map(|d| z.iter().zip(&basis).map(|(a, b)| a * b[d]).sum())
                            .collect::<Vec<f32>>(),
                    )
                })
                .collect();
            let mut vectors = Vec::with_capacity(n);
            for c in &centers {
                for _ in 0..per_person {
                    vectors.push(noise.sample_of(c));
                }
            }
            let probes: Vec<Vec<f32>> = (0..probes)
                .map(|i| noise.sample_of(&centers[(i * 7919) % people]))
                .collect();
            Self { vectors, probes }
        }
    }

    /// Enrolls `vectors` into `collection`, `per_person` consecutive
    /// vectors per person (`p0`, `p1`, …), 1,000 per `enroll_batch` call;
    /// returns the sample ids in vector order and the seconds taken.
    pub fn enroll_all(
        g: &dyn FaceGallery,
        collection: &str,
        contract: &EmbeddingContract,
        vectors: &[Vec<f32>],
        per_person: usize,
    ) -> (Vec<i64>, f64) {
        const BATCH: usize = 1_000;
        let persons: Vec<PersonInfo> = (0..vectors.len().div_ceil(per_person))
            .map(|p| PersonInfo::new(&format!("p{p}")))
            .collect();
        let samples: Vec<NewSample> = vectors
            .iter()
            .map(|v| NewSample::embedding(v.clone()))
            .collect();
        let start = Instant::now();
        let mut ids = Vec::with_capacity(vectors.len());
        for (chunk_no, chunk) in samples.chunks(BATCH).enumerate() {
            let items: Vec<(&PersonInfo, &NewSample)> = chunk
                .iter()
                .enumerate()
                .map(|(i, s)| (&persons[(chunk_no * BATCH + i) / per_person], s))
                .collect();
            ids.extend(
                g.enroll_batch(collection, contract, &items)
                    .expect("enroll"),
            );
        }
        (ids, start.elapsed().as_secs_f64())
    }

    /// Resident memory of this process, MB.
    pub fn rss_mb() -> f64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
        sorted_ms[((sorted_ms.len() - 1) as f64 * p).round() as usize]
    }

    /// Search latency and quality over the probes.
    pub struct Timing {
        /// Median, ms.
        pub p50: f64,
        /// 99th percentile, ms.
        pub p99: f64,
        /// Share of the exact top 10 found.
        pub recall: f64,
    }

    /// Latency and recall@10 of `search` against `truth` (exact top-10 ids).
    pub fn measure(
        probes: &[Vec<f32>],
        truth: &[Vec<i64>],
        mut search: impl FnMut(&[f32]) -> Vec<i64>,
    ) -> Timing {
        for q in probes {
            search(q);
        }
        let mut ms = Vec::with_capacity(probes.len());
        let mut hits = 0;
        for (q, want) in probes.iter().zip(truth) {
            let start = Instant::now();
            let got = search(q);
            ms.push(start.elapsed().as_secs_f64() * 1e3);
            hits += want
                .iter()
                .filter(|id| got.iter().take(10).any(|g| g == *id))
                .count();
        }
        ms.sort_by(f64::total_cmp);
        Timing {
            p50: percentile(&ms, 0.5),
            p99: percentile(&ms, 0.99),
            recall: hits as f64 / (10 * truth.len()) as f64,
        }
    }
}

/// Faces enrolled without a person are searched by `neighbours` but never
/// named by `identify`; edits create suggested persons, move faces, forbid
/// persons, confirm suggestions, and delete only empty persons.
pub fn faces_of_no_person_and_clustering_edits(g: &dyn FaceGallery, kind: IndexKind, name: &str) {
    let c = contract(16);
    g.create_collection(name, &c, kind).unwrap();
    let ann = enroll_one(g, name, "ann", vector(0, 0.05));
    let loose = g
        .enroll_unassigned(
            name,
            &c,
            &[
                NewSample::embedding(vector(0, 0.0)),
                NewSample::embedding(vector(0, 0.02)),
                NewSample::embedding(vector(5, 0.0)),
            ],
        )
        .unwrap();
    assert_eq!(loose.len(), 3);
    // Faces of no person are no person.
    let persons = g.persons(name).unwrap();
    assert_eq!(persons.len(), 1, "{persons:?}");
    assert!(!persons[0].suggested);
    assert_eq!(g.stats(name).unwrap().persons, 1);
    assert_eq!(g.stats(name).unwrap().samples, 4);
    assert!(matches!(
        g.person(name, UNASSIGNED),
        Err(GalleryError::NoSuchPerson { .. }) | Err(GalleryError::Invalid(_))
    ));
    // The closest sample is one of no person: identify names ann anyway.
    let found = g.identify(name, &c, &vector(0, 0.0), 3, 0.5).unwrap();
    assert_eq!(found.matches.len(), 1, "{found:?}");
    assert_eq!(found.best.unwrap().sample_id, ann);
    // Neighbours see every face, with exact cosines.
    let near = g.neighbours(name, &[vector(0, 0.0)], 3).unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0][0].0, loose[0]);
    assert!((near[0][0].1 - 1.0).abs() < 1e-4, "{near:?}");
    assert!(near[0].iter().any(|h| h.0 == ann));
    let raw = g.sample_embeddings(name, &[loose[2], 999_999_999]).unwrap();
    assert_eq!(raw, vec![(loose[2], vector(5, 0.0))]);

    let faces = g.cluster_faces(name).unwrap();
    assert_eq!(faces.len(), 4);
    let of = |faces: &[ClusterFace], id: i64| faces.iter().find(|f| f.id == id).cloned().unwrap();
    assert_eq!(of(&faces, ann).person, "ann");
    assert!(!of(&faces, ann).suggested);
    assert!(
        faces
            .iter()
            .filter(|f| f.id != ann)
            .all(|f| f.person == UNASSIGNED && !f.seen)
    );

    // Clustering's edits: a suggested person with two faces, one face
    // that must never be ann.
    let renumbered = g
        .apply_edits(
            name,
            &[
                Edit::CreatePerson {
                    person: PersonInfo::new("cluster-1"),
                    suggested: true,
                },
                Edit::Assign {
                    sample: loose[0],
                    person: "cluster-1".into(),
                    suggested: true,
                },
                Edit::Assign {
                    sample: loose[1],
                    person: "cluster-1".into(),
                    suggested: true,
                },
                Edit::Exclude {
                    sample: loose[2],
                    person: "ann".into(),
                },
            ],
        )
        .unwrap();
    let now = |id: i64| {
        renumbered
            .iter()
            .find(|(o, _)| *o == id)
            .map_or(id, |(_, n)| *n)
    };
    let faces = g.cluster_faces(name).unwrap();
    for id in [loose[0], loose[1]] {
        let f = of(&faces, now(id));
        assert_eq!(
            (f.person.as_str(), f.suggested, f.seen),
            ("cluster-1", true, true)
        );
    }
    let third = of(&faces, now(loose[2]));
    assert_eq!(third.excluded, vec!["ann".to_string()]);
    assert!(
        !third.seen,
        "a face only excluded is still new to clustering"
    );
    let suggestion = g.person(name, "cluster-1").unwrap();
    assert!(suggestion.suggested);
    assert_eq!(suggestion.samples, 2);
    // Now the suggestion is named: a person's decision.
    g.apply_edits(
        name,
        &[Edit::Confirm {
            person: "cluster-1".into(),
        }],
    )
    .unwrap();
    assert!(!g.person(name, "cluster-1").unwrap().suggested);
    let faces = g.cluster_faces(name).unwrap();
    assert!(
        faces
            .iter()
            .filter(|f| f.person == "cluster-1")
            .all(|f| !f.suggested)
    );
    // Found under their person by identify now.
    let found = g.identify(name, &c, &vector(0, 0.0), 3, 0.5).unwrap();
    assert_eq!(found.best.unwrap().key, "cluster-1");
    // Only an empty person can be deleted by an edit; unknown names are refused.
    let err = g
        .apply_edits(
            name,
            &[Edit::DeletePerson {
                person: "cluster-1".into(),
            }],
        )
        .unwrap_err();
    assert!(err.to_string().contains("still holds 2 faces"), "{err}");
    let unknown = g.apply_edits(
        name,
        &[Edit::Assign {
            sample: now(loose[2]),
            person: "nobody".into(),
            suggested: false,
        }],
    );
    assert!(
        matches!(unknown, Err(GalleryError::NoSuchPerson { .. })),
        "{unknown:?}"
    );
    let faces = g.cluster_faces(name).unwrap();
    let back: Vec<Edit> = faces
        .iter()
        .filter(|f| f.person == "cluster-1")
        .map(|f| Edit::Assign {
            sample: f.id,
            person: UNASSIGNED.into(),
            suggested: true,
        })
        .chain([Edit::DeletePerson {
            person: "cluster-1".into(),
        }])
        .collect();
    g.apply_edits(name, &back).unwrap();
    assert_eq!(g.persons(name).unwrap().len(), 1);
    assert!(matches!(
        g.apply_edits(
            name,
            &[Edit::Release {
                sample: 999_999_999
            }]
        ),
        Err(GalleryError::NoSuchSample { .. })
    ));
    assert_eq!(g.stats(name).unwrap().samples, 4);
    // A face released from its person waits, unseen, for the next run.
    let ann_now = g
        .cluster_faces(name)
        .unwrap()
        .into_iter()
        .find(|f| f.person == "ann")
        .unwrap();
    let renumbered = g
        .apply_edits(name, &[Edit::Release { sample: ann_now.id }])
        .unwrap();
    let released = renumbered
        .iter()
        .find(|(o, _)| *o == ann_now.id)
        .map_or(ann_now.id, |(_, n)| *n);
    let f = of(&g.cluster_faces(name).unwrap(), released);
    assert_eq!((f.person.as_str(), f.seen), (UNASSIGNED, false));
    assert_eq!(g.person(name, "ann").unwrap().samples, 0);
    // A collection with faces of no person exports them all.
    let mut out = Vec::new();
    assert_eq!(g.export(name, &mut out).unwrap(), 4);
    g.delete_collection(name).unwrap();
}
