//! Where facekit's tests find their assets, and the golden-file schema.
//!
//! Test assets (real ONNX models, photos, InsightFace and OpenCV reference
//! outputs) live outside the repository, in `../shared` beside the checkout;
//! `FACEKIT_SHARED` overrides that and `FACEKIT_MODELS` overrides the model
//! folder. Only test code depends on this crate.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The shared asset folder: `$FACEKIT_SHARED`, else `../shared` beside the
/// workspace.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("FACEKIT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// The model folder: `$FACEKIT_MODELS`, else `<shared>/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("FACEKIT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared_dir().join("models"))
}

/// Path of a file under the shared folder.
pub fn shared(rel: &str) -> PathBuf {
    shared_dir().join(rel)
}

/// Path of a model file under the model folder.
pub fn model(rel: &str) -> PathBuf {
    models_dir().join(rel)
}

/// A temporary model pack: a folder of links, by file name, to the named
/// files of the model folder (e.g. det_500m + SFace, the `scrfd500m_sface`
/// goldens' pack).
pub fn pack_of(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in files {
        let name = Path::new(file).file_name().expect("a file name");
        std::os::unix::fs::symlink(model(file), dir.path().join(name)).expect("link model");
    }
    dir
}

/// det_500m + SFace with Silent-Face's two MiniFASNet liveness models.
pub fn liveness_pack() -> tempfile::TempDir {
    pack_of(&[
        "det_500m.onnx",
        "face_recognition_sface_2021dec_fp32.onnx",
        "liveness/2.7_80x80_MiniFASNetV2.onnx",
        "liveness/4_0_0_80x80_MiniFASNetV1SE.onnx",
    ])
}

/// The det_500m + SFace (fp32) pack the InsightFace `scrfd500m_sface`
/// references were made with.
pub fn scrfd500m_sface_pack() -> tempfile::TempDir {
    pack_of(&["det_500m.onnx", "face_recognition_sface_2021dec_fp32.onnx"])
}

/// Largest absolute difference between paired values (the worst case the
/// parity tests compare with their tolerance).
pub fn max_abs_diff(a: impl IntoIterator<Item = f32>, b: impl IntoIterator<Item = f32>) -> f32 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// One face in a golden file.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenFace {
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Detector score.
    pub det_score: f32,
    /// Five `[x, y]` landmarks.
    pub kps: Option<Vec<[f32; 2]>>,
    /// Raw embedding.
    pub embedding: Option<Vec<f32>>,
    /// Norm of the raw embedding.
    pub embedding_norm: Option<f32>,
    /// File name of the 112×112 aligned crop, next to the JSON.
    pub aligned_crop_png: Option<String>,
    /// 0 female, 1 male.
    pub gender: Option<u8>,
    /// Age in years.
    pub age: Option<u32>,
    /// 106 `[x, y]` points.
    pub landmark_2d_106: Option<Vec<[f32; 2]>>,
    /// 68 `[x, y, z]` points.
    pub landmark_3d_68: Option<Vec<[f32; 3]>>,
    /// Pitch, yaw, roll in degrees.
    pub pose_pitch_yaw_roll_deg: Option<[f32; 3]>,
}

/// One golden file: what the reference found on one image.
#[derive(Debug, Clone, Deserialize)]
pub struct Golden {
    /// Width as decoded by OpenCV, `None` when OpenCV could not decode it.
    pub width: Option<u32>,
    /// Height as decoded by OpenCV.
    pub height: Option<u32>,
    /// Faces in the reference's order.
    #[serde(default)]
    pub faces: Vec<GoldenFace>,
}

/// A golden file with the image it describes.
#[derive(Debug, Clone)]
pub struct GoldenCase {
    /// The image under the shared folder.
    pub image: PathBuf,
    /// Path of the JSON (its folder holds the aligned crops).
    pub json: PathBuf,
    /// Parsed content.
    pub golden: Golden,
}

/// Every golden case of a reference pack, e.g. `insightface-2.1/scrfd500m_sface`,
/// sorted by image path.
pub fn golden_cases(pack: &str) -> Vec<GoldenCase> {
    let root = shared_dir().join("golden").join(pack);
    let mut cases: Vec<GoldenCase> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let json = e.path().to_path_buf();
            let rel = json
                .strip_prefix(&root)
                .expect("under root")
                .with_extension("");
            let text = std::fs::read_to_string(&json).expect("golden readable");
            let golden: Golden = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", json.display()));
            GoldenCase {
                image: shared_dir().join(rel),
                json,
                golden,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.image.cmp(&b.image));
    assert!(!cases.is_empty(), "no goldens under {}", root.display());
    cases
}

/// Runs `body` with the address of a real Milvus server: `$FACEKIT_MILVUS_URL`
/// when set; otherwise starts one with `scripts/milvus.sh` in a private
/// network namespace (root only), runs this same test (`test`, its exact
/// name) again inside that namespace, and stops the server and removes the
/// namespace afterwards, also when the test fails.
pub fn with_milvus(test: &str, body: impl FnOnce(&str)) {
    if let Ok(url) = std::env::var("FACEKIT_MILVUS_URL") {
        body(&url);
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/milvus.sh");
    let ns = format!("fk-milvus-{}", std::process::id());
    struct Stop<'a>(&'a Path, &'a str);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("bash")
                .arg(self.0)
                .arg("stop")
                .env("FACEKIT_MILVUS_NS", self.1)
                .status();
        }
    }
    let _stop = Stop(&script, &ns);
    let started = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .env("FACEKIT_MILVUS_NS", &ns)
        .status()
        .expect("run scripts/milvus.sh");
    assert!(
        started.success(),
        "could not start Milvus: scripts/milvus.sh needs root (ip netns); or set FACEKIT_MILVUS_URL to a running Milvus"
    );
    let mut inside = std::process::Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(std::env::current_exe().expect("test binary"))
        // `--include-ignored`: the thorough-only Milvus tests run here too.
        .args([
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env("FACEKIT_MILVUS_URL", "milvus://127.0.0.1:19530")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the test inside the Milvus namespace");
    // Echo the run and check that the filter matched exactly this test:
    // a filter that matched nothing would "pass" with 0 tests run.
    let mut ran_one = false;
    for line in std::io::BufRead::lines(std::io::BufReader::new(
        inside.stdout.take().expect("piped"),
    )) {
        let line = line.expect("test output");
        ran_one |= line.starts_with("test result: ok. 1 passed");
        // The inner run's report belongs in this test's output.
        #[allow(clippy::print_stdout)]
        {
            println!("{line}");
        }
    }
    let status = inside.wait().expect("the test inside the Milvus namespace");
    assert!(
        status.success(),
        "{test} failed against Milvus (output above)"
    );
    assert!(
        ran_one,
        "the filter '{test}' ran no test inside the Milvus namespace"
    );
}
