//! Backbone parity with arcface_torch: IResNet 18/34/50/100 and
//! MobileFaceNet with every parameter and running statistic set by the same
//! formula as tests/goldens/make_backbone_goldens.py, run in inference mode
//! on the real faces of ../shared/images/t1.jpg (det_500m, facekit's
//! norm_crop, (x − 127.5) / 127.5 in RGB as arcface_torch trains), give
//! embeddings with cosine ≥ 0.99999 to arcface_torch's own modules'.
#![cfg(feature = "torch")]

use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_train::backbone::{Architecture, Backbone};
use serde_json::Value;
use tch::{Kind, Tensor, nn};

const MIN_COSINE: f64 = 0.99999;

/// The formula the golden script sets every tensor with.
fn formula(name: &str, shape: &[i64], prelu: bool) -> Tensor {
    let n: i64 = shape.iter().product();
    // An integer hash of (name, index), uniform in [-1, 1).
    let seed = u64::from(name.bytes().map(u32::from).sum::<u32>()) * 7919;
    let values: Vec<f64> = (0..n as u64)
        .map(|k| {
            let mut h = (k * 2_654_435_761 + seed) % (1 << 32);
            h ^= h >> 16;
            h = (h * 0x45d_9f3b) % (1 << 32);
            h ^= h >> 16;
            h as f64 / f64::from(1u32 << 31) - 1.0
        })
        .collect();
    let u = Tensor::from_slice(&values);
    let v = if name.ends_with("running_var") {
        u.abs() * 0.2 + 1.0
    } else if name.ends_with("running_mean") {
        u * 0.02
    } else if name.ends_with("bias") {
        u * 0.01
    } else if prelu {
        u * 0.1 + 0.25
    } else if shape.len() == 1 {
        u * 0.2 + 1.0
    } else {
        u * (3.0 / (n / shape[0]) as f64).sqrt()
    };
    v.to_kind(Kind::Float).reshape(shape)
}

/// The aligned faces of t1.jpg as `[N, 3, 112, 112]`, normalised.
fn faces() -> Tensor {
    let pack = facekit_testdata::pack_of(&["det_500m.onnx"]);
    let analyzer = FaceAnalyzer::from_pack(
        pack.path().to_str().expect("utf-8"),
        AnalyzeOptions::default(),
    )
    .expect("det_500m loads");
    let photo = facekit_testdata::shared("images/t1.jpg");
    let img = facekit_image::decode_file(&photo, &Default::default()).expect("t1.jpg decodes");
    let crops = analyzer.align(&img).expect("faces align");
    assert_eq!(crops.len(), 6, "t1.jpg has six faces");
    let dump = std::env::var_os("FACEKIT_DUMP_CROPS").map(std::path::PathBuf::from);
    let tensors: Vec<Tensor> = crops
        .iter()
        .enumerate()
        .map(|(i, (_, crop))| {
            assert_eq!((crop.width(), crop.height()), (112, 112));
            if let Some(dir) = &dump {
                std::fs::create_dir_all(dir).expect("crop folder");
                std::fs::write(dir.join(format!("t1.face{i}.rgb")), crop.as_raw())
                    .expect("crop written");
            }
            let hwc = Tensor::from_slice(crop.as_raw())
                .view([112, 112, 3])
                .permute([2, 0, 1]);
            (hwc.to_kind(Kind::Float) - 127.5) / 127.5
        })
        .collect();
    Tensor::stack(&tensors, 0)
}

#[test]
fn backbones_match_arcface_torch_on_real_aligned_faces() {
    let faces = faces();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens/backbones.json");
    let goldens: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("JSON");
    let networks = goldens["networks"].as_object().expect("networks");
    assert_eq!(networks.len(), 5);
    for (key, golden) in networks {
        let architecture: Architecture = key.parse().expect("architecture");
        let store = nn::VarStore::new(tch::Device::Cpu);
        let net = Backbone::new(&store.root(), architecture, 512, 0.0);
        let variables = store.variables();
        assert_eq!(
            variables.len() as u64,
            golden["parameters"].as_u64().expect("count"),
            "{key}: parameter count"
        );
        tch::no_grad(|| {
            for (name, tensor) in &variables {
                let shape = tensor.size();
                // A PReLU's slope is the 1-D weight without running statistics beside it.
                let prelu = shape.len() == 1
                    && name
                        .strip_suffix("weight")
                        .is_some_and(|stem| !variables.contains_key(&format!("{stem}running_var")));
                tensor.shallow_clone().copy_(&formula(name, &shape, prelu));
            }
        });
        let embeddings = tch::no_grad(|| net.forward_t(&faces, false));
        let expected = golden["embeddings"].as_array().expect("embeddings");
        assert_eq!(embeddings.size(), [expected.len() as i64, 512], "{key}");
        // The formula keeps different faces apart, so agreement means something.
        let unit = |t: &Tensor| t / t.norm_scalaropt_dim(2, [1], true);
        let ours_unit = unit(&embeddings.to_kind(Kind::Double));
        let closest = ours_unit.matmul(&ours_unit.tr())
            - Tensor::eye(expected.len() as i64, (Kind::Double, tch::Device::Cpu)) * 2.0;
        assert!(
            closest.max().double_value(&[]) < 0.97,
            "{key}: the faces' embeddings are not apart"
        );
        for (i, row) in expected.iter().enumerate() {
            let reference: Vec<f64> = row
                .as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("f64"))
                .collect();
            let reference = Tensor::from_slice(&reference);
            let ours = embeddings.get(i as i64).to_kind(Kind::Double);
            let cosine = ours.dot(&reference).double_value(&[])
                / (ours.norm().double_value(&[]) * reference.norm().double_value(&[]));
            assert!(cosine >= MIN_COSINE, "{key} face {i}: cosine {cosine}");
        }
    }
}
