//! Export: a trained network written as ONNX is what facekit runs. The
//! file routes as an ArcFace recognizer (112×112 input, 512 outputs,
//! InsightFace's 127.5/127.5 normalisation, dynamic batch) and facekit's
//! own pipeline on t1.jpg gives embeddings with cosine ≥ 0.99999 to the
//! trainer's for the same faces.
#![cfg(feature = "torch")]

mod common;

use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_train::backbone::{Architecture, Backbone};
use facekit_train::export::write_onnx;
use tch::{Kind, Tensor, nn};

#[test]
fn exported_networks_route_and_run_as_recognizers_with_the_trainers_embeddings() {
    let faces = common::faces();
    for architecture in [Architecture::MobileFaceNet, Architecture::IResNet18] {
        let store = nn::VarStore::new(tch::Device::Cpu);
        let net = Backbone::new(&store.root(), architecture, 512, 0.0);
        common::set_by_formula(&store);
        let trainer = tch::no_grad(|| net.forward_t(&faces, false)).to_kind(Kind::Double);

        let pack = common::detector_pack();
        write_onnx(&net, &pack.path().join("recognizer.onnx")).expect("export");
        let analyzer = FaceAnalyzer::from_pack(
            pack.path().to_str().expect("utf-8"),
            AnalyzeOptions::default(),
        )
        .expect("the pack loads");
        let recognizer = analyzer
            .pack()
            .recognizer()
            .expect("routed as a recognizer");
        assert_eq!(recognizer.input_size(), 112);
        assert_eq!(recognizer.dimension(), 512);
        assert_eq!(recognizer.normalization(), (127.5, 127.5));
        assert!(recognizer.batches(), "dynamic batch");

        let img = facekit_image::decode_file(
            &facekit_testdata::shared("images/t1.jpg"),
            &Default::default(),
        )
        .expect("t1.jpg decodes");
        let found = analyzer.analyze(&img).expect("analysis");
        assert_eq!(found.len() as i64, trainer.size()[0]);
        for (i, face) in found.iter().enumerate() {
            let ours = Tensor::from_slice(face.embedding.as_deref().expect("embedding"))
                .to_kind(Kind::Double);
            let reference = trainer.get(i as i64);
            let cosine = ours.dot(&reference).double_value(&[])
                / (ours.norm().double_value(&[]) * reference.norm().double_value(&[]));
            assert!(
                cosine >= 0.99999,
                "{architecture:?} face {i}: cosine {cosine}"
            );
        }
    }
}
