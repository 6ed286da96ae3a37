//! The behaviour every [`FaceGallery`] backend must show, as one suite that
//! the embedded store's tests and the Milvus backend's tests both run
//! (feature `conformance`, for tests only). Each check creates its own
//! collection and deletes it at the end, so a shared server stays clean.

use crate::{EmbeddingContract, FaceGallery, GalleryError, IndexKind, NewSample, PersonInfo};

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
pub fn run_all(gallery: &mut dyn FaceGallery, kinds: &[IndexKind], prefix: &str) {
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
}

fn enroll_one(g: &mut dyn FaceGallery, name: &str, key: &str, v: Vec<f32>) -> i64 {
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
    g: &mut dyn FaceGallery,
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
pub fn another_model_or_dimension_is_refused(g: &mut dyn FaceGallery, kind: IndexKind, name: &str) {
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
    g: &mut dyn FaceGallery,
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
    g.delete_collection(name).unwrap();
    assert!(g.collections().unwrap().iter().all(|x| x.name != name));
    assert!(matches!(
        g.stats(name),
        Err(GalleryError::NoSuchCollection(_))
    ));
}

/// Persons exist without samples, keep their details, and count samples.
pub fn persons_are_created_updated_and_counted(
    g: &mut dyn FaceGallery,
    kind: IndexKind,
    name: &str,
) {
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
