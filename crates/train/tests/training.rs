//! The training loop end to end on real faces: LFW people prepared into
//! RecordIO by facekit's detector and aligner, MobileFaceNet + ArcFace
//! trained for a few steps, verification on held-out pairs, the log and
//! report written; and a run stopped, checkpointed and resumed ends with
//! exactly (bit for bit) the weights of the run that never stopped.
#![cfg(feature = "torch")]

mod common;

use std::path::Path;

use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_train::prepare::{identities, prepare_folder};
use facekit_train::recordio::IndexedReader;
use facekit_train::trainer::{
    Metrics, TrainConfig, Trainer, Verification, VerifyConfig, checkpoint_dir,
};

fn detector_of(pack: &Path) -> FaceAnalyzer {
    FaceAnalyzer::from_pack(pack.to_str().expect("utf-8"), AnalyzeOptions::default())
        .expect("det_500m loads")
}

/// `facekit eval verify`'s accuracy (its crops, flip test, 10 folds) on
/// the first `first_pairs` pairs of a set (0: all), with `evaluator`'s
/// recognizer.
fn facekit_eval_accuracy(
    evaluator: &FaceAnalyzer,
    source: &facekit_eval::SetSource,
    first_pairs: usize,
) -> f64 {
    let (set, mode) = source.read().expect("the set");
    let set = set.first_pairs(first_pairs);
    let settings = facekit_eval::EmbedSettings::of(evaluator, mode, true).expect("settings");
    let embeddings = facekit_eval::embed_images(evaluator, &set.images, &settings, 2, None, &|| ())
        .expect("embeds");
    let pairs = set.pairs;
    let same: Vec<bool> = pairs.iter().map(|p| p.same).collect();
    facekit_eval::folded_accuracy(&facekit_eval::pair_scores(&embeddings, &pairs), &same, 10).mean
}

