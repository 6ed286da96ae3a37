//! Loss parity with arcface_torch: its CombinedMarginLoss, DistCrossEntropy
//! and PartialFC_V2 ran on fixed inputs (tests/goldens/make_goldens.py,
//! PyTorch 2.13.0 CPU) and wrote logits, losses and gradients; facekit's
//! must agree within a relative error of 1e-5 (largest difference over
//! the largest reference value, per tensor).
#![cfg(feature = "torch")]

use facekit_train::margin::{ArcGradient, CombinedMargin, softmax_cross_entropy};
use facekit_train::partial_fc::{PartialFc, Sampled};
use serde_json::Value;
use tch::{Kind, Tensor, nn};

const TOLERANCE: f64 = 1e-5;

fn goldens() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/goldens/margin_loss.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("integer"))
        .collect()
}

fn shape(v: &Value) -> Vec<i64> {
    ints(v)
}

fn assert_close(what: &str, actual: &Tensor, expected: &[f32]) {
    let actual: Vec<f32> =
        Vec::try_from(actual.detach().flatten(0, -1).to_kind(Kind::Float)).expect("floats");
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let scale = expected
        .iter()
        .fold(0f64, |m, &x| m.max(f64::from(x).abs()))
        .max(1e-12);
    let worst = actual
        .iter()
        .zip(expected)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
        .fold(0f64, f64::max);
    assert!(
        worst / scale <= TOLERANCE,
        "{what}: relative error {:.2e}\nfacekit   {:?}\nreference {:?}",
        worst / scale,
        &actual[..actual.len().min(12)],
        &expected[..expected.len().min(12)]
    );
}

fn assert_loss(name: &str, loss: &Tensor, case: &Value) {
    let expected = case["loss"].as_f64().expect("loss") as f32;
    assert_close(&format!("{name} loss"), loss, &[expected]);
}

fn margin_named(name: &str) -> CombinedMargin {
    match name {
        "arcface" => CombinedMargin::arcface(),
        "cosface" => CombinedMargin::cosface(),
        "arcface_filtered" => CombinedMargin {
            interclass_filtering_threshold: 0.3,
            ..CombinedMargin::arcface()
        },
        "arcface_threshold" => CombinedMargin {
            arc_gradient: ArcGradient::Threshold { easy_margin: false },
            ..CombinedMargin::arcface()
        },
        "arcface_easy_margin" => CombinedMargin {
            arc_gradient: ArcGradient::Threshold { easy_margin: true },
            ..CombinedMargin::arcface()
        },
        "combined" => CombinedMargin::new(64.0, 0.9, 0.4, 0.15),
        other => panic!("no margin for case {other}"),
    }
}

#[test]
fn margin_logits_loss_and_gradients_match_arcface_torch() {
    let goldens = goldens();
    let cases = goldens["margin"].as_array().expect("cases");
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let cosine = Tensor::from_slice(&floats(&case["cosine"]))
            .view(shape(&case["shape"]).as_slice())
            .set_requires_grad(true);
        let labels = Tensor::from_slice(&ints(&case["labels"]));
        let logits = margin_named(name).apply(&cosine, &labels);
        assert_close(&format!("{name} logits"), &logits, &floats(&case["logits"]));
        let loss = softmax_cross_entropy(&logits, &labels);
        assert_loss(name, &loss, case);
        loss.backward();
        assert_close(
            &format!("{name} gradient"),
            &cosine.grad(),
            &floats(&case["grad_cosine"]),
        );
    }
}

#[test]
fn partial_fc_loss_and_gradients_match_arcface_torch_with_the_same_sampled_classes() {
    let goldens = goldens();
    let cases = goldens["partial_fc"].as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let [batch, dim, classes] = shape(&case["shape"])[..] else {
            panic!("shape")
        };
        let margin = if case["margin"] == "arcface" {
            CombinedMargin::arcface()
        } else {
            CombinedMargin::cosface()
        };
        let store = nn::VarStore::new(tch::Device::Cpu);
        let sample_rate = case["sample_rate"].as_f64().expect("rate");
        let pfc = PartialFc::new(&store.root(), margin, dim, classes, sample_rate, 0, 1);
        tch::no_grad(|| {
            pfc.weight
                .shallow_clone()
                .copy_(&Tensor::from_slice(&floats(&case["weight"])).view([classes, dim]))
        });
        let embeddings = Tensor::from_slice(&floats(&case["embeddings"]))
            .view([batch, dim])
            .set_requires_grad(true);
        let labels = Tensor::from_slice(&ints(&case["labels"]));
        let priority = Tensor::from_slice(&floats(&case["priority"]));
        let sampled: Sampled = if sample_rate < 1.0 {
            pfc.sample(&labels, &priority)
        } else {
            pfc.sample(
                &labels,
                &Tensor::zeros([classes], (Kind::Float, tch::Device::Cpu)),
            )
        };
        assert_eq!(
            Vec::<i64>::try_from(&sampled.index).expect("ints"),
            ints(&case["index"]),
            "{name}: sampled centres"
        );
        let loss = pfc.forward_sampled(&embeddings, &sampled);
        assert_loss(name, &loss, case);
        loss.backward();
        assert_close(
            &format!("{name} embedding gradient"),
            &embeddings.grad(),
            &floats(&case["grad_embeddings"]),
        );
        assert_close(
            &format!("{name} centre gradient"),
            &pfc.weight.grad(),
            &floats(&case["grad_weight"]),
        );
    }
}
