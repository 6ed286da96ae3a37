//! The API's contract as client developers use it: the served document
//! passes a standard OpenAPI validator, documents every route the router
//! serves and nothing else, states each route's role truly, and a Python
//! client generated from it (openapi-python-client) works against a real
//! server. The tools come from PyPI into `.facekit/openapi-venv`
//! (`scripts/openapi-tools.sh`).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::start;
use serde_json::Value;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The venv's bin folder with the pinned tools (installed once).
fn tools() -> &'static Path {
    static TOOLS: OnceLock<PathBuf> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/openapi-tools.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run scripts/openapi-tools.sh");
        assert!(
            out.status.success(),
            "scripts/openapi-tools.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Runs a command, failing the test with its output when it fails.
fn run(command: &mut Command) -> String {
    let out = command.output().expect("start the command");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

fn served_document(s: &common::TestServer, dir: &Path) -> PathBuf {
    let reply = s.get("/openapi.json", None);
    assert_eq!(reply.status, 200);
    let path = dir.join("openapi.json");
    std::fs::write(&path, &reply.text).unwrap();
    path
}

#[test]
fn served_document_passes_the_openapi_validator() {
    let s = start(|_, _| {});
    let dir = tempfile::tempdir().unwrap();
    let doc = served_document(&s, dir.path());
    let said = run(Command::new(tools().join("openapi-spec-validator")).arg(&doc));
    assert!(said.contains("OK"), "{said}");

    // The validator can fail: the declaration this issue fixed (a query
    // parameter declared in the path) is refused.
    let mut broken: Value = serde_json::from_str(&std::fs::read_to_string(&doc).unwrap()).unwrap();
    let params = &mut broken["paths"]["/v1/collections/{collection}/persons"]["get"]["parameters"];
    let limit = params
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "limit")
        .expect("limit is documented");
    assert_eq!(limit["in"], "query");
    limit["in"] = "path".into();
    let broken_path = dir.path().join("broken.json");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let out = Command::new(tools().join("openapi-spec-validator"))
        .arg(&broken_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a path parameter missing from the path passed"
    );
}

/// Route templates of the server's router. axum has no listing API; its
/// `Debug` names every matched path, which is what this test needs.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let start = debug.find("paths: {").expect("axum's Debug lists paths") + "paths: {".len();
    // The quoted strings up to the map's closing brace (braces inside the
    // quotes are path parameters).
    let (mut paths, mut quoted, mut current) = (BTreeSet::new(), false, String::new());
    for c in debug[start..].chars() {
        match (c, quoted) {
            ('"', false) => quoted = true,
            ('"', true) => {
                quoted = false;
                paths.insert(std::mem::take(&mut current));
            }
            ('}', false) => break,
            (c, true) => current.push(c),
            _ => {}
        }
    }
    paths
}

#[test]
fn every_served_route_is_documented_and_nothing_else() {
    let doc = facekit_server::document();
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let pack = facekit_testdata::scrfd500m_sface_pack();
    let dir = tempfile::tempdir().unwrap();
    let server = facekit_server::Server::new(
        common::analyzer(&pack),
        facekit_service::FaceService::new(std::sync::Arc::new(
            facekit_gallery::Gallery::open(&dir.path().join("g.db")).unwrap(),
        )),
        facekit_server::keys::KeyStore::open(&dir.path().join("k.db")).unwrap(),
        facekit_server::ServerConfig::default(),
    )
    .unwrap();
    let mut served = router_paths(&server.router_service());
    assert!(served.len() >= 17, "{served:?}");
    // The web console's static files are pages, not API operations.
    for page in ["/", "/ui", "/ui/", "/ui/{file}"] {
        assert!(served.remove(page), "the console's {page} is not served");
    }
    assert_eq!(served, documented, "served routes ≠ documented routes");

    // Per path, the documented methods are served and the others are 405.
    let s = start(|_, _| {});
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .replace("{collection}", "c")
            .replace("{person}", "p")
            .replace("{face_id}", "1")
            .replace("{id}", "k");
        for method in METHODS {
            let reply = s.send_empty(method, &path, Some(&s.admin));
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            let fallback = reply.code() == "method_not_allowed"
                || reply.json["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no such endpoint");
            assert_eq!(
                !fallback, documented,
                "{method} {template}: documented {documented}, answered {} {}",
                reply.status, reply.text
            );
            if !documented {
                assert_eq!(reply.status, 405, "{method} {template}");
            }
        }
    }
}

#[test]
fn documented_roles_are_the_ones_enforced() {
    let doc = facekit_server::document();
    let s = start(|_, _| {});
    let rank = |role: &str| {
        ["reader", "writer", "admin"]
            .iter()
            .position(|r| *r == role)
    };
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        if !template.starts_with("/v1/") {
            continue;
        }
        let path = template
            .replace("{collection}", "c")
            .replace("{person}", "p")
            .replace("{face_id}", "1")
            .replace("{id}", "k");
        for (method, operation) in item.as_object().unwrap() {
            let role = operation["security"][0]["api_key"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {template} names no role"));
            let needed = rank(role).unwrap_or_else(|| panic!("odd role {role}"));
            let method = method.to_ascii_uppercase();
            for (key, has) in [(&s.reader, 0), (&s.writer, 1), (&s.admin, 2)] {
                let reply = s.send_empty(&method, &path, Some(key));
                assert_eq!(
                    reply.status == 403,
                    has < needed,
                    "{method} {template} documented for {role}: key of rank {has} got {} {}",
                    reply.status,
                    reply.text
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} operations checked");
}

#[test]
fn generated_python_client_works_against_a_real_server() {
    let s = start(|_, _| {});
    let dir = tempfile::tempdir().unwrap();
    let doc = served_document(&s, dir.path());
    let bin = tools();
    let path_var = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/openapi-python-client.yaml");
    let out = dir.path().join("client");
    let said = run(Command::new(bin.join("openapi-python-client"))
        .env("PATH", &path_var)
        .args(["generate", "--path"])
        .arg(&doc)
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(&out));
    assert!(
        !said.contains("Warning"),
        "the generator warned about the document:\n{said}"
    );
    assert!(out.join("facekit_client/api/search/identify.py").is_file());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/client/use_generated_client.py");
    let said = run(Command::new(bin.join("python"))
        .env("PYTHONPATH", &out)
        .env("FACEKIT_URL", &s.url)
        .env("FACEKIT_ADMIN", &s.admin)
        .env("FACEKIT_WRITER", &s.writer)
        .env("FACEKIT_READER", &s.reader)
        .env("FACEKIT_SHARED", facekit_testdata::shared_dir())
        .arg(&script));
    assert!(said.contains("every call answered as documented"), "{said}");
}
