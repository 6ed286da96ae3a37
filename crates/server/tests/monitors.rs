//! Live cameras against a real stream: ffmpeg publishes a video made from
//! ../shared photos as MJPEG over HTTP on 127.0.0.1 (paced in real time),
//! a monitor watches it with det_500m + SFace and a collection enrolled
//! from ../shared/identities, and the events arrive over Server-Sent
//! Events at the times the video's schedule says.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use facekit_testdata::shared;
use serde_json::{Value, json};

const OBAMA_ENROLLED: &str = "identities/face_recognition_knn/train/obama/obama2.jpg";
const OBAMA_SEEN: &str = "identities/face_recognition_knn/train/obama/obama.jpg";
const BIDEN: &str = "identities/face_recognition_knn/train/biden/biden.jpg";
const STRANGER: &str = "identities/face_recognition_knn/train/alex_lacamoire/img1.jpg";
const EMPTY: &str = "images/no_face_pilatus800.jpg";

/// The video's schedule: (photo, seconds), at 10 frames/s, 640×480.
const SCHEDULE: [(&str, f64); 5] = [
    (EMPTY, 2.0),
    (OBAMA_SEEN, 5.0),
    (EMPTY, 5.0),
    (STRANGER, 5.0),
    (EMPTY, 3.0),
];

/// Analysed frames per second, and the policy's absence timeout.
const FPS: f64 = 4.0;
const ABSENCE: f64 = 2.0;
/// What the stream's clock may be off by (ffmpeg's buffering on both ends).
const SLACK: f64 = 0.6;

fn make_video(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("door.mp4");
    let fit = "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=10,format=yuv420p";
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    let mut graph = String::new();
    for (i, (photo, seconds)) in SCHEDULE.iter().enumerate() {
        cmd.args(["-loop", "1", "-t", &seconds.to_string(), "-i"])
            .arg(shared(photo));
        graph.push_str(&format!("[{i}]{fit}[v{i}];"));
    }
    for i in 0..SCHEDULE.len() {
        graph.push_str(&format!("[v{i}]"));
    }
    graph.push_str(&format!("concat=n={}:v=1:a=0", SCHEDULE.len()));
    let status = cmd
        .args(["-filter_complex", &graph, "-c:v", "libx264", "-g", "10"])
        .arg(&out)
        .status()
        .expect("ffmpeg (installed by scripts/setup.sh)");
    assert!(status.success(), "making the test video failed");
    out
}

/// When (stream seconds) segment `i` of the schedule starts.
fn starts_at(i: usize) -> f64 {
    SCHEDULE[..i].iter().map(|s| s.1).sum()
}

/// ffmpeg serving `video` once, in real time, as MJPEG over HTTP.
struct Publisher(Child);

