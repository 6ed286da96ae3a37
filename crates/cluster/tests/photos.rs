//! Clustering real photos of ../shared with det_500m + SFace.

use std::path::PathBuf;

use facekit_cluster::metrics::score;
use facekit_cluster::photos::{FaceFilters, group_faces, photo_faces};
use facekit_cluster::{ClusterOptions, Method};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_testdata::{scrfd500m_sface_pack, shared};

fn analyzer(pack: &tempfile::TempDir) -> FaceAnalyzer {
    FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), AnalyzeOptions::default()).unwrap()
}

fn photos_of(folder: &str) -> (Vec<PathBuf>, Vec<String>) {
    let mut files: Vec<PathBuf> = walk(&shared(folder));
    files.sort();
    let people = files
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    (files, people)
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn people_of_a_folder_tree_are_found_by_both_methods() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    let (files, people) = photos_of("identities/face_api_bbt");
    assert!(files.len() >= 30, "{} photos", files.len());
    let (faces, skipped) =
        photo_faces(&analyzer, &files, &FaceFilters::default(), 2, None, &|| {}).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(faces.len(), files.len(), "one face per photo");
    let mut names: Vec<&String> = people.iter().collect();
    names.sort();
    names.dedup();
    let truth: Vec<u32> = faces
        .iter()
        .map(|f| names.binary_search(&&people[f.photo]).unwrap() as u32)
        .collect();
    for options in [ClusterOptions::default(), ClusterOptions::insightface_gui()] {
        let found = group_faces(&faces, &options).unwrap();
        let s = score(&found.labels, &truth);
        eprintln!("{:?}: {s:?}", options.method);
        assert!(
            s.bcubed.precision > 0.95 && s.bcubed.f > 0.9,
            "{:?}: {s:?}",
            options.method
        );
        assert_eq!(s.people, 8);
    }
}

#[test]
fn two_faces_of_one_photo_are_never_one_person() {
    let pack = scrfd500m_sface_pack();
    let analyzer = analyzer(&pack);
    // The same group photo under two names: each face's twin is in the
    // other "photo"; with every pair linked (threshold -1), only the
    // constraint keeps people apart.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
    std::fs::copy(shared("images/t1.jpg"), &a).unwrap();
    std::fs::copy(shared("images/t1.jpg"), &b).unwrap();
    let filters = FaceFilters {
        min_size: 0.0,
        min_score: 0.5,
    };
    let (faces, _) = photo_faces(&analyzer, &[a, b], &filters, 2, None, &|| {}).unwrap();
    assert!(faces.len() >= 10, "{} faces", faces.len());
    for method in [Method::Graph, Method::Dbscan] {
        let options = ClusterOptions {
            method,
            threshold: -1.0,
            ..ClusterOptions::default()
        };
        let found = group_faces(&faces, &options).unwrap();
        for members in found.members() {
            let mut photos: Vec<usize> = members.iter().map(|&i| faces[i].photo).collect();
            photos.sort_unstable();
            photos.dedup();
            assert_eq!(
                photos.len(),
                members.len(),
                "{method:?}: one face per photo"
            );
        }
    }
    // Without the constraint, DBSCAN links everything into one group.
    let merged = group_faces(
        &faces,
        &ClusterOptions {
            method: Method::Dbscan,
            threshold: -1.0,
            cannot_link: false,
            ..ClusterOptions::default()
        },
    )
    .unwrap();
    assert_eq!(merged.clusters, 1);
    // The graph method at its default threshold pairs every face with
    // its twin.
    let found = group_faces(&faces, &ClusterOptions::default()).unwrap();
    assert_eq!(
        found.clusters as usize * 2,
        faces.len(),
        "{:?}",
        found.labels
    );
}
