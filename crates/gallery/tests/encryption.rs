//! Encryption at rest: real faces enrolled into an encrypted gallery leave
//! no embedding bytes (f32 or f16) and no photo hash in any file beside it;
//! a missing or wrong key is refused without touching the file; plaintext
//! galleries are encrypted in place; keys rotate; exports are sealed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use facekit_gallery::conformance::{self, contract};
use facekit_gallery::{
    EnrollFilter, ExportReader, FaceGallery, Gallery, GalleryError, IndexKind, MasterKey,
    NewSample, PersonInfo, contract_of, enrollment_faces,
};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_testdata::{scrfd500m_sface_pack, shared};

/// A pseudo-random vector of `dim` values, different for each `seed`.
fn spread(dim: usize, seed: usize) -> Vec<f32> {
    let mut state = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) + 1;
    (0..dim)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn key() -> MasterKey {
    MasterKey::generate().unwrap()
}

fn same_key(k: &MasterKey) -> MasterKey {
    MasterKey::from_hex(&k.to_hex()).unwrap()
}

/// Every file in `dir`, by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The byte patterns that would betray `samples`: 16-byte windows of each
/// raw embedding's f32 and of its unit vector's f16 bytes, and the photo hash.
fn traces(samples: &[NewSample]) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let f32s: Vec<u8> = s.embedding.iter().flat_map(|x| x.to_le_bytes()).collect();
        let unit = facekit_core::l2_normalized(&s.embedding);
        let f16s: Vec<u8> = unit
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect();
        for (kind, bytes) in [("f32", &f32s), ("f16", &f16s)] {
            for at in [0, bytes.len() / 3, bytes.len() - 16] {
                found.push((
                    format!("sample {i} {kind} at {at}"),
                    bytes[at..at + 16].to_vec(),
                ));
            }
        }
        if let Some(hash) = &s.image_sha256 {
            found.push((format!("sample {i} photo hash"), hash.as_bytes().to_vec()));
        }
    }
    found
}

/// `(file, trace)` for every trace found in any file of `dir`.
fn leaks(dir: &Path, traces: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, bytes) in files(dir) {
        for (what, pattern) in traces {
            if bytes
                .windows(pattern.len())
                .any(|w| w == pattern.as_slice())
            {
                found.push(format!("{what} in {}", path.display()));
            }
        }
    }
    found
}

/// Real faces of a few people of ../shared/identities, with det_500m + SFace.
fn real_faces() -> (facekit_gallery::EmbeddingContract, Vec<(String, NewSample)>) {
    let pack = scrfd500m_sface_pack();
    let analyzer =
        FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), AnalyzeOptions::default()).unwrap();
    let mut faces = Vec::new();
    let root = shared("identities/dlib_johns");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    for person in people.iter().take(6) {
        let mut photos: Vec<PathBuf> = std::fs::read_dir(person)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        photos.sort();
        for photo in photos.iter().take(2) {
            for c in enrollment_faces(&analyzer, photo, &EnrollFilter::default()).unwrap() {
                let key = person.file_name().unwrap().to_string_lossy().into_owned();
                faces.push((key, c.sample));
            }
        }
    }
    assert!(faces.len() >= 8, "only {} faces found", faces.len());
    (contract_of(&analyzer).unwrap(), faces)
}

fn enroll_all(g: &Gallery, c: &facekit_gallery::EmbeddingContract, faces: &[(String, NewSample)]) {
    for kind in [IndexKind::Exact, IndexKind::Hnsw] {
        let name = kind.to_string();
        g.create_collection(&name, c, kind).unwrap();
        for (person, sample) in faces {
            g.enroll(
                &name,
                c,
                &PersonInfo::new(person),
                std::slice::from_ref(sample),
            )
            .unwrap();
        }
    }
}

#[test]
fn the_shared_backend_suite_passes_on_an_encrypted_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gallery::open_with_key(&dir.path().join("g.db"), Some(key())).unwrap();
    conformance::run_all(
        &g,
        &[IndexKind::Exact, IndexKind::Int8, IndexKind::Hnsw],
        "",
    );
}

