//! The SQLite source of truth: one file, WAL journal, `synchronous=FULL` (a
//! committed write survives a crash or power loss), `secure_delete` (deleted
//! biometric data is overwritten, not just unlinked) and a WAL checkpoint
//! after deletes so no old page lingers in the journal.
//!
//! Several processes may hold one file. What another process changed is
//! found without rereading the file: sample ids are `AUTOINCREMENT` (never
//! reused, so new samples are those above the last id seen), and triggers
//! log every erased sample and every created or dropped collection in
//! `changes` (a retention change is logged there too, so other processes
//! reread that collection's facts without rebuilding its index); both counters live in `sqlite_sequence`, one tiny table read
//! before each operation. Each embedding is stored with its CRC-32, checked
//! whenever it is read.
//!
//! In an encrypted collection (`collections.data_key` set: its data key,
//! wrapped by the master key) a sample's biometric fields (embedding, image
//! hash, box, detector score, norm) are sealed together into `embedding`
//! and their own columns stay NULL; the checksum covers the sealed bytes.

use std::path::Path;

use facekit_vault::DataKey;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{
    ClusterFace, Collection, EmbeddingContract, GalleryError, IndexKind, NewSample, Person, Sample,
};

/// A collection's data key and what each of its records is bound to.
#[derive(Clone)]
pub(crate) struct Sealer {
    key: DataKey,
    aad: Vec<u8>,
}

impl Sealer {
    pub fn new(key: DataKey, collection_id: i64) -> Self {
        Self {
            key,
            aad: sample_context(collection_id),
        }
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }
}

/// What a collection's data key is wrapped with (binding it to the collection).
pub(crate) fn key_context(collection_id: i64) -> Vec<u8> {
    [
        b"facekit data key ".as_slice(),
        &collection_id.to_le_bytes(),
    ]
    .concat()
}

/// What a collection's sealed saved index is bound to.
pub(crate) fn index_context(collection_id: i64) -> Vec<u8> {
    [b"facekit index ".as_slice(), &collection_id.to_le_bytes()].concat()
}

/// What a collection's sealed samples are bound to.
fn sample_context(collection_id: i64) -> Vec<u8> {
    [b"facekit sample ".as_slice(), &collection_id.to_le_bytes()].concat()
}

/// The data keys of the encrypted collections, by collection id.
pub(crate) type Keyring = std::collections::HashMap<i64, Sealer>;

/// A sample's stored biometric columns: `embedding`, `checksum`,
/// `image_sha256`, `bbox`, `det_score`, `embedding_norm`.
pub(crate) struct StoredSample {
    pub blob: Vec<u8>,
    pub checksum: i64,
    pub image_sha256: Option<String>,
    pub bbox: Option<String>,
    pub det_score: Option<f32>,
    pub embedding_norm: Option<f32>,
}

/// The columns of `s` as stored: plain, or sealed into the blob.
pub(crate) fn stored(s: &NewSample, sealer: Option<&Sealer>) -> StoredSample {
    let bbox = s.bbox.map(|b| serde_json::json!(b).to_string());
    let Some(sealer) = sealer else {
        let blob = to_blob(&s.embedding);
        return StoredSample {
            checksum: checksum(&blob),
            blob,
            image_sha256: s.image_sha256.clone(),
            bbox,
            det_score: s.det_score,
            embedding_norm: s.embedding_norm,
        };
    };
    let rest = serde_json::json!([s.image_sha256, bbox, s.det_score, s.embedding_norm]);
    let mut plain = zeroize::Zeroizing::new(to_blob(&s.embedding));
    plain.splice(0..0, ((s.embedding.len() * 4) as u32).to_le_bytes());
    plain.extend_from_slice(rest.to_string().as_bytes());
    let blob = sealer.key.seal(&plain, &sealer.aad);
    StoredSample {
        checksum: checksum(&blob),
        blob,
        image_sha256: None,
        bbox: None,
        det_score: None,
        embedding_norm: None,
    }
}

/// A sample's biometric fields read back.
pub(crate) struct Biometrics {
    pub embedding: Vec<f32>,
    pub image_sha256: Option<String>,
    pub bbox: Option<[f32; 4]>,
    pub det_score: Option<f32>,
    pub embedding_norm: Option<f32>,
}

