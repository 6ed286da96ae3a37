//! The gallery behaviour suite on a real Milvus 2.3.5 (started in a private
//! network namespace by `scripts/milvus.sh`), with the FLAT and HNSW indexes,
//! plus what is Milvus's own: state shared between two clients, refused
//! settings, a server that is not there.

use facekit_gallery::conformance::{self, contract, vector};
use facekit_gallery::{FaceGallery, GalleryError, IndexKind, NewSample, PersonInfo};
use facekit_gallery_milvus::{MilvusAddress, MilvusGallery};

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
    });
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
