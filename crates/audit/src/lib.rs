//! The audit trail of biometric operations: every enrollment,
//! identification, verification, listing or export with embeddings,
//! deletion, erasure, purge and key change appends one entry — when, who
//! (an API key id or an OS user), what, which collection, which person
//! keys, how many results, which request. Never embeddings, images or
//! secrets. Entries are hash-chained (each holds the SHA-256 of the one
//! before), so an entry edited, removed or moved is found by [`AuditLog::verify`],
//! which names the first broken one. The log is a table of a SQLite file
//! (the gallery's own file, or one of its own for galleries on Milvus);
//! appends from several processes are serialised by SQLite's write lock.
//! Depends on `facekit-core` only.
//!
//! ```
//! use facekit_audit::{Actor, AuditLog, Event, Operation};
//! let dir = tempfile::tempdir()?;
//! let log = AuditLog::open(&dir.path().join("gallery.db"))?;
//! let actor = Actor::new("alice", "req-1");
//! log.append(&actor, &Event::new(Operation::Identify, "staff").persons(["bob"]).results(1))?;
//! assert_eq!(log.verify()?.entries, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// What the first entry's `prev` holds: no entry came before it.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest text kept in one field (actor, collection, request id, a person key).
const MAX_FIELD: usize = 512;
/// Most person keys one entry names; a larger set is cut and marked.
const MAX_PERSONS: usize = 1000;

/// Why the audit trail could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, read or written.
    #[error("audit trail {path}: {reason}")]
    Database {
        /// The file holding the trail.
        path: PathBuf,
        /// SQLite's explanation.
        reason: String,
    },
}

/// What was done to biometric data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Face samples added to a person (or to no person yet).
    Enroll,
    /// A face searched among a collection's persons.
    Identify,
    /// A face compared with one person.
    Verify,
    /// Stored samples listed with their embeddings.
    ListFaces,
    /// A collection exported.
    Export,
    /// A face sample, a person or a collection deleted.
    Delete,
    /// Everything held about one person erased on request.
    Erase,
    /// Samples past the collection's retention erased.
    Purge,
    /// Everything held about one person exported on request.
    PersonExport,
    /// A collection's retention changed.
    Retention,
    /// A collection's faces clustered into people.
    Cluster,
    /// Faces moved between people by hand (merge, split, move, not this person).
    Correct,
    /// Plaintext collections encrypted in place.
    Encrypt,
    /// The master key replaced (data keys re-wrapped or samples re-sealed).
    RotateKeys,
    /// A camera monitor saw a person of a collection (or an unknown face)
    /// come into view.
    Watch,
}

impl Operation {
    /// The name entries carry (`enroll`, `list_faces`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Enroll => "enroll",
            Operation::Identify => "identify",
            Operation::Verify => "verify",
            Operation::ListFaces => "list_faces",
            Operation::Export => "export",
            Operation::Delete => "delete",
            Operation::Erase => "erase",
            Operation::Purge => "purge",
            Operation::PersonExport => "person_export",
            Operation::Retention => "retention",
            Operation::Cluster => "cluster",
            Operation::Correct => "correct",
            Operation::Encrypt => "encrypt",
            Operation::RotateKeys => "rotate_keys",
            Operation::Watch => "watch",
        }
    }
}

/// Who acts: an API key id or an OS user, and the request (or process
/// run) the operation belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `key:<id>` on the server, `user:<name>` on the command line.
    pub who: String,
    /// The HTTP request id, or one id per command-line run.
    pub request_id: String,
}

impl Actor {
    /// An actor with a request id.
    pub fn new(who: &str, request_id: &str) -> Self {
        Self {
            who: who.into(),
            request_id: request_id.into(),
        }
    }

    /// The OS user running this process (`$USER`, else the uid from
    /// `/proc`), with a random id for this run.
    pub fn os_user() -> Self {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                let status = std::fs::read_to_string("/proc/self/status").ok()?;
                let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
                Some(format!("uid {}", uid.split_whitespace().next()?))
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            who: format!("user:{user}"),
            request_id: run_id(),
        }
    }
}

