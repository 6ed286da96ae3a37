//! Crash safety: `facekit gallery import` streams samples from stdin and
//! acknowledges each only after its transaction committed; killing it with
//! SIGKILL mid-stream must lose no acknowledged sample and leave nothing
//! half-written, whatever moment the kill lands.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use facekit_gallery::{
    EmbeddingContract, ExportHeader, FaceGallery, Gallery, IndexKind, NewSample, PersonInfo,
    ReviewMode,
};

const DIM: usize = 512;

/// Record `i`'s embedding: deterministic, distinct per record.
fn embedding(i: usize) -> Vec<f32> {
    (0..DIM)
        .map(|d| ((i * 31 + d * 17) % 97) as f32 / 97.0 - 0.5 + i as f32 * 1e-3)
        .collect()
}

fn contract() -> EmbeddingContract {
    EmbeddingContract {
        model_sha256: "cd".repeat(32),
        dimension: DIM,
        preprocessing: "test".into(),
    }
}

/// Runs one import that is killed after `kill_after` acknowledgements;
/// records start at `first`. Returns `(record index, sample id)` acknowledged.
fn import_and_kill(
    db: &std::path::Path,
    first: usize,
    kill_after: usize,
    batch: usize,
) -> Vec<(usize, i64)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_facekit"))
        .args([
            "gallery",
            "--db",
            db.to_str().unwrap(),
            "import",
            "crash",
            "-",
            "--batch",
            &batch.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let header = ExportHeader {
            facekit_gallery: 1,
            collection: "crash".into(),
            contract: contract(),
            index: IndexKind::Exact,
            review: ReviewMode::Off,
            sealed: None,
        };
        let _ = writeln!(stdin, "{}", serde_json::to_string(&header).unwrap());
        // Far more than will be acknowledged; writing stops when the child dies.
        for i in first..first + 100_000 {
            let record = serde_json::json!({
                "person": PersonInfo::new(&format!("p{}", i % 37)),
                "embedding": embedding(i),
            });
            if writeln!(stdin, "{record}").is_err() {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < kill_after {
        let line = lines.next().expect("import ended early").unwrap();
        let ack: serde_json::Value = serde_json::from_str(&line).unwrap();
        acked.push((first + acked.len(), ack["sample"].as_i64().unwrap()));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    writer.join().unwrap();
    acked
}

#[test]
fn kill_9_mid_import_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut acked = Vec::new();
    let mut next = 0;
    for (kill_after, batch) in [(37, 1), (301, 1), (150, 7), (999, 64)] {
        let got = import_and_kill(&db, next, kill_after, batch);
        next += 200_000;
        acked.extend(got);
    }
    let gallery = Gallery::open(&db).expect("the killed imports left a readable database");
    let stored: std::collections::HashMap<i64, Vec<f32>> = gallery
        .samples("crash", None)
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.embedding))
        .collect();
    for (record, id) in &acked {
        let got = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged sample {id} is missing"));
        assert_eq!(
            got,
            &embedding(*record),
            "sample {id} is not record {record}"
        );
    }
    // Samples committed but not yet acknowledged when the kill landed are
    // whole too.
    assert!(stored.values().all(|v| v.len() == DIM));
    assert!(stored.len() >= acked.len());
    eprintln!(
        "{} acknowledged, {} stored after 4 kills",
        acked.len(),
        stored.len()
    );

    // And the file still takes writes.
    gallery
        .enroll(
            "crash",
            &contract(),
            &PersonInfo::new("after"),
            &[NewSample::embedding(embedding(1))],
        )
        .unwrap();
}

/// `kill -9` cannot catch a missing fsync (the page cache outlives the
/// process; a power cut would not), so the order itself is checked: traced
/// with strace, every acknowledgement line is written after a sync of the
/// gallery's files since the one before. With `synchronous=OFF` or
/// `NORMAL` (no sync per commit in WAL mode) this fails.
#[test]
fn every_acknowledgement_follows_a_sync_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("synced.db");
    let input = dir.path().join("import.jsonl");
    let header = ExportHeader {
        facekit_gallery: 1,
        collection: "synced".into(),
        contract: contract(),
        index: IndexKind::Exact,
        review: ReviewMode::Off,
        sealed: None,
    };
    let mut lines = vec![serde_json::to_string(&header).unwrap()];
    for i in 0..20 {
        let record = serde_json::json!({"person": PersonInfo::new(&format!("p{i}")), "embedding": embedding(i)});
        lines.push(record.to_string());
    }
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let trace = dir.path().join("trace.txt");
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,write",
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_facekit"))
        .args(["gallery", "--db", db.to_str().unwrap(), "import", "synced"])
        .arg(&input)
        .args(["--batch", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace (installed by scripts/setup.sh)");
    assert!(status.success());
    let (mut synced, mut acks) = (false, 0);
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        if (line.contains(" fsync(") || line.contains(" fdatasync(")) && line.ends_with("= 0") {
            synced = true;
        } else if line.contains(" write(1, \"{\\\"person\\\"") {
            assert!(
                synced,
                "acknowledgement {acks} was written before any sync since the previous one:\n{line}"
            );
            synced = false;
            acks += 1;
        }
    }
    assert_eq!(acks, 20, "acknowledgements seen in the trace");
}

/// Every file of the gallery at `from` (`.db` and any journal) copied to `to`.
fn copy_gallery(from: &std::path::Path, to: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let source = std::path::PathBuf::from(format!("{}{suffix}", from.display()));
        let target = std::path::PathBuf::from(format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&target);
        if source.exists() {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

/// `gallery encrypt` killed with SIGKILL at five pseudo-random moments of
/// its run (reseal transactions, the final rewrite of the file): each time
/// the gallery opens with its key, every collection plaintext or
/// encrypted, every sample there with its embedding; run again, it
/// finishes the job.
#[test]
fn encrypt_killed_at_random_moments_loses_no_sample() {
    use facekit_gallery::KeySource;
    const COLLECTIONS: usize = 4;
    const PER_COLLECTION: usize = 2500;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.db");
    {
        let gallery = Gallery::open(&plain).unwrap();
        for c in 0..COLLECTIONS {
            let name = format!("c{c}");
            gallery
                .create_collection(&name, &contract(), IndexKind::Exact)
                .unwrap();
            let people: Vec<PersonInfo> =
                (0..50).map(|p| PersonInfo::new(&format!("p{p}"))).collect();
            let samples: Vec<NewSample> = (0..PER_COLLECTION)
                .map(|i| NewSample::embedding(embedding(c * PER_COLLECTION + i)))
                .collect();
            let items: Vec<(&PersonInfo, &NewSample)> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| (&people[i % people.len()], s))
                .collect();
            gallery.enroll_batch(&name, &contract(), &items).unwrap();
        }
    }
    let key_file = dir.path().join("gallery.key");
    KeySource::File(key_file.clone()).load_or_create().unwrap();
    let key = || Some(KeySource::File(key_file.clone()).load().unwrap());
    let encrypt = |db: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_facekit"))
            .args(["gallery", "--db", db.to_str().unwrap(), "--key-file"])
            .arg(&key_file)
            .arg("encrypt")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long an uninterrupted run takes here.
    let full = dir.path().join("full.db");
    copy_gallery(&plain, &full);
    let started = std::time::Instant::now();
    assert!(encrypt(&full).wait().unwrap().success());
    let duration = started.elapsed();
    let check = |db: &std::path::Path| -> usize {
        let gallery =
            Gallery::open_with_key(db, key()).expect("the killed run left a gallery that opens");
        let mut encrypted = 0;
        for c in 0..COLLECTIONS {
            let name = format!("c{c}");
            encrypted += usize::from(gallery.collection(&name).unwrap().encrypted);
            let samples = gallery.samples(&name, None).unwrap();
            assert_eq!(samples.len(), PER_COLLECTION, "samples lost in {name}");
            for (i, s) in samples.iter().enumerate() {
                assert_eq!(
                    s.embedding,
                    embedding(c * PER_COLLECTION + i),
                    "sample {} of {name}",
                    s.id
                );
            }
        }
        encrypted
    };
    assert_eq!(check(&full), COLLECTIONS);

    let mut state: u64 = 0x5eed;
    let mut outcomes = Vec::new();
    for trial in 0..5 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = 0.05 + 0.9 * ((state >> 33) as f64 / (1u64 << 31) as f64);
        let db = dir.path().join(format!("trial{trial}.db"));
        copy_gallery(&plain, &db);
        let mut child = encrypt(&db);
        std::thread::sleep(duration.mul_f64(fraction));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let encrypted = check(&db);
        outcomes.push((fraction, encrypted));
        assert!(
            encrypt(&db).wait().unwrap().success(),
            "the second run failed"
        );
        assert_eq!(check(&db), COLLECTIONS);
    }
    eprintln!("full run {duration:?}; (kill at fraction, collections encrypted): {outcomes:?}");
}
