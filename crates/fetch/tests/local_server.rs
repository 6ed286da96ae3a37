//! Fetching packs from a real HTTP server on 127.0.0.1 that serves a zip
//! built here: the happy path, a wrong zip hash, a wrong file hash, a
//! connection dropped mid-file, an HTTP error, and replacing a pack.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use facekit_fetch::{FetchError, FetchOptions, OFFICIAL_PACKS, PackSpec, fetch_pack};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two fake model files inside a subfolder, as antelopev2.zip nests them.
fn build_zip() -> (Vec<u8>, [(String, Vec<u8>); 2]) {
    let det: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let rec: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut cursor);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory("tiny/", opts).unwrap();
    for (name, data) in [("tiny/det.onnx", &det), ("tiny/rec.onnx", &rec)] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.start_file("tiny/README.txt", opts).unwrap();
    zip.write_all(b"not a model").unwrap();
    zip.finish().unwrap();
    (
        cursor.into_inner(),
        [("det.onnx".into(), det), ("rec.onnx".into(), rec)],
    )
}

/// Serves `/pack.zip` whole, `/drop.zip` cut off halfway (the announced
/// length is the whole zip), anything else as 404. Returns the base URL.
fn serve(body: Arc<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let head = |status: &str, len: usize| {
                format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
            };
            let _ = match path.as_str() {
                "/pack.zip" => stream
                    .write_all(head("200 OK", body.len()).as_bytes())
                    .and_then(|_| stream.write_all(&body)),
                "/drop.zip" => stream
                    .write_all(head("200 OK", body.len()).as_bytes())
                    .and_then(|_| stream.write_all(&body[..body.len() / 2])),
                _ => stream.write_all(head("404 Not Found", 0).as_bytes()),
            };
        }
    });
    base
}

struct Fixture {
    base: String,
    zip_sha: String,
    files: Vec<(String, String)>,
    contents: [(String, Vec<u8>); 2],
    home: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let (zip, contents) = build_zip();
    Fixture {
        zip_sha: sha(&zip),
        files: contents.iter().map(|(n, d)| (n.clone(), sha(d))).collect(),
        base: serve(Arc::new(zip)),
        contents,
        home: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn spec<'a>(&'a self, files: &'a [(&'a str, &'a str)]) -> PackSpec<'a> {
        PackSpec {
            name: "tiny",
            url: "unused",
            sha256: &self.zip_sha,
            size: None,
            files,
        }
    }

    fn file_refs(&self) -> Vec<(&str, &str)> {
        self.files
            .iter()
            .map(|(n, h)| (n.as_str(), h.as_str()))
            .collect()
    }

    fn fetch(
        &self,
        spec: &PackSpec<'_>,
        path: &str,
        force: bool,
    ) -> Result<facekit_fetch::Fetched, FetchError> {
        let options = FetchOptions {
            force,
            progress: None,
        };
        fetch_pack(
            spec,
            &format!("{}{path}", self.base),
            self.home.path(),
            &options,
        )
    }

    /// Nothing but finished packs in the model home: no temp files or folders.
    fn assert_clean(&self, packs: &[&str]) {
        let mut names: Vec<String> = std::fs::read_dir(self.home.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, packs, "leftovers in the model home");
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn a_verified_pack_lands_flat_in_the_model_home() {
    let fx = fixture();
    let files = fx.file_refs();
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |got: u64, total: Option<u64>| seen.lock().unwrap().push((got, total));
    let options = FetchOptions {
        force: false,
        progress: Some(&progress),
    };
    let url = format!("{}/pack.zip", fx.base);
    let fetched = fetch_pack(&fx.spec(&files), &url, fx.home.path(), &options).unwrap();
    assert!(fetched.downloaded);
    assert_eq!(fetched.dir, fx.home.path().join("tiny"));
    for (name, data) in &fx.contents {
        assert_eq!(&read(&fetched.dir, name), data);
    }
    assert!(!fetched.dir.join("README.txt").exists());
    let seen = seen.into_inner().unwrap();
    let (last, total) = *seen.last().unwrap();
    assert_eq!(Some(last), total);
    fx.assert_clean(&["tiny"]);

    // A second fetch finds the pack and downloads nothing.
    let again = fx.fetch(&fx.spec(&files), "/pack.zip", false).unwrap();
    assert!(!again.downloaded);
}

#[test]
fn a_wrong_zip_hash_is_a_clear_error_and_leaves_nothing() {
    let fx = fixture();
    let files = fx.file_refs();
    let mut spec = fx.spec(&files);
    let wrong = "0".repeat(64);
    spec.sha256 = &wrong;
    let err = fx.fetch(&spec, "/pack.zip", false).unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("SHA-256 mismatch") && text.contains(&fx.zip_sha),
        "{text}"
    );
    fx.assert_clean(&[]);
}

#[test]
fn a_wrong_file_hash_inside_a_good_zip_is_refused() {
    let fx = fixture();
    let wrong = "f".repeat(64);
    let files = [
        ("det.onnx", fx.files[0].1.as_str()),
        ("rec.onnx", wrong.as_str()),
    ];
    let err = fx.fetch(&fx.spec(&files), "/pack.zip", false).unwrap_err();
    assert!(
        err.to_string().contains("SHA-256 mismatch for rec.onnx"),
        "{err}"
    );
    fx.assert_clean(&[]);
}

#[test]
fn missing_or_unexpected_files_are_refused() {
    let fx = fixture();
    let files = [
        ("det.onnx", fx.files[0].1.as_str()),
        ("rec.onnx", fx.files[1].1.as_str()),
        ("genderage.onnx", "00"),
    ];
    let err = fx.fetch(&fx.spec(&files), "/pack.zip", false).unwrap_err();
    assert!(err.to_string().contains("missing genderage.onnx"), "{err}");
    let only_det = [("det.onnx", fx.files[0].1.as_str())];
    let err = fx
        .fetch(&fx.spec(&only_det), "/pack.zip", false)
        .unwrap_err();
    assert!(
        err.to_string().contains("unexpected file rec.onnx"),
        "{err}"
    );
    fx.assert_clean(&[]);
}

#[test]
fn a_connection_dropped_mid_file_leaves_nothing() {
    let fx = fixture();
    let files = fx.file_refs();
    let err = fx.fetch(&fx.spec(&files), "/drop.zip", false).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Download { .. } | FetchError::Truncated { .. }
        ),
        "{err}"
    );
    fx.assert_clean(&[]);
}

