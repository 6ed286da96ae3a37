//! The chain finds tampering: an entry edited, removed (in the middle or
//! at the end) or moved is named by `verify`, as the first broken entry.

use facekit_audit::{Actor, AuditLog, Event, Filter, Operation};
use rusqlite::Connection;

/// A trail of five entries in a fresh file.
fn trail() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.db");
    let log = AuditLog::open(&path).unwrap();
    let actor = Actor::new("key:k1", "req");
    for (i, op) in [
        Operation::Enroll,
        Operation::Identify,
        Operation::Verify,
        Operation::Delete,
        Operation::Export,
    ]
    .into_iter()
    .enumerate()
    {
        let event = Event::new(op, "staff")
            .persons([format!("p{i}")])
            .results(i);
        let entry = log.append(&actor, &event).unwrap();
        assert_eq!(entry.seq, i as i64 + 1);
    }
    let verified = log.verify().unwrap();
    assert_eq!((verified.entries, verified.broken), (5, None));
    (dir, path)
}

/// Runs SQL on the file behind the trail's back, then verifies it afresh.
fn tamper(path: &std::path::Path, sql: &str) -> facekit_audit::Broken {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
    AuditLog::open(path)
        .unwrap()
        .verify()
        .unwrap()
        .broken
        .expect("tampering went unnoticed")
}

#[test]
fn an_edited_entry_is_named() {
    let (_dir, path) = trail();
    let broken = tamper(&path, "UPDATE audit_log SET results = 99 WHERE seq = 3");
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("edited"), "{}", broken.reason);
    // Editing the hash too (recomputed by someone without the chain) breaks the next.
    let (_dir, path) = trail();
    let forged = tamper(
        &path,
        &format!(
            "UPDATE audit_log SET persons = '[\"someone else\"]', hash = '{}' WHERE seq = 2",
            "f".repeat(64)
        ),
    );
    assert_eq!(forged.seq, 2);
}

#[test]
fn a_removed_entry_is_named() {
    let (_dir, path) = trail();
    let broken = tamper(&path, "DELETE FROM audit_log WHERE seq = 2");
    assert_eq!(broken.seq, 3);
    assert!(
        broken.reason.contains("entry 2 is missing"),
        "{}",
        broken.reason
    );

    let (_dir, path) = trail();
    let broken = tamper(&path, "DELETE FROM audit_log WHERE seq = 1");
    assert_eq!(broken.seq, 2);

    let (_dir, path) = trail();
    let broken = tamper(&path, "DELETE FROM audit_log WHERE seq >= 4");
    assert_eq!(broken.seq, 4);
    assert!(
        broken.reason.contains("removed from the end"),
        "{}",
        broken.reason
    );
}

#[test]
fn reordered_entries_are_named() {
    // Swapping two entries' positions.
    let (_dir, path) = trail();
    let broken = tamper(
        &path,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = -1;",
    );
    assert_eq!(broken.seq, 2);
    // Moving whole rows (contents and hashes) between positions.
    let (_dir, path) = trail();
    let broken = tamper(
        &path,
        "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE seq IN (3, 4);
         UPDATE audit_log SET (time_ms, actor, operation, collection, persons, results, request_id, prev, hash) =
           (SELECT time_ms, actor, operation, collection, persons, results, request_id, prev, hash FROM t WHERE t.seq = 7 - audit_log.seq)
         WHERE seq IN (3, 4);",
    );
    assert_eq!(broken.seq, 3);
}

#[test]
fn appends_from_two_handles_chain_in_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let a = AuditLog::open(&path).unwrap();
    let b = AuditLog::open(&path).unwrap();
    std::thread::scope(|s| {
        for log in [&a, &b] {
            s.spawn(move || {
                for i in 0..20 {
                    log.append(
                        &Actor::new("user:t", "r"),
                        &Event::new(Operation::Identify, "c").results(i),
                    )
                    .unwrap();
                }
            });
        }
    });
    let verified = a.verify().unwrap();
    assert_eq!((verified.entries, verified.broken), (40, None));
    let only = a
        .entries(&Filter {
            person: Some("nobody".into()),
            ..Filter::default()
        })
        .unwrap();
    assert!(only.is_empty());
}

#[test]
fn verifying_while_another_handle_appends_finds_nothing_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let writer = AuditLog::open(&path).unwrap();
    let reader = AuditLog::open(&path).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..200 {
                writer
                    .append(
                        &Actor::new("user:t", "r"),
                        &Event::new(Operation::Identify, "c").results(i),
                    )
                    .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut checks = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || checks == 0 {
            let verified = reader.verify().unwrap();
            assert_eq!(verified.broken, None, "after {} entries", verified.entries);
            checks += 1;
        }
    });
    assert_eq!(reader.verify().unwrap().entries, 200);
}
