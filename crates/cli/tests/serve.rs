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
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role 'root'"));

    let config = dir.path().join("facekit.toml");
    std::fs::write(
        &config,
        format!(
            "gallery = \"{}\"\nkeys = \"{keys}\"\n[server]\nbind = \"127.0.0.1:0\"\nthreshold = 0.35\n[server.limits]\nqueue = 4\nmax_faces = 8\n",
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
    ];
    let (child, url) = serve_with(command, &args);
    assert_eq!(status(&url, None), 200);
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
    let (exit, stderr) = terminate(child);
    assert!(exit.success());
    assert!(stderr.contains("authentication is OFF"), "{stderr}");
    assert!(
        stderr.contains("/v1/collections/none/identify"),
        "requests are logged: {stderr}"
    );
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
