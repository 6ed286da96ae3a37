//! A gallery collection of real photos (../shared identities, det_500m +
//! SFace) clustered into people, corrected by hand (name, merge, split,
//! move, not-this-person), grown with new photos and clustered again,
//! incrementally and in full: every correction must survive, on the
//! embedded store and on Milvus.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use facekit_cluster::ClusterOptions;
use facekit_cluster::collection::{
    Run, RunReport, cluster_collection, merge_persons, move_faces, name_person, not_this_person,
    split_person,
};
use facekit_cluster::photos::{FaceFilters, FoundFace, photo_faces};
use facekit_gallery::{
    ClusterFace, EmbeddingContract, FaceGallery, Gallery, GalleryError, IndexKind, NewSample,
    PersonInfo, Renumbered, UNASSIGNED, contract_of,
};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_testdata::{scrfd500m_sface_pack, shared};

/// Every photo of two labelled sets (one face each), with its person, and
/// the contract of the model that embedded them.
fn library() -> (Vec<FoundFace>, Vec<String>, EmbeddingContract) {
    let mut files: Vec<PathBuf> = Vec::new();
    for set in ["identities/face_api_bbt", "identities/dlib_johns"] {
        for person in std::fs::read_dir(shared(set)).unwrap() {
            let person = person.unwrap().path();
            for photo in std::fs::read_dir(&person).unwrap() {
                files.push(photo.unwrap().path());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 90, "{} photos", files.len());
    let pack = scrfd500m_sface_pack();
    let analyzer =
        FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), AnalyzeOptions::default()).unwrap();
    let (faces, skipped) =
        photo_faces(&analyzer, &files, &FaceFilters::default(), 2, None, &|| {}).unwrap();
    assert!(skipped.len() <= 3, "{skipped:?}");
    let people = faces
        .iter()
        .map(|f| {
            f.image
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    (faces, people, contract_of(&analyzer).unwrap())
}

fn sample(f: &FoundFace) -> NewSample {
    NewSample {
        embedding: f.face.embedding.clone(),
        // The photo's index stands in for its hash: one photo, one id.
        image_sha256: Some(format!("{:016x}{}", f.photo + 1, "0".repeat(48))),
        bbox: Some(f.face.bbox),
        det_score: Some(f.face.det_score),
        embedding_norm: None,
    }
}

/// Face ids the test follows, kept current through the backend's renumbering.
#[derive(Default)]
struct Tracked {
    ids: HashMap<&'static str, Vec<i64>>,
    truth: HashMap<i64, String>,
}

impl Tracked {
    fn follow(&mut self, renumbered: &Renumbered) {
        let map: HashMap<i64, i64> = renumbered.iter().copied().collect();
        for ids in self.ids.values_mut() {
            for id in ids.iter_mut() {
                if let Some(&new) = map.get(id) {
                    *id = new;
                }
            }
        }
        let truth: Vec<(i64, String)> = self.truth.drain().collect();
        self.truth = truth
            .into_iter()
            .map(|(id, p)| (map.get(&id).copied().unwrap_or(id), p))
            .collect();
    }

    fn get(&self, name: &str) -> &[i64] {
        &self.ids[name]
    }
}

fn by_person(faces: &[ClusterFace]) -> HashMap<String, HashSet<i64>> {
    let mut out: HashMap<String, HashSet<i64>> = HashMap::new();
    for f in faces {
        out.entry(f.person.clone()).or_default().insert(f.id);
    }
    out
}

fn run(g: &dyn FaceGallery, name: &str, how: Run, tracked: &mut Tracked) -> RunReport {
    let report = cluster_collection(g, name, &ClusterOptions::default(), how).unwrap();
    tracked.follow(&report.renumbered);
    eprintln!(
        "{how:?}: placed {}, joined {}, {} new, {} removed, {} unassigned",
        report.placed,
        report.joined,
        report.new_persons.len(),
        report.removed_persons.len(),
        report.unassigned
    );
    report
}

/// Every correction made, as it must stay.
fn corrections_hold(g: &dyn FaceGallery, name: &str, keys: &HashMap<&str, String>, t: &Tracked) {
    let faces = g.cluster_faces(name).unwrap();
    let held = by_person(&faces);
    let of = |key: &str| held.get(key).cloned().unwrap_or_default();
    // Named: a person now, every face it had when named kept.
    let named = g.person(name, &keys["named"]).unwrap();
    assert!(!named.suggested && named.name == "Alice");
    let alice = of(&keys["named"]);
    assert!(
        t.get("named").iter().all(|id| alice.contains(id)),
        "named faces kept"
    );
    // Merged: the merged-away person is gone, all its faces in the other.
    assert!(matches!(
        g.person(name, &keys["merged_away"]),
        Err(GalleryError::NoSuchPerson { .. })
    ));
    let into = of(&keys["merged_into"]);
    assert!(
        t.get("merged").iter().all(|id| into.contains(id)),
        "merged faces kept"
    );
    // Split: the face split off stays in its own person, never the first.
    let split = t.get("split")[0];
    assert!(of("split-off").contains(&split));
    assert!(!of(&keys["split_from"]).contains(&split));
    // Moved: stays where it was moved.
    assert!(alice.contains(&t.get("moved")[0]), "moved face kept");
    // Not this person: never back with them.
    let rejected = t.get("rejected")[0];
    assert!(!of(&keys["rejected_by"]).contains(&rejected));
    let face = faces.iter().find(|f| f.id == rejected).unwrap();
    assert!(face.excluded.contains(&keys["rejected_by"]));
    // No person holds two faces of one photo.
    for (person, ids) in &held {
        if person == UNASSIGNED {
            continue;
        }
        let mut photos: Vec<&Option<String>> = faces
            .iter()
            .filter(|f| ids.contains(&f.id))
            .map(|f| &f.image_sha256)
            .collect();
        let n = photos.len();
        photos.sort();
        photos.dedup();
        assert_eq!(photos.len(), n, "{person} holds two faces of one photo");
    }
}

/// Share of clustered faces that are of their cluster's majority person,
/// persons in `skip` (those the test mixed up on purpose) left out.
fn purity(g: &dyn FaceGallery, name: &str, truth: &HashMap<i64, String>, skip: &[&String]) -> f64 {
    let mut right = 0usize;
    let mut clustered = 0usize;
    for (person, ids) in by_person(&g.cluster_faces(name).unwrap()) {
        if person == UNASSIGNED || skip.contains(&&person) {
            continue;
        }
        let mut counts: HashMap<&String, usize> = HashMap::new();
        for id in &ids {
            *counts.entry(&truth[id]).or_default() += 1;
        }
        right += counts.values().max().copied().unwrap_or(0);
        clustered += ids.len();
    }
    right as f64 / clustered.max(1) as f64
}

fn corrections_survive(g: &dyn FaceGallery, name: &str, index: IndexKind) {
    let (faces, people, contract) = library();
    g.create_collection(name, &contract, index).unwrap();
    // Four photos in five now, the fifth later.
    let (first, later): (Vec<usize>, Vec<usize>) = (0..faces.len()).partition(|i| i % 5 != 4);
    let mut t = Tracked::default();
    let add = |g: &dyn FaceGallery, which: &[usize], t: &mut Tracked| {
        let samples: Vec<NewSample> = which.iter().map(|&i| sample(&faces[i])).collect();
        let ids = g.enroll_unassigned(name, &contract, &samples).unwrap();
        for (&i, id) in which.iter().zip(ids) {
            t.truth.insert(id, people[i].clone());
        }
    };
    add(g, &first, &mut t);

    let report = run(g, name, Run::Incremental, &mut t);
    assert_eq!(report.placed, first.len());
    assert!(report.new_persons.len() >= 8, "{report:?}");
    let p = purity(g, name, &t.truth, &[]);
    assert!(p > 0.9, "purity {p}");
    // Nothing new: nothing placed.
    assert_eq!(run(g, name, Run::Incremental, &mut t).placed, 0);

    // Suggestions, largest first.
    let mut persons = g.persons(name).unwrap();
    assert!(persons.iter().all(|p| p.suggested));
    persons.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.key.cmp(&b.key)));
    let persons: Vec<String> = persons
        .into_iter()
        .filter(|p| p.samples >= 2)
        .map(|p| p.key)
        .collect();
    assert!(persons.len() >= 6, "{persons:?}");
    let faces_of = |g: &dyn FaceGallery, key: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = by_person(&g.cluster_faces(name).unwrap())[key]
            .iter()
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    };
    let keys: HashMap<&str, String> = HashMap::from([
        ("named", persons[0].clone()),
        ("merged_into", persons[1].clone()),
        ("merged_away", persons[2].clone()),
        ("split_from", persons[3].clone()),
        ("moved_from", persons[4].clone()),
        ("rejected_by", persons[5].clone()),
    ]);

    // Name the largest.
    t.follow(&name_person(g, name, &keys["named"], "Alice").unwrap());
    t.ids.insert("named", faces_of(g, &keys["named"]));
    // Merge two.
    let merged: Vec<i64> = [
        faces_of(g, &keys["merged_into"]),
        faces_of(g, &keys["merged_away"]),
    ]
    .concat();
    t.ids.insert("merged", merged);
    t.follow(&merge_persons(g, name, &keys["merged_away"], &keys["merged_into"]).unwrap());
    // Split one face off.
    let split = faces_of(g, &keys["split_from"])[0];
    t.ids.insert("split", vec![split]);
    t.follow(
        &split_person(
            g,
            name,
            &keys["split_from"],
            &[split],
            &PersonInfo::new("split-off"),
        )
        .unwrap(),
    );
    // Move a face to the named person.
    t.ids
        .insert("moved", vec![faces_of(g, &keys["moved_from"])[0]]);
    t.follow(&move_faces(g, name, &[t.get("moved")[0]], &keys["named"]).unwrap());
    // Not this person.
    t.ids
        .insert("rejected", vec![faces_of(g, &keys["rejected_by"])[0]]);
    t.follow(&not_this_person(g, name, t.get("rejected")[0], &keys["rejected_by"]).unwrap());
    corrections_hold(g, name, &keys, &t);

    // New photos, placed incrementally: only they are placed; many join
    // the persons already there.
    let loose_before = by_person(&g.cluster_faces(name).unwrap())
        .get(UNASSIGNED)
        .map_or(0, HashSet::len);
    add(g, &later, &mut t);
    let report = run(g, name, Run::Incremental, &mut t);
    // The new faces, and old faces of no person that new ones joined.
    assert!(
        (later.len()..=later.len() + loose_before).contains(&report.placed),
        "{report:?}"
    );
    assert!(report.joined * 2 >= later.len(), "{report:?}");
    corrections_hold(g, name, &keys, &t);
    let mixed = [&keys["named"], &keys["merged_into"]];
    let p = purity(g, name, &t.truth, &mixed);
    assert!(p > 0.9, "purity {p}");

    // Everything again: corrections hold, quality too.
    let report = run(g, name, Run::Full, &mut t);
    assert!(report.placed >= faces.len() / 2, "{report:?}");
    corrections_hold(g, name, &keys, &t);
    let p = purity(g, name, &t.truth, &mixed);
    assert!(p > 0.9, "purity {p}");
    // Named persons keep their keys and names through a full run.
    assert_eq!(g.person(name, &keys["named"]).unwrap().name, "Alice");
    g.delete_collection(name).unwrap();
}

#[test]
fn corrections_survive_incremental_and_full_runs_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gallery::open(&dir.path().join("photos.db")).unwrap();
    corrections_survive(&g, "family", IndexKind::Hnsw);
}

/// Thorough only: the embedded run covers the story and the backend suite
/// covers Milvus's side, in CI; this run takes another 1.5 minutes.
#[test]
#[ignore = "thorough: 1.5 minutes; the embedded-store story runs by default"]
fn corrections_survive_incremental_and_full_runs_on_milvus() {
    facekit_testdata::with_milvus(
        "corrections_survive_incremental_and_full_runs_on_milvus",
        |url| {
            let g = facekit_gallery_milvus::open_gallery(url).unwrap();
            corrections_survive(g.as_ref(), "family", IndexKind::Hnsw);
        },
    );
}