#[test]
fn an_http_error_names_the_status() {
    let fx = fixture();
    let files = fx.file_refs();
    let err = fx.fetch(&fx.spec(&files), "/nope.zip", false).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    fx.assert_clean(&[]);
}

#[test]
fn force_replaces_an_existing_pack_and_a_failed_refetch_keeps_it() {
    let fx = fixture();
    let files = fx.file_refs();
    let dir = fx.home.path().join("tiny");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("old.onnx"), b"old").unwrap();
    // A failed forced fetch leaves the old pack as it was.
    assert!(fx.fetch(&fx.spec(&files), "/drop.zip", true).is_err());
    assert_eq!(read(&dir, "old.onnx"), b"old");
    let fetched = fx.fetch(&fx.spec(&files), "/pack.zip", true).unwrap();
    assert!(fetched.downloaded);
    assert!(!dir.join("old.onnx").exists());
    assert_eq!(read(&dir, "det.onnx"), fx.contents[0].1);
    fx.assert_clean(&["tiny"]);
}

#[test]
fn the_official_catalog_is_complete() {
    let names: Vec<&str> = OFFICIAL_PACKS.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "buffalo_l",
            "buffalo_m",
            "buffalo_s",
            "buffalo_sc",
            "antelopev2"
        ]
    );
    for pack in OFFICIAL_PACKS {
        assert_eq!(
            pack.url,
            format!(
                "https://github.com/deepinsight/insightface/releases/download/v0.7/{}.zip",
                pack.name
            )
        );
        let hex = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(hex(pack.sha256));
        assert!(pack.files.iter().all(|(_, h)| hex(h)));
        // Every pack has a detector and a recognizer.
        assert!(
            pack.files
                .iter()
                .any(|(f, _)| f.contains("det") || f.starts_with("scrfd"))
        );
        assert!(
            pack.files
                .iter()
                .any(|(f, _)| f.starts_with("w600k") || f.starts_with("glint"))
        );
    }
    // Every pinned file hash is the one PROVENANCE.md (written from the
    // release files, independently of the catalog) lists.
    let provenance =
        std::fs::read_to_string(facekit_testdata::models_dir().join("PROVENANCE.md")).unwrap();
    for pack in OFFICIAL_PACKS {
        for (file, hash) in pack.files {
            assert!(
                provenance.contains(hash),
                "{file} of {}: {hash} is not in PROVENANCE.md",
                pack.name
            );
        }
    }
    // The official files in ../shared (PROVENANCE.md) hash to what the
    // catalog pins for them, in every pack that ships them.
    for (file, packs) in [
        ("det_500m.onnx", &["buffalo_s", "buffalo_sc"][..]),
        ("det_2.5g.onnx", &["buffalo_m"][..]),
    ] {
        let bytes = std::fs::read(facekit_testdata::models_dir().join(file)).unwrap();
        let actual = format!("{:x}", Sha256::digest(&bytes));
        for name in packs {
            let pack = facekit_fetch::official_pack(name).unwrap();
            let pinned = pack.files.iter().find(|(f, _)| *f == file);
            assert_eq!(
                pinned.map(|(_, h)| *h),
                Some(actual.as_str()),
                "{file} in {name}"
            );
        }
    }
}
