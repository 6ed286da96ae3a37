//! Running the server: overload (503 + Retry-After), timeouts, TLS,
//! graceful shutdown without losing acknowledged writes, auth turned off.

mod common;

use common::{photo, start};
use facekit_gallery::{FaceGallery, Gallery};
use serde_json::json;

const GROUP: &str = "images/group_selfie.jpg";

#[test]
fn a_full_queue_answers_503_with_retry_after_and_recovers() {
    let s = start(|config, _| {
        config.limits.workers = 1;
        config.limits.queue = 1;
        config.limits.retry_after_secs = 2;
    });
    let image = photo(GROUP);
    let replies: Vec<common::Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| s.send("POST", "/v1/detect", Some(&s.reader), "image/jpeg", &image))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let served = replies.iter().filter(|r| r.status == 200).count();
    let shed: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(served + shed.len(), 8, "only 200 or 503: {replies:?}");
    assert!(
        served >= 1 && !shed.is_empty(),
        "{served} served, {} shed",
        shed.len()
    );
    for reply in &shed {
        assert_eq!(
            (reply.code(), reply.retry_after.as_deref()),
            ("overloaded", Some("2"))
        );
    }
    let metrics = s.get("/metrics", None).text;
    assert!(
        metrics.contains(&format!("facekit_rejected_overload_total {}", shed.len())),
        "{metrics}"
    );
    // Once the queue drains, requests are served again.
    let after = s.send("POST", "/v1/detect", Some(&s.reader), "image/jpeg", &image);
    assert_eq!(after.status, 200, "{}", after.text);
}

#[test]
fn a_request_over_the_time_limit_is_answered_503() {
    let s = start(|config, _| config.limits.request_timeout_secs = 0.002);
    let slow = s.send(
        "POST",
        "/v1/detect",
        Some(&s.reader),
        "image/jpeg",
        &photo(GROUP),
    );
    assert_eq!(
        (slow.status, slow.code()),
        (503, "timeout"),
        "{}",
        slow.text
    );
    assert!(s.healthy());
}

