//! The checks before enrollment and search, with real models and photos:
//! strict review refuses a photo of one person enrolled under another, and
//! liveness in normal mode refuses printed and replayed faces (observe only
//! reports them).

use std::sync::Arc;

use facekit_gallery::{
    EnrollCandidate, EnrollFilter, Gallery, IndexKind, PersonInfo, ReviewMode, contract_of,
    enrollment_faces,
};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_service::{EnrollChecks, FaceService, LivenessPolicy, refuse_spoofs};
use facekit_testdata::{liveness_pack, shared};

const KNN: &str = "identities/face_recognition_knn/train";

fn candidates(analyzer: &FaceAnalyzer, rel: &str) -> Vec<EnrollCandidate> {
    let found = enrollment_faces(analyzer, &shared(rel), &EnrollFilter::default()).unwrap();
    assert_eq!(found.len(), 1, "{rel}: one face");
    found
}

fn checks(review: ReviewMode, liveness: LivenessPolicy) -> EnrollChecks {
    EnrollChecks {
        review: Some(review),
        liveness,
        threshold: 0.3,
    }
}

#[test]
fn strict_review_refuses_a_photo_of_another_person_and_liveness_refuses_spoofs() {
    let pack = liveness_pack();
    let analyzer =
        FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), AnalyzeOptions::default()).unwrap();
    assert!(analyzer.checks_liveness());
    let dir = tempfile::tempdir().unwrap();
    let service = FaceService::new(Arc::new(Gallery::open(&dir.path().join("g.db")).unwrap()));
    let contract = contract_of(&analyzer).unwrap();
    service
        .create_collection("staff", &contract, IndexKind::Exact, ReviewMode::Strict)
        .unwrap();
    let normal = LivenessPolicy::Normal;
    let enroll = |key: &str, rel: &str, checks: Option<EnrollChecks>| {
        let checks = checks.unwrap_or(EnrollChecks {
            review: None,
            liveness: normal,
            threshold: 0.3,
        });
        service
            .enroll_candidates(
                "staff",
                &contract,
                &PersonInfo::new(key),
                candidates(&analyzer, rel),
                &checks,
            )
            .unwrap()
    };

    // Real photos of two people pass strict review (the collection's default).
    for (key, photo) in [("obama", "obama/obama.jpg"), ("biden", "biden/biden.jpg")] {
        let report = enroll(key, &format!("{KNN}/{photo}"), None);
        assert_eq!(report.review, ReviewMode::Strict);
        assert_eq!(report.enrolled.len(), 1, "{key}: {:?}", report.refused);
        let face = &report.enrolled[0].face;
        assert!(face.quality.as_ref().unwrap().score > 0.7);
        assert!(
            face.liveness.as_ref().unwrap().is_real,
            "{key} is a real photo"
        );
    }
    // Another photo of Obama fits him.
    let report = enroll("obama", &format!("{KNN}/obama/obama2.jpg"), None);
    assert_eq!(report.enrolled.len(), 1, "{:?}", report.refused);

    // Biden enrolled as Obama: closer to Biden, and far from Obama's samples.
    let report = enroll("obama", &format!("{KNN}/biden/biden2.jpg"), None);
    assert!(report.enrolled.is_empty());
    let reasons: Vec<&str> = report.refused[0]
        .refusals
        .iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(
        reasons,
        ["closer_to_other_person", "far_from_own_samples"],
        "{:?}",
        report.refused
    );
    assert!(report.refused[0].refusals[0].message.contains("'biden'"));
    // Standard review has no gallery checks: the same photo goes in.
    let wrong = enroll(
        "obama",
        &format!("{KNN}/biden/biden2.jpg"),
        Some(checks(ReviewMode::Standard, normal)),
    );
    assert_eq!(wrong.enrolled.len(), 1);
    assert_eq!(
        service.gallery().person("staff", "obama").unwrap().samples,
        3
    );

    // A replayed face: refused in normal mode, enrolled in observe mode.
    let spoof = "images/liveness/image_F2.jpg";
    let report = enroll("mallory", spoof, Some(checks(ReviewMode::Off, normal)));
    assert!(
        report.enrolled.is_empty() && report.spoof_refused(),
        "{:?}",
        report.refused
    );
    let observed = enroll(
        "mallory",
        spoof,
        Some(checks(ReviewMode::Off, LivenessPolicy::Observe)),
    );
    assert_eq!(observed.enrolled.len(), 1);
    assert!(!observed.enrolled[0].face.liveness.as_ref().unwrap().is_real);

    // Identification refuses the spoofed probe in normal mode only.
    let probe = analyzer.analyze_file(&shared(spoof)).unwrap();
    let refused = refuse_spoofs(&probe.faces, normal).unwrap_err();
    assert_eq!((refused.spoofed, refused.faces), (1, 1));
    assert!(refuse_spoofs(&probe.faces, LivenessPolicy::Observe).is_ok());
    let real = analyzer
        .analyze_file(&shared("images/liveness/image_T1.jpg"))
        .unwrap();
    assert!(refuse_spoofs(&real.faces, normal).is_ok());
}

#[test]
fn asking_for_liveness_without_models_is_an_error() {
    assert_eq!(
        LivenessPolicy::resolve(None, false),
        Ok(LivenessPolicy::Off)
    );
    assert_eq!(
        LivenessPolicy::resolve(None, true),
        Ok(LivenessPolicy::Normal)
    );
    assert!(
        LivenessPolicy::resolve(Some(LivenessPolicy::Normal), false)
            .unwrap_err()
            .contains("MiniFASNet")
    );
}
