//! Biometric privacy over HTTP: every route that reads or changes
//! biometric data (clustering and corrections included) leaves exactly
//! one audit entry naming the calling key
//! and the request id, and no other route leaves any; the admin routes
//! list and verify the trail (tampering is named), set retention and
//! purge (on request and on the server's schedule), and export and erase
//! a person with a receipt.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, ok, photo};
use serde_json::{Value, json};

const OBAMA: &str = "identities/face_recognition_knn/train/obama/obama.jpg";
const OBAMA2: &str = "identities/face_recognition_knn/train/obama/obama2.jpg";
const BIDEN: &str = "identities/face_recognition_knn/train/biden/biden.jpg";

/// Every entry of the trail, oldest first.
fn trail(s: &TestServer) -> Vec<Value> {
    let page = s.get("/v1/audit?limit=1000", Some(&s.admin));
    ok(&page, 200)["entries"].as_array().unwrap().clone()
}

/// The calling key's id.
fn key_id(s: &TestServer, token: &str) -> String {
    let info = s.get("/v1/info", Some(token));
    ok(&info, 200)["key_id"].as_str().unwrap().to_string()
}

/// Checks that the call `made` added exactly one entry, of `operation` by
/// `token`'s key in the call's request, and returns it.
fn one_entry(
    s: &TestServer,
    before: &mut usize,
    made: &common::Reply,
    token: &str,
    operation: &str,
) -> Value {
    let all = trail(s);
    assert_eq!(
        all.len(),
        *before + 1,
        "{operation} left {} entries: {all:#?}",
        all.len() - *before
    );
    *before += 1;
    let entry = all.last().unwrap().clone();
    assert_eq!(entry["operation"], operation, "{entry}");
    assert_eq!(entry["actor"], format!("key:{}", key_id(s, token)));
    assert_eq!(
        entry["request_id"].as_str(),
        made.request_id.as_deref(),
        "{entry}"
    );
    assert!(
        !entry.to_string().contains("embedding"),
        "an entry holds an embedding: {entry}"
    );
    entry
}

fn no_entry(s: &TestServer, before: usize, what: &str) {
    assert_eq!(trail(s).len(), before, "{what} left an entry");
}

