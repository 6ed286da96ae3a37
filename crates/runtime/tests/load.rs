//! Loading real models from the shared folder through ONNX Runtime.

use facekit_runtime::{GraphInfo, Runtime, RuntimeOptions};
use facekit_testdata::model;

fn runtime() -> Runtime {
    Runtime::new(&RuntimeOptions::default()).expect("ONNX Runtime: run scripts/setup.sh first")
}

#[test]
fn scrfd_signature_and_run() {
    let det = runtime().load(&model("det_500m.onnx")).unwrap();
    let sig = det.signature();
    assert_eq!(sig.inputs.len(), 1);
    assert_eq!(sig.inputs[0].name, "input.1");
    assert_eq!(sig.inputs[0].shape[..2], [1, 3]);
    assert_eq!(sig.outputs.len(), 9);
    let out = det
        .run(&vec![0.0; 3 * 320 * 320], &[1, 3, 320, 320])
        .unwrap();
    // Stride 8 at 320×320: 40·40 cells × 2 anchors.
    assert_eq!(out[0].shape, vec![3200, 1]);
    assert_eq!(out[6].shape, vec![3200, 10]);
}

#[test]
fn wrong_input_shape_is_an_error() {
    let rec = runtime()
        .load(&model("face_recognition_sface_2021dec_fp32.onnx"))
        .unwrap();
    let err = rec.run(&[0.0; 10], &[1, 3, 2, 5]).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn leading_node_names_follow_the_file() {
    let rec = runtime()
        .load(&model("synthetic/synthetic_arcface_mxnet.onnx"))
        .unwrap();
    let names = &rec.graph().leading_node_names;
    assert!(names.iter().any(|n| n.starts_with("_minus")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("_mul")), "{names:?}");
}

#[test]
fn not_an_onnx_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bogus.onnx");
    std::fs::write(&path, b"this is not protobuf at all").unwrap();
    let err = runtime().load(&path).unwrap_err();
    assert!(err.to_string().contains("bogus.onnx"), "{err}");
    assert!(GraphInfo::scan(b"\x3a\x05abc").is_err());
}
