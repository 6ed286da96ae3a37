//! What the backbone and export tests share: the weights formula of
//! tests/goldens/make_backbone_goldens.py and the aligned faces of t1.jpg.
#![allow(dead_code)] // each test file uses its part

use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use tch::{Kind, Tensor, nn};

/// The formula the golden script sets every tensor with.
pub fn formula(name: &str, shape: &[i64], prelu: bool) -> Tensor {
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
pub fn faces() -> Tensor {
    let pack = detector_pack();
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

/// Every variable of `store` set by [`formula`].
pub fn set_by_formula(store: &nn::VarStore) {
    let variables = store.variables();
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
}

/// det_500m alone, as a pack.
pub fn detector_pack() -> tempfile::TempDir {
    facekit_testdata::pack_of(&["det_500m.onnx"])
}