/// Reads the six biometric columns starting at `at`: `Err(id)` when the
/// stored bytes fail their checksum or do not open with the key.
fn biometrics(
    r: &rusqlite::Row<'_>,
    id: i64,
    at: usize,
    sealer: Option<&Sealer>,
) -> rusqlite::Result<Result<Biometrics, i64>> {
    let blob = r.get_ref(at)?.as_blob()?;
    if checksum(blob) != r.get::<_, i64>(at + 1)? {
        return Ok(Err(id));
    }
    let Some(sealer) = sealer else {
        if !blob.len().is_multiple_of(4) {
            return Ok(Err(id));
        }
        let bbox: Option<String> = r.get(at + 3)?;
        return Ok(Ok(Biometrics {
            embedding: from_blob(blob),
            image_sha256: r.get(at + 2)?,
            bbox: bbox.and_then(|b| serde_json::from_str(&b).ok()),
            det_score: r.get(at + 4)?,
            embedding_norm: r.get(at + 5)?,
        }));
    };
    Ok(unseal(blob, sealer).ok_or(id))
}

/// The fields [`stored`] sealed, if they open.
fn unseal(blob: &[u8], sealer: &Sealer) -> Option<Biometrics> {
    let plain = zeroize::Zeroizing::new(sealer.key.open(blob, &sealer.aad).ok()?);
    let len = u32::from_le_bytes(plain.get(..4)?.try_into().ok()?) as usize;
    let vector = plain
        .get(4..4 + len)
        .filter(|v| v.len().is_multiple_of(4))?;
    type Rest = (Option<String>, Option<String>, Option<f32>, Option<f32>);
    let (image_sha256, bbox, det_score, embedding_norm): Rest =
        serde_json::from_slice(plain.get(4 + len..)?).ok()?;
    Some(Biometrics {
        embedding: from_blob(vector),
        image_sha256,
        bbox: bbox.and_then(|b| serde_json::from_str(&b).ok()),
        det_score,
        embedding_norm,
    })
}

/// The biometric columns, in the order [`biometrics`] reads them.
const BIOMETRIC_COLUMNS: &str =
    "s.embedding, s.checksum, s.image_sha256, s.bbox, s.det_score, s.embedding_norm";

/// `PRAGMA user_version` of the current layout, migrated at open. 0: the
/// first layout (sample ids reused, no change log, no checksums); 2: no
/// review default per collection; 3: no clustering state; 4: no
/// encryption; 5: no retention.
const LAYOUT: i64 = 6;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    model_sha256 TEXT NOT NULL,
    dimension INTEGER NOT NULL CHECK (dimension > 0),
    preprocessing TEXT NOT NULL,
    index_kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    review TEXT NOT NULL DEFAULT 'off',
    data_key BLOB,
    retention_days INTEGER
);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    suggested INTEGER NOT NULL DEFAULT 0,
    UNIQUE (collection_id, key)
);
";

const SAMPLES: &str = "
CREATE TABLE samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    image_sha256 TEXT,
    bbox TEXT,
    det_score REAL,
    embedding_norm REAL,
    created_at INTEGER NOT NULL
);
";

/// The change log and the triggers that fill it (ids only: no biometric
/// data), and clustering's state of each face it has seen (whether a
/// person decided its place, the persons it must never join: keys only).
/// Cascaded deletes fire the sample trigger too.
const CHANGES: &str = "
CREATE INDEX IF NOT EXISTS samples_by_person ON samples(person_id);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    collection_id INTEGER,
    sample_id INTEGER
);
CREATE TABLE IF NOT EXISTS quarantine (
    sample_id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    person TEXT NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS clustering (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
    suggested INTEGER NOT NULL,
    seen INTEGER NOT NULL,
    not_persons TEXT NOT NULL DEFAULT '[]'
);
CREATE TRIGGER IF NOT EXISTS log_sample_moved AFTER UPDATE OF person_id ON samples
BEGIN INSERT INTO changes (kind, sample_id) VALUES ('sample_moved', new.id); END;
CREATE TRIGGER IF NOT EXISTS log_sample_erased AFTER DELETE ON samples
BEGIN INSERT INTO changes (kind, sample_id) VALUES ('sample_erased', old.id); END;
CREATE TRIGGER IF NOT EXISTS log_collection_created AFTER INSERT ON collections
BEGIN INSERT INTO changes (kind, collection_id) VALUES ('collection_created', new.id); END;
CREATE TRIGGER IF NOT EXISTS log_collection_dropped AFTER DELETE ON collections
BEGIN INSERT INTO changes (kind, collection_id) VALUES ('collection_dropped', old.id); END;
";

/// Changes kept in the log; a process that fell further behind reloads
/// everything (it notices the gap).
const CHANGES_KEPT: i64 = 100_000;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// CRC-32 of an embedding blob, as stored beside it.
pub(crate) fn checksum(blob: &[u8]) -> i64 {
    i64::from(crc32fast::hash(blob))
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// An embedding read back, or (`Err`) the id of a sample whose stored
/// bytes no longer match their checksum.
pub(crate) type Checked = Result<Vec<f32>, i64>;

/// How far the file has moved: the last sample id and the last change
/// logged. Equal versions mean nothing was added, erased, created or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Versions {
    pub samples: i64,
    pub changes: i64,
}

/// One logged change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    SampleErased(i64),
    SampleMoved(i64),
    CollectionCreated(i64),
    CollectionDropped(i64),
    /// A collection's facts (retention) changed; its samples did not.
    CollectionChanged(i64),
}

