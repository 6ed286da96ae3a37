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