#[test]
fn tls_serves_https_with_the_given_certificate() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let s = start(|config, dir| {
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, &cert_pem).unwrap();
        std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
        config.tls_cert = Some(cert_file);
        config.tls_key = Some(key_file);
    });
    assert!(s.url.starts_with("https://"));
    let root = ureq::tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
                    root,
                ])))
                .build(),
        )
        .http_status_as_error(false)
        .build()
        .into();
    let mut reply = agent
        .post(format!("{}/v1/detect", s.url))
        .header("Authorization", format!("Bearer {}", s.reader))
        .content_type("image/jpeg")
        .send(&photo("images/t1.jpg")[..])
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap();
    assert!(!body["faces"].as_array().unwrap().is_empty());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = common::agent()
        .get(format!("{}/healthz", s.url.replacen("https", "http", 1)))
        .call();
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[test]
fn shutdown_finishes_in_flight_requests_and_keeps_every_acknowledged_write() {
    let s = start(|config, _| config.limits.workers = 1);
    let (admin, writer) = (s.admin.clone(), s.writer.clone());
    assert_eq!(
        s.post_json("/v1/collections", &admin, &json!({"name": "c"}))
            .status,
        201
    );
    for i in 0..6 {
        assert_eq!(
            s.post_json(
                "/v1/collections/c/persons",
                &writer,
                &json!({"key": format!("p{i}")})
            )
            .status,
            201
        );
    }
    let image = photo(GROUP);
    let (acknowledged, stopped_at) = std::thread::scope(|scope| {
        let enrolls: Vec<_> = (0..6)
            .map(|i| {
                let (s, writer, image) = (&s, &writer, &image);
                scope.spawn(move || {
                    s.send(
                        "POST",
                        &format!("/v1/collections/c/persons/p{i}/faces?all_faces=true&min_size=1"),
                        Some(writer),
                        "image/jpeg",
                        image,
                    )
                })
            })
            .collect();
        // Stop the server once all six are in: one running on its one
        // worker, five waiting for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while metric(&s, "facekit_busy_workers") + metric(&s, "facekit_queue_depth") < 6.0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the requests never queued"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(metric(&s, "facekit_queue_depth"), 5.0);
        let started = std::time::Instant::now();
        s.shutdown();
        let replies: Vec<common::Reply> = enrolls.into_iter().map(|h| h.join().unwrap()).collect();
        (replies, started.elapsed())
    });
    assert!(stopped_at.as_secs() < 30);
    let ids: Vec<i64> = acknowledged
        .iter()
        .inspect(|r| assert_eq!(r.status, 201, "an in-flight request was cut: {}", r.text))
        .flat_map(|r| {
            r.json["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        ids.len() > 6,
        "every group photo gives several faces: {}",
        ids.len()
    );
    let gallery = Gallery::open(&s.gallery_path()).unwrap();
    let stored: Vec<i64> = gallery
        .samples("c", None)
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    for id in ids {
        assert!(stored.contains(&id), "acknowledged face {id} lost");
    }
    // The port is closed.
    assert!(
        common::agent()
            .get(format!("{}/healthz", s.url))
            .call()
            .is_err()
    );
}

/// The value of an unlabelled metric.
fn metric(s: &common::TestServer, name: &str) -> f64 {
    let text = s.get("/metrics", None).text;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

#[test]
fn auth_can_be_turned_off_explicitly() {
    let s = start(|config, _| config.auth = false);
    let reply = s.send(
        "POST",
        "/v1/detect",
        None,
        "image/jpeg",
        &photo("images/t1.jpg"),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        s.post_json("/v1/collections", "anything", &json!({"name": "c"}))
            .status,
        201
    );
}

/// Raw HTTP/1.1 over TCP, for what ordinary clients never do (stall,
/// declare a body and not send it).
mod raw {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    pub fn connect(url: &str) -> TcpStream {
        let stream = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    }

    /// Everything the server sends until it closes (or 20 s pass), and how long it took.
    pub fn read_all(stream: &mut TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (
            String::from_utf8_lossy(&out).into_owned(),
            started.elapsed(),
        )
    }

    /// One response (head and its `content-length` body), and how long it took.
    pub fn read_response(stream: &mut TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(head_end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if out.len() >= head_end + 4 + length {
                    break;
                }
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        (
            String::from_utf8_lossy(&out).into_owned(),
            started.elapsed(),
        )
    }

    /// Sends headers declaring a body of `length` bytes, and no body.
    pub fn declare_body(stream: &mut TcpStream, token: &str, length: usize) {
        write!(
            stream,
            "POST /v1/detect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n"
        )
        .unwrap();
    }
}

/// What a request may cost is decided from its headers: over the bytes in
/// flight it is 503 at once, with its body never sent.
#[test]
fn a_body_over_the_bytes_in_flight_is_refused_before_it_is_sent() {
    let s = start(|config, _| {
        config.limits.max_inflight_body_bytes = 1 << 20;
        config.limits.max_body_bytes = 4 << 20;
    });
    let mut stream = raw::connect(&s.url);
    raw::declare_body(&mut stream, &s.reader, 2 << 20);
    let (answer, took) = raw::read_response(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("retry-after") && answer.contains("overloaded"),
        "{answer}"
    );
    assert!(took.as_secs() < 5, "answered after {took:?}");
    // Within the budget, the same request goes through to the decoder.
    let small = s.send(
        "POST",
        "/v1/detect",
        Some(&s.reader),
        "image/jpeg",
        &photo(GROUP),
    );
    assert_eq!(small.status, 200, "{}", small.text);
    // A declared length over the body limit: 413 at once.
    let mut stream = raw::connect(&s.url);
    raw::declare_body(&mut stream, &s.reader, 64 << 20);
    let (answer, _) = raw::read_response(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// A body that never arrives is cut off by the request timeout, and
/// headers that never finish by the header timeout; neither holds the
/// connection.
#[test]
fn stalled_bodies_and_headers_are_cut_off() {
    let s = start(|config, _| {
        config.limits.request_timeout_secs = 1.0;
        config.limits.header_timeout_secs = 1.0;
    });
    let mut stream = raw::connect(&s.url);
    raw::declare_body(&mut stream, &s.reader, 1000);
    let (answer, took) = raw::read_response(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("timeout"),
        "{answer}"
    );
    assert!(took.as_secs() < 10, "answered after {took:?}");
    // Slow loris: headers a byte at a time, never finished.
    let mut stream = raw::connect(&s.url);
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        use std::io::Write;
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if !closed {
        let (answer, _) = raw::read_response(&mut stream);
        assert!(!answer.contains("200 OK"), "{answer}");
    }
    assert!(started.elapsed().as_secs() < 15);
    assert!(s.healthy());
}

/// Over the connection limit, a new connection is closed when accepted;
/// once others close, connections are served again.
#[test]
fn connections_over_the_limit_are_closed() {
    let s = start(|config, _| config.limits.max_connections = 2);
    let idle: Vec<_> = (0..2).map(|_| raw::connect(&s.url)).collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut third = raw::connect(&s.url);
    {
        use std::io::Write;
        let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let (answer, _) = raw::read_all(&mut third);
    assert!(answer.is_empty(), "served over the limit: {answer}");
    drop(idle);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(s.healthy());
}

/// Parameters from the query string are typed by their field: a numeric
/// person key stays a string key.
#[test]
fn a_numeric_person_key_from_a_form_or_query_is_a_key() {
    let s = start(|_, _| {});
    let created = s.post_json("/v1/collections", &s.admin, &json!({"name": "staff"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let boundary = "b0undary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n12345\r\n--{boundary}--\r\n"
    );
    let reply = s.send(
        "POST",
        "/v1/collections/staff/persons",
        Some(&s.writer),
        &format!("multipart/form-data; boundary={boundary}"),
        form.as_bytes(),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["key"], "12345");
    let reply = s.send(
        "POST",
        "/v1/collections/staff/persons?key=67890&name=007",
        Some(&s.writer),
        "application/json",
        b"{}",
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        (&reply.json["key"], &reply.json["name"]),
        (&json!("67890"), &json!("007"))
    );
}

/// A multipart body that ends before its declared length is the client's
/// fault: 400, not 500.
#[test]
fn a_body_shorter_than_declared_is_a_400() {
    use std::io::Write;
    let s = start(|_, _| {});
    let mut stream = raw::connect(&s.url);
    let part = "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\nnot all of it";
    write!(
        stream,
        "POST /v1/detect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n{part}",
        s.reader
    )
    .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (answer, _) = raw::read_response(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(s.healthy());
}

/// A role refused before its body is read is answered `Connection: close`
/// (the server cannot reuse that connection, and a client reusing it would
/// see a disconnect); answers that read their body keep the connection.
#[test]
fn a_refused_request_with_a_body_closes_its_connection() {
    use std::io::Write;
    let s = common::start(|_, _| {});
    let body = r#"{"key": "x"}"#;
    let post = |token: &str| {
        format!(
            "POST /v1/collections/c/persons HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut stream = raw::connect(&s.url);
    stream.write_all(post(&s.reader).as_bytes()).unwrap();
    let (answer, _) = raw::read_response(&mut stream);
    let head = answer.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 403"), "{answer}");
    assert!(head.contains("connection: close"), "{answer}");
    // A request without a body keeps its connection, even when refused.
    let mut stream = raw::connect(&s.url);
    write!(
        stream,
        "GET /v1/collections/none HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        s.reader
    )
    .unwrap();
    let (answer, _) = raw::read_response(&mut stream);
    let head = answer.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 404"), "{answer}");
    assert!(!head.contains("connection: close"), "{answer}");
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (answer, _) = raw::read_response(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the connection was reused: {answer}"
    );
}
