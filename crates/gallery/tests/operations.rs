//! The embedded store: the shared backend suite, plus what is its own —
//! deletes erased from the file, a corrupt file, reopening, saved indexes.

use facekit_gallery::conformance::{self, contract, vector};
use facekit_gallery::{
    Edit, EmbeddingContract, FaceGallery, Gallery, GalleryError, IndexKind, NewSample, PersonInfo,
    ReviewMode,
};

/// The person whose sample is nearest to `v` in "staff" (threshold 0.5).
fn best_key(g: &Gallery, c: &EmbeddingContract, v: &[f32]) -> String {
    g.identify("staff", c, v, 1, 0.5).unwrap().best.unwrap().key
}

/// Enrolls one sample of `key` into "staff".
fn enroll_one(g: &Gallery, c: &EmbeddingContract, key: &str, v: Vec<f32>) {
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
    let (_dir, g) = gallery();
    conformance::run_all(
        &g,
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
        let g = Gallery::open(&path).unwrap();
        g.create_collection("staff", &c, IndexKind::Exact).unwrap();
        enroll_one(&g, &c, "ann", vector(0, 0.0));
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
    let g = Gallery::open(&path).unwrap();
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
        let g = Gallery::open(&path).unwrap();
        g.create_collection("staff", &c, IndexKind::Hnsw).unwrap();
        enroll_one(&g, &c, "ann", vector(0, 0.0));
        g.save_indexes().unwrap();
        assert!(saved(&g).exists());
    }
    {
        // Written but never saved (as if killed): the saved index is stale.
        let g = Gallery::open(&path).unwrap();
        enroll_one(&g, &c, "bob", vector(1, 0.0));
        std::mem::forget(g);
    }
    let g = Gallery::open(&path).unwrap();
    assert_eq!(g.stats("staff").unwrap().samples, 2);
    assert_eq!(best_key(&g, &c, &vector(1, 0.0)), "bob");
    drop(g);
    // Reopened from the saved, now current, index.
    let g = Gallery::open(&path).unwrap();
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

/// Two handles on one file behave as two processes do (each has its own
/// connections and indexes): every committed write of one is seen by the
/// other at its next operation, erasures included.
#[test]
fn two_handles_on_one_file_see_each_others_writes_and_erasures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    for kind in [IndexKind::Exact, IndexKind::Int8, IndexKind::Hnsw] {
        let (a, b) = (Gallery::open(&path).unwrap(), Gallery::open(&path).unwrap());
        let name = format!("shared_{kind}");
        a.create_collection(&name, &c, kind).unwrap();
        // Created elsewhere: known at once, never a panic.
        assert_eq!(b.collection(&name).unwrap().index, kind);
        a.enroll(
            &name,
            &c,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(vector(0, 0.1))],
        )
        .unwrap();
        let found = b.identify(&name, &c, &vector(0, 0.1), 1, 0.5).unwrap();
        assert_eq!(found.best.unwrap().key, "ann");
        b.enroll(
            &name,
            &c,
            &PersonInfo::new("bob"),
            &[NewSample::embedding(vector(1, 0.1))],
        )
        .unwrap();
        assert_eq!(a.stats(&name).unwrap().samples, 2);
        // A face moved by one is found under its new person by the other.
        let loose = a
            .enroll_unassigned(&name, &c, &[NewSample::embedding(vector(2, 0.1))])
            .unwrap()[0];
        assert!(
            b.identify(&name, &c, &vector(2, 0.1), 1, 0.9)
                .unwrap()
                .best
                .is_none()
        );
        a.apply_edits(
            &name,
            &[Edit::Assign {
                sample: loose,
                person: "bob".into(),
                suggested: false,
            }],
        )
        .unwrap();
        let found = b.identify(&name, &c, &vector(2, 0.1), 1, 0.9).unwrap();
        assert_eq!(found.best.unwrap().key, "bob");
        a.delete_sample(&name, loose).unwrap();
        // Erased by one, gone from the other's searches.
        a.delete_person(&name, "ann").unwrap();
        let found = b.identify(&name, &c, &vector(0, 0.1), 5, 0.0).unwrap();
        assert!(found.matches.iter().all(|m| m.key != "ann"), "{found:?}");
        assert_eq!(b.stats(&name).unwrap().samples, 1);
        // Dropped elsewhere: a clear error, never a panic.
        b.delete_collection(&name).unwrap();
        assert!(matches!(
            a.identify(&name, &c, &vector(1, 0.1), 1, 0.0),
            Err(GalleryError::NoSuchCollection(_))
        ));
        assert!(matches!(
            a.stats(&name),
            Err(GalleryError::NoSuchCollection(_))
        ));
    }
}

