//! Monitors and their events, kept in SQLite beside the gallery (the
//! gallery file itself, or the audit file of a Milvus gallery), so both
//! survive a restart. A source's address (which may carry a camera's
//! password) is sealed with a data key wrapped by the gallery's master key
//! when the gallery has one. Events are kept up to a count per monitor and
//! an age, whichever comes first.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use facekit_vault::{DataKey, MasterKey};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::MonitorError;
use crate::presence::EventKind;
use crate::spec::MonitorSpec;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS monitors (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    spec TEXT NOT NULL,
    sealed_spec BLOB
);
CREATE TABLE IF NOT EXISTS monitor_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    wrapped BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS monitor_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor TEXT NOT NULL,
    kind TEXT NOT NULL,
    time REAL NOT NULL,
    stream_seconds REAL,
    track INTEGER,
    person TEXT,
    name TEXT,
    score REAL,
    bbox TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS monitor_events_by_monitor ON monitor_events (monitor, seq);
CREATE INDEX IF NOT EXISTS monitor_events_by_person ON monitor_events (person);
";

/// The context a monitor data key is wrapped under.
const KEY_CONTEXT: &[u8] = b"facekit monitors";

/// One event as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonitorEvent {
    /// Its position among all events (increasing; `after` pages on it).
    pub seq: i64,
    /// The monitor.
    pub monitor: String,
    /// What happened.
    pub kind: EventKind,
    /// When, in Unix seconds.
    pub time: f64,
    /// Seconds since this connection to the source delivered its first
    /// frame, at the frame the event was decided on (the stream's clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_seconds: Option<f64>,
    /// The track (presence events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
    /// The person's key (person events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The person's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The track's best similarity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The box `[x1, y1, x2, y2]` of the track's best face, in frame pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f32; 4]>,
    /// Why (source events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events after this position.
    pub after: Option<i64>,
    /// Only events at or after this Unix time.
    pub since: Option<f64>,
    /// Only events of this person.
    pub person: Option<String>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// At most this many (oldest first).
    pub limit: usize,
}

/// How long events are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRetention {
    /// Most events kept per monitor (the oldest go first).
    pub max_per_monitor: u64,
    /// Events older than this are removed (days; 0 keeps them by count only).
    pub max_age_days: f64,
}

impl Default for EventRetention {
    fn default() -> Self {
        Self {
            max_per_monitor: 100_000,
            max_age_days: 30.0,
        }
    }
}

/// A stored monitor.
#[derive(Debug, Clone)]
pub struct StoredMonitor {
    /// Its id.
    pub id: String,
    /// When it was created (Unix seconds).
    pub created: f64,
    /// What it watches (the source as given, credentials included).
    pub spec: MonitorSpec,
}

/// The monitors' database.
pub struct MonitorStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Seals sources when the gallery is encrypted.
    key: Option<DataKey>,
    retention: EventRetention,
}

impl std::fmt::Debug for MonitorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorStore")
            .field("path", &self.path)
            .field("sealed", &self.key.is_some())
            .finish()
    }
}

