//! The fuzz targets: what each parses, and its seeds from `../shared`.

use std::path::Path;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::Request;
use facekit_gallery::Gallery;
use facekit_image::{DecodeLimits, decode_bytes};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_server::keys::KeyStore;
use facekit_server::{Server, ServerConfig};
use facekit_testdata::shared;
use tower::ServiceExt;

/// Every target, by name.
pub const TARGETS: [&str; 5] = ["image", "bin", "onnx", "wider", "http"];

/// A parser under test.
pub trait Target {
    /// Real inputs to start from.
    fn seeds(&mut self) -> anyhow::Result<Vec<Vec<u8>>>;
    /// Parses `data`; `Err` describes a bug other than a panic.
    fn run(&mut self, data: &[u8]) -> Result<(), String>;
}

/// The target called `name`.
pub fn target(name: &str) -> anyhow::Result<Box<dyn Target>> {
    Ok(match name {
        "image" => Box::new(Images),
        "bin" => Box::new(Scratch::new(Bin)?),
        "onnx" => Box::new(Onnx),
        "wider" => Box::new(Scratch::new(Wider)?),
        "http" => Box::new(Http::start()?),
        other => bail!("unknown fuzz target '{other}' ({})", TARGETS.join(", ")),
    })
}

/// Files under `dir` (recursively) no larger than `max_bytes`.
fn files_under(dir: &Path, max_bytes: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.with_context(|| dir.display().to_string())?;
        if entry.file_type().is_file() && entry.metadata()?.len() <= max_bytes {
            seeds.push(std::fs::read(entry.path())?);
        }
    }
    Ok(seeds)
}

/// Image decoding (every format, EXIF, size checks).
struct Images;

impl Target for Images {
    fn seeds(&mut self) -> anyhow::Result<Vec<Vec<u8>>> {
        files_under(&shared("images"), 512 * 1024)
    }

    fn run(&mut self, data: &[u8]) -> Result<(), String> {
        let _ = decode_bytes(data, &DecodeLimits::default());
        Ok(())
    }
}

/// ONNX graph scanning (node names, unused inputs, nested subgraphs).
struct Onnx;

impl Target for Onnx {
    fn seeds(&mut self) -> anyhow::Result<Vec<Vec<u8>>> {
        let models = facekit_testdata::models_dir();
        let mut seeds = files_under(&models.join("synthetic"), 4 << 20)?;
        seeds.push(std::fs::read(
            models.join("face_detection_yunet_2023mar.onnx"),
        )?);
        seeds.push(std::fs::read(models.join("det_500m.onnx"))?);
        Ok(seeds)
    }

    fn run(&mut self, data: &[u8]) -> Result<(), String> {
        let _ = facekit_runtime::GraphInfo::scan(data);
        Ok(())
    }
}

/// A target that reads files: each input is written to a scratch folder.
struct Scratch<T> {
    dir: tempfile::TempDir,
    inner: T,
}

impl<T> Scratch<T> {
    fn new(inner: T) -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
            inner,
        })
    }
}

/// How a file-reading target lays out and reads one input.
trait FileTarget {
    fn seeds(&self) -> anyhow::Result<Vec<Vec<u8>>>;
    fn run(&self, dir: &Path, data: &[u8]) -> std::io::Result<()>;
}

impl<T: FileTarget> Target for Scratch<T> {
    fn seeds(&mut self) -> anyhow::Result<Vec<Vec<u8>>> {
        self.inner.seeds()
    }

    fn run(&mut self, data: &[u8]) -> Result<(), String> {
        self.inner
            .run(self.dir.path(), data)
            .map_err(|e| format!("scratch file: {e}"))
    }
}

/// InsightFace `.bin` verification sets (the pickle reader and the set).
struct Bin;

impl FileTarget for Bin {
    fn seeds(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        files_under(&shared("verification"), 4 << 20)
    }

    fn run(&self, dir: &Path, data: &[u8]) -> std::io::Result<()> {
        let path = dir.join("set.bin");
        std::fs::write(&path, data)?;
        let _ = facekit_eval::read_bin(&path);
        Ok(())
    }
}

/// WIDER FACE ground truth: the text layout (first byte even) or the
/// `.mat` files (odd).
struct Wider;

impl FileTarget for Wider {
    fn seeds(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let gt = shared("detection/widerface_val_gt");
        let text = std::fs::read(gt.join("wider_face_val_bbx_gt.reconstructed.txt"))?;
        // The head of the text file (a few hundred images), tagged even.
        let mut head = vec![0u8];
        head.extend_from_slice(&text[..text.len().min(32 * 1024)]);
        let mut seeds = vec![head];
        for mat in ["wider_easy_val.mat", "wider_face_val.mat"] {
            let mut seed = vec![1u8];
            seed.extend(std::fs::read(gt.join(mat))?);
            seeds.push(seed);
        }
        Ok(seeds)
    }