/// A random id for one command-line run (128 bits, hex).
fn run_id() -> String {
    let mut bytes = [0u8; 16];
    // Without the system's random source, time and pid still tell runs apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos ^ u128::from(std::process::id()) << 96).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One operation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What was done.
    pub operation: Operation,
    /// The collection (empty for gallery-wide operations such as key rotation).
    pub collection: String,
    /// Person keys involved (enrolled, matched, compared with, deleted).
    pub persons: Vec<String>,
    /// How many results: samples enrolled, faces searched, samples erased…
    pub results: usize,
}

impl Event {
    /// An event of `operation` on `collection`, no persons, no results.
    pub fn new(operation: Operation, collection: &str) -> Self {
        Self {
            operation,
            collection: collection.into(),
            persons: Vec::new(),
            results: 0,
        }
    }

    /// With these person keys (sorted, without repeats, empty keys left out).
    pub fn persons<S: AsRef<str>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.persons = keys
            .into_iter()
            .map(|k| k.as_ref().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        self.persons.sort();
        self.persons.dedup();
        self
    }

    /// With a result count.
    pub fn results(mut self, n: usize) -> Self {
        self.results = n;
        self
    }
}

/// One recorded entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// When, UTC (RFC 3339).
    pub time: String,
    /// Who.
    pub actor: String,
    /// What.
    pub operation: String,
    /// The collection.
    pub collection: String,
    /// Person keys involved.
    pub persons: Vec<String>,
    /// How many results.
    pub results: i64,
    /// The request.
    pub request_id: String,
    /// The hash of the entry before ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 of this entry's fields and `prev`, hex.
    pub hash: String,
}

impl Entry {
    /// The hash this entry's fields give.
    fn computed_hash(&self) -> String {
        let fields = serde_json::json!([
            self.seq,
            self.time_ms,
            self.actor,
            self.operation,
            self.collection,
            self.persons,
            self.results,
            self.request_id,
            self.prev,
        ]);
        facekit_core::sha256_hex(fields.to_string().as_bytes())
    }
}

/// What [`AuditLog::verify`] found.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Entries checked.
    pub entries: usize,
    /// The hash of the last entry (the chain's head), if any.
    pub head: Option<String>,
    /// The first broken entry, if any.
    pub broken: Option<Broken>,
}

/// The first entry whose chain does not hold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// Its position.
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

/// Which entries [`AuditLog::entries`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only entries after this position.
    pub after: i64,
    /// At most this many (0: all).
    pub limit: usize,
    /// Only this collection.
    pub collection: Option<String>,
    /// Only entries naming this person key.
    pub person: Option<String>,
    /// Only this operation.
    pub operation: Option<Operation>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    operation TEXT NOT NULL,
    collection TEXT NOT NULL,
    persons TEXT NOT NULL,
    results INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
";

