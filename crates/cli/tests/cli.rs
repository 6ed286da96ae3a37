//! The `facekit` binary run as a user would, on real models and photos.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use facekit_testdata::{golden_cases, models_dir, scrfd500m_sface_pack, shared};
use serde_json::json;

fn facekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facekit"))
        .args(args)
        .output()
        .expect("run facekit")
}

fn stdout_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn models() -> String {
    models_dir().display().to_string()
}

#[test]
fn analyze_prints_insightface_face_counts_as_json_lines() {
    let t1 = shared("images/t1.jpg");
    let out = facekit(&[
        "analyze",
        "--models",
        &models(),
        "--embeddings",
        t1.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    let faces = lines[0]["faces"].as_array().unwrap();
    // ../shared/models routes det_2.5g + SFace; auto det size.
    assert_eq!(
        (lines[0]["width"].as_u64(), lines[0]["height"].as_u64()),
        (Some(1280), Some(886))
    );
    assert!(faces.len() >= 5, "{} faces", faces.len());
    assert_eq!(faces[0]["embedding"].as_array().unwrap().len(), 128);
    assert_eq!(faces[0]["kps"].as_array().unwrap().len(), 5);
}

/// A pack of det_500m alone.
fn det_500m_pack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        models_dir().join("det_500m.onnx"),
        dir.path().join("det.onnx"),
    )
    .unwrap();
    dir
}

