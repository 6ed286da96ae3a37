//! The SQLite source of truth: one file, WAL journal, `synchronous=FULL` (a
//! committed write survives a crash or power loss), `secure_delete` (deleted
//! biometric data is overwritten, not just unlinked) and a WAL checkpoint
//! after deletes so no old page lingers in the journal.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Collection, EmbeddingContract, GalleryError, IndexKind, Person, Sample};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model_sha256 TEXT NOT NULL,
    dimension INTEGER NOT NULL CHECK (dimension > 0),
    preprocessing TEXT NOT NULL,
    index_kind TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    UNIQUE (collection_id, key)
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL,
    image_sha256 TEXT,
    bbox TEXT,
    det_score REAL,
    embedding_norm REAL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_person ON samples(person_id);
";

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The SQLite file and the statements the gallery runs on it.
pub(crate) struct Store {
    pub conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, GalleryError> {
        let corrupt = |e: rusqlite::Error| GalleryError::Database {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(corrupt)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON; PRAGMA busy_timeout=5000; PRAGMA cache_size=-65536;",
        )
        .and_then(|_| conn.execute_batch(SCHEMA))
        .map_err(corrupt)?;
        Ok(Self { conn })
    }

    pub fn collection(&self, name: &str) -> Result<Option<Collection>, rusqlite::Error> {
        self.conn
            .query_row(
                "SELECT id, name, model_sha256, dimension, preprocessing, index_kind, created_at FROM collections WHERE name = ?1",
                [name],
                collection_row,
            )
            .optional()
    }

    pub fn collections(&self) -> Result<Vec<Collection>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, model_sha256, dimension, preprocessing, index_kind, created_at FROM collections ORDER BY name",
        )?;
        stmt.query_map([], collection_row)?.collect()
    }

    pub fn persons(&self, collection_id: i64) -> Result<Vec<Person>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id, p.key, p.name, p.metadata, p.created_at, COUNT(s.id) FROM persons p LEFT JOIN samples s ON s.person_id = p.id WHERE p.collection_id = ?1 GROUP BY p.id ORDER BY p.key",
        )?;
        stmt.query_map([collection_id], person_row)?.collect()
    }

    /// How many persons a collection has (without listing them).
    pub fn person_count(&self, collection_id: i64) -> Result<usize, rusqlite::Error> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM persons WHERE collection_id = ?1",
            [collection_id],
            |r| r.get::<_, i64>(0).map(|n| n as usize),
        )
    }

    pub fn person(&self, collection_id: i64, key: &str) -> Result<Option<Person>, rusqlite::Error> {
        self.conn
            .query_row(
                "SELECT p.id, p.key, p.name, p.metadata, p.created_at, COUNT(s.id) FROM persons p LEFT JOIN samples s ON s.person_id = p.id WHERE p.collection_id = ?1 AND p.key = ?2 GROUP BY p.id",
                params![collection_id, key],
                person_row,
            )
            .optional()
    }

    /// Every sample of a collection (or of one person), in id order.
    pub fn samples(
        &self,
        collection_id: i64,
        person_id: Option<i64>,
    ) -> Result<Vec<Sample>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, p.key, s.embedding, s.image_sha256, s.bbox, s.det_score, s.embedding_norm, s.created_at
             FROM samples s JOIN persons p ON p.id = s.person_id
             WHERE p.collection_id = ?1 AND (?2 IS NULL OR p.id = ?2) ORDER BY s.id",
        )?;
        stmt.query_map(params![collection_id, person_id], |r| {
            let bbox: Option<String> = r.get(4)?;
            Ok(Sample {
                id: r.get(0)?,
                person: r.get(1)?,
                embedding: from_blob(&r.get::<_, Vec<u8>>(2)?),
                image_sha256: r.get(3)?,
                bbox: bbox.and_then(|b| serde_json::from_str(&b).ok()),
                det_score: r.get(5)?,
                embedding_norm: r.get(6)?,
                created_at: r.get(7)?,
            })
        })?
        .collect()
    }

    /// `(sample id, embedding)` for a set of ids, in one query (per-id
    /// lookups cost more than the search itself).
    pub fn embeddings(&self, ids: &[i64]) -> Result<Vec<(i64, Vec<f32>)>, rusqlite::Error> {
        self.by_ids("SELECT id, embedding FROM samples WHERE id IN", ids, |r| {
            Ok((r.get(0)?, from_blob(&r.get::<_, Vec<u8>>(1)?)))
        })
    }

    /// `(person id, key, name)` for a set of person ids.
    pub fn person_names(&self, ids: &[i64]) -> Result<Vec<(i64, String, String)>, rusqlite::Error> {
        self.by_ids("SELECT id, key, name FROM persons WHERE id IN", ids, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    fn by_ids<T>(
        &self,
        select: &str,
        ids: &[i64],
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, rusqlite::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; ids.len()].join(",");
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{select} ({placeholders})"))?;
        stmt.query_map(rusqlite::params_from_iter(ids), row)?
            .collect()
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

    /// `(count, max id, sum of ids)` of a collection's samples: a cheap
    /// fingerprint telling whether a saved index still matches the file.
    pub fn fingerprint(&self, collection_id: i64) -> Result<(i64, i64, i64), rusqlite::Error> {
        self.conn.query_row(
            "SELECT COUNT(s.id), COALESCE(MAX(s.id), 0), COALESCE(SUM(s.id), 0) FROM samples s JOIN persons p ON p.id = s.person_id WHERE p.collection_id = ?1",
            [collection_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Removes freed pages from the WAL as well (deleted data must not linger).
    pub fn purge_journal(&self) -> Result<(), rusqlite::Error> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
    }
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
    })
}
