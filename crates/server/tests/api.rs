//! The HTTP API end to end: a real server on 127.0.0.1 (random port) with
//! real models and photos, called over HTTP by a real client.

mod common;

use common::{TestServer, base64, ok, photo, start};
use serde_json::{Value, json};

const OBAMA: &str = "identities/face_recognition_knn/train/obama/obama.jpg";
const OBAMA2: &str = "identities/face_recognition_knn/train/obama/obama2.jpg";
const BIDEN: &str = "identities/face_recognition_knn/train/biden/biden.jpg";
const BIDEN2: &str = "identities/face_recognition_knn/train/biden/biden2.jpg";
const NO_FACE: &str = "images/no_face_pilatus800.jpg";

#[test]
fn every_endpoint_answers_over_http() {
    let s = start(|_, _| {});
    let (admin, writer, reader) = (s.admin.clone(), s.writer.clone(), s.reader.clone());

    assert_eq!(ok(&s.get("/healthz", None), 200)["status"], "ok");
    assert_eq!(ok(&s.get("/readyz", None), 200)["status"], "ready");
    let doc = s.get("/openapi.json", None).json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/detect",
        "/v1/embed",
        "/v1/compare",
        "/v1/collections",
        "/v1/collections/{collection}",
        "/v1/collections/{collection}/persons",
        "/v1/collections/{collection}/persons/{person}",
        "/v1/collections/{collection}/persons/{person}/faces",
        "/v1/collections/{collection}/faces/{face_id}",
        "/v1/collections/{collection}/identify",
        "/v1/collections/{collection}/persons/{person}/verify",
        "/v1/keys",
        "/v1/keys/{id}",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    // Every schema the document refers to is in it.
    let doc_text = doc.to_string();
    assert!(
        doc_text.matches("\"$ref\"").count() > 20,
        "schemas are referenced"
    );
    for reference in doc_text.split("\"$ref\":\"").skip(1) {
        let target = &reference[..reference.find('"').unwrap()];
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("odd $ref {target}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{target} is not in the document"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );

    // Detect: multipart, base64 JSON and raw body give the same faces.
    let group = photo("images/t1.jpg");
    let multipart = s.post_multipart("/v1/detect", &reader, &[("image", &group)], &[]);
    let faces = ok(&multipart, 200)["faces"].as_array().unwrap().clone();
    assert!(faces.len() >= 5, "t1.jpg is a group photo: {}", faces.len());
    assert!(faces[0].get("embedding").is_none());
    assert_eq!(faces[0]["kps"].as_array().unwrap().len(), 5);
    let json_reply = s.post_json(
        "/v1/detect",
        &reader,
        &json!({"image": base64(&group), "embeddings": true}),
    );
    let json_faces = ok(&json_reply, 200)["faces"].as_array().unwrap().clone();
    assert_eq!(json_faces.len(), faces.len());
    assert_eq!(json_faces[0]["bbox"], faces[0]["bbox"]);
    assert_eq!(json_faces[0]["embedding"].as_array().unwrap().len(), 128);
    let raw = s.send(
        "POST",
        "/v1/detect?embeddings=false",
        Some(&reader),
        "image/jpeg",
        &group,
    );
    assert_eq!(
        ok(&raw, 200)["faces"].as_array().unwrap().len(),
        faces.len()
    );
    assert_eq!(ok(&raw, 200)["width"], 1280);

    // Embed and compare.
    let embedded = s.post_multipart("/v1/embed", &reader, &[("image", &photo(OBAMA))], &[]);
    assert_eq!(
        ok(&embedded, 200)["faces"][0]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        128
    );
    let same = s.post_multipart(
        "/v1/compare",
        &reader,
        &[("image1", &photo(OBAMA)), ("image2", &photo(OBAMA2))],
        &[],
    );
    let same = ok(&same, 200);
    assert_eq!(same["same"], true, "{same}");
    let different = s.post_json(
        "/v1/compare",
        &reader,
        &json!({"image1": base64(&photo(OBAMA)), "image2": base64(&photo(BIDEN)), "threshold": 0.3}),
    );
    let different = ok(&different, 200);
    assert_eq!(different["same"], false, "{different}");
    assert!(same["score"].as_f64().unwrap() > different["score"].as_f64().unwrap());

    // Collections.
    let created = s.post_json(
        "/v1/collections",
        &admin,
        &json!({"name": "staff", "index": "hnsw"}),
    );
    let collection = ok(&created, 201);
    assert_eq!(collection["index"], "hnsw");
    assert_eq!(collection["contract"]["dimension"], 128);
    assert_eq!(
        s.post_json("/v1/collections", &admin, &json!({"name": "staff"}))
            .status,
        409
    );
    let listed = s.get("/v1/collections", Some(&reader));
    assert_eq!(ok(&listed, 200)["collections"][0]["name"], "staff");

    // Persons.
    let ann = s.post_json(
        "/v1/collections/staff/persons",
        &writer,
        &json!({"key": "obama", "name": "B. Obama", "metadata": {"team": "44"}}),
    );
    assert_eq!(ok(&ann, 201)["samples"], 0);
    ok(
        &s.post_json(
            "/v1/collections/staff/persons",
            &writer,
            &json!({"key": "biden"}),
        ),
        201,
    );
    assert_eq!(
        s.post_json(
            "/v1/collections/staff/persons",
            &writer,
            &json!({"key": "biden"})
        )
        .status,
        409
    );
    let patched = s.send(
        "PATCH",
        "/v1/collections/staff/persons/biden",
        Some(&writer),
        "application/json",
        br#"{"name": "J. Biden"}"#,
    );
    assert_eq!(ok(&patched, 200)["name"], "J. Biden");
    let page = s.get(
        "/v1/collections/staff/persons?limit=1&offset=1",
        Some(&reader),
    );
    let page = ok(&page, 200);
    assert_eq!(
        (page["total"].as_u64(), page["persons"][0]["key"].as_str()),
        (Some(2), Some("obama"))
    );

    // Faces: from images (multipart and raw) and from an embedding.
    let enrolled = s.post_multipart(
        "/v1/collections/staff/persons/obama/faces",
        &writer,
        &[("image", &photo(OBAMA))],
        &[],
    );
    let obama_face = ok(&enrolled, 201)["faces"][0]["id"].as_i64().unwrap();
    let raw = s.send(
        "POST",
        "/v1/collections/staff/persons/biden/faces",
        Some(&writer),
        "image/jpeg",
        &photo(BIDEN),
    );
    ok(&raw, 201);
    let biden2 = embedded_face(&s, &reader, BIDEN2);
    let by_vector = s.post_json(
        "/v1/collections/staff/persons/biden/faces",
        &writer,
        &json!({"embedding": biden2}),
    );
    assert!(ok(&by_vector, 201)["faces"][0]["bbox"].is_null());
    let obama = s.get("/v1/collections/staff/persons/obama", Some(&reader));
    let obama = ok(&obama, 200);
    assert_eq!(
        (obama["samples"].as_u64(), &obama["metadata"]),
        (Some(1), &json!({"team": "44"}))
    );
    let faces = s.get("/v1/collections/staff/persons/biden/faces", Some(&reader));
    let faces = ok(&faces, 200)["faces"].as_array().unwrap().clone();
    assert_eq!(faces.len(), 2);
    assert!(faces[0]["embedding"].as_array().unwrap().is_empty());
    let with_vectors = s.get(
        "/v1/collections/staff/persons/biden/faces?embeddings=true",
        Some(&reader),
    );
    assert_eq!(
        ok(&with_vectors, 200)["faces"][1]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        128
    );
    let stats = s.get("/v1/collections/staff", Some(&reader));
    assert_eq!(
        (
            ok(&stats, 200)["persons"].as_u64(),
            stats.json["samples"].as_u64()
        ),
        (Some(2), Some(3))
    );

    // Identify (image: every face; embedding) and verify.
    let found = s.post_multipart(
        "/v1/collections/staff/identify",
        &reader,
        &[("image", &photo(OBAMA2))],
        &[("top_k", "2")],
    );
    let found = ok(&found, 200);
    assert_eq!(found["faces"][0]["best"]["key"], "obama", "{found}");
    assert_eq!(found["faces"][0]["matches"].as_array().unwrap().len(), 2);
    let by_embedding = s.post_json(
        "/v1/collections/staff/identify",
        &reader,
        &json!({"embedding": biden2, "top_k": 1}),
    );
    assert_eq!(ok(&by_embedding, 200)["faces"][0]["best"]["key"], "biden");
    assert!(by_embedding.json["faces"][0]["face"].is_null());
    let nobody = s.post_multipart(
        "/v1/collections/staff/identify",
        &reader,
        &[("image", &photo(NO_FACE))],
        &[],
    );
    assert_eq!(ok(&nobody, 200)["faces"].as_array().unwrap().len(), 0);
    let verified = s.post_multipart(
        "/v1/collections/staff/persons/obama/verify",
        &reader,
        &[("image", &photo(OBAMA2))],
        &[],
    );
    assert_eq!(ok(&verified, 200)["same"], true);
    let refused = s.post_multipart(
        "/v1/collections/staff/persons/biden/verify",
        &reader,
        &[("image", &photo(OBAMA2))],
        &[],
    );
    assert_eq!(ok(&refused, 200)["same"], false);

    // Deletes.
    ok(
        &s.delete(
            &format!("/v1/collections/staff/faces/{obama_face}"),
            &writer,
        ),
        204,
    );
    assert_eq!(
        s.delete(
            &format!("/v1/collections/staff/faces/{obama_face}"),
            &writer
        )
        .status,
        404
    );
    assert_eq!(
        ok(
            &s.delete("/v1/collections/staff/persons/biden", &writer),
            200
        )["faces_deleted"],
        2
    );
    assert_eq!(
        s.get("/v1/collections/staff/persons/biden", Some(&reader))
            .status,
        404
    );
    ok(&s.delete("/v1/collections/staff", &admin), 204);
    assert_eq!(s.get("/v1/collections/staff", Some(&reader)).status, 404);

    // Keys.
    let key = s.post_json(
        "/v1/keys",
        &admin,
        &json!({"name": "door", "role": "reader"}),
    );
    let token = ok(&key, 201)["token"].as_str().unwrap().to_string();
    let id = key.json["key"]["id"].as_str().unwrap().to_string();
    assert_eq!(s.get("/v1/collections", Some(&token)).status, 200);
    let keys = s.get("/v1/keys", Some(&admin));
    assert_eq!(ok(&keys, 200)["keys"].as_array().unwrap().len(), 4);
    assert!(!keys.text.contains(&token), "a listing shows a secret");
    ok(&s.delete(&format!("/v1/keys/{id}"), &admin), 200);
    assert_eq!(s.get("/v1/collections", Some(&token)).status, 401);

    // Metrics count what happened.
    let metrics = s.get("/metrics", None).text;
    for needle in [
        "facekit_http_requests_total{method=\"POST\",route=\"/v1/detect\",status=\"200\"} 3",
        "facekit_http_request_duration_seconds_count{route=\"/v1/collections/{collection}/identify\"}",
        "facekit_inference_duration_seconds_count{operation=\"identify\"}",
        "facekit_queue_depth 0",
        "facekit_busy_workers 0",
        "facekit_rejected_overload_total 0",
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
}

/// The raw embedding of the largest face of a photo.
fn embedded_face(s: &TestServer, token: &str, rel: &str) -> Value {
    let reply = s.post_multipart("/v1/embed", token, &[("image", &photo(rel))], &[]);
    ok(&reply, 200)["faces"][0]["embedding"].clone()
}

#[test]
fn roles_bound_what_each_key_may_do() {
    let s = start(|_, _| {});
    let (admin, writer, reader) = (s.admin.clone(), s.writer.clone(), s.reader.clone());
    let embedding: Vec<f32> = (0..128).map(|i| (i as f32).sin()).collect();

    // No key, a malformed key, a wrong secret: 401, after the server read
    // the photo being sent (else the client sees a reset connection).
    for _ in 0..5 {
        let none = s.send(
            "POST",
            "/v1/detect",
            None,
            "image/jpeg",
            &photo("images/group_selfie.jpg"),
        );
        assert_eq!((none.status, none.code()), (401, "unauthenticated"));
    }
    let none = s.send("POST", "/v1/detect", None, "image/jpeg", &photo(OBAMA));
    assert_eq!((none.status, none.code()), (401, "unauthenticated"));
    let wrong = format!("{}x", &reader[..reader.len() - 1]);
    for token in ["nonsense", wrong.as_str()] {
        assert_eq!(s.get("/v1/collections", Some(token)).status, 401);
    }

    // Reader: analysis and reads only.
    assert_eq!(
        s.post_json("/v1/collections", &reader, &json!({"name": "c"}))
            .status,
        403
    );
    assert_eq!(
        s.post_json("/v1/collections", &writer, &json!({"name": "c"}))
            .status,
        403
    );
    ok(
        &s.post_json("/v1/collections", &admin, &json!({"name": "c"})),
        201,
    );
    let denied = s.post_json("/v1/collections/c/persons", &reader, &json!({"key": "p"}));
    assert_eq!((denied.status, denied.code()), (403, "forbidden"));
    ok(
        &s.post_json("/v1/collections/c/persons", &writer, &json!({"key": "p"})),
        201,
    );
    let enroll = json!({"embedding": embedding});
    assert_eq!(
        s.post_json("/v1/collections/c/persons/p/faces", &reader, &enroll)
            .status,
        403
    );
    ok(
        &s.post_json("/v1/collections/c/persons/p/faces", &writer, &enroll),
        201,
    );
    assert_eq!(s.delete("/v1/collections/c/persons/p", &reader).status, 403);
    assert_eq!(
        s.send(
            "PATCH",
            "/v1/collections/c/persons/p",
            Some(&reader),
            "application/json",
            b"{}"
        )
        .status,
        403
    );
    ok(
        &s.post_json(
            "/v1/collections/c/identify",
            &reader,
            &json!({"embedding": embedding}),
        ),
        200,
    );
    assert_eq!(s.delete("/v1/collections/c", &writer).status, 403);
    // Keys are the admin's.
    for token in [&reader, &writer] {
        assert_eq!(s.get("/v1/keys", Some(token)).status, 403);
        assert_eq!(
            s.post_json("/v1/keys", token, &json!({"name": "x", "role": "admin"}))
                .status,
            403
        );
    }

    // A key revoked by `facekit keys revoke` (another handle on the file) is
    // refused from the next request on.
    let store = facekit_server::keys::KeyStore::open(&s.keys_path()).unwrap();
    let id = reader.split('_').nth(1).unwrap();
    assert_eq!(s.get("/v1/collections", Some(&reader)).status, 200);
    store.revoke(id).unwrap();
    let revoked = s.get("/v1/collections", Some(&reader));
    assert_eq!((revoked.status, revoked.code()), (401, "unauthenticated"));
    // X-API-Key works as well as Bearer.
    let via_header = common::agent()
        .get(format!("{}/v1/collections", s.url))
        .header("X-API-Key", &writer)
        .call()
        .unwrap();
    assert_eq!(via_header.status(), 200);
}

/// A PNG header declaring `width × height` pixels (a decompression bomb).
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32fast::hash(&ihdr).to_be_bytes());
    // A little zlib data, as a real bomb would carry.
    let idat = b"IDAT\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01";
    png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    png.extend_from_slice(idat);
    png.extend_from_slice(&crc32fast::hash(idat).to_be_bytes());
    png
}

