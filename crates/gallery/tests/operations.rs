//! Gallery operations on precomputed embeddings: enroll, identify, verify,
//! delete (erased from the file), contracts, bad input, reopening.

use facekit_gallery::{
    EmbeddingContract, FaceGallery, Gallery, GalleryError, IndexKind, NewSample, PersonInfo,
};

fn contract(dim: usize) -> EmbeddingContract {
    EmbeddingContract {
        model_sha256: "ab".repeat(32),
        dimension: dim,
        preprocessing: "arcface norm_crop 112x112; RGB (x-127.5)/127.5".into(),
    }
}

/// A unit-ish vector pointing mostly along axis `axis`, with a wobble.
fn vector(axis: usize, wobble: f32) -> Vec<f32> {
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

/// The person whose sample is nearest to `v` in "staff" (threshold 0.5).
fn best_key(g: &Gallery, c: &EmbeddingContract, v: &[f32]) -> String {
    g.identify("staff", c, v, 1, 0.5).unwrap().best.unwrap().key
}

/// Enrolls one sample of `key` into "staff".
fn enroll_one(g: &mut Gallery, c: &EmbeddingContract, key: &str, v: Vec<f32>) {
    g.enroll(
        "staff",
        c,
        &PersonInfo::new(key),
        &[NewSample::embedding(v)],
    )
    .unwrap();
}

fn gallery() -> (tempfile::TempDir, Gallery) {
    let dir = tempfile::tempdir().unwrap();
    let g = Gallery::open(&dir.path().join("g.db")).unwrap();
    (dir, g)
}

#[test]
fn identify_and_verify_rank_persons_by_their_best_sample() {
    for kind in [IndexKind::Exact, IndexKind::Int8, IndexKind::Hnsw] {
        let (_dir, mut g) = gallery();
        let c = contract(16);
        g.create_collection("staff", &c, kind).unwrap();
        for (key, axis) in [("ann", 0), ("bob", 1), ("cid", 2)] {
            let samples: Vec<NewSample> = (0..3)
                .map(|i| NewSample::embedding(vector(axis, 0.1 * i as f32)))
                .collect();
            let ids = g
                .enroll("staff", &c, &PersonInfo::new(key), &samples)
                .unwrap();
            assert_eq!(ids.len(), 3);
        }
        let found = g.identify("staff", &c, &vector(1, 0.05), 2, 0.5).unwrap();
        assert_eq!(found.best.as_ref().unwrap().key, "bob", "{kind}");
        assert_eq!(found.matches.len(), 2);
        assert!(found.matches[0].score > found.matches[1].score);
        // Far from everyone: unknown, but the ranking is still given.
        let stranger: Vec<f32> = (0..16).map(|i| if i >= 8 { 1.0 } else { 0.0 }).collect();
        let found = g.identify("staff", &c, &stranger, 3, 0.5).unwrap();
        assert!(found.best.is_none());
        assert_eq!(found.matches.len(), 3);

        let v = g.verify("staff", &c, "ann", &vector(0, 0.0), 0.5).unwrap();
        assert!(v.same && v.score > 0.99);
        assert!(
            !g.verify("staff", &c, "ann", &vector(2, 0.0), 0.5)
                .unwrap()
                .same
        );
    }
}

#[test]
fn another_model_or_dimension_is_refused() {
    let (_dir, mut g) = gallery();
    let c = contract(16);
    g.create_collection("staff", &c, IndexKind::Exact).unwrap();
    let mut other = c.clone();
    other.model_sha256 = "cd".repeat(32);
    let err = g
        .enroll(
            "staff",
            &other,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(vector(0, 0.0))],
        )
        .unwrap_err();
    assert!(
        matches!(err, GalleryError::ContractMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("abababababab"), "{err}");
    let err = g
        .identify("staff", &other, &vector(0, 0.0), 1, 0.3)
        .unwrap_err();
    assert!(matches!(err, GalleryError::ContractMismatch { .. }));

    let err = g
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(vec![1.0; 15])],
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("15 values; collection 'staff' takes 16"),
        "{err}"
    );
    let err = g
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(vec![f32::NAN; 16])],
        )
        .unwrap_err();
    assert!(matches!(err, GalleryError::Invalid(_)));
    // All or nothing: a bad sample after a good one stores neither.
    let batch = [
        NewSample::embedding(vector(0, 0.0)),
        NewSample::embedding(vec![0.0; 16]),
    ];
    assert!(
        g.enroll("staff", &c, &PersonInfo::new("ann"), &batch)
            .is_err()
    );
    assert!(g.persons("staff").unwrap().is_empty());

    let err = g
        .identify("nobody", &c, &vector(0, 0.0), 1, 0.3)
        .unwrap_err();
    assert!(
        err.to_string().contains("no collection named 'nobody'"),
        "{err}"
    );
    assert!(matches!(
        g.create_collection("staff", &c, IndexKind::Exact),
        Err(GalleryError::CollectionExists(_))
    ));
    assert!(matches!(
        g.verify("staff", &c, "zed", &vector(0, 0.0), 0.3),
        Err(GalleryError::NoSuchPerson { .. })
    ));
}

