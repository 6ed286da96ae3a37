//! Keys for biometric data at rest. A 256-bit master key comes from a key
//! file (created with mode 0600), an environment variable or a command that
//! prints it (so Vault or a cloud KMS can supply it without facekit knowing
//! them); it wraps per-collection data keys, which seal records with
//! AES-256-GCM (`ring`, already in the build for TLS). Rotating the master
//! key re-wraps the data keys and touches no record. Keys are zeroed when
//! dropped and never printed by `Debug`. No facekit dependencies.
//!
//! ```
//! use facekit_vault::{DataKey, MasterKey};
//! let master = MasterKey::generate()?;
//! let data = DataKey::generate()?;
//! let wrapped = master.wrap(&data, b"collection 1");
//! let sealed = data.seal(b"embedding bytes", b"collection 1");
//! let data = master.unwrap(&wrapped, b"collection 1")?;
//! assert_eq!(data.open(&sealed, b"collection 1")?, b"embedding bytes");
//! assert!(MasterKey::generate()?.unwrap(&wrapped, b"collection 1").is_err());
//! # Ok::<(), facekit_vault::VaultError>(())
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The environment variable a master key may be given in (64 hex digits).
pub const KEY_ENV: &str = "FACEKIT_GALLERY_KEY";
/// Key length in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// Bytes sealing adds to a record: the nonce and the tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;
/// Longest a key command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes read from a key command or key file: a key is 64 hex digits.
const KEY_TEXT_LIMIT: u64 = 4096;

/// What went wrong getting or using a key.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A key file that cannot be read, created or parsed.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An environment variable that is unset or not a key.
    #[error("environment variable {var}: {reason}")]
    KeyEnv {
        /// The variable.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key command that failed, hung or printed no key.
    #[error("key command `{command}`: {reason}")]
    KeyCommand {
        /// The command line.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// Sealed bytes that do not open under this key: another key sealed
    /// them, or they were changed.
    #[error("{what} does not open with this key (a different key sealed it, or it was altered)")]
    WrongKey {
        /// What was being opened.
        what: String,
    },
    /// The system's random source failed.
    #[error("the system's random source failed")]
    Random,
}

/// One AES-256-GCM key and its raw bytes (kept to wrap or write it).
struct Aead {
    raw: Zeroizing<[u8; KEY_LEN]>,
    key: LessSafeKey,
}

impl Aead {
    fn new(raw: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, raw.as_slice())
                .expect("a 32-byte key is valid for AES-256"),
        );
        Self { raw, key }
    }

    fn generate() -> Result<Self, VaultError> {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(raw.as_mut_slice())
            .map_err(|_| VaultError::Random)?;
        Ok(Self::new(raw))
    }

    /// `nonce ‖ ciphertext ‖ tag`, with a random 96-bit nonce (safe for
    /// billions of records per key).
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut data = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        data.extend_from_slice(plaintext);
        self.seal_owned(data, aad)
    }

    /// Seals `data` in its own buffer (a large record is never copied):
    /// the nonce, the ciphertext, the tag.
    fn seal_owned(&self, mut data: Vec<u8>, aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works once a key was made from it");
        data.reserve_exact(SEAL_OVERHEAD);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut data,
            )
            .expect("AES-GCM seals any record under 64 GB");
        data.splice(0..0, nonce);
        data
    }

    fn open(&self, sealed: &[u8], aad: &[u8], what: &str) -> Result<Vec<u8>, VaultError> {
        self.open_owned(sealed.to_vec(), aad, what)
    }

    /// Opens `sealed` in its own buffer.
    fn open_owned(
        &self,
        mut sealed: Vec<u8>,
        aad: &[u8],
        what: &str,
    ) -> Result<Vec<u8>, VaultError> {
        let wrong = || VaultError::WrongKey { what: what.into() };
        if sealed.len() < SEAL_OVERHEAD {
            return Err(wrong());
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN]).map_err(|_| wrong())?;
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut sealed[NONCE_LEN..])
            .map_err(|_| wrong())?
            .len();
        sealed.drain(..NONCE_LEN);
        sealed.truncate(len);
        Ok(sealed)
    }
}