#[test]
fn real_faces_in_an_encrypted_gallery_leave_no_trace_in_its_files() {
    let (contract, faces) = real_faces();
    let samples: Vec<NewSample> = faces.iter().map(|(_, s)| s.clone()).collect();
    let traces = traces(&samples);

    // The scan finds what a plaintext gallery holds: it can fail.
    let plain = tempfile::tempdir().unwrap();
    {
        let g = Gallery::open(&plain.path().join("g.db")).unwrap();
        enroll_all(&g, &contract, &faces);
        g.save_indexes().unwrap();
        let mut out = std::fs::File::create(plain.path().join("export.jsonl")).unwrap();
        g.export("exact", &mut out).unwrap();
        let found = leaks(plain.path(), &traces);
        for kind in ["f32", "f16", "photo hash"] {
            assert!(
                found.iter().any(|f| f.contains(kind)),
                "no {kind} found in plaintext: {found:?}"
            );
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let master = key();
    {
        let g = Gallery::open_with_key(&db, Some(same_key(&master))).unwrap();
        enroll_all(&g, &contract, &faces);
        for c in g.collections().unwrap() {
            assert!(c.encrypted, "{} is not encrypted", c.name);
        }
        // Identification works on what is sealed.
        let (person, probe) = &faces[0];
        for name in ["exact", "hnsw"] {
            let found = g
                .identify(name, &contract, &probe.embedding, 1, 0.5)
                .unwrap();
            assert_eq!(&found.best.unwrap().key, person);
        }
        // Sealed rows read back exactly.
        let stored = g.samples("exact", None).unwrap();
        assert_eq!(stored.len(), faces.len());
        for (s, (person, original)) in stored.iter().zip(&faces) {
            assert_eq!(&s.person, person);
            assert_eq!(s.embedding, original.embedding);
            assert_eq!(s.image_sha256, original.image_sha256);
            assert_eq!(s.bbox, original.bbox);
            assert_eq!(s.det_score, original.det_score);
        }
        g.save_indexes().unwrap();
        let mut out = std::fs::File::create(dir.path().join("export.jsonl")).unwrap();
        assert_eq!(g.export("exact", &mut out).unwrap(), faces.len());
        // While open: the journal holds every write.
        assert!(dir.path().join("g.db-wal").exists());
        let found = leaks(dir.path(), &traces);
        assert!(found.is_empty(), "{found:#?}");
    }
    let found = leaks(dir.path(), &traces);
    assert!(found.is_empty(), "after closing: {found:#?}");
    // The HNSW index is saved as one sealed record only (the scan above
    // found nothing in it), and a reopened gallery searches with it.
    let names: Vec<String> = files(dir.path())
        .keys()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let hnsw: Vec<&String> = names.iter().filter(|n| n.contains(".hnsw")).collect();
    assert!(
        hnsw.iter().any(|n| n.ends_with(".hnsw.sealed"))
            && hnsw
                .iter()
                .all(|n| n.ends_with(".hnsw.sealed") || n.ends_with(".hnsw.json")),
        "{names:?}"
    );
    {
        let g = Gallery::open_with_key(&db, Some(same_key(&master))).unwrap();
        let (person, probe) = &faces[1];
        let found = g
            .identify("hnsw", &contract, &probe.embedding, 1, 0.5)
            .unwrap();
        assert_eq!(&found.best.unwrap().key, person);
    }

    // The sealed export reads back with the master key only.
    let text = std::fs::read_to_string(dir.path().join("export.jsonl")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(matches!(
        ExportReader::new(header, None),
        Err(GalleryError::Invalid(m)) if m.contains("sealed")
    ));
    assert!(matches!(
        ExportReader::new(header, Some(&key())),
        Err(GalleryError::Vault { .. })
    ));
    let reader = ExportReader::new(header, Some(&master)).unwrap();
    let records: Vec<_> = lines
        .enumerate()
        .map(|(i, l)| reader.record(l, i + 2).unwrap())
        .collect();
    assert_eq!(records.len(), faces.len());
    for (r, (person, original)) in records.iter().zip(&faces) {
        assert_eq!(&r.person.key, person);
        assert_eq!(&r.sample, original);
    }
}

#[test]
fn a_missing_or_wrong_key_is_refused_and_the_file_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let master = key();
    {
        let g = Gallery::open_with_key(&db, Some(same_key(&master))).unwrap();
        let c = contract(8);
        g.create_collection("staff", &c, IndexKind::Exact).unwrap();
        g.enroll(
            "staff",
            &c,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(spread(8, 1))],
        )
        .unwrap();
    }
    let before = files(dir.path());
    let err = Gallery::open(&db).unwrap_err();
    assert!(matches!(&err, GalleryError::KeyRequired { collection, .. } if collection == "staff"));
    assert!(err.to_string().contains("--key-file"), "{err}");
    let err = Gallery::open_with_key(&db, Some(key())).unwrap_err();
    assert!(matches!(err, GalleryError::Vault { .. }), "{err}");
    assert!(err.to_string().contains("'staff'"), "{err}");
    assert_eq!(
        files(dir.path()),
        before,
        "a refused open changed the files"
    );
    // The right key still opens it.
    let g = Gallery::open_with_key(&db, Some(master)).unwrap();
    assert_eq!(g.samples("staff", None).unwrap().len(), 1);
}

#[test]
fn a_plaintext_gallery_is_encrypted_in_place_with_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let c = contract(64);
    let samples: Vec<NewSample> = (0..40)
        .map(|i| NewSample {
            embedding: spread(64, i),
            image_sha256: Some(format!("{i:064x}")),
            bbox: Some([i as f32, 2.0, 30.0, 40.0]),
            det_score: Some(0.9),
            embedding_norm: Some(20.0),
        })
        .collect();
    let before = {
        let g = Gallery::open(&db).unwrap();
        for kind in [IndexKind::Exact, IndexKind::Hnsw] {
            g.create_collection(&kind.to_string(), &c, kind).unwrap();
            for (i, s) in samples.iter().enumerate() {
                let person = PersonInfo::new(&format!("p{}", i % 7));
                g.enroll(&kind.to_string(), &c, &person, std::slice::from_ref(s))
                    .unwrap();
            }
        }
        g.samples("exact", None).unwrap()
    };
    assert!(!leaks(dir.path(), &traces(&samples)).is_empty());
    let master = key();
    {
        let g = Gallery::open_with_key(&db, Some(same_key(&master))).unwrap();
        assert!(g.collections().unwrap().iter().all(|c| !c.encrypted));
        assert_eq!(
            g.encrypt().unwrap(),
            vec!["exact".to_string(), "hnsw".to_string()]
        );
        assert!(g.collections().unwrap().iter().all(|c| c.encrypted));
        assert_eq!(g.samples("exact", None).unwrap(), before);
        let found = g.identify("hnsw", &c, &spread(64, 3), 1, 0.9).unwrap();
        assert_eq!(found.best.unwrap().key, "p3");
        // Nothing left to do a second time.
        assert!(g.encrypt().unwrap().is_empty());
    }
    let found = leaks(dir.path(), &traces(&samples));
    assert!(found.is_empty(), "{found:#?}");
    assert!(matches!(
        Gallery::open(&db),
        Err(GalleryError::KeyRequired { .. })
    ));
    let g = Gallery::open_with_key(&db, Some(master)).unwrap();
    assert_eq!(g.samples("exact", None).unwrap(), before);
}