#[test]
fn deleted_faces_are_erased_from_the_file_and_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    // A vector whose bytes are easy to find in the file.
    let marker: Vec<f32> = (0..16).map(|i| 1234.5 + i as f32).collect();
    let needle: Vec<u8> = marker.iter().flat_map(|x| x.to_le_bytes()).collect();
    let contains = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle.as_slice());
    let on_disk = || {
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        contains(&bytes)
    };
    {
        let mut g = Gallery::open(&path).unwrap();
        g.create_collection("staff", &c, IndexKind::Exact).unwrap();
        enroll_one(&mut g, &c, "ann", vector(0, 0.0));
        let ids = g
            .enroll(
                "staff",
                &c,
                &PersonInfo::new("bob"),
                &[
                    NewSample::embedding(marker.clone()),
                    NewSample::embedding(vector(1, 0.0)),
                ],
            )
            .unwrap();
        assert!(on_disk());
        g.delete_sample("staff", ids[0]).unwrap();
        assert!(!on_disk(), "a deleted embedding is still in the file");
        assert_eq!(g.stats("staff").unwrap().samples, 2);
        assert!(matches!(
            g.delete_sample("staff", ids[0]),
            Err(GalleryError::NoSuchSample { .. })
        ));
        assert_eq!(g.delete_person("staff", "bob").unwrap(), 1);
        assert_eq!(g.stats("staff").unwrap().samples, 1);
        let found = g.identify("staff", &c, &vector(1, 0.0), 5, 0.0).unwrap();
        assert!(found.matches.iter().all(|m| m.key == "ann"));
    }
    // Reopening rebuilds the index from the file.
    let mut g = Gallery::open(&path).unwrap();
    assert_eq!(g.stats("staff").unwrap().persons, 1);
    assert_eq!(best_key(&g, &c, &vector(0, 0.0)), "ann");
    g.delete_collection("staff").unwrap();
    assert!(g.collections().unwrap().is_empty());
}

#[test]
fn a_corrupt_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Gallery::open(&path).unwrap_err();
    assert!(matches!(err, GalleryError::Database { .. }), "{err}");
    assert!(err.to_string().contains("g.db"), "{err}");
    // Nothing was written over it.
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn a_saved_hnsw_index_is_reused_only_while_it_matches_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    let saved = |g: &Gallery| std::path::PathBuf::from(format!("{}.1.hnsw", g.path().display()));
    {
        let mut g = Gallery::open(&path).unwrap();
        g.create_collection("staff", &c, IndexKind::Hnsw).unwrap();
        enroll_one(&mut g, &c, "ann", vector(0, 0.0));
        g.save_indexes().unwrap();
        assert!(saved(&g).exists());
    }
    {
        // Written but never saved (as if killed): the saved index is stale.
        let mut g = Gallery::open(&path).unwrap();
        enroll_one(&mut g, &c, "bob", vector(1, 0.0));
        std::mem::forget(g);
    }
    let g = Gallery::open(&path).unwrap();
    assert_eq!(g.stats("staff").unwrap().samples, 2);
    assert_eq!(best_key(&g, &c, &vector(1, 0.0)), "bob");
    drop(g);
    // Reopened from the saved, now current, index.
    let mut g = Gallery::open(&path).unwrap();
    assert_eq!(best_key(&g, &c, &vector(0, 0.0)), "ann");
    // A delete erases the saved copy of the vectors at once.
    assert!(saved(&g).exists());
    g.delete_person("staff", "bob").unwrap();
    assert!(!saved(&g).exists());
    drop(g);
    let g = Gallery::open(&path).unwrap();
    assert_eq!(g.stats("staff").unwrap().samples, 1);
    let found = g.identify("staff", &c, &vector(1, 0.0), 5, 0.0).unwrap();
    let keys: Vec<&str> = found.matches.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["ann"]);
}

#[test]
fn persons_are_created_updated_and_counted() {
    let (_dir, mut g) = gallery();
    let c = contract(16);
    g.create_collection("staff", &c, IndexKind::Exact).unwrap();
    let mut ann = PersonInfo::new("ann");
    ann.name = "Ann A.".into();
    ann.metadata = serde_json::json!({"team": "ops"});
    let created = g.create_person("staff", &ann).unwrap();
    assert_eq!((created.key.as_str(), created.samples), ("ann", 0));
    assert!(matches!(
        g.create_person("staff", &ann),
        Err(GalleryError::PersonExists { .. })
    ));
    assert!(matches!(
        g.create_person("staff", &PersonInfo::new(" ")),
        Err(GalleryError::Invalid(_))
    ));

    let renamed = g
        .update_person("staff", "ann", Some("Ann B."), None)
        .unwrap();
    assert_eq!(renamed.name, "Ann B.");
    assert_eq!(renamed.metadata, serde_json::json!({"team": "ops"}));
    let moved = g
        .update_person(
            "staff",
            "ann",
            None,
            Some(&serde_json::json!({"team": "dev"})),
        )
        .unwrap();
    assert_eq!(
        (moved.name.as_str(), &moved.metadata),
        ("Ann B.", &serde_json::json!({"team": "dev"}))
    );
    assert!(matches!(
        g.update_person("staff", "nobody", Some("x"), None),
        Err(GalleryError::NoSuchPerson { .. })
    ));

    enroll_one(&mut g, &c, "ann", vector(0, 0.0));
    let got = g.person("staff", "ann").unwrap();
    assert_eq!(got.samples, 1);
    assert!(matches!(
        g.person("staff", "nobody"),
        Err(GalleryError::NoSuchPerson { .. })
    ));
}
