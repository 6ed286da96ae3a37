//! The embedded store: the shared backend suite, plus what is its own —
//! deletes erased from the file, a corrupt file, reopening, saved indexes.

use facekit_gallery::conformance::{self, contract, vector};
use facekit_gallery::{
    EmbeddingContract, FaceGallery, Gallery, GalleryError, IndexKind, NewSample, PersonInfo,
};

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
fn the_shared_backend_suite_passes_on_the_embedded_store() {
    let (_dir, mut g) = gallery();
    conformance::run_all(
        &mut g,
        &[IndexKind::Exact, IndexKind::Int8, IndexKind::Hnsw],
        "",
    );
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
