//! Routing real and stand-in models by signature, as InsightFace's model_zoo.

use std::path::Path;

use facekit_detection::DetectorKind;
use facekit_models::{DetectorChoice, EntryStatus, ModelKind, ModelPack, resolve_pack, route};
use facekit_runtime::{Runtime, RuntimeOptions};
use facekit_testdata::{model, models_dir};

fn runtime() -> Runtime {
    Runtime::new(&RuntimeOptions::default()).expect("ONNX Runtime: run scripts/setup.sh first")
}

fn routed(file: &str) -> facekit_models::Route {
    route(&runtime().load(&model(file)).unwrap()).unwrap_or_else(|| panic!("{file} not routed"))
}

#[test]
fn every_shared_model_gets_insightfaces_task_and_normalisation() {
    let scrfd = routed("det_500m.onnx");
    assert_eq!(scrfd.kind, ModelKind::Detector(DetectorKind::Scrfd));
    // SFace normalises in-graph (_minusscalar0/_mulscalar0 first): raw pixels.
    let sface = routed("face_recognition_sface_2021dec_fp32.onnx");
    assert_eq!(
        (sface.kind, sface.mean, sface.std),
        (ModelKind::ArcFace, 0.0, 1.0)
    );
    let sface8 = routed("face_recognition_sface_2021dec_int8bq.onnx");
    assert_eq!((sface8.mean, sface8.std), (0.0, 1.0));
    let w600k = routed("synthetic/synthetic_w600k.onnx");
    assert_eq!(
        (w600k.kind, w600k.mean, w600k.std),
        (ModelKind::ArcFace, 127.5, 127.5)
    );
    let mxnet = routed("synthetic/synthetic_arcface_mxnet.onnx");
    assert_eq!((mxnet.mean, mxnet.std), (0.0, 1.0));
    assert_eq!(
        routed("synthetic/synthetic_genderage.onnx").kind,
        ModelKind::Attribute { outputs: 3 }
    );
    assert_eq!(routed("synthetic/synthetic_genderage.onnx").std, 128.0);
    assert_eq!(
        routed("synthetic/synthetic_2d106det.onnx").kind,
        ModelKind::Landmark {
            points: 106,
            three_d: false
        }
    );
    assert_eq!(
        routed("synthetic/synthetic_1k3d68.onnx").kind,
        ModelKind::Landmark {
            points: 68,
            three_d: true
        }
    );
    assert_eq!(
        routed("face_detection_yunet_2023mar.onnx").kind,
        ModelKind::Detector(DetectorKind::YuNet)
    );
    assert_eq!(
        routed("retinaface_mnet025_640.onnx").kind,
        ModelKind::Detector(DetectorKind::RetinaFace)
    );
}