/// The key that wraps every data key of a gallery. Zeroed when dropped.
pub struct MasterKey(Aead);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Result<Self, VaultError> {
        Aead::generate().map(Self)
    }

    /// Parses 64 hex digits (surrounding white space ignored).
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != 2 * KEY_LEN {
            return Err(format!(
                "a key is {} hex digits, this is {} characters",
                2 * KEY_LEN,
                text.len()
            ));
        }
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        for (byte, pair) in raw.iter_mut().zip(text.as_bytes().chunks(2)) {
            let digits = std::str::from_utf8(pair).ok();
            *byte = digits
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or("a key holds hex digits only")?;
        }
        Ok(Self(Aead::new(raw)))
    }

    /// The key as 64 lowercase hex digits (to write a key file).
    pub fn to_hex(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(2 * KEY_LEN));
        for byte in self.0.raw.iter() {
            text.push(char::from_digit(u32::from(byte >> 4), 16).expect("a nibble"));
            text.push(char::from_digit(u32::from(byte & 15), 16).expect("a nibble"));
        }
        text
    }

    /// `data` sealed under this key; `context` (say, the collection it
    /// serves) must be given again to unwrap it.
    pub fn wrap(&self, data: &DataKey, context: &[u8]) -> Vec<u8> {
        self.0.seal(data.0.raw.as_slice(), context)
    }

    /// The data key [`MasterKey::wrap`] sealed, or [`VaultError::WrongKey`]
    /// when this is not the key (or the context) that wrapped it.
    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<DataKey, VaultError> {
        let raw = Zeroizing::new(self.0.open(wrapped, context, "a data key")?);
        let raw: [u8; KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::WrongKey {
                what: "a data key".into(),
            })?;
        Ok(DataKey(Aead::new(Zeroizing::new(raw))))
    }
}

/// A key that seals records (one per collection, or per export). Zeroed
/// when dropped.
pub struct DataKey(Aead);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        Self(Aead::new(self.0.raw.clone()))
    }
}

impl DataKey {
    /// A new random key.
    pub fn generate() -> Result<Self, VaultError> {
        Aead::generate().map(Self)
    }

    /// `plaintext` encrypted and authenticated together with `aad` (which
    /// is not stored: [`DataKey::open`] must be given it again).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.0.seal(plaintext, aad)
    }

    /// The plaintext [`DataKey::seal`] sealed, or [`VaultError::WrongKey`]
    /// when the bytes, the key or `aad` differ.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.open(sealed, aad, "a sealed record")
    }

    /// [`DataKey::seal`] of a buffer it takes over, for records too large
    /// to copy (a saved index): sealed where it lies.
    pub fn seal_owned(&self, plaintext: Vec<u8>, aad: &[u8]) -> Vec<u8> {
        self.0.seal_owned(plaintext, aad)
    }

    /// [`DataKey::open`] of a buffer it takes over, opened where it lies.
    pub fn open_owned(&self, sealed: Vec<u8>, aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.open_owned(sealed, aad, "a sealed record")
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding 64 hex digits.
    File(PathBuf),
    /// An environment variable holding 64 hex digits.
    Env(String),
    /// A shell command that prints 64 hex digits (run with `sh -c`, at most
    /// 30 s).
    Command(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "key file {}", path.display()),
            KeySource::Env(var) => write!(f, "environment variable {var}"),
            KeySource::Command(command) => write!(f, "key command `{command}`"),
        }
    }
}

impl KeySource {
    /// Reads the key.
    pub fn load(&self) -> Result<MasterKey, VaultError> {
        match self {
            KeySource::File(path) => {
                let fail = |reason: String| VaultError::KeyFile {
                    path: path.clone(),
                    reason,
                };
                let mut text = Zeroizing::new(String::new());
                std::fs::File::open(path)
                    .and_then(|f| f.take(KEY_TEXT_LIMIT).read_to_string(&mut text))
                    .map_err(|e| fail(e.to_string()))?;
                MasterKey::from_hex(&text).map_err(fail)
            }
            KeySource::Env(var) => {
                let fail = |reason: String| VaultError::KeyEnv {
                    var: var.clone(),
                    reason,
                };
                let text = Zeroizing::new(std::env::var(var).map_err(|e| fail(e.to_string()))?);
                MasterKey::from_hex(&text).map_err(fail)
            }
            KeySource::Command(command) => {
                let text = run_key_command(command)?;
                MasterKey::from_hex(&text).map_err(|reason| VaultError::KeyCommand {
                    command: command.clone(),
                    reason: format!("its output: {reason}"),
                })
            }
        }
    }

    /// Reads the key; a key file that does not exist yet is created with a
    /// new random key, readable by its owner only (mode 0600).
    pub fn load_or_create(&self) -> Result<MasterKey, VaultError> {
        match self {
            KeySource::File(path) if !path.exists() => create_key_file(path),
            _ => self.load(),
        }
    }
}