#[test]
fn bad_input_gets_a_4xx_and_the_server_stays_healthy() {
    let s = start(|config, _| config.limits.max_body_bytes = 1 << 20);
    let (admin, reader) = (s.admin.clone(), s.reader.clone());
    ok(
        &s.post_json("/v1/collections", &admin, &json!({"name": "c"})),
        201,
    );
    let cases: Vec<(&str, common::Reply, u16, &str)> = vec![
        (
            "malformed JSON",
            s.send(
                "POST",
                "/v1/detect",
                Some(&reader),
                "application/json",
                b"{\"image\": \"abc",
            ),
            400,
            "invalid_json",
        ),
        (
            "JSON that is not an object",
            s.send(
                "POST",
                "/v1/detect",
                Some(&reader),
                "application/json",
                b"[1, 2]",
            ),
            400,
            "invalid_json",
        ),
        (
            "wrong content type",
            s.send("POST", "/v1/detect", Some(&reader), "text/plain", b"hello"),
            415,
            "unsupported_media_type",
        ),
        (
            "a body over the limit",
            s.send(
                "POST",
                "/v1/detect",
                Some(&reader),
                "image/jpeg",
                &vec![0xFFu8; (1 << 20) + 4096],
            ),
            413,
            "payload_too_large",
        ),
        (
            "a corrupt image",
            s.post_multipart(
                "/v1/detect",
                &reader,
                &[("image", &photo("images/format_edge_cases/corrupted.png"))],
                &[],
            ),
            422,
            "invalid_image",
        ),
        (
            "a truncated header",
            s.post_multipart(
                "/v1/detect",
                &reader,
                &[("image", &photo("images/format_edge_cases/empty.png"))],
                &[],
            ),
            422,
            "invalid_image",
        ),
        (
            "an empty image",
            s.post_multipart("/v1/detect", &reader, &[("image", b"")], &[]),
            422,
            "empty_image",
        ),
        (
            "a 30000 × 30000 PNG header",
            s.post_multipart(
                "/v1/detect",
                &reader,
                &[("image", &png_bomb(30_000, 30_000))],
                &[],
            ),
            413,
            "image_too_large",
        ),
        (
            "text that is not an image",
            s.post_json(
                "/v1/detect",
                &reader,
                &json!({"image": base64(b"not an image at all")}),
            ),
            422,
            "invalid_image",
        ),
        (
            "bad base64",
            s.post_json("/v1/detect", &reader, &json!({"image": "%%%"})),
            400,
            "bad_request",
        ),
        (
            "no image",
            s.post_json("/v1/detect", &reader, &json!({})),
            400,
            "bad_request",
        ),
        (
            "an unknown parameter",
            s.post_json(
                "/v1/detect",
                &reader,
                &json!({"image": base64(&photo(OBAMA)), "embedings": true}),
            ),
            400,
            "bad_request",
        ),
        (
            "a parameter of the wrong type",
            s.post_json(
                "/v1/collections/c/identify",
                &reader,
                &json!({"embedding": "x"}),
            ),
            400,
            "bad_request",
        ),
        (
            "a face id that is not a number",
            s.delete("/v1/collections/c/faces/abc", &admin),
            400,
            "bad_request",
        ),
        (
            "an unknown collection",
            s.post_json(
                "/v1/collections/nope/identify",
                &reader,
                &json!({"embedding": [1.0]}),
            ),
            404,
            "not_found",
        ),
        (
            "an embedding of the wrong length",
            s.post_json(
                "/v1/collections/c/identify",
                &reader,
                &json!({"embedding": [1.0, 2.0]}),
            ),
            422,
            "invalid_argument",
        ),
        (
            "a top_k over the limit",
            s.post_json(
                "/v1/collections/c/identify",
                &reader,
                &json!({"embedding": [1.0], "top_k": 100000}),
            ),
            400,
            "bad_request",
        ),
        (
            "a photo without a face to compare",
            s.post_multipart(
                "/v1/compare",
                &reader,
                &[("image1", &photo(OBAMA)), ("image2", &photo(NO_FACE))],
                &[],
            ),
            422,
            "no_face",
        ),
        (
            "a photo without a face to enroll",
            {
                ok(
                    &s.post_json("/v1/collections/c/persons", &admin, &json!({"key": "p"})),
                    201,
                );
                s.post_multipart(
                    "/v1/collections/c/persons/p/faces",
                    &admin,
                    &[("image", &photo(NO_FACE))],
                    &[],
                )
            },
            422,
            "no_face",
        ),
        (
            "an unknown route",
            s.get("/v2/nothing", Some(&reader)),
            404,
            "not_found",
        ),
        (
            "a method the route does not take",
            s.send(
                "PATCH",
                "/v1/detect",
                Some(&reader),
                "application/json",
                b"{}",
            ),
            405,
            "method_not_allowed",
        ),
    ];
    for (what, reply, status, code) in cases {
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{what}: {}",
            reply.text
        );
        assert!(reply.request_id.is_some(), "{what}: no request id");
        assert!(
            !reply.json["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
        assert!(s.healthy(), "the server is down after {what}");
    }
    // And it still does real work.
    let faces = s.post_multipart("/v1/detect", &reader, &[("image", &photo(OBAMA))], &[]);
    assert_eq!(ok(&faces, 200)["faces"].as_array().unwrap().len(), 1);
}