fn weights(trainer: &Trainer, dir: &Path) -> Vec<(String, Vec<f32>)> {
    trainer.save(dir).expect("saves");
    let mut out = Vec::new();
    for file in [
        "backbone.safetensors",
        "pfc.safetensors",
        "optimizer.safetensors",
    ] {
        for (name, t) in tch::Tensor::read_safetensors(dir.join(file)).expect("reads") {
            let values: Vec<f32> =
                Vec::try_from(t.to_kind(tch::Kind::Float).flatten(0, -1)).expect("floats");
            out.push((format!("{file}:{name}"), values));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn lfw_people_train_verify_and_resume_bit_for_bit() {
    let pack = common::detector_pack();
    let analyzer = detector_of(pack.path());
    let lfw = facekit_testdata::shared("lfw/lfw_crop90");
    let people = identities(&lfw, 8, &|name| {
        name.starts_with('A') || name.starts_with('B')
    })
    .expect("lists LFW");
    let people: Vec<_> = people
        .into_iter()
        .take(6)
        .map(|(n, p)| (n, p.into_iter().take(8).collect()))
        .collect();
    assert_eq!(people.len(), 6);
    let work = tempfile::tempdir().expect("temp dir");
    let data = work.path().join("data");
    let summary = prepare_folder(&analyzer, &people, &data).expect("prepares");
    assert_eq!(summary.classes, 6);
    assert!(summary.faces >= 44, "{summary:?}");
    assert_eq!(
        summary.faces + summary.no_face.len() + summary.failed.len(),
        48
    );
    let mut reader =
        IndexedReader::open(data.join("train.rec"), data.join("train.idx")).expect("opens");
    assert_eq!(reader.image_keys().expect("keys").len(), summary.faces);
    let (header, jpeg) = reader.image(1).expect("first face");
    assert_eq!(header.class(), 0.0);
    let crop = facekit_image::decode_bytes(&jpeg, &Default::default()).expect("a JPEG");
    assert_eq!((crop.width(), crop.height()), (112, 112));

    let config = |output: &str| TrainConfig {
        data: data.clone(),
        output: work.path().join(output),
        network: "mbf".into(),
        batch_size: 8,
        epochs: 1.0,
        warmup_epochs: 0.2,
        lr: 0.05,
        sample_rate: 0.5,
        seed: 7,
        log_every: 2,
        threads: 2,
        verify: Some(VerifyConfig {
            pairs: Some(facekit_testdata::shared("lfw/pairs.txt")),
            images: Some(lfw.clone()),
            first_pairs: 20,
            every: 3,
            ..VerifyConfig::default()
        }),
        ..TrainConfig::default()
    };
    let verification =
        Verification::prepare(config("x").verify.as_ref().expect("set"), &analyzer).expect("pairs");

    let mut straight = Trainer::new(config("straight")).expect("starts");
    let total = straight.total_steps();
    assert_eq!(total, summary.faces as u64 / 8);
    let lines = straight.run(Some(&verification), None).expect("trains");
    assert_eq!(straight.step, total);
    let last: &Metrics = lines.last().expect("a log line");
    assert!(last.loss.is_some_and(f64::is_finite));
    assert!(
        last.accuracy.is_some_and(|a| (0.0..=1.0).contains(&a)),
        "{last:?}"
    );
    assert!(
        lines.iter().any(|m| m.step == 3 && m.accuracy.is_some()),
        "verified at step 3"
    );
    let log = std::fs::read_to_string(work.path().join("straight/metrics.jsonl")).expect("log");
    assert_eq!(log.lines().count(), lines.len());
    let svg = std::fs::read_to_string(work.path().join("straight/report.svg")).expect("report");
    assert!(svg.contains("<polyline") && svg.contains("<circle"));

    // Exported, the recognizer scores the same pairs the same under
    // facekit's own evaluation (`facekit eval verify`'s code path).
    let eval_pack = common::detector_pack();
    facekit_train::export::write_onnx(&straight.backbone, &eval_pack.path().join("trained.onnx"))
        .expect("export");
    let evaluator = detector_of(eval_pack.path());
    let pairs_source = facekit_eval::SetSource {
        pairs: Some(facekit_testdata::shared("lfw/pairs.txt")),
        images: Some(lfw.clone()),
        ..Default::default()
    };
    let evaluated = facekit_eval_accuracy(&evaluator, &pairs_source, 20);
    let trainer_accuracy = last.accuracy.expect("verified at the end");
    assert!(
        (evaluated - trainer_accuracy).abs() <= 0.001,
        "facekit eval {evaluated} vs the trainer {trainer_accuracy}"
    );

    // An InsightFace .bin set (aligned crops) verifies the same way too.
    let bin_path = facekit_testdata::shared("verification/small_lfw.bin");
    let bin = VerifyConfig {
        bin: Some(bin_path.clone()),
        every: 1,
        ..VerifyConfig::default()
    };
    let on_bin = Verification::prepare(&bin, &analyzer)
        .expect("a .bin set")
        .accuracy(&straight.backbone);
    let bin_source = facekit_eval::SetSource {
        bin: Some(bin_path),
        ..Default::default()
    };
    let evaluated = facekit_eval_accuracy(&evaluator, &bin_source, 0);
    assert!(
        (evaluated - on_bin.mean).abs() <= 0.001,
        "facekit eval {evaluated} vs the trainer {}",
        on_bin.mean
    );

    let mut first = Trainer::new(config("resumed")).expect("starts");
    first.run(None, Some(total / 2)).expect("first half");
    assert_eq!(first.step, total / 2);
    drop(first);
    let mut resumed =
        Trainer::resume(&checkpoint_dir(&work.path().join("resumed"))).expect("resumes");
    assert_eq!(resumed.step, total / 2);
    resumed.run(None, None).expect("second half");
    let a = weights(&straight, &work.path().join("a"));
    let b = weights(&resumed, &work.path().join("b"));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after resuming");
    }
}