/// An append-only, hash-chained audit trail in a SQLite file.
pub struct AuditLog {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens the trail in `path` (a gallery file or a file of its own),
    /// creating its table when missing.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let db = |e: rusqlite::Error| AuditError::Database {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;",
        )
        .map_err(db)?;
        let present: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        // Only when missing: opening a file that has it writes nothing.
        if !present {
            conn.execute_batch(SCHEMA).map_err(db)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The file holding the trail.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self, e: rusqlite::Error) -> AuditError {
        AuditError::Database {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while appending left SQLite's transaction rolled back.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one entry, committed (and chained to the last one written
    /// by any process) before it returns.
    pub fn append(&self, actor: &Actor, event: &Event) -> Result<Entry, AuditError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.db(e))?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let (seq, prev) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_string()),
        };
        let mut persons: Vec<String> = event.persons.iter().map(|p| bounded(p)).collect();
        if persons.len() > MAX_PERSONS {
            let more = persons.len() - MAX_PERSONS;
            persons.truncate(MAX_PERSONS);
            persons.push(format!("… {more} more"));
        }
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut entry = Entry {
            seq,
            time_ms,
            time: rfc3339(time_ms),
            actor: bounded(&actor.who),
            operation: event.operation.as_str().into(),
            collection: bounded(&event.collection),
            persons,
            results: event.results as i64,
            request_id: bounded(&actor.request_id),
            prev,
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        tx.execute(
            "INSERT INTO audit_log (seq, time_ms, actor, operation, collection, persons, results, request_id, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                entry.seq,
                entry.time_ms,
                entry.actor,
                entry.operation,
                entry.collection,
                serde_json::to_string(&entry.persons).unwrap_or_default(),
                entry.results,
                entry.request_id,
                entry.prev,
                entry.hash
            ],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(entry)
    }

    /// Entries in chain order, filtered.
    pub fn entries(&self, filter: &Filter) -> Result<Vec<Entry>, AuditError> {
        self.entries_on(&self.conn(), filter)
    }

    fn entries_on(&self, conn: &Connection, filter: &Filter) -> Result<Vec<Entry>, AuditError> {
        let mut stmt = conn
            .prepare(
                "SELECT seq, time_ms, actor, operation, collection, persons, results, request_id, prev, hash FROM audit_log
                 WHERE seq > ?1 AND (?2 IS NULL OR collection = ?2) AND (?3 IS NULL OR operation = ?3)
                   AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(persons) WHERE value = ?4))
                 ORDER BY seq LIMIT ?5",
            )
            .map_err(|e| self.db(e))?;
        let limit = if filter.limit == 0 {
            -1
        } else {
            filter.limit as i64
        };
        let rows = stmt
            .query_map(
                params![
                    filter.after,
                    filter.collection,
                    filter.operation.map(Operation::as_str),
                    filter.person,
                    limit
                ],
                entry_row,
            )
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.db(e))
    }

    /// Walks the whole chain: every entry must follow the one before
    /// without a gap, carry the hash of the one before, and hash to what
    /// it holds; and none may be missing after the last (SQLite's counter
    /// of positions handed out). Names the first entry where that fails.
    pub fn verify(&self) -> Result<Verified, AuditError> {
        let conn = self.conn();
        // One read snapshot: an entry another process appends meanwhile
        // must not look like one removed from the end.
        let snapshot = conn.unchecked_transaction().map_err(|e| self.db(e))?;
        let entries = self.entries_on(&snapshot, &Filter::default())?;
        let issued: i64 = snapshot
            .query_row(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.db(e))?;
        snapshot.finish().map_err(|e| self.db(e))?;
        let mut prev = GENESIS.to_string();
        let mut expected = 1;
        let mut broken = None;
        for e in &entries {
            let reason = if e.seq != expected {
                Some(format!(
                    "entry {expected} is missing (the chain jumps from {} to {})",
                    expected - 1,
                    e.seq
                ))
            } else if e.hash != e.computed_hash() {
                Some("its contents do not match its hash: the entry was edited".to_string())
            } else if e.prev != prev {
                Some(format!(
                    "it does not carry the hash of entry {}: an entry before it was edited, removed or moved",
                    e.seq - 1
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                broken = Some(Broken { seq: e.seq, reason });
                break;
            }
            prev = e.hash.clone();
            expected += 1;
        }
        if broken.is_none() && issued >= expected {
            broken = Some(Broken {
                seq: expected,
                reason: format!(
                    "entries {expected} to {issued} were written and are missing (removed from the end)"
                ),
            });
        }
        Ok(Verified {
            entries: entries.len(),
            head: entries.last().map(|e| e.hash.clone()),
            broken,
        })
    }
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let time_ms: i64 = r.get(1)?;
    let persons: String = r.get(5)?;
    Ok(Entry {
        seq: r.get(0)?,
        time_ms,
        time: rfc3339(time_ms),
        actor: r.get(2)?,
        operation: r.get(3)?,
        collection: r.get(4)?,
        // Unreadable persons hash differently: verify reports the entry.
        persons: serde_json::from_str(&persons).unwrap_or_else(|_| vec![persons]),
        results: r.get(6)?,
        request_id: r.get(7)?,
        prev: r.get(8)?,
        hash: r.get(9)?,
    })
}

/// `s` cut to [`MAX_FIELD`] bytes (at a character boundary).
fn bounded(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_string();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Unix milliseconds as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (the civil-from-days
/// conversion of the proleptic Gregorian calendar).
fn rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = rem / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_796_660_625_000), "2026-12-07T16:23:45.000Z");
    }

    #[test]
    fn long_fields_are_cut_at_a_character_boundary() {
        let s = "é".repeat(400);
        let cut = bounded(&s);
        assert!(cut.len() <= MAX_FIELD && s.starts_with(&cut));
    }
}