/// A new sample as the index needs it.
pub(crate) struct IndexedSample {
    pub id: i64,
    pub person_id: i64,
    pub collection_id: i64,
    /// `Err(id)` when the stored bytes are damaged.
    pub embedding: Checked,
}

/// One connection to the file and the statements the gallery runs on it.
pub(crate) struct Store {
    pub conn: Connection,
}

impl Store {
    /// Opens the file, creating or migrating its tables (the writer).
    pub fn open(path: &Path) -> Result<Self, GalleryError> {
        let store = Self::connect(path)?;
        store.prepare_layout().map_err(|e| database(path, e))?;
        Ok(store)
    }

    /// Another connection to a file [`Store::open`] prepared (a reader).
    pub fn connect(path: &Path) -> Result<Self, GalleryError> {
        let conn = Connection::open(path).map_err(|e| database(path, e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON; PRAGMA busy_timeout=5000; PRAGMA cache_size=-65536;",
        )
        .map_err(|e| database(path, e))?;
        Ok(Self { conn })
    }

    fn prepare_layout(&self) -> Result<(), rusqlite::Error> {
        // The write lock first: two processes opening an old file at once
        // must not both migrate it.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        tx.execute_batch(SCHEMA)?;
        let has_samples: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'samples'",
            [],
            |r| r.get(0),
        )?;
        if !has_samples {
            tx.execute_batch(SAMPLES)?;
        } else if version < 2 {
            migrate_samples(&tx)?;
        }
        add_missing_column(&tx, "collections", "review", "TEXT NOT NULL DEFAULT 'off'")?;
        add_missing_column(&tx, "persons", "suggested", "INTEGER NOT NULL DEFAULT 0")?;
        add_missing_column(&tx, "collections", "data_key", "BLOB")?;
        add_missing_column(&tx, "collections", "retention_days", "INTEGER")?;
        tx.execute_batch(CHANGES)?;
        // Only when it changes: opening a current file writes nothing.
        if version != LAYOUT {
            tx.execute_batch(&format!("PRAGMA user_version = {LAYOUT}"))?;
        }
        tx.commit()
    }

