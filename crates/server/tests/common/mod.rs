//! A real server on 127.0.0.1 (random port, det_500m + SFace, a gallery
//! and key file in a temp folder) and a real HTTP client.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use facekit_monitor::MonitorStore;
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_server::keys::{KeyStore, Role};
use facekit_server::{Server, ServerConfig};
use serde_json::Value;

pub struct TestServer {
    pub url: String,
    pub admin: String,
    pub writer: String,
    pub reader: String,
    pub dir: tempfile::TempDir,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    config: ServerConfig,
    _pack: tempfile::TempDir,
}

pub fn analyzer(pack: &tempfile::TempDir) -> FaceAnalyzer {
    let mut options = AnalyzeOptions::default();
    options.runtime.intra_threads = Some(1);
    FaceAnalyzer::from_pack(pack.path().to_str().unwrap(), options).expect("load det_500m + SFace")
}

/// Starts a server; `tune` adjusts its settings (TLS files, limits…).
pub fn start(tune: impl FnOnce(&mut ServerConfig, &std::path::Path)) -> TestServer {
    start_with(facekit_testdata::scrfd500m_sface_pack(), tune)
}

/// Starts a server over the models of `pack`.
pub fn start_with(
    pack: tempfile::TempDir,
    tune: impl FnOnce(&mut ServerConfig, &std::path::Path),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyStore::open(&dir.path().join("keys.db")).unwrap();
    let token = |role: Role| keys.create(&format!("{role} key"), role).unwrap().1;
    let (admin, writer, reader) = (token(Role::Admin), token(Role::Writer), token(Role::Reader));
    drop(keys);
    let mut config = ServerConfig::default();
    config.limits.workers = 2;
    tune(&mut config, dir.path());
    let (url, stop, thread) = launch(dir.path(), &pack, &config);
    TestServer {
        url,
        admin,
        writer,
        reader,
        dir,
        stop: Mutex::new(Some(stop)),
        thread: Mutex::new(Some(thread)),
        config,
        _pack: pack,
    }
}

/// A server over the gallery, keys and monitors in `dir`, on a new port.
fn launch(
    dir: &std::path::Path,
    pack: &tempfile::TempDir,
    config: &ServerConfig,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let keys = KeyStore::open(&dir.join("keys.db")).unwrap();
    let gallery = dir.join("gallery.db");
    let service = facekit_service::open_audited(gallery.to_str().unwrap(), None).unwrap();
    let monitors = MonitorStore::open(&gallery, None, config.monitor_retention()).unwrap();
    let server = Server::new(analyzer(pack), service, keys, config.clone())
        .unwrap()
        .with_monitors(monitors)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(server.run(listener, async {
                let _ = stopped.await;
            }))
            .unwrap();
    });
    (url, stop, thread)
}

impl TestServer {
    /// Stops the server and starts a new process's worth of it over the
    /// same files (gallery, keys, monitors), on a new port.
    pub fn restart(&mut self) {
        self.shutdown();
        let (url, stop, thread) = launch(self.dir.path(), &self._pack, &self.config);
        self.url = url;
        *self.stop.lock().unwrap() = Some(stop);
        *self.thread.lock().unwrap() = Some(thread);
    }

    /// Begins a graceful shutdown and waits for the server to finish.
    pub fn shutdown(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.lock().unwrap().take() {
            thread.join().unwrap();
        }
    }

    pub fn gallery_path(&self) -> PathBuf {
        self.dir.path().join("gallery.db")
    }

    pub fn keys_path(&self) -> PathBuf {
        self.dir.path().join("keys.db")
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send_empty("GET", path, token)
    }

    pub fn delete(&self, path: &str, token: &str) -> Reply {
        self.send_empty("DELETE", path, Some(token))
    }

    /// A request without a body, by any method.
    pub fn send_empty(&self, method: &str, path: &str, token: Option<&str>) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let reply = Reply::from(agent().run(req.body(()).unwrap()));
        assert_documented(method, path, &reply);
        reply
    }

    /// Sends `body` with `content_type` by `method` (POST, PATCH).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        let url = format!("{}{path}", self.url);
        let mut req = match method {
            "PATCH" => agent().patch(url),
            "PUT" => agent().put(url),
            _ => agent().post(url),
        };
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let reply = Reply::from(req.content_type(content_type).send(body));
        assert_documented(method, path, &reply);
        reply
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            Some(token),
            "application/json",
            body.to_string().as_bytes(),
        )
    }

    /// A multipart/form-data POST of files and text fields.
    pub fn post_multipart(
        &self,
        path: &str,
        token: &str,
        files: &[(&str, &[u8])],
        fields: &[(&str, &str)],
    ) -> Reply {
        let boundary = "facekit-test-boundary-7d1e";
        let mut body = Vec::new();
        for (name, bytes) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.send(
            "POST",
            path,
            Some(token),
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
    }

    /// Whether the server still answers its health check.
    pub fn healthy(&self) -> bool {
        self.get("/healthz", None).status == 200
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The route template of a concrete path (`/v1/collections/a/persons` →
/// `/v1/collections/{collection}/persons`), if the document has one.
fn template_of<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
}

/// Every answer a test gets from a documented route has a status the
/// OpenAPI document lists for it: the whole suite checks the document's
/// responses against what the server really says.
pub fn assert_documented(method: &str, path: &str, reply: &Reply) {
    static DOCUMENT: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(facekit_server::document);
    let Some(template) = template_of(&DOCUMENT, path) else {
        return;
    };
    let operation = &DOCUMENT["paths"][template][method.to_ascii_lowercase()];
    if operation.is_null() {
        return; // the 405 of an undocumented method
    }
    assert!(
        operation["responses"][reply.status.to_string()].is_object(),
        "{method} {template} answered {}, which its OpenAPI entry does not list: {}",
        reply.status,
        reply.text
    );
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A response: status, headers of interest, body parsed as JSON when it is.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    pub text: String,
    pub json: Value,
}

impl From<Result<ureq::http::Response<ureq::Body>, ureq::Error>> for Reply {
    fn from(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Self {
        let mut response = r.expect("an HTTP response");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let (request_id, retry_after) = (header("x-request-id"), header("retry-after"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            request_id,
            retry_after,
            text,
            json,
        }
    }
}

/// The reply's JSON, after checking its status and its request id.
pub fn ok(reply: &Reply, status: u16) -> &Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert!(reply.request_id.is_some(), "no x-request-id");
    &reply.json
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub fn photo(rel: &str) -> Vec<u8> {
    std::fs::read(facekit_testdata::shared(rel)).unwrap()
}

pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
