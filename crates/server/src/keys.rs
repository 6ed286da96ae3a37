//! API keys: a role each, stored as SHA-256 hashes in a small SQLite file
//! shared by `facekit keys` and the running server (a revocation takes
//! effect on the next request).
//!
//! A key is `fk_<id>_<secret>`: the id names it in listings and revocations,
//! the 32-byte random secret is shown once at creation. SHA-256 rather than
//! a password hash (argon2) because the secret is 256 random bits, not a
//! guessable password: a slow hash adds nothing but per-request latency.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use facekit_core::sha256_hex;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// What a key may do; each role includes the ones below it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Detect, embed, compare, identify, verify, and read the gallery.
    Reader,
    /// Also enroll, update and delete persons and faces.
    Writer,
    /// Also create and delete collections, and manage keys.
    Admin,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        })
    }
}

facekit_core::from_words!(Role, "role", KeyError = KeyError::Invalid, {
    "reader" => Reader, "writer" => Writer, "admin" => Admin
});

/// A key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Public identifier (the part after `fk_`).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Revocation time, Unix seconds; a revoked key is refused.
    pub revoked_at: Option<i64>,
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be opened or written.
    #[error("key store {path}: {reason}")]
    Store {
        /// The file.
        path: PathBuf,
        /// SQLite's explanation.
        reason: String,
    },
    /// No key with that id.
    #[error("no API key with id '{0}'")]
    NoSuchKey(String),
    /// A bad argument (empty name, unknown role).
    #[error("{0}")]
    Invalid(String),
}

/// The key file.
pub struct KeyStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| KeyError::Invalid(format!("no system randomness for a key: {e}")))?;
    Ok(bytes)
}

/// Equal strings, in time independent of where they differ.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl KeyStore {
    /// Opens (or creates, readable by its owner only) the key file.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let fail = |e: &dyn std::fmt::Display| KeyError::Store {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Created owner-only before SQLite opens it: SQLite gives the -wal
        // and -shm files the database file's permissions.
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| fail(&e))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(&e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;",
        )
        .and_then(|_| conn.execute_batch(SCHEMA))
        .map_err(|e| fail(&e))?;
        // Files left by an older version may be readable by others.
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| fail(&e))?;
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent: keep going.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, e: rusqlite::Error) -> KeyError {
        KeyError::Store {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Creates a key; returns it and its secret token, which is not stored
    /// and cannot be shown again.
    pub fn create(&self, name: &str, role: Role) -> Result<(ApiKey, String), KeyError> {
        if name.trim().is_empty() {
            return Err(KeyError::Invalid("a key needs a name".into()));
        }
        let id: String = random_bytes::<6>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let token = format!("fk_{id}_{secret}");
        let key = ApiKey {
            id,
            name: name.to_string(),
            role,
            created_at: now(),
            revoked_at: None,
        };
        self.conn()
            .execute(
                "INSERT INTO api_keys (id, name, role, sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, key.name, role.to_string(), sha256_hex(token.as_bytes()), key.created_at],
            )
            .map_err(|e| self.fail(e))?;
        Ok((key, token))
    }

    /// Every key, oldest first, revoked ones included.
    pub fn list(&self) -> Result<Vec<ApiKey>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .map_err(|e| self.fail(e))?;
        stmt.query_map([], key_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.fail(e))
    }

    /// Revokes a key (kept in the list, refused from now on).
    pub fn revoke(&self, id: &str) -> Result<ApiKey, KeyError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, now()],
        )
        .map_err(|e| self.fail(e))?;
        conn.query_row(
            "SELECT id, name, role, created_at, revoked_at FROM api_keys WHERE id = ?1",
            [id],
            key_row,
        )
        .optional()
        .map_err(|e| self.fail(e))?
        .ok_or_else(|| KeyError::NoSuchKey(id.to_string()))
    }

    /// The live key a token belongs to; `None` for an unknown, malformed,
    /// wrong or revoked token.
    pub fn authenticate(&self, token: &str) -> Result<Option<ApiKey>, KeyError> {
        let Some(id) = token
            .strip_prefix("fk_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
        else {
            return Ok(None);
        };
        let found: Option<(ApiKey, String)> = self
            .conn()
            .query_row(
                "SELECT id, name, role, created_at, revoked_at, sha256 FROM api_keys WHERE id = ?1",
                [id],
                |r| Ok((key_row(r)?, r.get(5)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        Ok(found.and_then(|(key, digest)| {
            (key.revoked_at.is_none() && same_digest(&digest, &sha256_hex(token.as_bytes())))
                .then_some(key)
        }))
    }
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let role: String = r.get(2)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        // An unreadable role grants the least.
        role: role.parse().unwrap_or(Role::Reader),
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_authenticate_until_revoked_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let store = KeyStore::open(&path).unwrap();
        let (key, token) = store.create("door", Role::Writer).unwrap();
        assert!(token.starts_with(&format!("fk_{}_", key.id)));
        assert_eq!(
            store.authenticate(&token).unwrap().unwrap().role,
            Role::Writer
        );
        // A wrong secret with the right id, a malformed token, an unknown id.
        let wrong = format!("{}x", &token[..token.len() - 1]);
        assert!(store.authenticate(&wrong).unwrap().is_none());
        assert!(store.authenticate("Bearer nonsense").unwrap().is_none());
        assert!(store.authenticate("fk_000000000000_abc").unwrap().is_none());
        let secret = token.splitn(3, '_').nth(2).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
        for file in [&bytes, &wal] {
            assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }

        let revoked = store.revoke(&key.id).unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(store.authenticate(&token).unwrap().is_none());
        assert!(matches!(store.revoke("nope"), Err(KeyError::NoSuchKey(_))));
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(matches!(
            store.create(" ", Role::Admin),
            Err(KeyError::Invalid(_))
        ));
    }

    #[test]
    fn the_key_file_and_its_journal_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let store = KeyStore::open(&path).unwrap();
        store.create("ops", Role::Admin).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
        }
    }
}
