//! Photo collections over HTTP with real photos (det_500m + SFace): faces
//! added without a person, clustered into suggested persons, corrected
//! (name, split, merge, move, not-this-person), and clustered again in
//! full with every correction kept; bad corrections are 4xx.

mod common;

use common::{base64, ok, photo, start};
use serde_json::{Value, json};

const TRAIN: &str = "identities/face_recognition_knn/train";

/// The person (key) holding face `id`, empty for none.
fn holder(faces: &Value, id: i64) -> String {
    faces["faces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| f["person"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no face {id} in {faces}"))
}

#[test]
fn a_photo_collection_is_clustered_corrected_and_clustered_again() {
    let s = start(|_, _| {});
    let (admin, writer, reader) = (s.admin.clone(), s.writer.clone(), s.reader.clone());
    ok(
        &s.post_json("/v1/collections", &admin, &json!({"name": "album"})),
        201,
    );

    // Every face of each photo, without a person; the group photo gives several.
    let mut ids = std::collections::HashMap::new();
    for (label, rel) in [
        ("obama1", format!("{TRAIN}/obama/obama.jpg")),
        ("obama2", format!("{TRAIN}/obama/obama2.jpg")),
        (
            "obama3",
            "identities/face_recognition_knn/test/obama1.jpg".into(),
        ),
        ("biden1", format!("{TRAIN}/biden/biden.jpg")),
        ("biden2", format!("{TRAIN}/biden/biden2.jpg")),
        ("kit1", format!("{TRAIN}/kit_harington/john1.jpeg")),
        ("kit2", format!("{TRAIN}/kit_harington/john2.jpeg")),
    ] {
        let added = s.post_multipart(
            "/v1/collections/album/faces",
            &writer,
            &[("image", &photo(&rel))],
            &[],
        );
        let faces = ok(&added, 201)["faces"].as_array().unwrap().clone();
        assert_eq!(faces.len(), 1, "{label}: {faces:?}");
        ids.insert(label, faces[0]["id"].as_i64().unwrap());
    }
    let group = s.post_json(
        "/v1/collections/album/faces",
        &writer,
        &json!({"image": base64(&photo("identities/face_recognition_knn/test/obama_and_biden.jpg")), "min_size": 30}),
    );
    let group_ids: Vec<i64> = ok(&group, 201)["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(group_ids.len() >= 2, "{group:?}");
    let total = 7 + group_ids.len();
    // A photo without a face is a 422 that names the problem.
    let empty = s.post_multipart(
        "/v1/collections/album/faces",
        &writer,
        &[("image", &photo("images/no_face_pilatus800.jpg"))],
        &[],
    );
    assert_eq!((empty.status, empty.code()), (422, "no_face"), "{empty:?}");
    // Readers may look, not add.
    let denied = s.post_json(
        "/v1/collections/album/faces",
        &reader,
        &json!({"embedding": vec![0.1; 128]}),
    );
    assert_eq!(denied.status, 403);

    let listed = s.get("/v1/collections/album/faces", Some(&reader));
    let listed = ok(&listed, 200).clone();
    assert_eq!(listed["total"], total);
    assert!(
        listed["faces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["person"] == "" && f["seen"] == false)
    );

    // Cluster: three suggested persons (Obama, Biden, Kit), the group
    // photo's two faces never in one.
    let run = s.post_json("/v1/collections/album/cluster", &writer, &json!({}));
    let run = ok(&run, 200).clone();
    assert_eq!(run["placed"], total, "{run}");
    assert!(run["new_persons"].as_array().unwrap().len() >= 3, "{run}");
    let faces = ok(&s.get("/v1/collections/album/faces", Some(&reader)), 200).clone();
    let obama = holder(&faces, ids["obama1"]);
    let biden = holder(&faces, ids["biden1"]);
    let kit = holder(&faces, ids["kit1"]);
    assert!(
        !obama.is_empty() && !biden.is_empty() && !kit.is_empty(),
        "{faces}"
    );
    assert_eq!(holder(&faces, ids["obama2"]), obama);
    assert_eq!(holder(&faces, ids["obama3"]), obama);
    assert_eq!(holder(&faces, ids["biden2"]), biden);
    assert_eq!(holder(&faces, ids["kit2"]), kit);
    assert!(obama != biden && biden != kit);
    let mut group_persons: Vec<String> = group_ids
        .iter()
        .map(|&id| holder(&faces, id))
        .filter(|p| !p.is_empty())
        .collect();
    let n = group_persons.len();
    group_persons.sort();
    group_persons.dedup();
    assert_eq!(group_persons.len(), n, "one photo, one face per person");
    let person = ok(
        &s.get(
            &format!("/v1/collections/album/persons/{obama}"),
            Some(&reader),
        ),
        200,
    )
    .clone();
    assert_eq!(person["suggested"], true);

    // Name Obama's suggestion: a person now.
    let named = s.send(
        "PATCH",
        &format!("/v1/collections/album/persons/{obama}"),
        Some(&writer),
        "application/json",
        json!({"name": "Barack Obama"}).to_string().as_bytes(),
    );
    assert_eq!(ok(&named, 200)["suggested"], false);
    assert_eq!(ok(&named, 200)["name"], "Barack Obama");
    // Split one Biden photo off, then merge it back.
    let biden_faces = ok(
        &s.get(
            &format!("/v1/collections/album/persons/{biden}"),
            Some(&reader),
        ),
        200,
    )["samples"]
        .as_u64()
        .unwrap();
    let split = s.post_json(
        &format!("/v1/collections/album/persons/{biden}/split"),
        &writer,
        &json!({"faces": [ids["biden2"]], "key": "biden-b"}),
    );
    assert_eq!(ok(&split, 201)["person"]["samples"], 1);
    let merged = s.post_json(
        "/v1/collections/album/persons/biden-b/merge",
        &writer,
        &json!({"into": biden}),
    );
    assert_eq!(ok(&merged, 200)["person"]["samples"], biden_faces);
    assert_eq!(
        s.get("/v1/collections/album/persons/biden-b", Some(&reader))
            .status,
        404
    );
    // Move a Kit face to Biden (a person's decision, however odd), and
    // mark Obama's third photo "not Obama".
    let moved = s.post_json(
        &format!("/v1/collections/album/faces/{}/move", ids["kit2"]),
        &writer,
        &json!({"person": biden}),
    );
    assert_eq!(ok(&moved, 200)["person"]["samples"], biden_faces + 1);
    let not = s.post_json(
        &format!("/v1/collections/album/faces/{}/not-person", ids["obama3"]),
        &writer,
        &json!({"person": obama}),
    );
    ok(&not, 200);

    // Everything again: every correction kept.
    let full = s.post_json(
        "/v1/collections/album/cluster",
        &writer,
        &json!({"full": true}),
    );
    assert_eq!(ok(&full, 200)["full"], true);
    let faces = ok(&s.get("/v1/collections/album/faces", Some(&reader)), 200).clone();
    assert_eq!(holder(&faces, ids["obama1"]), obama);
    assert_eq!(holder(&faces, ids["obama2"]), obama);
    assert_ne!(holder(&faces, ids["obama3"]), obama);
    assert_eq!(holder(&faces, ids["biden2"]), biden);
    assert_eq!(holder(&faces, ids["kit2"]), biden);
    let person = ok(
        &s.get(
            &format!("/v1/collections/album/persons/{obama}"),
            Some(&reader),
        ),
        200,
    )
    .clone();
    assert_eq!(
        (person["name"].as_str(), person["suggested"].as_bool()),
        (Some("Barack Obama"), Some(false))
    );

    // Bad corrections are clear 4xx answers.
    let itself = s.post_json(
        &format!("/v1/collections/album/persons/{biden}/merge"),
        &writer,
        &json!({"into": biden}),
    );
    assert_eq!((itself.status, itself.code()), (422, "invalid_argument"));
    let not_theirs = s.post_json(
        &format!("/v1/collections/album/persons/{biden}/split"),
        &writer,
        &json!({"faces": [ids["obama1"]], "key": "x"}),
    );
    assert_eq!(
        (not_theirs.status, not_theirs.code()),
        (422, "invalid_argument")
    );
    let nobody = s.post_json(
        &format!("/v1/collections/album/faces/{}/move", ids["obama1"]),
        &writer,
        &json!({"person": "nobody"}),
    );
    assert_eq!(nobody.status, 404);
    let no_face = s.post_json(
        "/v1/collections/album/faces/999999/move",
        &writer,
        &json!({"person": obama}),
    );
    assert_eq!(no_face.status, 404);
    let threshold = s.post_json(
        "/v1/collections/album/cluster",
        &writer,
        &json!({"threshold": 2.0}),
    );
    assert_eq!(
        (threshold.status, threshold.code()),
        (422, "invalid_argument")
    );
}