impl Publisher {
    fn start(video: &Path, port: u16) -> Self {
        let child = Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(video)
            .args(["-c:v", "mjpeg", "-q:v", "4", "-f", "mpjpeg", "-listen", "1"])
            .arg(format!("http://127.0.0.1:{port}/door"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg");
        Self(child)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The events of a Server-Sent Events stream, as they arrive.
fn listen(url: String, token: String) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let reply = common::agent()
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("the event stream");
        assert_eq!(reply.status(), 200);
        let content_type = reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let reader = BufReader::new(reply.into_body().into_reader());
        let (mut id, mut kind) = (String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().into();
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().into();
            } else if let Some(data) = line.strip_prefix("data:") {
                let event: Value = serde_json::from_str(data.trim()).unwrap();
                assert_eq!(
                    event["seq"].to_string(),
                    id,
                    "the SSE id is the event's seq"
                );
                assert_eq!(
                    event["kind"],
                    kind.as_str(),
                    "the SSE event name is its kind"
                );
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Events from `rx` until one of `kind` (returned with those before it).
fn until(rx: &mpsc::Receiver<Value>, kind: &str, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(event) => {
                let done = event["kind"] == kind;
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no {kind} event within {within:?}; saw {seen:#?}"),
        }
    }
}

/// `events` without a first connection that failed because the monitor
/// started before the publisher listened (a `source_lost` and its
/// `source_recovered`: nothing may probe ffmpeg's one-client server first).
fn after_startup(events: &[Value]) -> &[Value] {
    match events {
        [lost, recovered, rest @ ..]
            if lost["kind"] == "source_lost" && recovered["kind"] == "source_recovered" =>
        {
            rest
        }
        _ => events,
    }
}

fn stream_seconds(event: &Value) -> f64 {
    event["stream_seconds"].as_f64().expect("stream_seconds")
}

fn assert_between(what: &str, value: f64, low: f64, high: f64) {
    assert!(
        (low..=high).contains(&value),
        "{what} at {value:.2} s, expected {low:.2}–{high:.2} s"
    );
}

/// The enter event came within two analysis periods of segment `i`'s
/// start in the stream's clock, and the exit the absence timeout after its
/// end (give or take a period: the last frame seen may precede the end).
fn assert_visit(enter: &Value, exit: &Value, segment: usize) {
    let period = 1.0 / FPS;
    let (appears, leaves) = (starts_at(segment), starts_at(segment + 1));
    let kind = enter["kind"].as_str().unwrap();
    assert_between(
        kind,
        stream_seconds(enter),
        appears - SLACK,
        appears + 2.0 * period + SLACK,
    );
    let kind = exit["kind"].as_str().unwrap();
    assert_between(
        kind,
        stream_seconds(exit),
        leaves + ABSENCE - period - SLACK,
        leaves + ABSENCE + 2.0 * period + SLACK,
    );
}

fn enroll(server: &common::TestServer, key: &str, name: &str, photo: &str) {
    let person = server.post_json(
        "/v1/collections/staff/persons",
        &server.writer,
        &json!({"key": key, "name": name}),
    );
    assert_eq!(person.status, 201, "{}", person.text);
    let bytes = std::fs::read(shared(photo)).unwrap();
    let reply = server.post_multipart(
        &format!("/v1/collections/staff/persons/{key}/faces"),
        &server.writer,
        &[("image", &bytes)],
        &[],
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
}

#[test]
fn a_monitor_reports_who_enters_and_leaves_a_live_stream() {
    let mut server = common::start(|_, _| {});
    let work = tempfile::tempdir().unwrap();
    let video = make_video(work.path());
    let reply = server.post_json("/v1/collections", &server.admin, &json!({"name": "staff"}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    enroll(&server, "obama", "B. Obama", OBAMA_ENROLLED);
    enroll(&server, "biden", "J. Biden", BIDEN);

    let port = free_port();
    let publisher = Publisher::start(&video, port);
    let spec = json!({
        "name": "front door",
        "source": format!("http://127.0.0.1:{port}/door"),
        "collection": "staff",
        "analysis_fps": FPS,
        "policy": {"confirm_frames": 2, "absence_secs": ABSENCE, "cooldown_secs": 0, "unknown_events": true},
        "preview": true
    });
    // Readers may not create monitors.
    assert_eq!(
        server
            .post_json("/v1/monitors", &server.reader, &spec)
            .status,
        403
    );
    let created = server.post_json("/v1/monitors", &server.admin, &spec);
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();
    let events = listen(
        format!("{}/v1/monitors/{id}/events/stream?after=0", server.url),
        server.reader.clone(),
    );

    // Obama is in view from 2 s to 7 s, the stranger from 12 s to 17 s.
    let seen = until(&events, "unknown_exit", Duration::from_secs(40));
    let seen = after_startup(&seen);
    let kinds: Vec<&str> = seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "person_enter",
            "person_exit",
            "unknown_enter",
            "unknown_exit"
        ],
        "{seen:#?}"
    );
    let (enter, exit) = (&seen[0], &seen[1]);
    assert_eq!(enter["person"], "obama");
    assert_eq!(enter["name"], "B. Obama");
    assert!(enter["score"].as_f64().unwrap() >= 0.3);
    assert_eq!(exit["person"], "obama");
    assert_eq!(exit["track"], enter["track"]);
    assert_visit(enter, exit, 1);
    let (unknown_in, unknown_out) = (&seen[2], &seen[3]);
    assert!(unknown_in["person"].is_null());
    assert_visit(unknown_in, unknown_out, 3);

    // The preview is the newest analysed frame, annotated, as MJPEG.
    let preview = common::agent()
        .get(format!("{}/v1/monitors/{id}/preview.mjpeg", server.url))
        .header("Authorization", format!("Bearer {}", server.reader))
        .call()
        .unwrap();
    assert_eq!(preview.status(), 200);
    let mut head = vec![0u8; 4096];
    let mut body = preview.into_body().into_reader();
    body.read_exact(&mut head).unwrap();
    let text = String::from_utf8_lossy(&head);
    assert!(
        text.starts_with("--frame\r\nContent-Type: image/jpeg\r\n"),
        "{text:.80}"
    );
    let start = head
        .windows(2)
        .position(|w| w == [0xFF, 0xD8])
        .expect("a JPEG");
    let length: usize = text
        .split("Content-Length: ")
        .nth(1)
        .and_then(|t| t.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .expect("a length");
    let mut jpeg = head[start..].to_vec();
    jpeg.resize(length, 0);
    if length > head.len() - start {
        body.read_exact(&mut jpeg[head.len() - start..]).unwrap();
    }
    let img = facekit_image::decode_bytes(&jpeg, &Default::default()).unwrap();
    assert_eq!((img.width(), img.height()), (640, 480));
    drop(body);

    // The publisher is killed: the source is lost; served again, it is
    // recovered and the events go on.
    drop(publisher);
    let lost = until(&events, "source_lost", Duration::from_secs(20));
    assert!(lost.last().unwrap()["detail"].is_string());
    // Between tries it is `retrying`; a try (from 0.5 s on) is `connecting`.
    let status = server.get(&format!("/v1/monitors/{id}"), Some(&server.reader));
    let state = status.json["status"]["state"].as_str().unwrap();
    assert!(
        ["retrying", "connecting"].contains(&state),
        "{}",
        status.text
    );
    assert!(
        status.json["status"]["last_error"].is_string(),
        "{}",
        status.text
    );
    let _publisher = Publisher::start(&video, port);
    until(&events, "source_recovered", Duration::from_secs(30));
    let again = until(&events, "person_enter", Duration::from_secs(20));
    assert_eq!(again.last().unwrap()["person"], "obama");
    let status = server.get(&format!("/v1/monitors/{id}"), Some(&server.reader));
    let status = &status.json["status"];
    assert_eq!(status["state"], "live");
    assert!(status["reconnects"].as_u64().unwrap() >= 1);
    assert!(status["frames_analysed"].as_u64().unwrap() > 40);
    let metrics = server.get("/metrics", None).text;
    let analysed = format!("facekit_monitor_frames_analysed_total{{monitor=\"{id}\"}} ");
    assert!(metrics.contains(&analysed), "{metrics}");

    // Stored events, paged and filtered.
    let stored = server.get(
        &format!("/v1/monitors/{id}/events?limit=1000"),
        Some(&server.reader),
    );
    assert_eq!(stored.status, 200, "{}", stored.text);
    let stored = stored.json["events"].as_array().unwrap().clone();
    let kinds: Vec<&str> = after_startup(&stored)
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[..7],
        [
            "person_enter",
            "person_exit",
            "unknown_enter",
            "unknown_exit",
            "source_lost",
            "source_recovered",
            "person_enter"
        ]
    );
    let obama = server.get(
        &format!("/v1/monitors/{id}/events?person=obama&kind=person_enter"),
        Some(&server.reader),
    );
    assert_eq!(
        obama.json["events"].as_array().unwrap().len(),
        2,
        "{}",
        obama.text
    );
    let page = server.get(
        &format!(
            "/v1/monitors/{id}/events?after={}&limit=2",
            stored[1]["seq"]
        ),
        Some(&server.reader),
    );
    assert_eq!(page.json["events"][0]["seq"], stored[2]["seq"]);
    assert_eq!(page.json["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        server
            .get(
                &format!("/v1/monitors/{id}/events?kind=nope"),
                Some(&server.reader)
            )
            .status,
        400
    );

    // Each sighting is in the audit trail, as the monitor's doing.
    let audit = server.get("/v1/audit?person=obama&limit=1000", Some(&server.admin));
    let watched: Vec<&Value> = audit.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "watch")
        .collect();
    assert_eq!(watched.len(), 2, "{}", audit.text);
    assert_eq!(watched[0]["actor"], format!("monitor:{id}").as_str());

    // A restart keeps the monitor and its events.
    server.restart();
    let listed = server.get("/v1/monitors", Some(&server.reader));
    assert_eq!(
        listed.json["monitors"][0]["id"],
        id.as_str(),
        "{}",
        listed.text
    );
    assert_eq!(listed.json["monitors"][0]["name"], "front door");
    let after = server.get(
        &format!("/v1/monitors/{id}/events?limit=1000"),
        Some(&server.reader),
    );
    let after = after.json["events"].as_array().unwrap();
    assert_eq!(
        after[..stored.len()],
        stored[..],
        "the stored events survive a restart"
    );

    // Erasing a person erases the events naming them.
    let erased = server.post_json(
        "/v1/collections/staff/persons/obama/erase",
        &server.admin,
        &json!({}),
    );
    assert_eq!(erased.status, 200, "{}", erased.text);
    let left = server.get(
        &format!("/v1/monitors/{id}/events?person=obama"),
        Some(&server.reader),
    );
    assert!(
        left.json["events"].as_array().unwrap().is_empty(),
        "{}",
        left.text
    );

    let deleted = server.delete(&format!("/v1/monitors/{id}"), &server.admin);
    assert_eq!(deleted.status, 204);
    assert_eq!(
        server
            .get(&format!("/v1/monitors/{id}"), Some(&server.reader))
            .status,
        404
    );
}

/// A webhook receiver on 127.0.0.1: answers its first POST 500 and the
/// others 200, passing on each accepted one's headers (lower case) and body.
fn webhook_receiver() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push_str(&line.to_ascii_lowercase());
            }
            let length: usize = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = std::io::Write::write_all(
                &mut stream,
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
            if n > 0
                && tx
                    .send((headers, String::from_utf8_lossy(&body).into_owned()))
                    .is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn monitor_settings_are_checked_and_credentials_never_shown() {
    let server = common::start(|_, _| {});
    let reply = server.post_json("/v1/collections", &server.admin, &json!({"name": "staff"}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    let spec = |extra: Value| {
        let mut spec =
            json!({"source": "rtsp://admin:s3cret@127.0.0.1:1/cam", "collection": "staff"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    for (bad, names) in [
        (json!({"analysis_fps": 0}), "analysis_fps"),
        (json!({"threshold": 3}), "threshold"),
        (json!({"source": "ftp://cam/1"}), "source"),
        (json!({"policy": {"confirm_frames": 0}}), "confirm_frames"),
        (json!({"webhook": "ftp://x/y"}), "webhook"),
    ] {
        let reply = server.post_json("/v1/monitors", &server.admin, &spec(bad));
        assert_eq!(reply.status, 422, "{}", reply.text);
        assert!(reply.text.contains(names), "{}", reply.text);
    }
    let reply = server.post_json(
        "/v1/monitors",
        &server.admin,
        &spec(json!({"collection": "nobody"})),
    );
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(
        server
            .post_json("/v1/monitors", &server.admin, &spec(json!({"fps": 3})))
            .status,
        400,
        "an unknown field is refused"
    );

    let (hook, posts) = webhook_receiver();
    let created = server.post_json(
        "/v1/monitors",
        &server.admin,
        &spec(json!({"webhook": format!("{hook}?token=t0ken")})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["source"], "rtsp://***@127.0.0.1:1/cam");
    assert_eq!(created.json["webhook"], format!("{hook}?***").as_str());
    let id = created.json["id"].as_str().unwrap().to_string();
    // Nothing listens there: the monitor retries, and says why without the password.
    let started = Instant::now();
    let view = loop {
        let view = server.get(&format!("/v1/monitors/{id}"), Some(&server.reader));
        if view.json["status"]["state"] == "retrying" {
            break view;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}", view.text);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        view.json["status"]["last_error"].is_string(),
        "{}",
        view.text
    );
    let listed = server.get("/v1/monitors", Some(&server.reader)).text;
    let events = server.get(&format!("/v1/monitors/{id}/events"), Some(&server.reader));
    assert_eq!(
        events.json["events"][0]["kind"], "source_lost",
        "{}",
        events.text
    );
    // The webhook got the event after its receiver failed once (retried).
    let (headers, body) = posts
        .recv_timeout(Duration::from_secs(30))
        .expect("a webhook POST");
    assert!(
        headers.contains("x-facekit-event: source_lost"),
        "{headers}"
    );
    let posted: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted, events.json["events"][0]);
    let started = Instant::now();
    let view = loop {
        let view = server.get(&format!("/v1/monitors/{id}"), Some(&server.reader));
        if view.json["status"]["webhook_delivered"] == 1 {
            break view;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{}", view.text);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        view.json["status"]["webhook_error"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    for text in [&view.text, &listed, &events.text] {
        assert!(!text.contains("s3cret"), "the password was shown: {text}");
        assert!(
            !text.contains("t0ken"),
            "the webhook token was shown: {text}"
        );
    }
    // A change restarts it with the new settings.
    let patched = server.send(
        "PATCH",
        &format!("/v1/monitors/{id}"),
        Some(&server.admin),
        "application/json",
        br#"{"name": "gate", "analysis_fps": 1}"#,
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json["name"], "gate");
    assert_eq!(patched.json["analysis_fps"], 1.0);
    assert_eq!(patched.json["source"], "rtsp://***@127.0.0.1:1/cam");
    let preview = server.get(
        &format!("/v1/monitors/{id}/preview.mjpeg"),
        Some(&server.reader),
    );
    assert_eq!(preview.status, 404, "no preview was asked for");
    assert_eq!(
        server
            .delete(&format!("/v1/monitors/{id}"), &server.reader)
            .status,
        403
    );
    assert_eq!(
        server
            .delete(&format!("/v1/monitors/{id}"), &server.admin)
            .status,
        204
    );
}
