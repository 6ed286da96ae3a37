//! RecordIO against MXNet 1.9.1 itself (PyPI, in `.facekit/mxnet-venv`):
//! MXNet writes a face dataset from LFW photos and facekit reads back every
//! record byte for byte; facekit writes one and MXNet reads it back.

use std::path::{Path, PathBuf};
use std::process::Command;

use facekit_train::recordio::{ImageHeader, IndexedReader, IndexedWriter, MAGIC, RecordIoError};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn mxnet(args: &[&Path]) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".facekit/mxnet-venv");
    // Made once for the tests that run side by side.
    static MADE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if !*made {
        let status = Command::new("bash")
            .arg(root.join("scripts/tool-venv.sh"))
            .arg(&venv)
            .arg("mxnet==1.9.1 numpy==1.23.5")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("bash runs");
        assert!(status.success(), "the MXNet venv could not be made");
        *made = true;
    }
    drop(made);
    let out = Command::new(venv.join("bin/python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mxnet_recordio.py"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON manifest")
}

/// Twenty LFW photos of five people with at least four each.
fn lfw_photos() -> Vec<PathBuf> {
    let root = facekit_testdata::shared("lfw/lfw_crop90");
    let mut people: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    people.sort();
    let mut photos = Vec::new();
    for person in people {
        let mut own: Vec<_> = std::fs::read_dir(&person)
            .expect("person folder")
            .map(|e| e.expect("entry").path())
            .collect();
        own.sort();
        if own.len() >= 4 {
            photos.extend(own.into_iter().take(4));
        }
        if photos.len() == 20 {
            break;
        }
    }
    assert_eq!(photos.len(), 20);
    photos
}

fn magic_payload() -> Vec<u8> {
    let magic = MAGIC.to_le_bytes();
    [
        &b"ab"[..],
        &magic,
        b"cd",
        &magic,
        &[b'e'; 8],
        &magic,
        &magic,
        b"tail",
    ]
    .concat()
}

#[test]
fn facekit_reads_every_record_mxnet_wrote() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = lfw_photos();
    let mut args: Vec<&Path> = vec![Path::new("write"), dir.path()];
    args.extend(photos.iter().map(PathBuf::as_path));
    let manifest = mxnet(&args);
    let mut reader =
        IndexedReader::open(dir.path().join("train.rec"), dir.path().join("train.idx"))
            .expect("opens");
    assert_eq!(reader.len(), photos.len() + 2);
    let keys = reader.image_keys().expect("header record");
    assert_eq!(keys, (1..=photos.len() as u64 + 1).collect::<Vec<_>>());
    let (header, rest) = reader.image(0).expect("header");
    assert_eq!(header.flag, 2);
    assert_eq!(header.labels, vec![22.0, 27.0]); // 21 records + 1, and 5 classes after
    assert!(rest.is_empty());
    let mut expected: Vec<Vec<u8>> = photos
        .iter()
        .map(|p| std::fs::read(p).expect("photo"))
        .collect();
    expected.push(magic_payload());
    for (key, payload) in keys.iter().zip(&expected) {
        let (header, bytes) = reader.image(*key).expect("record");
        let reference = &manifest[key.to_string()];
        assert_eq!(&bytes, payload, "record {key}");
        assert_eq!(header.id, *key);
        assert_eq!(
            header.class(),
            reference["label"].as_f64().expect("label") as f32
        );
    }
    // Photos 0-3 are the first person, 16-19 the fifth.
    assert_eq!(reader.image(1).expect("first").0.class(), 0.0);
    assert_eq!(reader.image(20).expect("last photo").0.class(), 4.0);
}

#[test]
fn mxnet_reads_every_record_facekit_wrote() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = lfw_photos();
    let mut writer =
        IndexedWriter::create(dir.path().join("train.rec"), dir.path().join("train.idx"))
            .expect("creates");
    let mut payloads: Vec<Vec<u8>> = photos
        .iter()
        .map(|p| std::fs::read(p).expect("photo"))
        .collect();
    payloads.push(magic_payload());
    payloads.push(Vec::new());
    for (key, payload) in payloads.iter().enumerate() {
        let header = ImageHeader::for_class(key as u32 / 4, key as u64);
        writer
            .write(key as u64, &header.pack(payload))
            .expect("writes");
    }
    writer.finish().expect("flushes");
    let manifest = mxnet(&[Path::new("read"), dir.path()]);
    let records = manifest.as_object().expect("object");
    assert_eq!(records.len(), payloads.len());
    for (key, payload) in payloads.iter().enumerate() {
        let entry = &manifest[key.to_string()];
        assert_eq!(
            entry["bytes"].as_u64(),
            Some(payload.len() as u64),
            "record {key}"
        );
        let digest: String = Sha256::digest(payload)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            entry["sha256"].as_str(),
            Some(digest.as_str()),
            "record {key}"
        );
        assert_eq!(entry["label"].as_f64(), Some((key / 4) as f64));
    }
}

#[test]
fn corrupt_files_are_errors_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (rec, idx) = (dir.path().join("train.rec"), dir.path().join("train.idx"));
    let mut writer = IndexedWriter::create(&rec, &idx).expect("creates");
    writer
        .write(0, &ImageHeader::for_class(3, 0).pack(b"payload"))
        .expect("writes");
    writer
        .write(1, &ImageHeader::for_class(4, 1).pack(b"second"))
        .expect("writes");
    writer.finish().expect("flushes");
    let good = std::fs::read(&rec).expect("rec");

    // A length field claiming 500 MB: refused before allocating it.
    let mut huge = good.clone();
    huge[4..8].copy_from_slice(&(500u32 << 20).to_le_bytes());
    std::fs::write(&rec, &huge).expect("writes");
    let mut reader = IndexedReader::open(&rec, &idx).expect("opens");
    let message = reader.record(0).expect_err("too long").to_string();
    assert!(
        message.contains("train.rec") && message.contains("longer than"),
        "{message}"
    );

    // Bad magic where the index points.
    let mut bad = good.clone();
    bad[0] = 0;
    std::fs::write(&rec, &bad).expect("writes");
    let mut reader = IndexedReader::open(&rec, &idx).expect("opens");
    let message = reader.record(0).expect_err("bad magic").to_string();
    assert!(
        message.contains("magic") && message.contains("at byte 0"),
        "{message}"
    );
    assert_eq!(
        reader.image(1).expect("the other record is fine").0.class(),
        4.0
    );

    // Truncated file.
    std::fs::write(&rec, &good[..good.len() - 6]).expect("writes");
    let mut reader = IndexedReader::open(&rec, &idx).expect("opens");
    assert!(matches!(
        reader.record(1),
        Err(RecordIoError::Corrupt { .. })
    ));
    assert!(matches!(
        reader.record(9),
        Err(RecordIoError::NoKey { key: 9, .. })
    ));

    // An index that is not one.
    std::fs::write(&idx, "0\t0\nnot an index line\n").expect("writes");
    let message = IndexedReader::open(&rec, &idx)
        .err()
        .expect("bad index")
        .to_string();
    assert!(message.contains("train.idx: line 2"), "{message}");
    std::fs::write(&idx, vec![b'7'; 10_000]).expect("writes");
    let message = IndexedReader::open(&rec, &idx)
        .err()
        .expect("binary index")
        .to_string();
    assert!(message.contains("longer than"), "{message}");

    // A record shorter than MXNet's header.
    assert!(ImageHeader::unpack(5, &[0; 10]).is_err());
}
