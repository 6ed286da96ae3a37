//! `facekit serve` and `facekit keys` as an operator runs them: keys made
//! and revoked on the command line, a config file, a real request, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use facekit_testdata::{scrfd500m_sface_pack, shared};

fn facekit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_facekit"))
        .args(args)
        .output()
        .expect("run facekit")
}

fn json_line(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// Starts `facekit serve ARGS` and reads the address it prints.
fn serve(args: &[&str]) -> (Child, String) {
    serve_with(Command::new(env!("CARGO_BIN_EXE_facekit")), args)
}

fn serve_with(mut command: Command, args: &[&str]) -> (Child, String) {
    let mut child = command
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start facekit serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = serde_json::from_str::<serde_json::Value>(&line)
        .unwrap_or_else(|_| panic!("no listening line: {line:?}"))["listening"]
        .as_str()
        .unwrap()
        .to_string();
    (child, url)
}

fn status(url: &str, token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(format!("{url}/v1/detect"))
        .content_type("image/jpeg");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let image = std::fs::read(shared("images/t1.jpg")).unwrap();
    req.send(&image[..]).unwrap().status().as_u16()
}

/// Sends SIGTERM and waits; the exit status.
fn terminate(mut child: Child) -> (std::process::ExitStatus, String) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status, stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("facekit serve did not stop within 10 s of SIGTERM");
}

#[test]
fn serve_with_keys_from_the_command_line_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pack = scrfd500m_sface_pack();
    let keys = dir.path().join("keys.db");
    let keys = keys.to_str().unwrap();
    let admin = json_line(&facekit(&[
        "keys", "--keys", keys, "create", "--name", "ops", "--role", "admin",
    ]));
    let reader = json_line(&facekit(&[
        "keys", "--keys", keys, "create", "--name", "door", "--role", "reader",
    ]));
    let reader_token = reader["token"].as_str().unwrap();
    let listed = facekit(&["keys", "--keys", keys, "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2);
    assert!(!listed.contains(reader_token), "list shows a secret");
    let bad_role = facekit(&[
        "keys", "--keys", keys, "create", "--name", "x", "--role", "root",
    ]);
    assert!(
        String::from_utf8_lossy(&bad_role.stderr)
            .contains("role must be reader, writer or admin, not 'root'")
    );

    let config = dir.path().join("facekit.toml");
    std::fs::write(
        &config,
        format!(
            "gallery = \"{}\"\nkeys = \"{keys}\"\nproviders = [\"cpu\"]\n[server]\nbind = \"127.0.0.1:0\"\nthreshold = 0.35\n[server.limits]\nqueue = 4\nmax_faces = 8\n",
            dir.path().join("gallery.db").display()
        ),
    )
    .unwrap();
    let models = pack.path().to_str().unwrap();
    let (child, url) = serve(&["--config", config.to_str().unwrap(), "--models", models]);
    assert_eq!(status(&url, Some(reader_token)), 200);
    assert_eq!(status(&url, None), 401);
    assert_eq!(status(&url, Some(admin["token"].as_str().unwrap())), 200);
    let revoked = json_line(&facekit(&[
        "keys",
        "--keys",
        keys,
        "revoke",
        reader["key"]["id"].as_str().unwrap(),
    ]));
    assert!(revoked["revoked_at"].is_i64());
    assert_eq!(status(&url, Some(reader_token)), 401);
    let (exit, _) = terminate(child);
    assert!(exit.success(), "{exit:?}");

    // Auth off needs the flag and says so. Requests are logged (at debug
    // level too) without their images or embeddings.
    let mut command = Command::new(env!("CARGO_BIN_EXE_facekit"));
    command.env("FACEKIT_LOG", "debug");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--models",
        models,
        "--no-auth",
        "--no-ui",
    ];
    let (child, url) = serve_with(command, &args);
    assert_eq!(status(&url, None), 200);
    assert_eq!(
        call("GET", &format!("{url}/ui/"), None).0,
        404,
        "--no-ui served the console"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let marker = "0.12345679";
    let embedding: Vec<f32> = (0..128)
        .map(|i| if i == 0 { 0.123_456_79 } else { 0.01 })
        .collect();
    let body = serde_json::json!({"embedding": embedding}).to_string();
    agent
        .post(format!("{url}/v1/collections/none/identify?top_k={marker}"))
        .content_type("application/json")
        .send(body.as_bytes())
        .unwrap();
    use base64::Engine;
    let image = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(shared("images/t1.jpg")).unwrap());
    let detect = serde_json::json!({"image": image}).to_string();
    let reply = agent
        .post(format!("{url}/v1/detect"))
        .content_type("application/json")
        .send(detect.as_bytes())
        .unwrap();
    assert_eq!(reply.status(), 200);
    // A person key in the path is personal data too.
    let person = "jane_doe_4711";
    let reply = agent
        .get(format!("{url}/v1/collections/none/persons/{person}"))
        .header("x-request-id", "x".repeat(100_000))
        .call()
        .unwrap();
    assert_eq!(reply.status(), 404);
    let echoed = reply.headers().get("x-request-id").unwrap().len();
    assert!(echoed <= 128, "a {echoed}-byte request id was echoed");
    let (exit, stderr) = terminate(child);
    assert!(exit.success());
    assert!(stderr.contains("authentication is OFF"), "{stderr}");
    assert!(
        stderr.contains("/v1/collections/{collection}/identify"),
        "requests are logged by route: {stderr}"
    );
    assert!(!stderr.contains(person), "a person key reached the log");
    assert!(
        !stderr.contains(marker),
        "an embedding or query reached the log"
    );
    assert!(
        !stderr.contains(&image[100..160]),
        "an image reached the log"
    );

    // A config file with a typo is refused, naming the file and the key.
    std::fs::write(&config, "[server]\nbnid = \"127.0.0.1:0\"\n").unwrap();
    let out = facekit(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--models",
        models,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("facekit.toml") && err.contains("bnid"),
        "{err}"
    );
}