    /// The file's current [`Versions`].
    pub fn versions(&self) -> Result<Versions, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, seq FROM sqlite_sequence WHERE name IN ('samples', 'changes')",
        )?;
        let mut v = Versions::default();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            match row? {
                (name, seq) if name == "samples" => v.samples = seq,
                (_, seq) => v.changes = seq,
            }
        }
        Ok(v)
    }

    /// The changes logged after `seq`, oldest first; `None` when some of
    /// them were pruned (the caller must reload).
    pub fn changes_since(&self, seq: i64) -> Result<Option<Vec<Change>>, rusqlite::Error> {
        let oldest: Option<i64> = self
            .conn
            .query_row("SELECT MIN(seq) FROM changes", [], |r| r.get(0))?;
        if oldest.is_some_and(|o| o > seq + 1) {
            return Ok(None);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, collection_id, sample_id FROM changes WHERE seq > ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([seq], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        let mut changes = Vec::new();
        for row in rows {
            changes.push(match row? {
                (kind, _, Some(id)) if kind == "sample_erased" => Change::SampleErased(id),
                (kind, _, Some(id)) if kind == "sample_moved" => Change::SampleMoved(id),
                (kind, Some(id), _) if kind == "collection_created" => {
                    Change::CollectionCreated(id)
                }
                (kind, Some(id), _) if kind == "collection_changed" => {
                    Change::CollectionChanged(id)
                }
                (_, Some(id), _) => Change::CollectionDropped(id),
                _ => continue,
            });
        }
        Ok(Some(changes))
    }

    /// Keeps the change log to its last [`CHANGES_KEPT`] entries.
    pub fn prune_changes(&self) -> Result<(), rusqlite::Error> {
        self.conn
            .execute(
                "DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - ?1",
                [CHANGES_KEPT],
            )
            .map(drop)
    }

    /// Samples with ids above `after` (of every collection), id order.
    pub fn samples_after(
        &self,
        after: i64,
        keys: &Keyring,
    ) -> Result<Vec<IndexedSample>, rusqlite::Error> {
        self.indexed_samples("s.id > ?1", after, keys)
    }

    /// Every sample of one collection, id order.
    pub fn collection_samples(
        &self,
        collection_id: i64,
        keys: &Keyring,
    ) -> Result<Vec<IndexedSample>, rusqlite::Error> {
        self.indexed_samples("p.collection_id = ?1", collection_id, keys)
    }

    fn indexed_samples(
        &self,
        condition: &str,
        arg: i64,
        keys: &Keyring,
    ) -> Result<Vec<IndexedSample>, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT s.id, s.person_id, p.collection_id, {BIOMETRIC_COLUMNS} FROM samples s JOIN persons p ON p.id = s.person_id WHERE {condition} ORDER BY s.id"
        ))?;
        stmt.query_map([arg], |r| {
            let id = r.get(0)?;
            let collection_id = r.get(2)?;
            Ok(IndexedSample {
                id,
                person_id: r.get(1)?,
                collection_id,
                embedding: biometrics(r, id, 3, keys.get(&collection_id))?.map(|b| b.embedding),
            })
        })?
        .collect()
    }

    /// The wrapped data key of every encrypted collection: `(id, name, key)`.
    pub fn wrapped_keys(&self) -> Result<Vec<(i64, String, Vec<u8>)>, rusqlite::Error> {
        let has_keys: bool = self.conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('collections') WHERE name = 'data_key'",
            [],
            |r| r.get(0),
        )?;
        if !has_keys {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT id, name, data_key FROM collections WHERE data_key IS NOT NULL ORDER BY id",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
    }

    pub fn collection_by_id(&self, id: i64) -> Result<Option<Collection>, rusqlite::Error> {
        self.conn
            .query_row(
                "SELECT id, name, model_sha256, dimension, preprocessing, index_kind, created_at, review, data_key IS NOT NULL, retention_days FROM collections WHERE id = ?1",
                [id],
                collection_row,
            )
            .optional()
    }

    pub fn collections(&self) -> Result<Vec<Collection>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, model_sha256, dimension, preprocessing, index_kind, created_at, review, data_key IS NOT NULL, retention_days FROM collections ORDER BY name",
        )?;
        stmt.query_map([], collection_row)?.collect()
    }

    pub fn persons(&self, collection_id: i64) -> Result<Vec<Person>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id, p.key, p.name, p.metadata, p.created_at, COUNT(s.id), p.suggested FROM persons p LEFT JOIN samples s ON s.person_id = p.id WHERE p.collection_id = ?1 AND p.key != '' GROUP BY p.id ORDER BY p.key",
        )?;
        stmt.query_map([collection_id], person_row)?.collect()
    }

    /// How many persons a collection has (without listing them).
    pub fn person_count(&self, collection_id: i64) -> Result<usize, rusqlite::Error> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM persons WHERE collection_id = ?1 AND key != ''",
            [collection_id],
            |r| r.get::<_, i64>(0).map(|n| n as usize),
        )
    }

    pub fn person(&self, collection_id: i64, key: &str) -> Result<Option<Person>, rusqlite::Error> {
        self.conn
            .query_row(
                "SELECT p.id, p.key, p.name, p.metadata, p.created_at, COUNT(s.id), p.suggested FROM persons p LEFT JOIN samples s ON s.person_id = p.id WHERE p.collection_id = ?1 AND p.key = ?2 AND p.key != '' GROUP BY p.id",
                params![collection_id, key],
                person_row,
            )
            .optional()
    }

    /// Every sample of a collection (or of one person), in id order; the
    /// inner `Err` names a sample whose stored bytes are damaged.
    pub fn samples(
        &self,
        collection_id: i64,
        person_id: Option<i64>,
        sealer: Option<&Sealer>,
    ) -> Result<Result<Vec<Sample>, i64>, rusqlite::Error> {
        read_samples(&self.conn, collection_id, person_id, sealer)
    }

    /// Ids of every sample whose stored embedding fails its checksum (or,
    /// sealed, does not open).
    pub fn damaged_ids(&self, keys: &Keyring) -> Result<Vec<i64>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT s.id, p.collection_id, {BIOMETRIC_COLUMNS} FROM samples s JOIN persons p ON p.id = s.person_id"
        ))?;
        let rows = stmt.query_map([], |r| {
            let id = r.get(0)?;
            Ok(biometrics(r, id, 2, keys.get(&r.get(1)?))?.err())
        })?;
        rows.filter_map(Result::transpose).collect()
    }

    /// `(sample id, embedding)` for a set of ids of one collection, in one
    /// query (per-id lookups cost more than the search itself); damaged
    /// ones are `Err`.
    pub fn embeddings(
        &self,
        ids: &[i64],
        sealer: Option<&Sealer>,
    ) -> Result<Vec<(i64, Checked)>, rusqlite::Error> {
        self.by_ids(
            &format!("SELECT s.id, {BIOMETRIC_COLUMNS} FROM samples s WHERE s.id IN"),
            ids,
            |r| {
                let id = r.get(0)?;
                Ok((id, biometrics(r, id, 1, sealer)?.map(|b| b.embedding)))
            },
        )
    }

    /// `(person id, key, name)` for a set of person ids.
    pub fn person_names(&self, ids: &[i64]) -> Result<Vec<(i64, String, String)>, rusqlite::Error> {
        self.by_ids("SELECT id, key, name FROM persons WHERE id IN", ids, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    /// Rows of `select … IN (ids)`, in slices under SQLite's limit on
    /// bound parameters.
    fn by_ids<T>(
        &self,
        select: &str,
        ids: &[i64],
        mut row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, rusqlite::Error> {
        let mut found = Vec::new();
        for slice in ids.chunks(10_000) {
            let placeholders = vec!["?"; slice.len()].join(",");
            let mut stmt = self
                .conn
                .prepare_cached(&format!("{select} ({placeholders})"))?;
            for r in stmt.query_map(rusqlite::params_from_iter(slice), &mut row)? {
                found.push(r?);
            }
        }
        Ok(found)
    }

    /// `(sample id, person id)` of every sample of a collection, read from
    /// the person index alone (no embedding pages).
    pub fn sample_owners(&self, collection_id: i64) -> Result<Vec<(i64, i64)>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.person_id FROM persons p JOIN samples s ON s.person_id = p.id WHERE p.collection_id = ?1",
        )?;
        stmt.query_map([collection_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    /// Every face of a collection with its clustering state, id order.
    pub fn cluster_faces(
        &self,
        collection_id: i64,
        sealer: Option<&Sealer>,
    ) -> Result<Vec<ClusterFace>, rusqlite::Error> {
        let image_sha256 = if sealer.is_some() {
            BIOMETRIC_COLUMNS
        } else {
            "s.image_sha256"
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT s.id, p.key, c.suggested, c.seen, c.not_persons, {image_sha256} FROM samples s JOIN persons p ON p.id = s.person_id LEFT JOIN clustering c ON c.sample_id = s.id WHERE p.collection_id = ?1 ORDER BY s.id"
        ))?;
        stmt.query_map([collection_id], |r| {
            let id = r.get(0)?;
            let excluded: Option<String> = r.get(4)?;
            let image_sha256 = match sealer {
                // A damaged face has no photo to tell apart by.
                Some(_) => biometrics(r, id, 5, sealer)?
                    .ok()
                    .and_then(|b| b.image_sha256),
                None => r.get(5)?,
            };
            Ok(ClusterFace {
                id,
                person: r.get(1)?,
                suggested: r.get::<_, Option<bool>>(2)?.unwrap_or(false),
                seen: r.get::<_, Option<bool>>(3)?.unwrap_or(false),
                excluded: excluded
                    .and_then(|e| serde_json::from_str(&e).ok())
                    .unwrap_or_default(),
                image_sha256,
            })
        })?
        .collect()
    }

    /// `(sample id, person id)` for a set of sample ids.
    pub fn owners_of(&self, ids: &[i64]) -> Result<Vec<(i64, i64)>, rusqlite::Error> {
        self.by_ids("SELECT id, person_id FROM samples WHERE id IN", ids, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    /// Removes freed pages from the WAL as well (deleted data must not linger).
    pub fn purge_journal(&self) -> Result<(), rusqlite::Error> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
    }
}

/// [`Store::samples`] on any connection (a transaction's, say).
pub(crate) fn read_samples(
    conn: &Connection,
    collection_id: i64,
    person_id: Option<i64>,
    sealer: Option<&Sealer>,
) -> Result<Result<Vec<Sample>, i64>, rusqlite::Error> {
    let mut stmt = conn.prepare(&format!(
        "SELECT s.id, p.key, s.created_at, {BIOMETRIC_COLUMNS}
         FROM samples s JOIN persons p ON p.id = s.person_id
         WHERE p.collection_id = ?1 AND (?2 IS NULL OR p.id = ?2) ORDER BY s.id"
    ))?;
    let rows = stmt.query_map(params![collection_id, person_id], |r| {
        let id = r.get(0)?;
        let b = match biometrics(r, id, 3, sealer)? {
            Ok(b) => b,
            Err(damaged) => return Ok(Err(damaged)),
        };
        Ok(Ok(Sample {
            id,
            person: r.get(1)?,
            embedding: b.embedding,
            image_sha256: b.image_sha256,
            bbox: b.bbox,
            det_score: b.det_score,
            embedding_norm: b.embedding_norm,
            created_at: r.get(2)?,
        }))
    })?;
    let mut samples = Vec::new();
    for row in rows {
        match row? {
            Ok(s) => samples.push(s),
            Err(id) => return Ok(Err(id)),
        }
    }
    Ok(Ok(samples))
}

pub(crate) fn database(path: &Path, e: rusqlite::Error) -> GalleryError {
    GalleryError::Database {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Moves the first layout's samples (reusable ids, no checksums) into the
/// current table, keeping every id; `AUTOINCREMENT` then continues above
/// the largest.
fn migrate_samples(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(&SAMPLES.replace("CREATE TABLE samples", "CREATE TABLE samples_v2"))?;
    {
        let mut read = tx.prepare(
            "SELECT id, person_id, embedding, image_sha256, bbox, det_score, embedding_norm, created_at FROM samples",
        )?;
        let mut write = tx.prepare(
            "INSERT INTO samples_v2 (id, person_id, embedding, checksum, image_sha256, bbox, det_score, embedding_norm, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let blob: Vec<u8> = r.get(2)?;
            write.execute(params![
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                blob,
                checksum(&blob),
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<f64>>(5)?,
                r.get::<_, Option<f64>>(6)?,
                r.get::<_, i64>(7)?,
            ])?;
        }
    }
    tx.execute_batch(
        "DROP INDEX IF EXISTS samples_by_person; DROP TABLE samples; ALTER TABLE samples_v2 RENAME TO samples;",
    )
}

fn collection_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Collection> {
    let kind: String = r.get(5)?;
    Ok(Collection {
        id: r.get(0)?,
        name: r.get(1)?,
        contract: EmbeddingContract {
            model_sha256: r.get(2)?,
            dimension: r.get::<_, i64>(3)? as usize,
            preprocessing: r.get(4)?,
        },
        index: kind.parse().unwrap_or(IndexKind::Exact),
        created_at: r.get(6)?,
        review: r.get::<_, String>(7)?.parse().unwrap_or_default(),
        encrypted: r.get(8)?,
        retention_days: r
            .get::<_, Option<i64>>(9)?
            .and_then(|d| u32::try_from(d).ok()),
    })
}

fn person_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Person> {
    let metadata: String = r.get(3)?;
    Ok(Person {
        id: r.get(0)?,
        key: r.get(1)?,
        name: r.get(2)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        created_at: r.get(4)?,
        samples: r.get::<_, i64>(5)? as usize,
        suggested: r.get(6)?,
    })
}

/// Adds `column` to `table` when a file from before it lacks it.
fn add_missing_column(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    column: &str,
    declaration: &str,
) -> Result<(), rusqlite::Error> {
    let present: bool = tx.query_row(
        &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
        [column],
        |r| r.get(0),
    )?;
    if !present {
        tx.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
        ))?;
    }
    Ok(())
}