#[test]
fn detect_at_640_matches_the_golden_count() {
    let dir = det_500m_pack();
    let case = golden_cases("insightface-2.1/scrfd500m_sface")
        .into_iter()
        .find(|c| c.image.ends_with("images/group_selfie.jpg"))
        .unwrap();
    let out = facekit(&[
        "detect",
        "--models",
        dir.path().to_str().unwrap(),
        "--det-size",
        "640",
        "640",
        case.image.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(
        lines[0]["faces"].as_array().unwrap().len(),
        case.golden.faces.len()
    );
    assert!(
        lines[0]["faces"][0].get("embedding_norm").is_none(),
        "detect does not embed"
    );
}

/// The test machines' ONNX Runtime is the CPU build: asking for CUDA alone
/// is refused with how to get it, `cuda,cpu` runs on the CPU and says so,
/// and an unknown name is a usage error.
#[test]
fn a_missing_accelerator_is_refused_or_a_reported_fallback() {
    let dir = det_500m_pack();
    let t1 = shared("images/t1.jpg");
    let detect = |providers: &str| {
        facekit(&[
            "detect",
            "--models",
            dir.path().to_str().unwrap(),
            "--provider",
            providers,
            t1.to_str().unwrap(),
        ])
    };
    let refused = detect("cuda");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("execution provider cuda not available")
            && stderr.contains("onnxruntime-gpu"),
        "{stderr}"
    );
    let fallback = detect("cuda,cpu");
    assert_ok(&fallback);
    let stderr = String::from_utf8_lossy(&fallback.stderr);
    assert!(
        stderr.contains("'cuda' is not in this ONNX Runtime build; using cpu"),
        "{stderr}"
    );
    let cpu = detect("cpu");
    assert_ok(&cpu);
    let faces = |out: &Output| stdout_lines(out)[0]["faces"].as_array().unwrap().len();
    assert!(faces(&cpu) > 0);
    assert_eq!(faces(&fallback), faces(&cpu));
    let unknown = detect("tpu");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown execution provider 'tpu'"));
}

#[test]
fn a_folder_with_broken_files_reports_them_and_goes_on() {
    let folder = shared("images/format_edge_cases");
    let out = facekit(&[
        "analyze",
        "--models",
        &models(),
        "--jobs",
        "2",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "some files are unreadable");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 10, "one line per file");
    let errors: Vec<_> = lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert!(
        errors
            .iter()
            .any(|l| l["image"].as_str().unwrap().ends_with("corrupted.png"))
    );
    assert!(
        errors
            .iter()
            .any(|l| l["image"].as_str().unwrap().ends_with("empty.png"))
    );
    let good = lines
        .iter()
        .find(|l| l["image"].as_str().unwrap().ends_with("einstein.jpeg"))
        .unwrap();
    assert_eq!(good["faces"].as_array().unwrap().len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("corrupted.png"), "{stderr}");
    // Output order follows input order even with two jobs.
    let names: Vec<_> = lines
        .iter()
        .map(|l| l["image"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn folders_of_links_are_followed_and_an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let linked = dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(shared("images/t1.jpg"), linked.join("a.jpg")).unwrap();
    std::os::unix::fs::symlink(shared("images/format_edge_cases"), linked.join("edge")).unwrap();
    let out = facekit(&["detect", "--models", &models(), linked.to_str().unwrap()]);
    let lines = stdout_lines(&out);
    assert_eq!(
        lines.len(),
        11,
        "the linked photo and the linked folder's 10 files"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = facekit(&["detect", "--models", &models(), empty.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no image files found"), "{stderr}");
}

#[test]
fn align_draw_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let obama = shared("identities/face_recognition_knn/train/obama");
    let mut photos: Vec<_> = std::fs::read_dir(&obama)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    photos.sort();
    let out = facekit(&[
        "align",
        "--models",
        &models(),
        "--out",
        dir.path().to_str().unwrap(),
        photos[0].to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crop = stdout_lines(&out)[0]["faces"][0]["crop"]
        .as_str()
        .unwrap()
        .to_string();
    let img = image::open(&crop).unwrap();
    assert_eq!((img.width(), img.height()), (112, 112));

    let drawn = dir.path().join("drawn.png");
    let out = facekit(&[
        "draw",
        "--models",
        &models(),
        shared("images/t1.jpg").to_str().unwrap(),
        drawn.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(image::open(&drawn).unwrap().width(), 1280);

    let out = facekit(&[
        "compare",
        "--models",
        &models(),
        photos[0].to_str().unwrap(),
        photos[1].to_str().unwrap(),
    ]);
    let same = &stdout_lines(&out)[0];
    let biden = shared("identities/face_recognition_knn/train/biden");
    let other = std::fs::read_dir(&biden)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = facekit(&[
        "compare",
        "--models",
        &models(),
        photos[0].to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    let different = &stdout_lines(&out)[0];
    assert_eq!(same["same_person"], true, "{same}");
    assert_eq!(different["same_person"], false, "{different}");
    assert!(same["similarity"].as_f64().unwrap() > different["similarity"].as_f64().unwrap());
}

#[test]
fn models_list_and_clear_errors() {
    let out = facekit(&["models", "list", &models()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("det_2.5g.onnx") && text.contains("used"),
        "{text}"
    );
    assert!(
        text.contains("yunet") && text.contains("retinaface"),
        "{text}"
    );

    let out = facekit(&[
        "analyze",
        "--models",
        "no_such_pack_xyz",
        shared("images/t1.jpg").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_pack_xyz"));

    let out = facekit(&[
        "analyze",
        "--models",
        &models(),
        "--det-size",
        "big",
        shared("images/t1.jpg").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--det-size"));

    let out = facekit(&[
        "analyze",
        "--models",
        &models(),
        "--max-pixels",
        "1000",
        shared("images/t1.jpg").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_lines(&out)[0]["error"]
            .as_str()
            .unwrap()
            .contains("above the limit")
    );
}

/// A buffalo_l-shaped pack (synthetic stand-ins for the attribute models):
/// the JSON carries gender, sex, age, 106/68 landmarks and pose.
#[test]
fn analyze_reports_attributes_landmarks_and_pose() {
    let dir = tempfile::tempdir().unwrap();
    for (link, target) in [
        ("det_500m.onnx", "det_500m.onnx"),
        ("genderage.onnx", "synthetic/synthetic_genderage.onnx"),
        ("2d106det.onnx", "synthetic/synthetic_2d106det.onnx"),
        ("1k3d68.onnx", "synthetic/synthetic_1k3d68.onnx"),
    ] {
        std::os::unix::fs::symlink(models_dir().join(target), dir.path().join(link)).unwrap();
    }
    let t1 = shared("images/t1.jpg");
    let pack = dir.path().to_str().unwrap();
    let out = facekit(&["analyze", "--models", pack, t1.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    let face = &lines[0]["faces"][0];
    let sex = face["sex"].as_str().unwrap();
    assert_eq!(sex == "M", face["gender"].as_u64() == Some(1));
    assert!(face["age"].as_u64().is_some());
    assert_eq!(face["landmark_2d_106"].as_array().unwrap().len(), 106);
    let l68 = face["landmark_3d_68"].as_array().unwrap();
    assert_eq!((l68.len(), l68[0].as_array().unwrap().len()), (68, 3));
    assert!(face["pose"]["yaw"].as_f64().is_some());

    // `detect` runs the detector only.
    let out = facekit(&["detect", "--models", pack, t1.to_str().unwrap()]);
    let face = &stdout_lines(&out)[0]["faces"][0];
    assert!(face.get("age").is_none() && face.get("landmark_2d_106").is_none());

    // `draw` shows them.
    let drawn = dir.path().join("drawn.png");
    let out = facekit(&[
        "draw",
        "--models",
        pack,
        t1.to_str().unwrap(),
        drawn.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(drawn.exists());
}

/// `--detector` picks a family from the pack, or any detector file.
#[test]
fn detector_choice_by_family_or_file() {
    let t1 = shared("images/t1.jpg");
    let pack = models();
    let count = |args: &[&str]| {
        let mut all = vec!["detect", "--models", &pack, t1.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = facekit(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_lines(&out)[0]["faces"].as_array().unwrap().len()
    };
    let yunet_golden = golden_cases("opencv-5.0/yunet_sface")
        .into_iter()
        .find(|c| c.image.ends_with("images/t1.jpg"))
        .unwrap();
    let dynamic = models_dir().join("face_detection_yunet_2023mar_dynamic.onnx");
    assert_eq!(
        count(&["--detector", dynamic.to_str().unwrap()]),
        yunet_golden.golden.faces.len()
    );
    assert!(count(&["--detector", "yunet"]) > 0);
    assert!(count(&["--detector", "retinaface"]) > 0);

    let out = facekit(&[
        "detect",
        "--models",
        &models(),
        "--detector",
        "/no/such.onnx",
        t1.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such.onnx"));
}

/// `models fetch` refuses unknown packs and anything whose hash is not the
/// official one, leaving no pack behind.
#[test]
fn models_fetch_verifies_what_it_downloads() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_facekit"))
            .args(args)
            .env("FACEKIT_HOME", home.path())
            .output()
            .unwrap()
    };
    let out = run(&["models", "fetch", "buffalo_xl"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("official packs: buffalo_l, buffalo_m"));

    // A local "mirror" serving a file that is not the official zip.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/buffalo_sc.zip", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.read(&mut [0u8; 4096]);
        let body = b"PK not really a zip";
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body));
    });
    let out = run(&["models", "fetch", "buffalo_sc", "--url", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SHA-256 mismatch"), "{stderr}");
    assert!(
        stderr.contains("57d31b56b6ffa911c8a73cfc1707c73cab76efe7f13b675a05223bf42de47c72"),
        "{stderr}"
    );
    let models_home = home.path().join("models");
    let left: Vec<_> = std::fs::read_dir(&models_home).map_or(Vec::new(), |d| d.collect());
    assert!(left.is_empty(), "{left:?}");
}

/// The gallery from the command line: one person per folder, identify,
/// verify, export/import, delete, and clear errors for bad input.
#[test]
fn gallery_enroll_identify_verify_and_errors() {
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("g.db");
    let run = |args: &[&str]| {
        let mut all = vec!["gallery", "--db", db.to_str().unwrap()];
        all.extend_from_slice(args);
        facekit(&all)
    };
    let people = shared("identities/face_api_bbt");
    assert_ok(&run(&["create", "bbt", "--models", &pack]));
    let out = run(&["enroll", "bbt", people.to_str().unwrap(), "--models", &pack]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out).len(), 40);
    let stats = &stdout_lines(&run(&["stats", "bbt"]))[0];
    assert_eq!(
        (stats["persons"].as_u64(), stats["samples"].as_u64()),
        (Some(8), Some(40))
    );

    let probe = shared("identities/face_api_bbt/raj/raj3.png");
    let out = run(&[
        "identify",
        "bbt",
        probe.to_str().unwrap(),
        "--models",
        &pack,
    ]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["faces"][0]["best"]["key"], "raj");
    let out = run(&[
        "verify",
        "bbt",
        "amy",
        probe.to_str().unwrap(),
        "--models",
        &pack,
    ]);
    assert_eq!(stdout_lines(&out)[0]["same"], false);

    // Export, import into another collection, then delete it.
    let export = run(&["export", "bbt"]);
    assert_ok(&export);
    let file = home.path().join("bbt.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let out = run(&["import", "copy", file.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out).len(), 40);
    assert_ok(&run(&["delete", "copy", "--person", "raj"]));
    assert_eq!(stdout_lines(&run(&["stats", "copy"]))[0]["samples"], 35);
    assert_ok(&run(&["delete", "copy"]));
    assert_eq!(stdout_lines(&run(&["list"])).len(), 1);

    // Bad input: a probe without a face, a missing collection, a corrupt file.
    let no_face = shared("images/no_face_pilatus800.jpg");
    let out = run(&[
        "identify",
        "bbt",
        no_face.to_str().unwrap(),
        "--models",
        &pack,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no face found"));
    let out = run(&[
        "identify",
        "nope",
        probe.to_str().unwrap(),
        "--models",
        &pack,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no collection named 'nope'"));
    let corrupt = home.path().join("corrupt.db");
    std::fs::write(
        &corrupt,
        b"definitely not sqlite, just some bytes that go on for a while....",
    )
    .unwrap();
    let out = facekit(&["gallery", "--db", corrupt.to_str().unwrap(), "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt.db"));
}

/// An encrypted gallery from the command line: `create --encrypt` makes
/// the key file (0600), enrollment and search work through it, exports are
/// sealed and import back with the key, a missing or wrong key is a clear
/// error that leaves the file as it was, and keys rotate.
#[test]
fn encrypted_gallery_from_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("g.db");
    let key = home.path().join("keys/gallery.key");
    let run = |key_args: &[&str], env_key: Option<&str>, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_facekit"));
        command
            .args(["gallery", "--db", db.to_str().unwrap()])
            .args(key_args)
            .args(args)
            .env_remove("FACEKIT_GALLERY_KEY_FILE")
            .env_remove("FACEKIT_GALLERY_KEY");
        if let Some(k) = env_key {
            command.env("FACEKIT_GALLERY_KEY", k);
        }
        command.output().expect("run facekit")
    };
    let with_key = ["--key-file", key.to_str().unwrap()];

    let out = run(
        &[],
        None,
        &["create", "bbt", "--encrypt", "--models", &pack],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--encrypt needs the master key"));
    let out = run(
        &with_key,
        None,
        &["create", "bbt", "--encrypt", "--models", &pack],
    );
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["encrypted"], true);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let people = shared("identities/face_api_bbt");
    let out = run(
        &with_key,
        None,
        &["enroll", "bbt", people.to_str().unwrap(), "--models", &pack],
    );
    assert_ok(&out);
    assert_eq!(stdout_lines(&out).len(), 40);
    let probe = shared("identities/face_api_bbt/raj/raj3.png");
    let probe = probe.to_str().unwrap();
    let out = run(
        &with_key,
        None,
        &["identify", "bbt", probe, "--models", &pack],
    );
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["faces"][0]["best"]["key"], "raj");

    // Sealed export: no embedding in the clear; it imports with the key.
    let export = run(&with_key, None, &["export", "bbt"]);
    assert_ok(&export);
    let text = String::from_utf8(export.stdout).unwrap();
    assert!(text.lines().next().unwrap().contains("\"sealed\""));
    assert!(
        !text.contains("embedding"),
        "the export holds embeddings in the clear"
    );
    let file = home.path().join("bbt.sealed");
    std::fs::write(&file, &text).unwrap();
    let out = run(&with_key, None, &["import", "copy", file.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out).len(), 40);

    // Without the key, or with another: refused, nothing changed.
    let before = std::fs::read(&db).unwrap();
    let out = run(&[], None, &["list"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("is encrypted") && said.contains("--key-file"),
        "{said}"
    );
    let other = "ab".repeat(32);
    let out = run(&[], Some(&other), &["list"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("does not open with this key"), "{said}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a refused open changed the file"
    );

    // Rotation: the new key opens it, the old one no longer does; a key
    // command supplies it as well as a file.
    let new_key = home.path().join("new.key");
    let out = run(
        &with_key,
        None,
        &["keys", "rotate", "--new-key-file", key.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not be the current key file"));
    let out = run(
        &with_key,
        None,
        &[
            "keys",
            "rotate",
            "--new-key-file",
            new_key.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["collections"], 2);
    assert!(!run(&with_key, None, &["list"]).status.success());
    let command = format!("cat {}", new_key.display());
    let out = run(&["--key-command", &command], None, &["stats", "copy"]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["samples"], 40);
    let hex = std::fs::read_to_string(&new_key).unwrap();
    let out = run(
        &[],
        Some(hex.trim()),
        &["identify", "bbt", probe, "--models", &pack],
    );
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["faces"][0]["best"]["key"], "raj");
}

/// `analyze --quality` and liveness (whenever the pack has the models) in
/// the JSON; `gallery enroll --review strict` refuses a photo of another
/// person and goes on; liveness normal refuses a replayed probe, observe
/// and off let it through, and asking for liveness without the models is
/// an error.
#[test]
fn quality_liveness_and_reviewed_enrollment() {
    let pack = facekit_testdata::liveness_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let (real, spoof) = (
        shared("images/liveness/image_T1.jpg"),
        shared("images/liveness/image_F2.jpg"),
    );
    let out = facekit(&[
        "analyze",
        "--models",
        &pack,
        "--quality",
        real.to_str().unwrap(),
        spoof.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2);
    let verdict = |line: &serde_json::Value| line["faces"][0]["liveness"]["is_real"].as_bool();
    assert_eq!(
        (verdict(&lines[0]), verdict(&lines[1])),
        (Some(true), Some(false))
    );
    assert!(lines[0]["faces"][0]["quality"]["score"].as_f64().unwrap() > 0.5);
    let plain = facekit(&["analyze", "--models", &pack, real.to_str().unwrap()]);
    assert!(stdout_lines(&plain)[0]["faces"][0].get("quality").is_none());

    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("g.db");
    let run = |args: &[&str]| {
        let mut all = vec!["gallery", "--db", db.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--models", &pack]);
        facekit(&all)
    };
    let knn = shared("identities/face_recognition_knn/train");
    let photo = |rel: &str| knn.join(rel).display().to_string();
    assert_ok(&run(&["create", "door", "--review", "strict"]));
    assert_ok(&run(&[
        "enroll",
        "door",
        &photo("obama/obama.jpg"),
        "--person",
        "obama",
    ]));
    assert_ok(&run(&[
        "enroll",
        "door",
        &photo("biden/biden.jpg"),
        "--person",
        "biden",
    ]));
    // Biden's photo under Obama's key is refused; Obama's second photo in
    // the same batch still goes in.
    let out = run(&[
        "enroll",
        "door",
        &photo("biden/biden2.jpg"),
        &photo("obama/obama2.jpg"),
        "--person",
        "obama",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stdout_lines(&out);
    let refused: Vec<_> = lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!((lines.len(), refused.len()), (2, 1), "{lines:?}");
    let reason = refused[0]["error"].as_str().unwrap();
    assert!(
        reason.contains("closer_to_other_person")
            && refused[0]["image"]
                .as_str()
                .unwrap()
                .ends_with("biden2.jpg"),
        "{reason} {stderr}"
    );
    let stats = facekit(&["gallery", "--db", db.to_str().unwrap(), "stats", "door"]);
    assert_eq!(stdout_lines(&stats)[0]["samples"], 3);

    let spoofed = run(&["identify", "door", spoof.to_str().unwrap()]);
    assert_eq!(spoofed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&spoofed.stderr).contains("spoof_detected"));
    assert_ok(&run(&[
        "identify",
        "door",
        spoof.to_str().unwrap(),
        "--liveness",
        "observe",
    ]));
    let verify = run(&["verify", "door", "obama", spoof.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&verify.stderr).contains("spoof_detected"));
    let without = facekit(&[
        "gallery",
        "--db",
        db.to_str().unwrap(),
        "identify",
        "door",
        spoof.to_str().unwrap(),
        "--models",
        &scrfd500m_sface_pack().path().display().to_string(),
        "--liveness",
        "normal",
    ]);
    assert!(String::from_utf8_lossy(&without.stderr).contains("needs liveness models"));
}

/// `eval verify` on a `.bin` set writes a report; `eval calibrate` stores a
/// threshold that `compare --far` then uses; `eval detect` computes WIDER AP;
/// bad sets and uncalibrated FARs are clear errors.
#[test]
fn eval_verify_calibrate_compare_and_detect() {
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_facekit"))
            .args(args)
            .env("FACEKIT_HOME", home.path())
            .output()
            .expect("run facekit")
    };
    let bin = shared("verification/lfw_crop90_fold1_600pairs.proto4.bin");
    let bin = bin.to_str().unwrap();
    let report = home.path().join("report");
    let out = run(&[
        "eval",
        "verify",
        "--bin",
        bin,
        "--models",
        &pack,
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let line = &stdout_lines(&out)[0];
    assert_eq!(line["pairs"], 600);
    assert_eq!(line["mode"], "aligned");
    for folds in ["0", "1", "601"] {
        let out = run(&[
            "eval", "verify", "--bin", bin, "--models", &pack, "--folds", folds,
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("folds: give 2 to 600"), "{err}");
    }
    assert!(line["accuracy"].as_f64().unwrap() > 0.8, "{line}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(saved["accuracy"]["mean"], line["accuracy"]);
    assert!(
        saved["settings"]["recognizer_sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );

    // 300 impostor pairs: FAR 1e-2 can be calibrated, 1e-3 cannot.
    let calibrate = |far: &str, mode: &str| {
        run(&[
            "eval",
            "calibrate",
            "--bin",
            bin,
            "--models",
            &pack,
            "--far",
            far,
            "--mode",
            mode,
        ])
    };
    let out = calibrate("1e-3", "aligned");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1000 impostor pairs"));
    // Calibrated on aligned crops: compare, which detects faces, will not
    // use it (it would not deliver its FAR).
    let out = calibrate("1e-2", "aligned");
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("will not use these thresholds"));
    let t1 = shared("images/t1.jpg");
    let t1 = t1.to_str().unwrap();
    let out = run(&["compare", t1, t1, "--models", &pack, "--far", "1e-2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aligned; single embedding") && err.contains("detect; single embedding"),
        "{err}"
    );
    // Calibrated as compare scores: detected faces, no flip.
    let out = calibrate("1e-2", "detect");
    assert_ok(&out);
    let calibrated = &stdout_lines(&out)[0];
    let threshold = calibrated["threshold"].as_f64().unwrap();
    assert_eq!(calibrated["impostor_pairs"], 300);
    let out = run(&["compare", t1, t1, "--models", &pack, "--far", "1e-2"]);
    assert_ok(&out);
    let compared = &stdout_lines(&out)[0];
    assert!((compared["threshold"].as_f64().unwrap() - threshold).abs() < 1e-6);
    assert_eq!(compared["same_person"], true);
    let out = run(&["compare", t1, t1, "--models", &pack, "--far", "1e-5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("eval calibrate"));

    let damaged = home.path().join("damaged.bin");
    std::fs::write(&damaged, &std::fs::read(bin).unwrap()[..5000]).unwrap();
    let out = run(&[
        "eval",
        "verify",
        "--bin",
        damaged.to_str().unwrap(),
        "--models",
        &pack,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("damaged.bin") && err.contains("truncated"),
        "{err}"
    );

    let subset = shared("detection/widerface_val_subset");
    let out = run(&[
        "eval",
        "detect",
        "--gt",
        subset.to_str().unwrap(),
        "--images",
        subset.join("images").to_str().unwrap(),
        "--models",
        &pack,
    ]);
    assert_ok(&out);
    let line = &stdout_lines(&out)[0];
    assert_eq!(line["images"], 10);
    assert_eq!(line["ap"].as_array().unwrap().len(), 3);
}

/// `facekit video`: tracks with thumbnails, analyze → plan → render, and
/// process, on a clip made from a real group photo; a missing ffmpeg is a
/// clear error naming the install command.
#[test]
fn video_tracks_analyze_render_and_process() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("pan.mp4");
    let t1 = shared("images/t1.jpg");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&t1)
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-filter_complex",
            "[0:v]crop=640:480:'min(t*200,640)':100,format=yuv420p[v]",
            "-map",
            "[v]",
            "-map",
            "1:a",
            "-t",
            "2",
            "-r",
            "24",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&clip)
        .status()
        .expect("ffmpeg (bash scripts/setup.sh installs it)");
    assert!(made.success());
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let clip_s = clip.to_str().unwrap();

    let thumbs = dir.path().join("thumbs");
    let out = facekit(&[
        "video",
        "tracks",
        clip_s,
        "--models",
        &pack,
        "--thumbnails",
        thumbs.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let tracks = stdout_lines(&out);
    assert!(tracks.len() >= 4, "{} tracks", tracks.len());
    for t in &tracks {
        assert!(t["end_secs"].as_f64().unwrap() > t["start_secs"].as_f64().unwrap());
        assert_eq!(
            t["best_faces"][0]["embedding"].as_array().unwrap().len(),
            128
        );
        assert!(thumbs.join(format!("track{}.png", t["track"])).is_file());
    }

    // With a gender/age model in the pack, each track's best face is described.
    let described = facekit_testdata::pack_of(&[
        "det_500m.onnx",
        "face_recognition_sface_2021dec_fp32.onnx",
        "synthetic/synthetic_genderage.onnx",
    ]);
    let out = facekit(&[
        "video",
        "tracks",
        clip_s,
        "--models",
        described.path().to_str().unwrap(),
    ]);
    assert_ok(&out);
    for t in stdout_lines(&out) {
        assert!(
            t["best"]["age"].is_u64() && t["best"]["quality"]["score"].is_number(),
            "{t}"
        );
    }

    let plan = dir.path().join("plan.json");
    assert_ok(&facekit(&[
        "video",
        "analyze",
        clip_s,
        "--models",
        &pack,
        "--plan",
        plan.to_str().unwrap(),
        "--style",
        "mosaic",
    ]));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(written["facekit_video_plan"], 1);
    assert_eq!(written["render"]["style"], "mosaic");
    assert_eq!(written["tracks"].as_array().unwrap().len(), tracks.len());
    let rendered = dir.path().join("out.mp4");
    assert_ok(&facekit(&[
        "video",
        "render",
        clip_s,
        "--plan",
        plan.to_str().unwrap(),
        "-o",
        rendered.to_str().unwrap(),
    ]));
    let processed = dir.path().join("processed.mp4");
    let process = |output: &Path| {
        let mut args = vec!["video", "process", clip_s, "--models", &pack, "-o"];
        args.push(output.to_str().unwrap());
        args.iter().map(|a| a.to_string()).collect::<Vec<String>>()
    };
    assert_ok(
        &Command::new(env!("CARGO_BIN_EXE_facekit"))
            .args(process(&processed))
            .output()
            .unwrap(),
    );
    for video in [&rendered, &processed] {
        let probe = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_packets",
                "-show_entries",
                "stream=codec_type,nb_read_packets,width",
                "-of",
                "csv=p=0",
            ])
            .arg(video)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&probe.stdout);
        assert!(
            text.contains("video,640,48") && text.contains("audio"),
            "{text}"
        );
    }

    // Identities from the gallery: a clip of Obama's second photo, Obama
    // and Biden enrolled from their first.
    let knn = shared("identities/face_recognition_knn/train");
    let db = dir.path().join("g.db");
    let gallery = |args: &[&str]| {
        let mut all = vec!["gallery", "--db", db.to_str().unwrap()];
        all.extend_from_slice(args);
        facekit(&all)
    };
    assert_ok(&gallery(&["create", "people", "--models", &pack]));
    for person in ["obama", "biden"] {
        let photo = knn.join(format!("{person}/{person}.jpg"));
        assert_ok(&gallery(&[
            "enroll",
            "people",
            photo.to_str().unwrap(),
            "--person",
            person,
            "--models",
            &pack,
        ]));
    }
    let obama_clip = dir.path().join("obama.mp4");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-t", "1.5", "-i"])
        .arg(knn.join("obama/obama2.jpg"))
        .args([
            "-vf",
            "scale=640:-2,crop=600:400:'t*20':'t*10',format=yuv420p",
            "-r",
            "24",
            "-c:v",
            "libx264",
        ])
        .arg(&obama_clip)
        .status()
        .unwrap();
    assert!(made.success());
    let out = facekit(&[
        "video",
        "tracks",
        obama_clip.to_str().unwrap(),
        "--models",
        &pack,
        "--db",
        db.to_str().unwrap(),
        "--collection",
        "people",
    ]);
    assert_ok(&out);
    let tracks = stdout_lines(&out);
    let longest = tracks
        .iter()
        .max_by_key(|t| t["last_frame"].as_u64().unwrap() - t["first_frame"].as_u64().unwrap())
        .unwrap();
    assert_eq!(longest["identity"]["status"], "confirmed", "{longest}");
    assert_eq!(longest["identity"]["person"], "obama");

    // Without ffmpeg on the PATH: a clear error, no output file.
    let out = Command::new(env!("CARGO_BIN_EXE_facekit"))
        .args(process(&dir.path().join("none.mp4")))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ffprobe is not installed") && stderr.contains("apt-get install ffmpeg"),
        "{stderr}"
    );
    assert!(!dir.path().join("none.mp4").exists());
}

/// A folder of eight people's photos, each file named `<person>_<photo>`.
fn people_photos(dir: &Path) -> PathBuf {
    let photos = dir.join("photos");
    std::fs::create_dir(&photos).unwrap();
    for person in std::fs::read_dir(shared("identities/face_api_bbt")).unwrap() {
        let person = person.unwrap().path();
        for photo in std::fs::read_dir(&person).unwrap() {
            let photo = photo.unwrap().path();
            let name = format!(
                "{}_{}",
                person.file_name().unwrap().to_string_lossy(),
                photo.file_name().unwrap().to_string_lossy()
            );
            std::fs::copy(&photo, photos.join(name)).unwrap();
        }
    }
    photos
}

#[test]
fn cluster_photos_with_thumbnails_a_sheet_and_an_evaluation() {
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Eight people's photos, plus a corrupt file and a photo without faces:
    // both listed, neither fatal.
    let photos = people_photos(dir.path());
    std::fs::copy(
        shared("images/format_edge_cases/corrupted.png"),
        photos.join("corrupted.png"),
    )
    .unwrap();
    std::fs::copy(
        shared("images/no_face_pilatus800.jpg"),
        photos.join("pilatus.jpg"),
    )
    .unwrap();
    let (thumbs, sheet, cache) = (
        dir.path().join("thumbs"),
        dir.path().join("sheet.html"),
        dir.path().join("cache"),
    );
    let out = facekit(&[
        "cluster",
        photos.to_str().unwrap(),
        "--models",
        pack,
        "--thumbnails",
        thumbs.to_str().unwrap(),
        "--sheet",
        sheet.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let result = &stdout_lines(&out)[0];
    let clusters = result["clusters"].as_array().unwrap();
    assert!(
        (8..=10).contains(&clusters.len()),
        "{} clusters",
        clusters.len()
    );
    // Each cluster is one person (file names start with the person).
    for c in clusters {
        let person = |f: &serde_json::Value| {
            let name = Path::new(f["image"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            name.split('_').next().unwrap().to_owned()
        };
        let faces = c["faces"].as_array().unwrap();
        assert_eq!(c["size"].as_u64(), Some(faces.len() as u64));
        assert!(faces.iter().all(|f| person(f) == person(&faces[0])), "{c}");
        assert_eq!(person(&c["representative"]), person(&faces[0]));
        let crops = std::fs::read_dir(thumbs.join(format!("cluster{}", c["cluster"])))
            .unwrap()
            .count();
        assert_eq!(crops, faces.len());
    }
    let skipped: Vec<&str> = result["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["image"].as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    let html = std::fs::read_to_string(&sheet).unwrap();
    assert!(
        html.matches("<img").count() >= 40,
        "every face on the sheet"
    );
    // The cache holds the faces: a second run gives the same answer.
    assert!(std::fs::read_dir(&cache).unwrap().count() == 1);
    let again = facekit(&[
        "cluster",
        photos.to_str().unwrap(),
        "--models",
        pack,
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_ok(&again);
    assert_eq!(stdout_lines(&again)[0]["clusters"], result["clusters"]);

    // The evaluation: both methods on the same embeddings.
    let out = facekit(&[
        "eval",
        "cluster",
        "--images",
        shared("identities/face_api_bbt").to_str().unwrap(),
        "--models",
        pack,
        "--no-cache",
    ]);
    assert_ok(&out);
    let report = &stdout_lines(&out)[0];
    for method in ["facekit", "insightface_gui"] {
        let scores = &report[method]["scores"];
        assert_eq!(scores["people"].as_u64(), Some(8), "{report}");
        assert!(scores["bcubed"]["f"].as_f64().unwrap() > 0.9, "{report}");
        assert_eq!(report[method]["clusters_with_two_faces_of_one_photo"], 0);
    }
    // An empty folder is an error, not an empty answer.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = facekit(&["cluster", empty.to_str().unwrap(), "--models", pack]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no image files"));
}

#[test]
fn gallery_photo_collection_clustered_and_corrected_from_the_command_line() {
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("photos.db");
    let db = db.to_str().unwrap();
    // Eight people's photos (file names start with the person) and a photo without faces.
    let photos = people_photos(dir.path());
    std::fs::copy(
        shared("images/no_face_pilatus800.jpg"),
        photos.join("pilatus.jpg"),
    )
    .unwrap();
    let gallery = |args: &[&str]| {
        let mut all = vec!["gallery", "--db", db];
        all.extend_from_slice(args);
        let out = facekit(&all);
        assert_ok(&out);
        stdout_lines(&out)
    };
    gallery(&["create", "album", "--models", pack]);
    let added = gallery(&["add", "album", photos.to_str().unwrap(), "--models", pack]);
    let mut image_of = std::collections::HashMap::new();
    for line in &added {
        for id in line["samples"].as_array().unwrap() {
            image_of.insert(
                id.as_i64().unwrap(),
                line["image"].as_str().unwrap().to_string(),
            );
        }
    }
    assert_eq!(image_of.len(), 40, "{added:?}");
    let skipped: Vec<_> = added
        .iter()
        .filter(|l| l.get("skipped").is_some())
        .collect();
    assert_eq!(
        skipped.len(),
        1,
        "the photo without faces is listed: {skipped:?}"
    );

    let report = &gallery(&["cluster", "album"])[0];
    assert_eq!(report["placed"], 40);
    assert!(
        report["new_persons"].as_array().unwrap().len() >= 8,
        "{report}"
    );
    let person_of_photo = |id: i64| {
        let image = &image_of[&id];
        Path::new(image)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .split('_')
            .next()
            .unwrap()
            .to_string()
    };
    let holders = || -> std::collections::HashMap<i64, String> {
        gallery(&["faces", "album"])
            .iter()
            .map(|f| {
                (
                    f["id"].as_i64().unwrap(),
                    f["person"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let held = holders();
    let mut by_key: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for (&id, key) in &held {
        by_key.entry(key.clone()).or_default().push(id);
    }
    // Each suggestion is one person.
    for (key, ids) in &by_key {
        if key.is_empty() {
            continue;
        }
        let first = person_of_photo(ids[0]);
        assert!(
            ids.iter().all(|&i| person_of_photo(i) == first),
            "{key}: {ids:?}"
        );
    }
    let mut keys: Vec<(&String, &Vec<i64>)> = by_key
        .iter()
        .filter(|(k, v)| !k.is_empty() && v.len() >= 2)
        .collect();
    keys.sort_by_key(|(k, v)| (std::cmp::Reverse(v.len()), (*k).clone()));
    let (a, b, c, d) = (
        keys[0].0.clone(),
        keys[1].0.clone(),
        keys[2].0.clone(),
        keys[3].0.clone(),
    );
    let (split_face, moved_face, rejected_face) = (by_key[&b][0], by_key[&c][0], by_key[&d][0]);

    let named = &gallery(&["name", "album", &a, "Amy"])[0];
    assert_eq!(
        (named["name"].as_str(), named["suggested"].as_bool()),
        (Some("Amy"), Some(false))
    );
    let merged = &gallery(&["merge", "album", &b, &c])[0];
    assert_eq!(merged["person"]["key"].as_str(), Some(c.as_str()));
    let split = &gallery(&[
        "split",
        "album",
        &c,
        "--faces",
        &split_face.to_string(),
        "--into",
        "split-off",
    ])[0];
    assert_eq!(split["person"]["samples"], 1);
    gallery(&[
        "move",
        "album",
        "--faces",
        &moved_face.to_string(),
        "--to",
        &a,
    ]);
    gallery(&["not-person", "album", &rejected_face.to_string(), &d]);

    let full = &gallery(&["cluster", "album", "--full"])[0];
    assert_eq!(full["full"], true);
    let held = holders();
    assert!(
        by_key[&a].iter().all(|id| held[id] == a),
        "named faces stay"
    );
    assert!(
        by_key[&b]
            .iter()
            .filter(|&&id| id != split_face)
            .all(|id| held[id] == c),
        "merged faces stay"
    );
    assert_eq!(held[&split_face], "split-off");
    assert_eq!(held[&moved_face], a);
    assert_ne!(held[&rejected_face], d);
    // A bad correction is a clear error.
    let out = facekit(&["gallery", "--db", db, "merge", "album", &a, &a]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("into itself"));

    // Export and import keep faces of no person as such.
    let out = facekit(&["gallery", "--db", db, "export", "album"]);
    assert_ok(&out);
    let export = dir.path().join("album.jsonl");
    std::fs::write(&export, &out.stdout).unwrap();
    gallery(&["import", "copy", export.to_str().unwrap()]);
    let copied = gallery(&["faces", "copy"]);
    assert_eq!(copied.len(), 40);
    let loose = |faces: &[serde_json::Value]| faces.iter().filter(|f| f["person"] == "").count();
    assert_eq!(loose(&copied), loose(&gallery(&["faces", "album"])));
}

/// Runs `facekit SUBCOMMAND --db DB ARGS…` as the OS user `tester`, with no
/// gallery key or address from the environment.
fn on_gallery(subcommand: &str, db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facekit"))
        .args([subcommand, "--db", db.to_str().unwrap()])
        .args(args)
        .env("USER", "tester")
        .env_remove("FACEKIT_GALLERY")
        .env_remove("FACEKIT_GALLERY_KEY")
        .env_remove("FACEKIT_GALLERY_KEY_FILE")
        .output()
        .expect("run facekit")
}

/// Checks that `out` succeeded and left exactly one new audit entry, of
/// `operation` by the OS user in a run of its own; returns it.
fn one_entry(
    db: &Path,
    seen: &mut Vec<serde_json::Value>,
    out: &Output,
    operation: &str,
) -> serde_json::Value {
    assert_ok(out);
    let all = stdout_lines(&on_gallery("audit", db, &["show"]));
    assert_eq!(
        all.len(),
        seen.len() + 1,
        "{operation} left {} entries",
        all.len() - seen.len()
    );
    let entry = all.last().unwrap().clone();
    assert_eq!(entry["operation"], operation, "{entry}");
    assert_eq!(entry["actor"], "user:tester");
    assert!(
        seen.iter().all(|e| e["request_id"] != entry["request_id"]),
        "two runs share a request id"
    );
    seen.push(entry.clone());
    entry
}

/// Every gallery command that reads or changes biometric data leaves one
/// audit entry; `audit verify` passes, then names the first broken entry
/// of a copy edited, cut or reordered behind its back; a person's export
/// and erasure; retention and purge.
#[test]
fn audit_trail_and_subject_rights_from_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("g.db");
    let g = |args: &[&str]| on_gallery("gallery", &db, args);
    let photo = |rel: &str| {
        shared(&format!("identities/face_recognition_knn/train/{rel}"))
            .display()
            .to_string()
    };
    let mut seen = Vec::new();

    assert_ok(&g(&["create", "c", "--models", &pack]));
    assert!(stdout_lines(&on_gallery("audit", &db, &["show"])).is_empty());
    let out = g(&[
        "enroll",
        "c",
        &photo("obama/obama.jpg"),
        "--person",
        "obama",
        "--models",
        &pack,
    ]);
    let obama_sample = stdout_lines(&out)[0]["samples"][0].as_i64().unwrap();
    let entry = one_entry(&db, &mut seen, &out, "enroll");
    assert_eq!(
        (entry["persons"].clone(), entry["results"].clone()),
        (json!(["obama"]), json!(1))
    );
    let out = g(&[
        "enroll",
        "c",
        &photo("biden/biden.jpg"),
        "--person",
        "biden",
        "--models",
        &pack,
    ]);
    one_entry(&db, &mut seen, &out, "enroll");
    let out = g(&[
        "identify",
        "c",
        &photo("obama/obama2.jpg"),
        "--models",
        &pack,
    ]);
    let entry = one_entry(&db, &mut seen, &out, "identify");
    assert!(
        entry["persons"]
            .as_array()
            .unwrap()
            .contains(&json!("obama"))
    );
    let out = g(&[
        "verify",
        "c",
        "obama",
        &photo("obama/obama2.jpg"),
        "--models",
        &pack,
    ]);
    one_entry(&db, &mut seen, &out, "verify");
    let out = g(&["export", "c"]);
    assert_eq!(one_entry(&db, &mut seen, &out, "export")["results"], 2);

    let file = home.path().join("obama.json");
    let out = g(&[
        "person",
        "export",
        "c",
        "obama",
        "--out",
        file.to_str().unwrap(),
    ]);
    one_entry(&db, &mut seen, &out, "person_export");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let export: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(export["person"]["key"], "obama");
    assert_eq!(
        export["samples"][0]["embedding"].as_array().unwrap().len(),
        128
    );
    assert_eq!(export["audit"].as_array().unwrap().len(), 4, "{export}");

    let out = g(&["person", "erase", "c", "biden"]);
    let receipt = stdout_lines(&out)[0].clone();
    let entry = one_entry(&db, &mut seen, &out, "erase");
    assert_eq!(receipt["audit_hash"], entry["hash"]);
    assert_eq!(receipt["samples_erased"], 1);
    let out = g(&["delete", "c", "--sample", &obama_sample.to_string()]);
    one_entry(&db, &mut seen, &out, "delete");
    let out = g(&[
        "enroll",
        "c",
        &photo("rose_leslie/img1.jpg"),
        "--person",
        "rose",
        "--models",
        &pack,
    ]);
    one_entry(&db, &mut seen, &out, "enroll");
    let out = g(&["delete", "c", "--person", "rose"]);
    let entry = one_entry(&db, &mut seen, &out, "delete");
    assert_eq!(
        (entry["persons"].clone(), entry["results"].clone()),
        (json!(["rose"]), json!(1))
    );
    let out = g(&["retention", "c", "30"]);
    assert_eq!(stdout_lines(&out)[0]["retention_days"], 30);
    one_entry(&db, &mut seen, &out, "retention");
    let out = g(&["purge"]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["samples_erased"], 0);
    assert_eq!(
        stdout_lines(&on_gallery("audit", &db, &["show"])).len(),
        seen.len()
    );
    let out = g(&["delete", "c"]);
    one_entry(&db, &mut seen, &out, "delete");
    let key = home.path().join("k.key");
    let out = g(&["encrypt", "--key-file", key.to_str().unwrap()]);
    one_entry(&db, &mut seen, &out, "encrypt");
    let new_key = home.path().join("k2.key");
    let out = g(&[
        "keys",
        "rotate",
        "--key-file",
        key.to_str().unwrap(),
        "--new-key-file",
        new_key.to_str().unwrap(),
    ]);
    one_entry(&db, &mut seen, &out, "rotate_keys");

    let out = on_gallery("audit", &db, &["verify"]);
    assert_ok(&out);
    assert_eq!(stdout_lines(&out)[0]["entries"], seen.len());
    let exported = home.path().join("audit.jsonl");
    assert_ok(&on_gallery(
        "audit",
        &db,
        &["export", "--out", exported.to_str().unwrap()],
    ));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&exported)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), seen.len() + 1);
    assert_eq!(lines.last().unwrap()["head"], seen.last().unwrap()["hash"]);
    let only = stdout_lines(&on_gallery("audit", &db, &["show", "--person", "biden"]));
    let ops: Vec<&str> = only
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["enroll", "identify", "erase"], "{only:?}");

    // Tampered copies: verify exits 1 and names the first broken entry.
    for (sql, first_broken) in [
        ("UPDATE audit_log SET results = 7 WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 3", 4),
        (
            "UPDATE audit_log SET seq = -1 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 5; UPDATE audit_log SET seq = 5 WHERE seq = -1;",
            4,
        ),
        (
            "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
            seen.len(),
        ),
    ] {
        let copy = home.path().join("tampered.db");
        std::fs::copy(&db, &copy).unwrap();
        rusqlite::Connection::open(&copy)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let out = on_gallery("audit", &copy, &["verify"]);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains(&format!("entry {first_broken} is broken")),
            "{sql}: {said}"
        );
        std::fs::remove_file(&copy).unwrap();
    }
}

/// The bytes of `v` (little-endian f32) in three 16-byte windows.
fn f32_windows(v: &[f32]) -> Vec<Vec<u8>> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    [0, bytes.len() / 2, bytes.len() - 16]
        .iter()
        .map(|&at| bytes[at..at + 16].to_vec())
        .collect()
}

/// Whether any file of `dir` holds any of `windows`.
fn found_in(dir: &Path, windows: &[Vec<u8>]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
        windows
            .iter()
            .any(|w| bytes.windows(w.len()).any(|b| b == w.as_slice()))
    })
}

/// Samples past `retention_days` are erased by `gallery purge`: their
/// embeddings' bytes are gone from the gallery file and its journal,
/// while the kept samples' bytes are still found (the scan works).
#[test]
fn purged_samples_are_gone_from_the_file() {
    let pack = scrfd500m_sface_pack();
    let pack = pack.path().to_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("gallery");
    std::fs::create_dir(&dir).unwrap();
    let db = dir.join("g.db");
    let g = |args: &[&str]| on_gallery("gallery", &db, args);
    assert_ok(&g(&["create", "p", "--models", &pack]));
    let people = shared("identities/face_recognition_knn/train");
    let enrolled = g(&["enroll", "p", people.to_str().unwrap(), "--models", &pack]);
    assert_ok(&enrolled);
    let mut ids: Vec<(i64, String)> = stdout_lines(&enrolled)
        .iter()
        .flat_map(|line| {
            let person = line["person"].as_str().unwrap().to_string();
            line["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |id| (id.as_i64().unwrap(), person.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    let export = g(&["export", "p"]);
    assert_ok(&export);
    // Samples are exported in enrollment (id) order.
    let records: Vec<serde_json::Value> = stdout_lines(&export).into_iter().skip(1).collect();
    assert_eq!(records.len(), ids.len());
    let embedding = |s: &serde_json::Value| -> Vec<f32> {
        s["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let (mut old, mut kept) = (Vec::new(), Vec::new());
    for ((id, person), record) in ids.iter().zip(&records) {
        assert_eq!(record["person"]["key"], person.as_str());
        if person == "biden" || person == "obama" {
            old.push((*id, embedding(record)));
        } else {
            kept.push(embedding(record));
        }
    }
    assert_eq!((old.len(), kept.len()), (4, 5));
    // Enrolled 40 days ago, as far as the file knows.
    let aged: Vec<String> = old.iter().map(|(id, _)| id.to_string()).collect();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA secure_delete=ON; UPDATE samples SET created_at = created_at - 40 * 86400 WHERE id IN ({});",
        aged.join(",")
    ))
    .unwrap();
    drop(conn);
    let old_bytes: Vec<Vec<u8>> = old.iter().flat_map(|(_, e)| f32_windows(e)).collect();
    let kept_bytes: Vec<Vec<u8>> = kept.iter().flat_map(|e| f32_windows(e)).collect();
    assert!(
        found_in(&dir, &old_bytes),
        "the scan finds nothing before the purge"
    );

    assert_ok(&g(&["retention", "p", "30"]));
    let out = g(&["purge", "p"]);
    assert_ok(&out);
    let report = &stdout_lines(&out)[0];
    assert_eq!(report["samples_erased"], 4);
    assert_eq!(report["persons"], json!(["biden", "obama"]));
    assert!(
        !found_in(&dir, &old_bytes),
        "purged embeddings are still in the files"
    );
    assert!(
        found_in(&dir, &kept_bytes),
        "the kept embeddings are not found"
    );
    let stats = stdout_lines(&g(&["stats", "p"]))[0].clone();
    assert_eq!(stats["samples"], 5);
}

/// The stages `facekit bench` reports, in order.
const STAGES: [&str; 9] = [
    "decode",
    "resize",
    "detect",
    "align",
    "embed",
    "attributes",
    "liveness",
    "quality",
    "idle",
];

/// `facekit bench --json` says where the time went, stage by stage: every
/// stage the pack runs has time, the stages and idle add up to the cores'
/// time, and ONNX Runtime's time lies within the stages that run models.
#[test]
fn bench_breaks_the_time_down_by_stage() {
    let pack = facekit_testdata::pack_of(&[
        "det_500m.onnx",
        "face_recognition_sface_2021dec_fp32.onnx",
        "synthetic/synthetic_genderage.onnx",
        "liveness/2.7_80x80_MiniFASNetV2.onnx",
    ]);
    let photos = [
        shared("images/t1.jpg"),
        shared("images/retinaface_test.jpg"),
    ];
    let mut args = vec![
        "bench",
        "--json",
        "--repeat",
        "1",
        "--jobs",
        "2",
        "--models",
        pack.path().to_str().unwrap(),
    ];
    args.extend(photos.iter().map(|p| p.to_str().unwrap()));
    let out = facekit(&args);
    assert_ok(&out);
    let report = &stdout_lines(&out)[0];
    assert_eq!(report["images"], 2);
    assert!(report["faces"].as_u64().unwrap() >= 5, "{report}");
    let stage = |name: &str| {
        report["stage_seconds"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    // Every stage the pack runs (all but quality) has time.
    for ran in &STAGES[..7] {
        assert!(stage(ran) > 0.0, "{ran} has no time: {report}");
    }
    assert_eq!(stage("quality"), 0.0, "quality is not scored in bench");
    let cores = report["seconds"].as_f64().unwrap() * 2.0;
    let stages: f64 = report["stage_seconds"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(
        (stages - cores).abs() <= 1e-3 * cores + 1e-6,
        "{stages} vs {cores}"
    );
    let models = stage("detect") + stage("embed") + stage("attributes") + stage("liveness");
    let onnxruntime = report["onnxruntime_seconds"].as_f64().unwrap();
    assert!(
        onnxruntime > 0.0 && onnxruntime <= models,
        "{onnxruntime} > {models}"
    );
    assert!(report["load_seconds"].as_f64().unwrap() > 0.0);

    let table = facekit(
        &args[..1]
            .iter()
            .chain(&args[2..])
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_ok(&table);
    let table = String::from_utf8_lossy(&table.stdout);
    for name in STAGES {
        assert!(table.lines().any(|l| l.starts_with(name)), "{table}");
    }
}

#[test]
fn train_runs_facekit_train_beside_it_or_says_how_to_build_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let facekit = dir.path().join("facekit");
    std::fs::copy(env!("CARGO_BIN_EXE_facekit"), &facekit).expect("copy the binary");
    let run = |args: &[&str]| {
        Command::new(&facekit)
            .args(args)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .expect("runs")
    };
    let missing = run(&["train", "--help"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("facekit-train is not installed") && stderr.contains("--features torch"),
        "{stderr}"
    );

    // A stand-in beside the binary gets every argument and decides the status.
    let stand_in = dir.path().join("facekit-train");
    std::fs::write(&stand_in, "#!/bin/sh\necho \"$@\"\nexit 3\n").expect("write");
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let passed = run(&["train", "export", "runs/a b", "--onnx", "out.onnx"]);
    assert_eq!(passed.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&passed.stdout).trim(),
        "export runs/a b --onnx out.onnx"
    );
}