/// An HTTP answer: status and JSON body (null when not JSON).
fn call(method: &str, url: &str, body: Option<(&str, Vec<u8>)>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, Some((content_type, bytes))) => {
            agent.post(url).content_type(content_type).send(&bytes[..])
        }
        _ => agent.post(url).send_empty(),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Top candidates' keys for the first face of a photo, through a server.
fn identified(url: &str, photo: &str, statuses: &mut Vec<u16>) -> Vec<String> {
    let image = std::fs::read(shared(photo)).unwrap();
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/collections/bbt/identify"),
        Some(("image/png", image)),
    );
    statuses.push(status);
    assert_eq!(status, 200, "{body}");
    body["faces"][0]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect()
}

/// The CLI for administration and two servers for traffic, all on one
/// gallery file: what one writes, the others serve at once; what one
/// erases, the others stop returning; no 5xx anywhere.
#[test]
fn the_cli_and_two_servers_share_one_gallery_file() {
    let dir = tempfile::tempdir().unwrap();
    let pack = scrfd500m_sface_pack();
    let models = pack.path().to_str().unwrap();
    let db = dir.path().join("g.db");
    let db = db.to_str().unwrap();
    let keys = dir.path().join("keys.db");
    let server_args = [
        "--bind",
        "127.0.0.1:0",
        "--db",
        db,
        "--keys",
        keys.to_str().unwrap(),
        "--no-auth",
        "--models",
        models,
        "--workers",
        "1",
    ];
    // Killed if the test fails before it stops them.
    struct Servers(Vec<Child>);
    impl Drop for Servers {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let (first, url1) = serve(&server_args);
    let (second, url2) = serve(&server_args);
    let mut servers = Servers(vec![first, second]);
    let cli = |args: &[&str]| {
        let mut all = vec!["gallery", "--db", db];
        all.extend_from_slice(args);
        if args[0] != "delete" {
            all.extend_from_slice(&["--models", models]);
        }
        facekit(&all)
    };
    let bbt = |file: &str| {
        shared(&format!("identities/face_api_bbt/{file}"))
            .display()
            .to_string()
    };
    let mut statuses = Vec::new();

    json_line(&cli(&["create", "bbt"]));
    for person in ["amy", "penny", "raj"] {
        let out = cli(&[
            "enroll",
            "bbt",
            &bbt(&format!("{person}/{person}1.png")),
            "--person",
            person,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Both servers list it and identify from it straight away (no restart,
    // well within a second).
    let started = std::time::Instant::now();
    for url in [&url1, &url2] {
        let (status, body) = call("GET", &format!("{url}/v1/collections"), None);
        statuses.push(status);
        assert!(
            body["collections"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "bbt"),
            "{body}"
        );
        assert_eq!(
            identified(url, "identities/face_api_bbt/amy/amy2.png", &mut statuses)[0],
            "amy"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));

    // Enrolled through one server: the other server and the CLI find it.
    let (status, _) = call(
        "POST",
        &format!("{url1}/v1/collections/bbt/persons"),
        Some(("application/json", br#"{"key": "sheldon"}"#.to_vec())),
    );
    statuses.push(status);
    assert_eq!(status, 201);
    let (status, body) = call(
        "POST",
        &format!("{url1}/v1/collections/bbt/persons/sheldon/faces"),
        Some((
            "image/png",
            std::fs::read(bbt("sheldon/sheldon1.png")).unwrap(),
        )),
    );
    statuses.push(status);
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        identified(
            &url2,
            "identities/face_api_bbt/sheldon/sheldon2.png",
            &mut statuses
        )[0],
        "sheldon"
    );
    let out = cli(&["identify", "bbt", &bbt("sheldon/sheldon2.png")]);
    let line = json_line(&out);
    assert_eq!(line["faces"][0]["matches"][0]["key"], "sheldon", "{line}");

    // Erased by the CLI: neither server returns amy any more.
    json_line(&cli(&["delete", "bbt", "--person", "amy"]));
    for url in [&url1, &url2] {
        let keys = identified(url, "identities/face_api_bbt/amy/amy2.png", &mut statuses);
        assert!(
            !keys.iter().any(|k| k == "amy"),
            "{url} still returns amy: {keys:?}"
        );
    }
    // Dropped by the CLI: a clear 404 from both, never a 500.
    json_line(&cli(&["delete", "bbt"]));
    for url in [&url1, &url2] {
        let (status, body) = call(
            "POST",
            &format!("{url}/v1/collections/bbt/identify"),
            Some(("image/png", std::fs::read(bbt("amy/amy2.png")).unwrap())),
        );
        assert_eq!(status, 404, "{body}");
        statuses.push(status);
    }
    assert!(statuses.iter().all(|&s| s < 500), "{statuses:?}");
    for child in std::mem::take(&mut servers.0) {
        assert!(terminate(child).0.success());
    }
}