#[test]
fn each_biometric_route_leaves_one_entry_and_the_trail_verifies() {
    let s = common::start(|c, _| c.purge_interval_secs = 0);
    let (admin, writer, reader) = (s.admin.clone(), s.writer.clone(), s.reader.clone());
    let mut n = 0;
    let created = s.post_json("/v1/collections", &admin, &json!({"name": "staff"}));
    ok(&created, 201);
    for key in ["obama", "biden", "ann"] {
        let person = s.post_json(
            "/v1/collections/staff/persons",
            &writer,
            &json!({"key": key}),
        );
        ok(&person, 201);
    }
    no_entry(&s, n, "creating a collection and persons");

    let enrolled = s.post_multipart(
        "/v1/collections/staff/persons/obama/faces",
        &writer,
        &[("image", &photo(OBAMA))],
        &[],
    );
    let obama_face = ok(&enrolled, 201)["faces"][0]["id"].as_i64().unwrap();
    let entry = one_entry(&s, &mut n, &enrolled, &writer, "enroll");
    assert_eq!(
        (entry["persons"].clone(), entry["results"].clone()),
        (json!(["obama"]), json!(1))
    );
    let second = s.post_multipart(
        "/v1/collections/staff/persons/obama/faces",
        &writer,
        &[("image", &photo(OBAMA2))],
        &[],
    );
    ok(&second, 201);
    one_entry(&s, &mut n, &second, &writer, "enroll");

    let found = s.post_multipart(
        "/v1/collections/staff/identify",
        &reader,
        &[("image", &photo(OBAMA2))],
        &[],
    );
    assert_eq!(ok(&found, 200)["faces"][0]["best"]["key"], "obama");
    let entry = one_entry(&s, &mut n, &found, &reader, "identify");
    assert_eq!(entry["persons"], json!(["obama"]));

    let verified = s.post_multipart(
        "/v1/collections/staff/persons/obama/verify",
        &reader,
        &[("image", &photo(OBAMA2))],
        &[],
    );
    assert_eq!(ok(&verified, 200)["same"], true);
    one_entry(&s, &mut n, &verified, &reader, "verify");

    let plain = s.get("/v1/collections/staff/persons/obama/faces", Some(&reader));
    assert_eq!(ok(&plain, 200)["faces"][0]["embedding"], json!([]));
    no_entry(&s, n, "listing faces without embeddings");
    let listed = s.get(
        "/v1/collections/staff/persons/obama/faces?embeddings=true",
        Some(&reader),
    );
    assert_eq!(
        ok(&listed, 200)["faces"][0]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        128
    );
    one_entry(&s, &mut n, &listed, &reader, "list_faces");

    let exported = s.get("/v1/collections/staff/persons/obama/export", Some(&admin));
    let export = ok(&exported, 200).clone();
    one_entry(&s, &mut n, &exported, &admin, "person_export");
    assert_eq!(export["person"]["key"], "obama");
    assert_eq!(export["samples"].as_array().unwrap().len(), 2);
    assert_eq!(
        export["samples"][0]["embedding"].as_array().unwrap().len(),
        128
    );
    let named: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        [
            "enroll",
            "enroll",
            "identify",
            "verify",
            "list_faces",
            "person_export"
        ]
    );
    assert_eq!(
        s.get("/v1/collections/staff/persons/obama/export", Some(&writer))
            .status,
        403
    );
    no_entry(&s, n, "a refused export");

    let deleted = s.delete(
        &format!("/v1/collections/staff/faces/{obama_face}"),
        &writer,
    );
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    one_entry(&s, &mut n, &deleted, &writer, "delete");

    let biden = s.post_multipart(
        "/v1/collections/staff/persons/biden/faces",
        &writer,
        &[("image", &photo(BIDEN))],
        &[],
    );
    ok(&biden, 201);
    one_entry(&s, &mut n, &biden, &writer, "enroll");
    let erased = s.send_empty(
        "POST",
        "/v1/collections/staff/persons/biden/erase",
        Some(&admin),
    );
    let receipt = ok(&erased, 200).clone();
    let entry = one_entry(&s, &mut n, &erased, &admin, "erase");
    assert_eq!(receipt["samples_erased"], 1);
    assert_eq!(receipt["audit_hash"], entry["hash"]);
    assert_eq!(receipt["audit_seq"], entry["seq"]);
    assert_eq!(
        s.get("/v1/collections/staff/persons/biden", Some(&reader))
            .status,
        404
    );

    let removed = s.delete("/v1/collections/staff/persons/obama", &writer);
    assert_eq!(ok(&removed, 200)["faces_deleted"], 1);
    one_entry(&s, &mut n, &removed, &writer, "delete");

    // Retention: the route is recorded; a purge on request erases what is
    // older and is recorded; nothing to purge leaves no entry.
    let kept = s.post_json(
        "/v1/collections/staff/persons/ann/faces",
        &writer,
        &json!({"embedding": vec![0.25f32; 128]}),
    );
    ok(&kept, 201);
    one_entry(&s, &mut n, &kept, &writer, "enroll");
    // Photo-collection faces, clustering and corrections.
    let added = s.post_json(
        "/v1/collections/staff/faces",
        &writer,
        &json!({"embedding": vec![0.25f32; 128]}),
    );
    let face = ok(&added, 201)["faces"][0]["id"].as_i64().unwrap();
    one_entry(&s, &mut n, &added, &writer, "enroll");
    let clustered = s.post_json("/v1/collections/staff/cluster", &writer, &json!({}));
    ok(&clustered, 200);
    let entry = one_entry(&s, &mut n, &clustered, &writer, "cluster");
    assert_eq!(entry["results"], ok(&clustered, 200)["placed"]);
    let moved = s.post_json(
        &format!("/v1/collections/staff/faces/{face}/move"),
        &writer,
        &json!({"person": "ann"}),
    );
    ok(&moved, 200);
    let entry = one_entry(&s, &mut n, &moved, &writer, "correct");
    assert_eq!(
        (entry["persons"].clone(), entry["results"].clone()),
        (json!(["ann"]), json!(1))
    );
    let refused = s.post_json(
        &format!("/v1/collections/staff/faces/{face}/not-person"),
        &writer,
        &json!({"person": "ann"}),
    );
    ok(&refused, 200);
    one_entry(&s, &mut n, &refused, &writer, "correct");
    let set = s.send(
        "PUT",
        "/v1/collections/staff/retention",
        Some(&admin),
        "application/json",
        br#"{"days": 0}"#,
    );
    assert_eq!(ok(&set, 200)["retention_days"], 0);
    one_entry(&s, &mut n, &set, &admin, "retention");
    std::thread::sleep(Duration::from_millis(1100));
    let purged = s.send_empty("POST", "/v1/purge", Some(&admin));
    assert_eq!(ok(&purged, 200)["collections"][0]["samples_erased"], 2);
    let entry = one_entry(&s, &mut n, &purged, &admin, "purge");
    assert_eq!(entry["persons"], json!(["ann"]));
    let again = s.send_empty("POST", "/v1/purge", Some(&admin));
    assert_eq!(ok(&again, 200)["collections"][0]["samples_erased"], 0);
    no_entry(&s, n, "a purge that erased nothing");

    let dropped = s.delete("/v1/collections/staff", &admin);
    assert_eq!(dropped.status, 204, "{}", dropped.text);
    one_entry(&s, &mut n, &dropped, &admin, "delete");

    // Reading the trail is for admins; the chain holds.
    assert_eq!(s.get("/v1/audit", Some(&reader)).status, 403);
    assert_eq!(s.get("/v1/audit/verify", Some(&writer)).status, 403);
    let verified = s.get("/v1/audit/verify", Some(&admin));
    let verified = ok(&verified, 200);
    assert_eq!(verified["entries"], n);
    assert_eq!(verified["broken"], Value::Null);
    let page = s.get("/v1/audit?after=2&limit=3", Some(&admin));
    let seqs: Vec<i64> = ok(&page, 200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);

    // An entry edited behind the server's back is named.
    rusqlite::Connection::open(s.gallery_path())
        .unwrap()
        .execute(
            "UPDATE audit_log SET persons = '[\"nobody\"]' WHERE seq = 3",
            [],
        )
        .unwrap();
    let broken = s.get("/v1/audit/verify", Some(&admin));
    assert_eq!(ok(&broken, 200)["broken"]["seq"], 3);
}

#[test]
fn the_server_purges_on_its_schedule() {
    let s = common::start(|c, _| c.purge_interval_secs = 1);
    let (admin, writer) = (s.admin.clone(), s.writer.clone());
    let created = s.post_json(
        "/v1/collections",
        &admin,
        &json!({"name": "visitors", "retention_days": 0}),
    );
    assert_eq!(ok(&created, 201)["retention_days"], 0);
    let person = s.post_json(
        "/v1/collections/visitors/persons",
        &writer,
        &json!({"key": "obama"}),
    );
    ok(&person, 201);
    let enrolled = s.post_multipart(
        "/v1/collections/visitors/persons/obama/faces",
        &writer,
        &[("image", &photo(OBAMA))],
        &[],
    );
    ok(&enrolled, 201);
    let started = Instant::now();
    let purge = loop {
        let found = trail(&s).into_iter().find(|e| e["operation"] == "purge");
        if let Some(entry) = found {
            break entry;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no scheduled purge within 15 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(purge["actor"], "server:retention");
    assert_eq!(purge["persons"], json!(["obama"]));
    let faces = s.get(
        "/v1/collections/visitors/persons/obama/faces",
        Some(&writer),
    );
    assert_eq!(ok(&faces, 200)["faces"], json!([]));
}
