//! The gallery behaviour suite on a real Milvus 2.3.5 (started in a private
//! network namespace by `scripts/milvus.sh`), with the FLAT and HNSW indexes,
//! plus what is Milvus's own: state shared between two clients, refused
//! settings, a server that is not there.

use facekit_gallery::conformance::{self, contract, vector};
use facekit_gallery::{
    ExportReader, FaceGallery, GalleryError, IndexKind, MasterKey, NewSample, PersonInfo,
};
use facekit_gallery_milvus::{MilvusAddress, MilvusGallery, open_gallery_with_key};

fn connect(url: &str) -> MilvusGallery {
    MilvusGallery::connect(&MilvusAddress::parse(url).unwrap()).unwrap()
}

#[test]
fn the_shared_backend_suite_passes_on_milvus() {
    facekit_testdata::with_milvus("the_shared_backend_suite_passes_on_milvus", |url| {
        let g = connect(url);
        conformance::run_all(&g, &[IndexKind::Exact, IndexKind::Hnsw], "suite ");

        // Two clients share one state: what one enrolls the other finds.
        let a = connect(url);
        let b = connect(url);
        let c = contract(16);
        a.create_collection("shared", &c, IndexKind::Hnsw).unwrap();
        let ids = a
            .enroll(
                "shared",
                &c,
                &PersonInfo::new("ann"),
                &[NewSample::embedding(vector(4, 0.0))],
            )
            .unwrap();
        let found = b.identify("shared", &c, &vector(4, 0.01), 1, 0.5).unwrap();
        assert_eq!(found.best.unwrap().sample_id, ids[0]);
        assert_eq!(
            b.collections()
                .unwrap()
                .iter()
                .filter(|x| x.name == "shared")
                .count(),
            1
        );
        a.delete_collection("shared").unwrap();
        assert!(matches!(
            b.collection("shared"),
            Err(GalleryError::NoSuchCollection(_))
        ));

        // The int8 scan is the embedded store's.
        let err = a
            .create_collection("int8", &c, IndexKind::Int8)
            .unwrap_err();
        assert!(
            err.to_string().contains("exact (FLAT) or hnsw (HNSW)"),
            "{err}"
        );

        sealed_fields_on_milvus(url);
    });
}

/// The stored columns of a collection's samples as Milvus holds them,
/// read with Milvus's own client (nothing of facekit in between).
fn raw_samples(url: &str, collection: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    use milvus::v2::prelude::*;
    let address = MilvusAddress::parse(url).unwrap();
    let hex: String = collection.bytes().map(|b| format!("{b:02x}")).collect();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = ClientV2::new(&ConnectConfig::new().uri(address.uri.clone()))
            .await
            .unwrap();
        let query = QueryRequest::builder()
            .collection_name(format!("facekit_{hex}_samples"))
            .filter("sample_id >= 0".to_string())
            .output_fields(
                ["image_sha256", "bbox", "det_score", "embedding_norm"]
                    .map(String::from)
                    .to_vec(),
            )
            .consistency_level(ConsistencyLevel::Strong)
            .limit(100)
            .build()
            .unwrap();
        let response = client.query(query).await.unwrap();
        response
            .results()
            .rows()
            .unwrap()
            .map(|row| row.to_entity_row().unwrap())
            .collect()
    })
}

/// With a master key, a Milvus collection keeps every biometric field but
/// the searched vector sealed (search and the corrections that re-insert
/// rows pass the shared suite on it); without the key or with another it is
/// refused; its export is sealed.
fn sealed_fields_on_milvus(url: &str) {
    let master = MasterKey::generate().unwrap();
    let same = || Some(MasterKey::from_hex(&master.to_hex()).unwrap());
    let keyed = open_gallery_with_key(url, same()).unwrap();
    // Search, and the corrections that re-insert rows (Milvus cannot update one).
    conformance::identify_and_verify_rank_persons_by_their_best_sample(
        keyed.as_ref(),
        IndexKind::Exact,
        "sealed rank",
    );
    conformance::faces_of_no_person_and_clustering_edits(
        keyed.as_ref(),
        IndexKind::Exact,
        "sealed edits",
    );

    let c = contract(16);
    let created = keyed
        .create_collection("fields", &c, IndexKind::Hnsw)
        .unwrap();
    assert!(created.encrypted);
    let hash = "c3".repeat(32);
    let sample = NewSample {
        embedding: vector(3, 0.0),
        image_sha256: Some(hash.clone()),
        bbox: Some([10.5, 20.25, 110.0, 140.75]),
        det_score: Some(0.875),
        embedding_norm: Some(21.5),
    };
    keyed
        .enroll(
            "fields",
            &c,
            &PersonInfo::new("ann"),
            std::slice::from_ref(&sample),
        )
        .unwrap();
    let read = &keyed.samples("fields", Some("ann")).unwrap()[0];
    assert_eq!(
        (
            read.image_sha256.clone(),
            read.bbox,
            read.det_score,
            read.embedding_norm
        ),
        (
            sample.image_sha256.clone(),
            sample.bbox,
            sample.det_score,
            sample.embedding_norm
        )
    );
    let faces = keyed.cluster_faces("fields").unwrap();
    assert_eq!(faces[0].image_sha256.as_deref(), Some(hash.as_str()));

    // What Milvus holds: no hash, no box, no scores, only the sealed record.
    let raw = raw_samples(url, "fields");
    assert_eq!(raw.len(), 1);
    let row = serde_json::Value::Object(raw[0].clone()).to_string();
    for clear in [hash.as_str(), "10.5", "20.25", "0.875", "21.5"] {
        assert!(!row.contains(clear), "{clear} stored in the clear: {row}");
    }

    // Without the key, or with another: refused, naming the collection.
    let err = connect(url).samples("fields", None).unwrap_err();
    assert!(matches!(err, GalleryError::KeyRequired { .. }), "{err}");
    assert!(err.to_string().contains("'fields' is encrypted"), "{err}");
    let other = open_gallery_with_key(url, Some(MasterKey::generate().unwrap())).unwrap();
    let err = other
        .identify("fields", &c, &vector(3, 0.01), 1, 0.5)
        .unwrap_err();
    assert!(matches!(err, GalleryError::Vault { .. }), "{err}");

    // A sealed export: nothing in the clear, and it reads back with the key.
    let mut export = Vec::new();
    assert_eq!(keyed.export("fields", &mut export).unwrap(), 1);
    let text = String::from_utf8(export).unwrap();
    assert!(
        !text.contains(&hash) && !text.contains("embedding"),
        "{text}"
    );
    let mut lines = text.lines();
    let reader = ExportReader::new(lines.next().unwrap(), same().as_ref()).unwrap();
    let record = reader.record(lines.next().unwrap(), 2).unwrap();
    assert_eq!(record.sample.image_sha256.as_deref(), Some(hash.as_str()));
    keyed.delete_collection("fields").unwrap();
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    // Nothing listens on port 1 of loopback.
    let err = MilvusGallery::connect(&MilvusAddress::parse("milvus://127.0.0.1:1").unwrap())
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, GalleryError::Remote { .. }), "{err}");
    assert!(err.to_string().contains("milvus://127.0.0.1:1"), "{err}");
}