#[test]
fn a_pack_folder_keeps_the_first_model_per_task() {
    let dir = tempfile::tempdir().unwrap();
    for (link, target) in [
        ("a_det.onnx", "det_500m.onnx"),
        ("b_det.onnx", "det_2.5g.onnx"),
        ("c_rec.onnx", "face_recognition_sface_2021dec_fp32.onnx"),
        ("d_landmarks.onnx", "synthetic/synthetic_2d106det.onnx"),
        ("f_yunet.onnx", "face_detection_yunet_2023mar.onnx"),
    ] {
        std::os::unix::fs::symlink(model(target), dir.path().join(link)).unwrap();
    }
    std::fs::write(dir.path().join("e_broken.onnx"), b"not a model").unwrap();
    let pack = ModelPack::load(&runtime(), dir.path()).unwrap();
    let status: Vec<_> = pack.entries().iter().map(|e| e.status.clone()).collect();
    assert_eq!(status[0], EntryStatus::Used);
    assert_eq!(status[1], EntryStatus::Duplicate);
    assert_eq!(status[2], EntryStatus::Used);
    assert_eq!(status[3], EntryStatus::Used);
    assert!(matches!(status[4], EntryStatus::Failed(_)));
    assert_eq!(status[5], EntryStatus::Duplicate);
    assert!(pack.detector().model().path().ends_with("a_det.onnx"));
    assert_eq!(pack.recognizer().unwrap().input_size(), 112);
    assert_eq!(pack.landmarks()[0].task(), "landmark_2d_106");

    // Asking for a family picks its first file; the others stand aside.
    let yunet = DetectorChoice::Kind(DetectorKind::YuNet);
    let pack = ModelPack::load_with(&runtime(), dir.path(), &yunet).unwrap();
    assert_eq!(pack.detector().kind(), DetectorKind::YuNet);
    assert_eq!(pack.entries()[0].status, EntryStatus::Duplicate);
    assert_eq!(pack.entries()[5].status, EntryStatus::Used);
    let retina = DetectorChoice::Kind(DetectorKind::RetinaFace);
    let err = ModelPack::load_with(&runtime(), dir.path(), &retina).unwrap_err();
    assert!(
        err.to_string()
            .contains("no retinaface face detection model"),
        "{err}"
    );

    // A detector file from elsewhere replaces the pack's.
    let file = DetectorChoice::File(model("retinaface_mnet025_640.onnx"));
    let pack = ModelPack::load_with(&runtime(), dir.path(), &file).unwrap();
    assert_eq!(pack.detector().kind(), DetectorKind::RetinaFace);
    assert_eq!(pack.entries()[0].status, EntryStatus::Duplicate);
    let not_a_detector = DetectorChoice::File(model("face_recognition_sface_2021dec_fp32.onnx"));
    let err = ModelPack::load_with(&runtime(), dir.path(), &not_a_detector).unwrap_err();
    assert!(
        err.to_string().contains("is not a face detection model"),
        "{err}"
    );
}

#[test]
fn a_folder_without_a_detector_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        model("face_recognition_sface_2021dec_fp32.onnx"),
        dir.path().join("rec.onnx"),
    )
    .unwrap();
    let err = ModelPack::load(&runtime(), dir.path()).unwrap_err();
    assert!(err.to_string().contains("no face detection model"), "{err}");
}

#[test]
fn pack_names_resolve_to_folders_or_explain_where_they_looked() {
    assert_eq!(
        resolve_pack(models_dir().to_str().unwrap()).unwrap(),
        models_dir()
    );
    let err = resolve_pack("no_such_pack_xyz").unwrap_err().to_string();
    assert!(
        err.contains(".insightface/models/no_such_pack_xyz"),
        "{err}"
    );
    assert!(resolve_pack(Path::new("/nonexistent/dir").to_str().unwrap()).is_err());
}

#[test]
fn minifasnet_files_route_as_liveness_by_signature_with_their_scale_from_the_name() {
    let v2 = routed("liveness/2.7_80x80_MiniFASNetV2.onnx");
    assert_eq!(
        v2.kind,
        ModelKind::Liveness {
            scale_tenths: Some(27)
        }
    );
    let v1se = routed("liveness/4_0_0_80x80_MiniFASNetV1SE.onnx");
    assert_eq!(v1se.kind.task(), "liveness_4.0");

    let dir = tempfile::tempdir().unwrap();
    for (link, target) in [
        ("a_det.onnx", "det_500m.onnx"),
        (
            "2.7_80x80_MiniFASNetV2.onnx",
            "liveness/2.7_80x80_MiniFASNetV2.onnx",
        ),
        (
            "4_0_0_80x80_MiniFASNetV1SE.onnx",
            "liveness/4_0_0_80x80_MiniFASNetV1SE.onnx",
        ),
        ("spoof_model.onnx", "liveness/2.7_80x80_MiniFASNetV2.onnx"),
    ] {
        std::os::unix::fs::symlink(model(target), dir.path().join(link)).unwrap();
    }
    let pack = ModelPack::load(&runtime(), dir.path()).unwrap();
    let scales: Vec<f64> = pack.liveness().models().iter().map(|m| m.scale()).collect();
    assert_eq!(scales, [2.7, 4.0]);
    // A MiniFASNet whose name gives no scale is reported; the pack loads.
    let unnamed = pack
        .entries()
        .iter()
        .find(|e| e.file.ends_with("spoof_model.onnx"))
        .unwrap();
    match &unnamed.status {
        EntryStatus::Failed(why) => assert!(why.contains("crop scale"), "{why}"),
        other => panic!("{other:?}"),
    }
}