#[test]
fn keys_rotate_by_rewrapping_or_by_sealing_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let c = contract(16);
    let first = key();
    let stored_blobs = |db: &Path| -> Vec<Vec<u8>> {
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT embedding FROM samples ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let before = {
        let g = Gallery::open_with_key(&db, Some(same_key(&first))).unwrap();
        g.create_collection("staff", &c, IndexKind::Int8).unwrap();
        for i in 0..10 {
            g.enroll(
                "staff",
                &c,
                &PersonInfo::new(&format!("p{i}")),
                &[NewSample::embedding(spread(16, i))],
            )
            .unwrap();
        }
        g.samples("staff", None).unwrap()
    };
    let sealed = stored_blobs(&db);

    let second = key();
    {
        let g = Gallery::open_with_key(&db, Some(same_key(&first))).unwrap();
        assert_eq!(g.rotate_keys(same_key(&second), false).unwrap(), 1);
        // Collections created after the rotation are wrapped by the new key.
        g.create_collection("later", &c, IndexKind::Exact).unwrap();
        assert_eq!(g.samples("staff", None).unwrap(), before);
    }
    assert_eq!(stored_blobs(&db), sealed, "re-wrapping touched the samples");
    assert!(matches!(
        Gallery::open_with_key(&db, Some(same_key(&first))),
        Err(GalleryError::Vault { .. })
    ));

    let third = key();
    {
        let g = Gallery::open_with_key(&db, Some(same_key(&second))).unwrap();
        let stale = Gallery::open_with_key(&db, Some(same_key(&second))).unwrap();
        assert_eq!(g.rotate_keys(same_key(&third), true).unwrap(), 2);
        // A handle still holding the old key can neither read nor add
        // collections under it.
        let err = stale
            .create_collection("stale", &c, IndexKind::Exact)
            .unwrap_err();
        assert!(matches!(err, GalleryError::Vault { .. }), "{err}");
        let found = g.identify("staff", &c, &spread(16, 4), 1, 0.9).unwrap();
        assert_eq!(found.best.unwrap().key, "p4");
    }
    let resealed = stored_blobs(&db);
    assert_eq!(resealed.len(), sealed.len());
    assert!(
        resealed.iter().zip(&sealed).all(|(a, b)| a != b),
        "--reencrypt left samples as they were"
    );
    let g = Gallery::open_with_key(&db, Some(third)).unwrap();
    assert_eq!(g.samples("staff", None).unwrap(), before);
}

#[test]
fn another_process_without_the_key_cannot_read_a_collection_encrypted_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let c = contract(8);
    let keyless = Gallery::open(&db).unwrap();
    let master = key();
    let keyed = Gallery::open_with_key(&db, Some(same_key(&master))).unwrap();
    keyed
        .create_collection("staff", &c, IndexKind::Exact)
        .unwrap();
    keyed
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("ann"),
            &[NewSample::embedding(spread(8, 1))],
        )
        .unwrap();
    assert!(matches!(
        keyless.collections(),
        Err(GalleryError::KeyRequired { .. })
    ));
    // A second keyed handle sees the sealed samples as they are written.
    let other = Gallery::open_with_key(&db, Some(master)).unwrap();
    keyed
        .enroll(
            "staff",
            &c,
            &PersonInfo::new("bob"),
            &[NewSample::embedding(spread(8, 2))],
        )
        .unwrap();
    let found = other.identify("staff", &c, &spread(8, 2), 1, 0.9).unwrap();
    assert_eq!(found.best.unwrap().key, "bob");
}