    fn run(&self, dir: &Path, data: &[u8]) -> std::io::Result<()> {
        let Some((&tag, body)) = data.split_first() else {
            return Ok(());
        };
        for entry in std::fs::read_dir(dir)? {
            std::fs::remove_file(entry?.path())?;
        }
        if tag % 2 == 0 {
            std::fs::write(dir.join("wider_face_val_bbx_gt.txt"), body)?;
            std::fs::write(dir.join("difficulty_gt_index.json"), r#"{"subsets": {}}"#)?;
        } else {
            for mat in [
                "wider_face_val.mat",
                "wider_easy_val.mat",
                "wider_medium_val.mat",
                "wider_hard_val.mat",
            ] {
                std::fs::write(dir.join(mat), body)?;
            }
        }
        let _ = facekit_eval::read_ground_truth(dir);
        Ok(())
    }
}

/// HTTP requests through the real router (authentication off, det_500m +
/// SFace, a gallery with one collection). An input is a request line
/// `METHOD PATH CONTENT-TYPE`, a newline, then the body.
struct Http {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Http {
    fn start() -> anyhow::Result<Self> {
        let pack = facekit_testdata::scrfd500m_sface_pack();
        let mut options = AnalyzeOptions::default();
        options.runtime.intra_threads = Some(1);
        let analyzer =
            FaceAnalyzer::from_pack(pack.path().to_str().context("pack path")?, options)?;
        let dir = tempfile::tempdir()?;
        let gallery = Gallery::open(&dir.path().join("gallery.db"))?;
        let keys = KeyStore::open(&dir.path().join("keys.db"))?;
        let mut config = ServerConfig {
            auth: false,
            ..ServerConfig::default()
        };
        config.limits.workers = 1;
        config.limits.request_timeout_secs = 10.0;
        let service = facekit_service::FaceService::new(std::sync::Arc::new(gallery));
        let server = Server::new(analyzer, service, keys, config)?;
        let router = server.router_service();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let mut http = Self {
            runtime,
            router,
            _dirs: (dir, pack),
        };
        http.run(b"POST /v1/collections application/json\n{\"name\": \"c\"}")
            .map_err(anyhow::Error::msg)?;
        Ok(http)
    }
}

impl Target for Http {
    fn seeds(&mut self) -> anyhow::Result<Vec<Vec<u8>>> {
        let photo = std::fs::read(shared("images/t1.jpg"))?;
        let small = std::fs::read(shared("identities/face_api_bbt/amy/amy1.png"))?;
        let b64 = |bytes: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let embedding = serde_json::json!(vec![0.1f32; 128]).to_string();
        let with = |line: &str, body: &[u8]| [line.as_bytes(), b"\n", body].concat();
        let boundary = "fkfuzz";
        let multipart = [
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
            &small,
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"top_k\"\r\n\r\n3\r\n--{boundary}--\r\n").as_bytes(),
        ]
        .concat();
        Ok(vec![
            with("POST /v1/detect image/jpeg", &photo),
            with("POST /v1/detect?embeddings=true image/png", &small),
            with("POST /v1/embed application/json", format!("{{\"image\": \"{}\"}}", b64(&small)).as_bytes()),
            with(&format!("POST /v1/collections/c/identify multipart/form-data;boundary={boundary}"), &multipart),
            with("POST /v1/collections/c/identify application/json", format!("{{\"embedding\": {embedding}, \"top_k\": 2}}").as_bytes()),
            with("POST /v1/collections/c/persons application/json", br#"{"key": "ann", "name": "Ann", "metadata": {"a": [1, 2]}}"#),
            with("POST /v1/collections/c/persons/ann/faces application/json", format!("{{\"embedding\": {embedding}}}").as_bytes()),
            with("POST /v1/collections/c/persons/ann/verify?threshold=0.4 application/json", format!("{{\"embedding\": {embedding}}}").as_bytes()),
            with("POST /v1/collections application/json", br#"{"name": "d", "index": "hnsw", "contract": {"model_sha256": "ab", "dimension": 4, "preprocessing": "x"}}"#),
            with("GET /v1/collections/c/persons?offset=0&limit=5 application/json", b""),
            with("POST /v1/compare application/json", format!("{{\"image1\": \"{}\", \"image2\": \"{}\"}}", b64(&small), b64(&small)).as_bytes()),
        ])
    }

    fn run(&mut self, data: &[u8]) -> Result<(), String> {
        let (line, body) = match data.iter().position(|&b| b == b'\n') {
            Some(at) => (&data[..at], &data[at + 1..]),
            None => (data, &[][..]),
        };
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split(' ');
        let (method, path, content_type) = (
            parts.next().unwrap_or("POST"),
            parts.next().unwrap_or("/v1/detect"),
            parts.next().unwrap_or("application/json"),
        );
        // Requests no client could send (a bad URI or header) never reach the server.
        let Ok(request) = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("content-length", body.len())
            .body(Body::from(body.to_vec()))
        else {
            return Ok(());
        };
        let router = self.router.clone();
        let status = self.runtime.block_on(async move {
            let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            axum::body::to_bytes(response.into_body(), 64 << 20)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(status)
        })?;
        if status.is_server_error() && status.as_u16() != 503 {
            return Err(format!("{status} on '{line}'"));
        }
        Ok(())
    }
}
