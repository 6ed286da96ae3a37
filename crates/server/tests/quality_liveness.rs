//! Quality and liveness over HTTP with the real MiniFASNet models: detect
//! reports both, enrollment review refuses a bad photo with its reasons
//! (the collection's default, overridable per request), and in normal mode
//! a printed or replayed face is refused with 422 `spoof_detected` on
//! enroll, identify and verify; observe mode only reports it.

mod common;

use common::{TestServer, base64, ok, photo, start_with};
use facekit_server::ServerConfig;
use facekit_service::LivenessPolicy;
use serde_json::json;

const OBAMA: &str = "identities/face_recognition_knn/train/obama/obama.jpg";
const OBAMA2: &str = "identities/face_recognition_knn/train/obama/obama2.jpg";
const REAL: &str = "images/liveness/image_T1.jpg";
const SPOOF: &str = "images/liveness/image_F2.jpg";

fn server(liveness: Option<LivenessPolicy>) -> TestServer {
    start_with(
        facekit_testdata::liveness_pack(),
        |config: &mut ServerConfig, _| {
            config.liveness = liveness;
        },
    )
}

/// `photo` with every pixel scaled by `factor`, as PNG.
fn darkened(rel: &str, factor: f32) -> Vec<u8> {
    let decoded = facekit_image::decode_bytes(&photo(rel), &Default::default()).unwrap();
    let (w, h) = (decoded.width(), decoded.height());
    let pixels = decoded
        .into_raw()
        .into_iter()
        .map(|v| (f32::from(v) * factor) as u8)
        .collect();
    let img = image::RgbImage::from_raw(w, h, pixels).unwrap();
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn detect_reports_quality_and_liveness_and_normal_mode_refuses_spoofs() {
    let s = server(None);
    let (admin, writer, reader) = (s.admin.clone(), s.writer.clone(), s.reader.clone());

    let real = s.post_multipart(
        "/v1/detect",
        &reader,
        &[("image", &photo(REAL))],
        &[("quality", "true")],
    );
    let face = &ok(&real, 200)["faces"][0];
    let q = &face["quality"];
    assert!(
        q["score"].as_f64().unwrap() > 0.5 && q["score"].as_f64().unwrap() <= 1.0,
        "{q}"
    );
    for field in [
        "det_score",
        "face_size",
        "sharpness",
        "brightness",
        "contrast",
        "yaw",
        "pitch",
        "roll",
        "alignment_residual",
        "coverage",
    ] {
        assert!(q[field].is_number(), "quality.{field} missing: {q}");
    }
    let l = &face["liveness"];
    assert_eq!(l["is_real"], true, "{l}");
    assert_eq!(l["label"], 1);
    assert!(l["real_score"].as_f64().unwrap() > 0.9);
    let files: Vec<&str> = l["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "2.7_80x80_MiniFASNetV2.onnx",
            "4_0_0_80x80_MiniFASNetV1SE.onnx"
        ]
    );
    assert_eq!(l["models"][0]["logits"].as_array().unwrap().len(), 3);
    // Quality only when asked.
    let plain = s.post_multipart("/v1/detect", &reader, &[("image", &photo(REAL))], &[]);
    assert!(ok(&plain, 200)["faces"][0].get("quality").is_none());
    let spoof = s.post_json(
        "/v1/detect",
        &reader,
        &json!({"image": base64(&photo(SPOOF))}),
    );
    assert_eq!(ok(&spoof, 200)["faces"][0]["liveness"]["is_real"], false);

    // A collection whose enrollments get the standard review by default.
    ok(
        &s.post_json(
            "/v1/collections",
            &admin,
            &json!({"name": "door", "review": "standard"}),
        ),
        201,
    );
    let c = s.get("/v1/collections/door", Some(&reader));
    assert_eq!(ok(&c, 200)["collection"]["review"], "standard");
    ok(
        &s.post_json(
            "/v1/collections/door/persons",
            &writer,
            &json!({"key": "obama"}),
        ),
        201,
    );
    let enrolled = s.post_multipart(
        "/v1/collections/door/persons/obama/faces",
        &writer,
        &[("image", &photo(OBAMA))],
        &[],
    );
    let body = ok(&enrolled, 201);
    assert_eq!(body["review"], "standard");
    assert!(body["faces"][0]["quality"]["score"].as_f64().unwrap() > 0.7);
    assert_eq!(body["faces"][0]["liveness"]["is_real"], true);

    // A photo too dark for the standard review: refused with its reason…
    let dark = darkened(OBAMA2, 0.12);
    let refused = s.post_multipart(
        "/v1/collections/door/persons/obama/faces",
        &writer,
        &[("image", &dark)],
        &[],
    );
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.code(), "review_refused");
    let reasons: Vec<&str> = refused.json["error"]["details"][0]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"too_dark"), "{reasons:?}");
    // …and accepted when the request turns the review off.
    let unreviewed = s.post_multipart(
        "/v1/collections/door/persons/obama/faces",
        &writer,
        &[("image", &dark)],
        &[("review", "off")],
    );
    assert_eq!(ok(&unreviewed, 201)["review"], "off");

    // Normal mode (the default with liveness models): spoofs are refused.
    ok(
        &s.post_json(
            "/v1/collections/door/persons",
            &writer,
            &json!({"key": "mallory"}),
        ),
        201,
    );
    let spoof_enroll = s.post_multipart(
        "/v1/collections/door/persons/mallory/faces",
        &writer,
        &[("image", &photo(SPOOF))],
        &[("review", "off")],
    );
    assert_eq!(
        (spoof_enroll.status, spoof_enroll.code()),
        (422, "spoof_detected"),
        "{}",
        spoof_enroll.text
    );
    let identify = s.post_multipart(
        "/v1/collections/door/identify",
        &reader,
        &[("image", &photo(SPOOF))],
        &[],
    );
    assert_eq!(
        (identify.status, identify.code()),
        (422, "spoof_detected"),
        "{}",
        identify.text
    );
    let verify = s.post_multipart(
        "/v1/collections/door/persons/obama/verify",
        &reader,
        &[("image", &photo(SPOOF))],
        &[],
    );
    assert_eq!(
        (verify.status, verify.code()),
        (422, "spoof_detected"),
        "{}",
        verify.text
    );
    // A real probe is identified, with its liveness.
    let found = s.post_multipart(
        "/v1/collections/door/identify",
        &reader,
        &[("image", &photo(OBAMA2))],
        &[],
    );
    let face = &ok(&found, 200)["faces"][0];
    assert_eq!(face["best"]["key"], "obama");
    assert_eq!(face["face"]["liveness"]["is_real"], true);
}

#[test]
fn observe_mode_reports_spoofs_without_refusing_them() {
    let s = server(Some(LivenessPolicy::Observe));
    let (admin, writer, reader) = (s.admin.clone(), s.writer.clone(), s.reader.clone());
    ok(
        &s.post_json("/v1/collections", &admin, &json!({"name": "lobby"})),
        201,
    );
    ok(
        &s.post_json(
            "/v1/collections/lobby/persons",
            &writer,
            &json!({"key": "obama"}),
        ),
        201,
    );
    ok(
        &s.post_multipart(
            "/v1/collections/lobby/persons/obama/faces",
            &writer,
            &[("image", &photo(OBAMA))],
            &[],
        ),
        201,
    );
    let identify = s.post_multipart(
        "/v1/collections/lobby/identify",
        &reader,
        &[("image", &photo(SPOOF))],
        &[],
    );
    assert_eq!(
        ok(&identify, 200)["faces"][0]["face"]["liveness"]["is_real"],
        false
    );
    let verify = s.post_multipart(
        "/v1/collections/lobby/persons/obama/verify",
        &reader,
        &[("image", &photo(SPOOF))],
        &[],
    );
    assert_eq!(ok(&verify, 200)["same"], false);
}