/// A process that missed an erasure never saves the erased vector again.
#[test]
fn a_handle_that_missed_an_erasure_does_not_save_the_erased_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    let marker: Vec<f32> = (0..16).map(|i| 4321.5 + i as f32).collect();
    let needle: Vec<u8> = marker.iter().flat_map(|x| half_bits(*x)).collect();
    let a = Gallery::open(&path).unwrap();
    a.create_collection("staff", &c, IndexKind::Hnsw).unwrap();
    let b = Gallery::open(&path).unwrap();
    enroll_one(&a, &c, "ann", vector(0, 0.0));
    let ids = a
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("bob"),
            &[NewSample::embedding(marker)],
        )
        .unwrap();
    assert_eq!(b.stats("staff").unwrap().samples, 2);
    // The f16 copy is normalised: look for the normalised marker's bits.
    let saved_has_marker = || {
        let mut saved = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            saved.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        saved.windows(needle.len()).any(|w| w == needle.as_slice())
    };
    b.save_indexes().unwrap();
    assert!(saved_has_marker(), "the saved index should hold the marker");
    a.delete_sample("staff", ids[0]).unwrap();
    assert!(!saved_has_marker(), "the erasure left the saved copy");
    drop(a);
    // b last looked before the erasure; closing saves its index.
    drop(b);
    assert!(!saved_has_marker(), "the erased vector was saved again");
    let g = Gallery::open(&path).unwrap();
    assert_eq!(g.stats("staff").unwrap().samples, 1);
}

/// The f16 little-endian bytes of `x` after normalising the marker vector.
fn half_bits(x: f32) -> [u8; 2] {
    let marker: Vec<f32> = (0..16).map(|i| 4321.5 + i as f32).collect();
    let norm = marker.iter().map(|v| v * v).sum::<f32>().sqrt();
    half::f16::from_f32(x / norm).to_bits().to_le_bytes()
}

/// A file of the first layout (reusable sample ids, no checksums) is
/// migrated at open with every sample and id kept; new ids continue above.
#[test]
fn a_first_layout_file_is_migrated_with_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE collections (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, model_sha256 TEXT NOT NULL, dimension INTEGER NOT NULL CHECK (dimension > 0), preprocessing TEXT NOT NULL, index_kind TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE persons (id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE, key TEXT NOT NULL, name TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, UNIQUE (collection_id, key));
             CREATE TABLE samples (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE, embedding BLOB NOT NULL, image_sha256 TEXT, bbox TEXT, det_score REAL, embedding_norm REAL, created_at INTEGER NOT NULL);
             CREATE INDEX samples_by_person ON samples(person_id);",
        )
        .unwrap();
        let c = contract(16);
        conn.execute(
            "INSERT INTO collections VALUES (1, 'staff', ?1, 16, ?2, 'exact', 0)",
            [&c.model_sha256, &c.preprocessing],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO persons VALUES (1, 1, 'ann', 'Ann', '{}', 0)",
            [],
        )
        .unwrap();
        for (id, axis) in [(3, 0), (7, 1)] {
            let blob: Vec<u8> = vector(axis, 0.0)
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            conn.execute(
                "INSERT INTO samples VALUES (?1, 1, ?2, NULL, NULL, NULL, NULL, 0)",
                rusqlite::params![id, blob],
            )
            .unwrap();
        }
    }
    let c = contract(16);
    let g = Gallery::open(&path).unwrap();
    let ids: Vec<i64> = g
        .samples("staff", None)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [3, 7]);
    let found = g.identify("staff", &c, &vector(1, 0.0), 1, 0.5).unwrap();
    assert_eq!(found.best.unwrap().sample_id, 7);
    g.delete_sample("staff", 7).unwrap();
    let next = g
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(vector(2, 0.0))],
        )
        .unwrap();
    assert!(next[0] > 7, "id {} reused after migration", next[0]);
    // The collection got the review default of old files: off.
    assert_eq!(g.collection("staff").unwrap().review, ReviewMode::Off);
    g.create_collection_with_review("door", &c, IndexKind::Exact, ReviewMode::Strict)
        .unwrap();
    drop(g);
    // Opening again does not migrate twice, and keeps each review default.
    let g = Gallery::open(&path).unwrap();
    assert_eq!(g.stats("staff").unwrap().samples, 2);
    assert_eq!(g.collection("door").unwrap().review, ReviewMode::Strict);
}

