//! Backbone parity with arcface_torch: IResNet 18/34/50/100 and
//! MobileFaceNet with every parameter and running statistic set by the same
//! formula as tests/goldens/make_backbone_goldens.py, run in inference mode
//! on the real faces of ../shared/images/t1.jpg (det_500m, facekit's
//! norm_crop, (x − 127.5) / 127.5 in RGB as arcface_torch trains), give
//! embeddings with cosine ≥ 0.99999 to arcface_torch's own modules'.
#![cfg(feature = "torch")]

mod common;

use facekit_train::backbone::{Architecture, Backbone};
use serde_json::Value;
use tch::{Kind, Tensor, nn};

const MIN_COSINE: f64 = 0.99999;

#[test]
fn backbones_match_arcface_torch_on_real_aligned_faces() {
    let faces = common::faces();
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
        common::set_by_formula(&store);
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