pub(crate) fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl MonitorStore {
    /// Opens (creating its tables) the store in `path`; with `master`,
    /// sources are sealed under a data key it wraps (made on first use).
    pub fn open(
        path: &Path,
        master: Option<&MasterKey>,
        retention: EventRetention,
    ) -> Result<Self, MonitorError> {
        let db = |e: rusqlite::Error| MonitorError::Store {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        let key = match master {
            None => None,
            Some(master) => {
                let wrapped: Option<Vec<u8>> = conn
                    .query_row("SELECT wrapped FROM monitor_keys WHERE id = 1", [], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(db)?;
                Some(match wrapped {
                    Some(wrapped) => master
                        .unwrap(&wrapped, KEY_CONTEXT)
                        .map_err(|e| MonitorError::Invalid(format!("monitor sources: {e}")))?,
                    None => {
                        let key = DataKey::generate()
                            .map_err(|e| MonitorError::Invalid(e.to_string()))?;
                        conn.execute(
                            "INSERT INTO monitor_keys (id, wrapped) VALUES (1, ?1)",
                            params![master.wrap(&key, KEY_CONTEXT)],
                        )
                        .map_err(db)?;
                        key
                    }
                })
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            key,
            retention,
        })
    }

    /// Whether sources are sealed at rest.
    pub fn seals_sources(&self) -> bool {
        self.key.is_some()
    }

    fn db(&self, e: rusqlite::Error) -> MonitorError {
        MonitorError::Store {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The spec as a row: when sealing, the whole spec sealed and, in the
    /// clear, the spec without its source and webhook (which may hold
    /// passwords and tokens).
    fn row_of(&self, id: &str, spec: &MonitorSpec) -> (String, Option<Vec<u8>>) {
        let json = serde_json::to_string(spec).expect("a spec serialises");
        match &self.key {
            Some(key) => {
                let mut shown = spec.clone();
                shown.source = String::new();
                shown.webhook = None;
                (
                    serde_json::to_string(&shown).expect("a spec serialises"),
                    Some(key.seal(json.as_bytes(), id.as_bytes())),
                )
            }
            None => (json, None),
        }
    }

    fn spec_of(
        &self,
        id: &str,
        json: &str,
        sealed: Option<Vec<u8>>,
    ) -> Result<MonitorSpec, MonitorError> {
        let stored = |json: &[u8]| {
            serde_json::from_slice(json)
                .map_err(|e| MonitorError::Invalid(format!("monitor {id}: stored spec: {e}")))
        };
        let Some(sealed) = sealed else {
            return stored(json.as_bytes());
        };
        let key = self.key.as_ref().ok_or_else(|| {
            MonitorError::Invalid(format!(
                "monitor {id}: its source is sealed; start with the gallery's key"
            ))
        })?;
        let json = key
            .open(&sealed, id.as_bytes())
            .map_err(|e| MonitorError::Invalid(format!("monitor {id}: {e}")))?;
        stored(&json)
    }

    /// Stores a new monitor.
    pub fn insert(&self, id: &str, spec: &MonitorSpec) -> Result<StoredMonitor, MonitorError> {
        let (json, sealed) = self.row_of(id, spec);
        let created = now_unix();
        self.conn()
            .execute(
                "INSERT INTO monitors (id, created, spec, sealed_spec) VALUES (?1, ?2, ?3, ?4)",
                params![id, created, json, sealed],
            )
            .map_err(|e| self.db(e))?;
        Ok(StoredMonitor {
            id: id.to_string(),
            created,
            spec: spec.clone(),
        })
    }

    /// Replaces a monitor's spec; false when there is no such monitor.
    pub fn update(&self, id: &str, spec: &MonitorSpec) -> Result<bool, MonitorError> {
        let (json, sealed) = self.row_of(id, spec);
        let changed = self
            .conn()
            .execute(
                "UPDATE monitors SET spec = ?2, sealed_spec = ?3 WHERE id = ?1",
                params![id, json, sealed],
            )
            .map_err(|e| self.db(e))?;
        Ok(changed > 0)
    }

    /// Removes a monitor and its events; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, MonitorError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db(e))?;
        tx.execute("DELETE FROM monitor_events WHERE monitor = ?1", params![id])
            .map_err(|e| self.db(e))?;
        let removed = tx
            .execute("DELETE FROM monitors WHERE id = ?1", params![id])
            .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(removed > 0)
    }

    /// Every stored monitor, oldest first.
    pub fn list(&self) -> Result<Vec<StoredMonitor>, MonitorError> {
        let rows: Vec<(String, f64, String, Option<Vec<u8>>)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id, created, spec, sealed_spec FROM monitors ORDER BY created, id")
                .map_err(|e| self.db(e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(|e| self.db(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.db(e))?
        };
        rows.into_iter()
            .map(|(id, created, json, sealed)| {
                let spec = self.spec_of(&id, &json, sealed)?;
                Ok(StoredMonitor { id, created, spec })
            })
            .collect()
    }

    /// Appends events (their `seq` is set) and applies the retention.
    pub fn append(&self, events: &mut [MonitorEvent]) -> Result<(), MonitorError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db(e))?;
        for e in events.iter_mut() {
            tx.execute(
                "INSERT INTO monitor_events (monitor, kind, time, stream_seconds, track, person, name, score, bbox, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    e.monitor,
                    e.kind.as_str(),
                    e.time,
                    e.stream_seconds,
                    e.track.map(|t| t as i64),
                    e.person,
                    e.name,
                    e.score.map(f64::from),
                    e.bbox.map(|b| serde_json::to_string(&b).expect("a box serialises")),
                    e.detail,
                ],
            )
            .map_err(|e| self.db(e))?;
            e.seq = tx.last_insert_rowid();
        }
        let monitor = &events[0].monitor;
        tx.execute(
            "DELETE FROM monitor_events WHERE monitor = ?1 AND seq <= (
                 SELECT seq FROM monitor_events WHERE monitor = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            params![monitor, self.retention.max_per_monitor as i64],
        )
        .map_err(|e| self.db(e))?;
        if self.retention.max_age_days > 0.0 {
            tx.execute(
                "DELETE FROM monitor_events WHERE time < ?1",
                params![now_unix() - self.retention.max_age_days * 86_400.0],
            )
            .map_err(|e| self.db(e))?;
        }
        tx.commit().map_err(|e| self.db(e))
    }

    /// A monitor's events, oldest first.
    pub fn events(
        &self,
        monitor: &str,
        query: &EventQuery,
    ) -> Result<Vec<MonitorEvent>, MonitorError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT seq, monitor, kind, time, stream_seconds, track, person, name, score, bbox, detail
                 FROM monitor_events
                 WHERE monitor = ?1 AND seq > ?2 AND time >= ?3
                   AND (?4 IS NULL OR person = ?4) AND (?5 IS NULL OR kind = ?5)
                 ORDER BY seq LIMIT ?6",
            )
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map(
                params![
                    monitor,
                    query.after.unwrap_or(0),
                    query.since.unwrap_or(f64::MIN),
                    query.person,
                    query.kind.map(EventKind::as_str),
                    query.limit as i64,
                ],
                |r| {
                    let kind: String = r.get(2)?;
                    let bbox: Option<String> = r.get(9)?;
                    Ok(MonitorEvent {
                        seq: r.get(0)?,
                        monitor: r.get(1)?,
                        kind: EventKind::parse(&kind).unwrap_or(EventKind::SourceLost),
                        time: r.get(3)?,
                        stream_seconds: r.get(4)?,
                        track: r.get::<_, Option<i64>>(5)?.map(|t| t as u64),
                        person: r.get(6)?,
                        name: r.get(7)?,
                        score: r.get::<_, Option<f64>>(8)?.map(|s| s as f32),
                        bbox: bbox.and_then(|b| serde_json::from_str(&b).ok()),
                        detail: r.get(10)?,
                    })
                },
            )
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.db(e))
    }

    /// The position of a monitor's newest event (0 when none).
    pub fn last_seq(&self, monitor: &str) -> Result<i64, MonitorError> {
        self.conn()
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM monitor_events WHERE monitor = ?1",
                params![monitor],
                |r| r.get(0),
            )
            .map_err(|e| self.db(e))
    }

    /// Erases every event naming `person` (a data subject's erasure);
    /// returns how many.
    pub fn erase_person(&self, person: &str) -> Result<usize, MonitorError> {
        self.conn()
            .execute(
                "DELETE FROM monitor_events WHERE person = ?1",
                params![person],
            )
            .map_err(|e| self.db(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MonitorSpec {
        serde_json::from_value(serde_json::json!({
            "source": "rtsp://admin:s3cret@cam.local/1", "collection": "staff",
            "webhook": "https://hooks.example/in?token=t0ken"
        }))
        .unwrap()
    }

    fn event(monitor: &str, person: Option<&str>) -> MonitorEvent {
        MonitorEvent {
            seq: 0,
            monitor: monitor.into(),
            kind: EventKind::PersonEnter,
            time: now_unix(),
            stream_seconds: Some(1.5),
            track: Some(3),
            person: person.map(Into::into),
            name: person.map(|p| format!("{p} name")),
            score: Some(0.5),
            bbox: Some([1.0, 2.0, 3.0, 4.0]),
            detail: None,
        }
    }

    #[test]
    fn a_sealed_spec_is_not_in_the_file_and_comes_back_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let master = MasterKey::generate().unwrap();
        {
            let store =
                MonitorStore::open(&path, Some(&master), EventRetention::default()).unwrap();
            store.insert("m1", &spec()).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        let wal = std::fs::read(dir.path().join("g.db-wal")).unwrap_or_default();
        for file in [&bytes, &wal] {
            for secret in [&b"s3cret"[..], b"t0ken"] {
                assert!(
                    !file.windows(secret.len()).any(|w| w == secret),
                    "a secret is in the file"
                );
            }
        }
        let store = MonitorStore::open(&path, Some(&master), EventRetention::default()).unwrap();
        assert_eq!(store.list().unwrap()[0].spec, spec());
        let without = MonitorStore::open(&path, None, EventRetention::default()).unwrap();
        let err = without.list().unwrap_err().to_string();
        assert!(err.contains("sealed"), "{err}");
        let other = MasterKey::generate().unwrap();
        assert!(MonitorStore::open(&path, Some(&other), EventRetention::default()).is_err());
    }

    #[test]
    fn events_are_paged_filtered_kept_within_the_retention_and_erased() {
        let dir = tempfile::tempdir().unwrap();
        let retention = EventRetention {
            max_per_monitor: 5,
            max_age_days: 30.0,
        };
        let store = MonitorStore::open(&dir.path().join("g.db"), None, retention).unwrap();
        store.insert("m1", &spec()).unwrap();
        for i in 0..8 {
            let person = if i % 2 == 0 { "ann" } else { "bob" };
            let mut batch = [event("m1", Some(person))];
            store.append(&mut batch).unwrap();
            assert!(batch[0].seq > 0);
        }
        store.append(&mut [event("m2", Some("ann"))]).unwrap();
        let all = |q: EventQuery| store.events("m1", &EventQuery { limit: 100, ..q }).unwrap();
        let kept = all(EventQuery::default());
        assert_eq!(kept.len(), 5, "the count limit");
        assert_eq!(kept[0].seq, 4, "the oldest went first");
        assert_eq!(kept[0].bbox, Some([1.0, 2.0, 3.0, 4.0]));
        let after = all(EventQuery {
            after: Some(kept[2].seq),
            ..Default::default()
        });
        assert_eq!(after.len(), 2);
        let bob = all(EventQuery {
            person: Some("bob".into()),
            ..Default::default()
        });
        assert!(bob.iter().all(|e| e.person.as_deref() == Some("bob")) && bob.len() == 3);
        assert!(
            all(EventQuery {
                since: Some(now_unix() + 60.0),
                ..Default::default()
            })
            .is_empty()
        );
        assert_eq!(store.erase_person("ann").unwrap(), 3);
        assert!(
            all(EventQuery::default())
                .iter()
                .all(|e| e.person.as_deref() == Some("bob"))
        );
        assert!(store.delete("m1").unwrap());
        assert!(all(EventQuery::default()).is_empty());
    }
}