/// A closed gallery file with ann's sample and bob's `marker` sample in
/// "staff" (index `kind`), then one bit of bob's stored bytes flipped
/// (`byte` into the embedding); bob's sample id.
fn damaged_gallery(path: &std::path::Path, kind: IndexKind, marker_base: f32, byte: usize) -> i64 {
    let c = contract(16);
    let marker: Vec<f32> = (0..16).map(|i| marker_base + i as f32).collect();
    let needle: Vec<u8> = marker.iter().flat_map(|x| x.to_le_bytes()).collect();
    let damaged_id = {
        let g = Gallery::open(path).unwrap();
        g.create_collection("staff", &c, kind).unwrap();
        enroll_one(&g, &c, "ann", vector(0, 0.0));
        g.enroll(
            "staff",
            &c,
            &PersonInfo::new("bob"),
            &[NewSample::embedding(marker)],
        )
        .unwrap()[0]
    };
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("the embedding is in the closed file");
    bytes[at + byte] ^= 0x10;
    std::fs::write(path, &bytes).unwrap();
    damaged_id
}

/// Flipped bits in a stored embedding are found by its checksum: the
/// sample is left out of searches, reported, and an export refuses it.
#[test]
fn a_damaged_embedding_is_detected_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    let damaged_id = damaged_gallery(&path, IndexKind::Exact, 777.25, 5);
    let g = Gallery::open(&path).unwrap();
    assert_eq!(g.damaged_samples().unwrap(), [damaged_id]);
    let found = g.identify("staff", &c, &vector(0, 0.0), 5, 0.0).unwrap();
    assert!(found.matches.iter().all(|m| m.sample_id != damaged_id));
    let err = g.export("staff", &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, GalleryError::Damaged { sample } if sample == damaged_id),
        "{err}"
    );
}

/// `check` reads every embedding, even those an index loaded from its saved
/// copy never read; quarantine moves the damaged ones out for re-enrollment.
#[test]
fn check_finds_damage_behind_a_saved_index_and_quarantine_moves_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    let damaged_id = damaged_gallery(&path, IndexKind::Hnsw, 555.75, 0);
    let g = Gallery::open(&path).unwrap();
    // The saved index was loaded: nothing was read, nothing is known yet.
    assert!(g.damaged_samples().unwrap().is_empty());
    assert_eq!(g.check().unwrap(), [damaged_id]);
    let found = g.identify("staff", &c, &vector(0, 0.0), 5, 0.0).unwrap();
    assert!(found.matches.iter().all(|m| m.sample_id != damaged_id));
    let moved = g.quarantine_damaged().unwrap();
    assert_eq!(
        moved,
        [(damaged_id, "staff".to_string(), "bob".to_string())]
    );
    assert!(g.check().unwrap().is_empty());
    assert_eq!(g.stats("staff").unwrap().samples, 1);
    assert_eq!(g.person("staff", "bob").unwrap().samples, 0);
}

/// A journal deleted under a running process: the next write is an error,
/// not a silent acknowledgement of data a crash would lose.
#[test]
fn a_deleted_journal_is_reported_at_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let c = contract(16);
    let g = Gallery::open(&path).unwrap();
    g.create_collection("staff", &c, IndexKind::Exact).unwrap();
    enroll_one(&g, &c, "ann", vector(0, 0.0));
    std::fs::remove_file(dir.path().join("g.db-wal")).unwrap();
    let err = g
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("bob"),
            &[NewSample::embedding(vector(1, 0.0))],
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("-wal was deleted or replaced"),
        "{err}"
    );
}

/// A retention set through one handle is what another handle on the same
/// file purges by, and the other handle's search goes on as before.
#[test]
fn a_retention_set_by_one_handle_is_seen_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let (a, b) = (Gallery::open(&path).unwrap(), Gallery::open(&path).unwrap());
    let c = contract(16);
    a.create_collection("staff", &c, IndexKind::Hnsw).unwrap();
    enroll_one(&a, &c, "ann", vector(2, 0.0));
    assert_eq!(best_key(&b, &c, &vector(2, 0.01)), "ann");
    assert_eq!(b.collection("staff").unwrap().retention_days, None);
    let set = a.set_retention("staff", Some(30)).unwrap();
    assert_eq!(set.retention_days, Some(30));
    assert_eq!(b.collection("staff").unwrap().retention_days, Some(30));
    assert_eq!(best_key(&b, &c, &vector(2, 0.01)), "ann");
    a.set_retention("staff", None).unwrap();
    assert_eq!(b.collection("staff").unwrap().retention_days, None);
}