/// Writes a new random key to `path`, which must not exist.
fn create_key_file(path: &Path) -> Result<MasterKey, VaultError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| VaultError::KeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let key = MasterKey::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(format!("{}\n", key.to_hex().as_str()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    Ok(key)
}

/// The standard output of `sh -c command`, which must exit 0 within
/// [`COMMAND_TIMEOUT`]; at most [`KEY_TEXT_LIMIT`] bytes are read.
fn run_key_command(command: &str) -> Result<Zeroizing<String>, VaultError> {
    let fail = |reason: String| VaultError::KeyCommand {
        command: command.into(),
        reason,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(KEY_TEXT_LIMIT).read_to_end(&mut bytes);
            }
            Zeroizing::new(bytes)
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "it did not finish within {} s",
                    COMMAND_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !status.success() {
        let said = String::from_utf8_lossy(&err);
        let last = said.trim().lines().last().unwrap_or("").chars().take(200);
        return Err(fail(format!("{status}: {}", last.collect::<String>())));
    }
    String::from_utf8(out.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| fail("its output is not text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open_only_with_their_key_and_context() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(b"face", b"ctx");
        assert_eq!(sealed.len(), 4 + SEAL_OVERHEAD);
        assert_eq!(key.open(&sealed, b"ctx").unwrap(), b"face");
        assert!(key.open(&sealed, b"other").is_err());
        assert!(DataKey::generate().unwrap().open(&sealed, b"ctx").is_err());
        let mut altered = sealed.clone();
        altered[NONCE_LEN] ^= 1;
        assert!(key.open(&altered, b"ctx").is_err());
        assert!(key.open(&sealed[..10], b"ctx").is_err());
        // A fresh nonce each time: the same record never seals the same way.
        assert_ne!(key.seal(b"face", b"ctx"), sealed);
    }

    #[test]
    fn large_records_seal_in_place_in_the_same_format() {
        let key = DataKey::generate().unwrap();
        let record: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = key.seal_owned(record.clone(), b"index 1");
        assert_eq!(sealed.len(), record.len() + SEAL_OVERHEAD);
        assert_eq!(key.open(&sealed, b"index 1").unwrap(), record);
        assert_eq!(
            key.open_owned(key.seal(&record, b"index 1"), b"index 1")
                .unwrap(),
            record
        );
        assert!(key.open_owned(sealed.clone(), b"index 2").is_err());
        let mut tampered = sealed;
        tampered[SEAL_OVERHEAD] ^= 1;
        assert!(key.open_owned(tampered, b"index 1").is_err());
        assert!(key.open_owned(vec![0; 10], b"index 1").is_err());
    }

    #[test]
    fn keys_round_trip_through_hex_and_refuse_bad_text() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_hex(&format!("  {}\n", key.to_hex().as_str())).unwrap();
        let data = DataKey::generate().unwrap();
        let wrapped = key.wrap(&data, b"c");
        assert!(again.unwrap(&wrapped, b"c").is_ok());
        assert!(again.unwrap(&wrapped, b"d").is_err());
        assert!(
            MasterKey::from_hex("abc")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(
            MasterKey::from_hex(&"zz".repeat(32))
                .unwrap_err()
                .contains("hex digits only")
        );
        assert_eq!(format!("{key:?}"), "MasterKey(…)");
    }

    #[test]
    fn a_key_file_is_created_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let source = KeySource::File(path.clone());
        assert!(matches!(source.load(), Err(VaultError::KeyFile { .. })));
        let created = source.load_or_create().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(source.load_or_create().unwrap().to_hex(), created.to_hex());
        std::fs::write(&path, "not a key").unwrap();
        let err = source.load().unwrap_err().to_string();
        assert!(
            err.contains("master.key") && err.contains("64 hex digits"),
            "{err}"
        );
    }

    #[test]
    fn a_key_command_is_run_and_its_failures_named() {
        let key = MasterKey::generate().unwrap();
        let printed = KeySource::Command(format!("echo {}", key.to_hex().as_str()));
        assert_eq!(printed.load().unwrap().to_hex(), key.to_hex());
        let failing = KeySource::Command("echo denied >&2; exit 3".into());
        let err = failing.load().unwrap_err().to_string();
        assert!(
            err.contains("exit status: 3") && err.contains("denied"),
            "{err}"
        );
        // Endless output is cut off, not buffered.
        assert!(KeySource::Command("yes".into()).load().is_err());
        let wrong = KeySource::Command("echo 1234".into())
            .load()
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("64 hex digits"), "{wrong}");
    }

    #[test]
    fn an_environment_key_is_read_and_a_missing_one_named() {
        let err = KeySource::Env("FACEKIT_VAULT_TEST_UNSET".into())
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("FACEKIT_VAULT_TEST_UNSET"), "{err}");
    }
}
