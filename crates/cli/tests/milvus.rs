//! The gallery on Milvus from the command line: two facekit processes share
//! one Milvus (enroll through one, identify through the other), and export /
//! import move a collection between Milvus and the embedded store both ways
//! with verified counts. Milvus 2.3.5 runs in a private network namespace
//! (`scripts/milvus.sh`, started by the test).

use std::process::{Command, Output};

use facekit_testdata::{scrfd500m_sface_pack, shared, with_milvus};

fn facekit(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facekit"))
        .args(["gallery", "--db", db])
        .args(args)
        .output()
        .expect("run facekit")
}

fn ok(out: Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn two_processes_share_a_milvus_gallery_and_collections_move_both_ways() {
    with_milvus(
        "two_processes_share_a_milvus_gallery_and_collections_move_both_ways",
        |url| {
            let pack = scrfd500m_sface_pack();
            let pack = pack.path().to_str().unwrap();
            let train = shared("identities/face_recognition_knn/train");
            let probe = shared("identities/face_recognition_knn/test/obama1.jpg");
            let (train, probe) = (train.to_str().unwrap(), probe.to_str().unwrap());

            // One process creates and enrolls; separate processes search.
            ok(facekit(
                url,
                &["create", "knn", "--models", pack, "--index", "hnsw"],
            ));
            let enrolled = ok(facekit(url, &["enroll", "knn", train, "--models", pack]));
            assert_eq!(enrolled.len(), 9, "one sample per training photo");
            let found = ok(facekit(url, &["identify", "knn", probe, "--models", pack]));
            assert_eq!(found[0]["faces"][0]["best"]["key"], "obama", "{found:?}");
            let stats = &ok(facekit(url, &["stats", "knn"]))[0];
            assert_eq!(
                (stats["persons"].as_u64(), stats["samples"].as_u64()),
                (Some(5), Some(9))
            );

            // Milvus → file → embedded store.
            let dir = tempfile::tempdir().unwrap();
            let export = dir.path().join("knn.jsonl");
            let out = facekit(url, &["export", "knn"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                String::from_utf8_lossy(&out.stderr)
                    .contains("exported 9 samples of 'knn' (counts verified)")
            );
            std::fs::write(&export, &out.stdout).unwrap();
            let file = dir.path().join("g.db");
            let file = file.to_str().unwrap();
            let imported = facekit(file, &["import", "knn", export.to_str().unwrap()]);
            assert!(
                String::from_utf8_lossy(&imported.stderr)
                    .contains("imported 9 samples into 'knn' (now 9, counts verified)")
            );
            let local = ok(facekit(file, &["identify", "knn", probe, "--models", pack]));
            assert_eq!(local[0]["faces"][0]["best"]["key"], "obama");
            let score =
                |v: &[serde_json::Value]| v[0]["faces"][0]["best"]["score"].as_f64().unwrap();
            assert!(
                (score(&local) - score(&found)).abs() < 1e-4,
                "same vectors, same cosine"
            );

            // Embedded store → Milvus, under another name, exact index.
            let back = facekit(file, &["export", "knn"]);
            let back_file = dir.path().join("back.jsonl");
            std::fs::write(&back_file, &back.stdout).unwrap();
            let imported = facekit(url, &["import", "knn-copy", back_file.to_str().unwrap()]);
            assert!(
                imported.status.success(),
                "{}",
                String::from_utf8_lossy(&imported.stderr)
            );
            let copy = &ok(facekit(url, &["stats", "knn-copy"]))[0];
            assert_eq!(copy["samples"].as_u64(), Some(9));

            // Deleting a person removes their rows for every process.
            ok(facekit(url, &["delete", "knn", "--person", "obama"]));
            let after = ok(facekit(
                url,
                &["identify", "knn", probe, "--models", pack, "--top-k", "5"],
            ));
            let keys: Vec<&str> = after[0]["faces"][0]["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["key"].as_str().unwrap())
                .collect();
            assert!(!keys.contains(&"obama"), "{keys:?}");
            for collection in ["knn", "knn-copy"] {
                ok(facekit(url, &["delete", collection]));
            }
            assert!(ok(facekit(url, &["list"])).is_empty());
        },
    );
}
