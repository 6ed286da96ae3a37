//! Real photos of known people (`../shared/identities/<set>/<person>/*`)
//! with det_500m + SFace: enroll each person's first photo, identify the
//! rest. Every probe with a detected face must come back as its person.

use std::path::{Path, PathBuf};

use facekit_gallery::{
    EnrollFilter, FaceGallery, Gallery, IndexKind, PersonInfo, contract_of, enrollment_faces,
};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_testdata::{scrfd500m_sface_pack, shared};

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn first_photo_enrolled_rest_identified() {
    let pack = scrfd500m_sface_pack();
    let analyzer =
        FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), AnalyzeOptions::default()).unwrap();
    let contract = contract_of(&analyzer).unwrap();
    assert_eq!(contract.dimension, 128);
    let db = tempfile::tempdir().unwrap();
    let gallery = Gallery::open(&db.path().join("g.db")).unwrap();
    let filter = EnrollFilter::default();

    let (mut probes, mut correct, mut no_face) = (0, 0, 0);
    let mut misses = Vec::new();
    for set in ["dlib_johns", "face_api_bbt", "face_recognition_knn/train"] {
        gallery
            .create_collection(set, &contract, IndexKind::Exact)
            .unwrap();
        let people: Vec<(String, Vec<PathBuf>)> =
            sorted_entries(&shared(&format!("identities/{set}")))
                .into_iter()
                .filter(|p| p.is_dir())
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        sorted_entries(&p),
                    )
                })
                .filter(|(_, photos)| photos.len() >= 2)
                .collect();
        let mut rest = Vec::new();
        for (person, photos) in &people {
            let mut photos = photos.iter();
            // The first photo with a usable face is the enrollment photo.
            let samples = photos
                .by_ref()
                .map(|p| enrollment_faces(&analyzer, p, &filter).unwrap())
                .find(|s| !s.is_empty())
                .map(|found| found.into_iter().map(|c| c.sample).collect::<Vec<_>>())
                .unwrap_or_else(|| panic!("no enrollable photo of {person}"));
            gallery
                .enroll(set, &contract, &PersonInfo::new(person), &samples)
                .unwrap();
            rest.extend(photos.map(|p| (person.clone(), p.clone())));
        }
        for (person, photo) in rest {
            let Some(face) = enrollment_faces(&analyzer, &photo, &filter).unwrap().pop() else {
                no_face += 1;
                continue;
            };
            probes += 1;
            let found = gallery
                .identify(set, &contract, &face.sample.embedding, 3, 0.3)
                .unwrap();
            let top = &found.matches[0];
            if top.key == person {
                correct += 1;
            } else {
                misses.push(format!(
                    "{}: {} ({:.3}) instead of {person}",
                    photo.display(),
                    top.key,
                    top.score
                ));
            }
        }
    }
    eprintln!(
        "identities: top-1 {correct}/{probes} = {:.3}; {no_face} probes without a usable face; misses: {misses:?}",
        correct as f64 / probes as f64
    );
    assert!(probes >= 50, "{probes} probes");
    assert!(misses.is_empty(), "{misses:#?}");
}
