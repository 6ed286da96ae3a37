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

/// `run_batch` from a worker of a rayon pool hands parts of the batch to
/// idle workers (a group photo's faces); the results are those of a run
/// outside any pool, in order, for a fixed-batch (SFace) and a
/// dynamic-batch (w600k stand-in) recognizer.
#[test]
fn a_batch_in_a_pool_is_shared_by_its_idle_workers_with_the_same_results() {
    use std::collections::HashSet;
    use std::sync::Mutex;
    let runtime = runtime();
    for (file, side) in [
        ("face_recognition_sface_2021dec_fp32.onnx", 112),
        ("synthetic/synthetic_w600k.onnx", 112),
    ] {
        let model = runtime.load(&model(file)).unwrap();
        let count = 9;
        let item = [3, side, side];
        let fill = |i: usize, dst: &mut [f32]| {
            for (k, v) in dst.iter_mut().enumerate() {
                *v = ((k * 7 + i * 13) % 251) as f32 / 125.0 - 1.0;
            }
        };
        let alone = model.run_batch(count, &item, fill).unwrap();
        assert_eq!(alone.len(), count);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // Stealing depends on timing: an idle worker nearly always takes a
        // part at once; a few tries rule out a slow start.
        let mut shared = false;
        for _ in 0..5 {
            let threads = Mutex::new(HashSet::new());
            let pooled = pool
                .install(|| {
                    model.run_batch(count, &item, |i, dst| {
                        threads.lock().unwrap().insert(std::thread::current().id());
                        // The stand-in runs in microseconds: time for the
                        // idle worker to wake.
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        fill(i, dst);
                    })
                })
                .unwrap();
            for (a, b) in alone.iter().zip(&pooled) {
                let worst = facekit_testdata::max_abs_diff(a.iter().copied(), b.iter().copied());
                assert!(worst <= 1e-5, "{file}: {worst}");
            }
            if threads.lock().unwrap().len() > 1 {
                shared = true;
                break;
            }
        }
        assert!(shared, "{file}: one worker ran the whole batch");
    }
}
