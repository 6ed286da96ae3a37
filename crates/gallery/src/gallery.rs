use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use facekit_core::{cosine_similarity, l2_normalized};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::backend::{check_contract, check_key, check_vector};
use crate::index::{ExactIndex, HnswIndex, Int8Index, VectorIndex};
use facekit_vault::{DataKey, MasterKey, SEAL_OVERHEAD};

use crate::store::{
    Change, IndexedSample, Keyring, Sealer, Store, Versions, database, index_context, key_context,
    now, stored,
};
use crate::{
    ClusterFace, Collection, Edit, EmbeddingContract, FaceGallery, GalleryError, IndexKind,
    NewSample, Person, PersonInfo, Renumbered, ReviewMode, Sample, UNASSIGNED,
};

/// At least this many candidates of an index that only proposes (int8) are
/// re-scored per search, so that its ranking still yields the exact top results.
const RESCORED: usize = 40;

/// One person among the results, scored by their best sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonMatch {
    /// The person's key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Cosine similarity of the best sample.
    pub score: f32,
    /// That sample.
    pub sample_id: i64,
}

/// The answer to "who is this?".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identification {
    /// Up to `k` persons, best first, whatever their score.
    pub matches: Vec<PersonMatch>,
    /// The top match if it reaches the threshold; `None` means unknown.
    pub best: Option<PersonMatch>,
}

/// The answer to "is this that person?".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    /// Cosine similarity to the person's best sample.
    pub score: f32,
    /// Whether it reaches the threshold.
    pub same: bool,
}

/// Counts and index facts for one collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GalleryStats {
    /// The collection.
    pub collection: Collection,
    /// Persons enrolled.
    pub persons: usize,
    /// Face samples enrolled.
    pub samples: usize,
    /// Bytes the in-memory index holds for vectors.
    pub index_bytes: usize,
}

/// A gallery file and its search indexes, shared by threads and processes.
///
/// Searches run in parallel (each on its own read connection); writes are
/// serialised by SQLite. Before every operation the gallery reads two
/// counters from the file and, when another process has written, applies
/// just those changes to its indexes: new samples are added, erased ones
/// removed, collections created or dropped elsewhere appear or go. An
/// erasure by any process is honoured by every other from its next operation.
pub struct Gallery {
    path: PathBuf,
    /// Inode of the `-wal` journal when opened: a journal deleted or
    /// replaced under a running process silently loses its commits at the
    /// next crash, so every write checks it is still the same file.
    journal: Option<u64>,
    writer: Mutex<Store>,
    /// Idle read connections (opened on demand: one per concurrent reader).
    readers: Mutex<Vec<Store>>,
    view: RwLock<View>,
    /// Wraps the data keys of encrypted collections; without it they
    /// cannot be opened (and the gallery refuses to open).
    master: RwLock<Option<Arc<MasterKey>>>,
}

/// What this process has indexed, and up to which point of the file.
#[derive(Default)]
struct View {
    seen: Versions,
    collections: HashMap<i64, Indexed>,
    /// Samples whose stored bytes fail their checksum: left out of the indexes.
    damaged: BTreeSet<i64>,
    /// The data keys of the encrypted collections.
    keys: Keyring,
}

impl View {
    fn sealer(&self, collection_id: i64) -> Option<&Sealer> {
        self.keys.get(&collection_id)
    }

    fn by_name(&self, name: &str) -> Option<&Indexed> {
        self.collections
            .values()
            .find(|i| i.collection.name == name)
    }

    /// Takes a sample out of whichever index holds it.
    fn forget(&mut self, id: i64) {
        for indexed in self.collections.values_mut() {
            if indexed.owners.remove(&id).is_some() {
                indexed.index.remove(id);
                indexed.dirty = true;
            }
        }
    }
}

/// One collection's index.
struct Indexed {
    collection: Collection,
    index: Box<dyn VectorIndex>,
    /// Each sample's person id: search results are named without reading
    /// sample rows (random reads of a large file).
    owners: HashMap<i64, i64>,
    /// Written since the index was last saved.
    dirty: bool,
}

impl Indexed {
    /// Adds `(sample id, person id, unit vector)`s to the index and the
    /// owner map.
    fn add(&mut self, units: Vec<(i64, i64, Vec<f32>)>) {
        if units.is_empty() {
            return;
        }
        self.owners
            .extend(units.iter().map(|(id, person, _)| (*id, *person)));
        let units: Vec<(i64, Vec<f32>)> =
            units.into_iter().map(|(id, _, unit)| (id, unit)).collect();
        self.index.insert_many(&units);
        self.dirty = true;
    }

    /// `(count, largest id, id sum)` of the indexed samples: with ids that
    /// are never reused, any insert or erasure changes it.
    fn fingerprint(&self) -> (i64, i64, i64) {
        let ids = self.owners.keys();
        (
            self.owners.len() as i64,
            ids.clone().copied().max().unwrap_or(0),
            ids.sum(),
        )
    }
}

impl std::fmt::Debug for Gallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery").field("path", &self.path).finish()
    }
}

fn new_index(
    kind: IndexKind,
    dim: usize,
    expected: usize,
) -> Result<Box<dyn VectorIndex>, GalleryError> {
    Ok(match kind {
        IndexKind::Exact => Box::new(ExactIndex::new(dim)),
        IndexKind::Int8 => Box::new(Int8Index::new(dim)),
        IndexKind::Hnsw => {
            let index = HnswIndex::new(dim)
                .map_err(|e| GalleryError::Invalid(format!("cannot create the HNSW index: {e}")))?;
            index.reserve(expected);
            Box::new(index)
        }
    })
}

/// Splits samples read back into indexable units and damaged ids.
fn units_of(
    c: &Collection,
    samples: Vec<IndexedSample>,
    damaged: &mut BTreeSet<i64>,
) -> Vec<(i64, i64, Vec<f32>)> {
    let mut units = Vec::with_capacity(samples.len());
    for s in samples {
        match s.embedding {
            Ok(e) if e.len() == c.contract.dimension => {
                units.push((s.id, s.person_id, l2_normalized(&e)));
            }
            _ => {
                damaged.insert(s.id);
            }
        }
    }
    units
}

impl Gallery {
    /// Opens (or creates) the gallery file, migrating an older layout, and
    /// builds every collection's index (or loads the saved one). A gallery
    /// with encrypted collections needs [`Gallery::open_with_key`].
    pub fn open(path: &Path) -> Result<Self, GalleryError> {
        Self::open_with_key(path, None)
    }

    /// Opens the gallery with its master key: encrypted collections are
    /// read through it, and every collection created from now on is
    /// encrypted. The key is checked against every encrypted collection
    /// before anything is written: a missing or wrong key is an error and
    /// leaves the file as it was.
    ///
    /// ```no_run
    /// use facekit_gallery::{Gallery, KeySource};
    /// let key = KeySource::File("gallery.key".into()).load_or_create()?;
    /// let gallery = Gallery::open_with_key("faces.db".as_ref(), Some(key))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with_key(path: &Path, master: Option<MasterKey>) -> Result<Self, GalleryError> {
        let probe = Store::connect(path)?;
        let wrapped = probe.wrapped_keys().map_err(|e| database(path, e))?;
        for (id, name, key) in &wrapped {
            unwrap_key(path, master.as_ref(), *id, name, key)?;
        }
        drop(probe);
        let writer = Store::open(path)?;
        let gallery = Self {
            path: path.to_path_buf(),
            journal: journal_inode(path),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            view: RwLock::new(View::default()),
            master: RwLock::new(master.map(Arc::new)),
        };
        {
            let mut view = gallery.view_mut();
            gallery.with_reader(|store| gallery.reload(store, &mut view))?;
        }
        Ok(gallery)
    }

    fn db(&self, e: rusqlite::Error) -> GalleryError {
        database(&self.path, e)
    }

    fn view_mut(&self) -> RwLockWriteGuard<'_, View> {
        // The view is rebuilt from the file when in doubt: a panic elsewhere
        // cannot leave it worse than stale, and staleness is detected.
        self.view.write().unwrap_or_else(|e| e.into_inner())
    }

    fn view_ref(&self) -> RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op` on an idle read connection (a new one when all are busy).
    fn with_reader<T>(
        &self,
        op: impl FnOnce(&Store) -> Result<T, GalleryError>,
    ) -> Result<T, GalleryError> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let store = match idle {
            Some(store) => store,
            None => Store::connect(&self.path)?,
        };
        let result = op(&store);
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(store);
        result
    }

    /// Runs a write on the writer connection, then brings the indexes up to
    /// date with it (and with anything other processes wrote before it).
    fn write<T>(
        &self,
        op: impl FnOnce(&mut Store) -> Result<T, GalleryError>,
    ) -> Result<T, GalleryError> {
        let result = {
            let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            op(&mut writer)?
        };
        if journal_inode(&self.path) != self.journal {
            return Err(GalleryError::Database {
                path: self.path.clone(),
                reason: format!(
                    "its journal {}-wal was deleted or replaced while the gallery was open: this write and later ones may be lost; stop every process using the file and reopen it",
                    self.path.display()
                ),
            });
        }
        drop(self.current()?);
        Ok(result)
    }

    /// The view, first brought up to date with the file.
    fn current(&self) -> Result<RwLockReadGuard<'_, View>, GalleryError> {
        self.with_reader(|store| {
            let now = store.versions().map_err(|e| self.db(e))?;
            if self.view_ref().seen == now {
                return Ok(());
            }
            let mut view = self.view_mut();
            self.catch_up(store, &mut view)
        })?;
        Ok(self.view_ref())
    }

    /// Rebuilds the whole view from the file (at open, or after falling
    /// further behind than the change log reaches).
    fn reload(&self, store: &Store, view: &mut View) -> Result<(), GalleryError> {
        let db = |e| self.db(e);
        let tx = store.conn.unchecked_transaction().map_err(db)?;
        let seen = store.versions().map_err(db)?;
        let mut fresh = View {
            seen,
            ..View::default()
        };
        for c in store.collections().map_err(db)? {
            self.unlock(store, &c, &mut fresh.keys)?;
            let indexed = match self.load_saved_index(store, &c, &fresh.keys) {
                Some(indexed) => indexed,
                None => self.build_index(store, &c, &mut fresh.damaged, &fresh.keys)?,
            };
            fresh.collections.insert(c.id, indexed);
        }
        tx.finish().map_err(db)?;
        *view = fresh;
        Ok(())
    }

    /// Applies what other processes (and this one's writes) changed since
    /// the view was last brought up to date.
    fn catch_up(&self, store: &Store, view: &mut View) -> Result<(), GalleryError> {
        let db = |e| self.db(e);
        // One read transaction: the counters and the rows read agree.
        let tx = store.conn.unchecked_transaction().map_err(db)?;
        let now = store.versions().map_err(db)?;
        if now == view.seen {
            return Ok(());
        }
        let Some(changes) = store.changes_since(view.seen.changes).map_err(db)? else {
            drop(tx);
            return self.reload(store, view);
        };
        let mut moved = Vec::new();
        for change in changes {
            match change {
                Change::CollectionCreated(id) if !view.collections.contains_key(&id) => {
                    if let Some(c) = store.collection_by_id(id).map_err(db)? {
                        self.unlock(store, &c, &mut view.keys)?;
                        let indexed = self.build_index(store, &c, &mut view.damaged, &view.keys)?;
                        view.collections.insert(id, indexed);
                    }
                }
                Change::CollectionCreated(_) => {}
                Change::CollectionDropped(id) => {
                    view.collections.remove(&id);
                    view.keys.remove(&id);
                }
                Change::CollectionChanged(id) => {
                    if let (Some(indexed), Some(c)) = (
                        view.collections.get_mut(&id),
                        store.collection_by_id(id).map_err(db)?,
                    ) {
                        indexed.collection = c;
                    }
                }
                Change::SampleErased(id) => {
                    view.damaged.remove(&id);
                    view.forget(id);
                }
                Change::SampleMoved(id) => moved.push(id),
            }
        }
        for (id, person) in store.owners_of(&moved).map_err(db)? {
            for indexed in view.collections.values_mut() {
                if let Some(owner) = indexed.owners.get_mut(&id) {
                    *owner = person;
                }
            }
        }
        let mut added: HashMap<i64, Vec<IndexedSample>> = HashMap::new();
        for s in store
            .samples_after(view.seen.samples, &view.keys)
            .map_err(db)?
        {
            added.entry(s.collection_id).or_default().push(s);
        }
        for (collection_id, samples) in added {
            let Some(indexed) = view.collections.get_mut(&collection_id) else {
                continue;
            };
            let samples: Vec<IndexedSample> = samples
                .into_iter()
                .filter(|s| !indexed.owners.contains_key(&s.id))
                .collect();
            let units = units_of(&indexed.collection, samples, &mut view.damaged);
            indexed.add(units);
        }
        tx.finish().map_err(db)?;
        view.seen = now;
        Ok(())
    }

    /// Puts the data key of `c`, if it is encrypted, on the keyring.
    fn unlock(
        &self,
        store: &Store,
        c: &Collection,
        keys: &mut Keyring,
    ) -> Result<(), GalleryError> {
        if !c.encrypted || keys.contains_key(&c.id) {
            return Ok(());
        }
        let wrapped = store.wrapped_keys().map_err(|e| self.db(e))?;
        let Some((_, _, key)) = wrapped.iter().find(|(id, _, _)| *id == c.id) else {
            return Ok(());
        };
        let key = unwrap_key(&self.path, self.master().as_deref(), c.id, &c.name, key)?;
        keys.insert(c.id, Sealer::new(key, c.id));
        Ok(())
    }

    /// Reads every sample of `c` into a fresh index.
    fn build_index(
        &self,
        store: &Store,
        c: &Collection,
        damaged: &mut BTreeSet<i64>,
        keys: &Keyring,
    ) -> Result<Indexed, GalleryError> {
        let samples = store
            .collection_samples(c.id, keys)
            .map_err(|e| self.db(e))?;
        let units = units_of(c, samples, damaged);
        let mut indexed = Indexed {
            collection: c.clone(),
            index: new_index(c.index, c.contract.dimension, units.len())?,
            owners: HashMap::new(),
            // A rebuilt HNSW graph is worth saving for the next open.
            dirty: true,
        };
        indexed.add(units);
        Ok(indexed)
    }

    /// Where a collection's saved index and its fingerprint live.
    fn index_files(&self, c: &Collection) -> (PathBuf, PathBuf) {
        let base = self.path.as_os_str().to_string_lossy();
        (
            PathBuf::from(format!("{base}.{}.{}", c.id, c.index)),
            PathBuf::from(format!("{base}.{}.{}.json", c.id, c.index)),
        )
    }

    /// Deletes the saved index of `c` and its fingerprint, if any.
    fn remove_saved_index(&self, c: &Collection) {
        let (index_file, meta_file) = self.index_files(c);
        let _ = std::fs::remove_file(meta_file);
        let _ = std::fs::remove_file(sealed_index(&index_file));
        HnswIndex::remove_saved(&index_file);
    }

    /// The saved index of `c`, if it was saved for exactly the samples the
    /// file holds now (same count, largest id and id sum); an encrypted
    /// collection's is opened with its data key from `keys`.
    fn load_saved_index(&self, store: &Store, c: &Collection, keys: &Keyring) -> Option<Indexed> {
        if c.index != IndexKind::Hnsw {
            return None;
        }
        let (index_file, meta_file) = self.index_files(c);
        let saved: (i64, i64, i64) =
            serde_json::from_str(&std::fs::read_to_string(meta_file).ok()?).ok()?;
        let owners: HashMap<i64, i64> = store.sample_owners(c.id).ok()?.into_iter().collect();
        let dim = c.contract.dimension;
        let index = if c.encrypted {
            let sealed = std::fs::read(sealed_index(&index_file)).ok()?;
            let plain = keys
                .get(&c.id)?
                .key()
                .open_owned(sealed, &index_context(c.id))
                .ok()?;
            HnswIndex::from_bytes(dim, &plain).ok()?
        } else {
            HnswIndex::load(dim, &index_file).ok()?
        };
        let indexed = Indexed {
            collection: c.clone(),
            index: Box::new(index),
            owners,
            dirty: false,
        };
        (indexed.fingerprint() == saved && indexed.index.len() as i64 == saved.0).then_some(indexed)
    }

    /// Saves the indexes that are slow to rebuild (HNSW) of every collection
    /// written since they were last saved, so the next open loads them
    /// instead of rebuilding. Also done when the gallery is dropped. Each
    /// file is written under a name of this process's and renamed into
    /// place, the fingerprint last; a stale or missing file only means a
    /// rebuild.
    pub fn save_indexes(&self) -> Result<(), GalleryError> {
        // Never save vectors that another process has erased meanwhile.
        drop(self.current()?);
        let mut view = self.view_mut();
        let View {
            collections, keys, ..
        } = &mut *view;
        for indexed in collections.values_mut().filter(|i| i.dirty) {
            let c = &indexed.collection;
            let (index_file, meta_file) = self.index_files(c);
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |source| GalleryError::Io { path, source }
            };
            // Without its fingerprint a half-written index is never trusted.
            match std::fs::remove_file(&meta_file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(&meta_file)(e));
                }
                _ => {}
            }
            let staged = PathBuf::from(format!(
                "{}.{}.tmp",
                index_file.display(),
                std::process::id()
            ));
            let cannot =
                |e| GalleryError::Invalid(format!("cannot save the index of '{}': {e}", c.name));
            // An encrypted collection's vectors are never written in the
            // clear: its index is one record sealed with its data key.
            let saved = match keys.get(&c.id) {
                Some(sealer) => match indexed.index.to_bytes(SEAL_OVERHEAD).map_err(cannot)? {
                    Some(plain) => {
                        let sealed = sealer.key().seal_owned(plain, &index_context(c.id));
                        std::fs::write(&staged, sealed).map_err(io(&staged))?;
                        std::fs::rename(&staged, sealed_index(&index_file))
                            .map_err(io(&index_file))?;
                        true
                    }
                    None => false,
                },
                None => {
                    let saved = indexed.index.save(&staged).map_err(cannot)?;
                    if saved {
                        HnswIndex::rename_saved(&staged, &index_file).map_err(io(&index_file))?;
                    }
                    saved
                }
            };
            if saved {
                let meta_tmp = staged.with_extension("json");
                std::fs::write(
                    &meta_tmp,
                    serde_json::json!(indexed.fingerprint()).to_string(),
                )
                .map_err(io(&meta_tmp))?;
                std::fs::rename(&meta_tmp, &meta_file).map_err(io(&meta_file))?;
            }
            indexed.dirty = false;
        }
        Ok(())
    }

    /// The gallery file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples whose stored embedding no longer matches its checksum (bit
    /// rot, a damaged copy): they are left out of every search.
    pub fn damaged_samples(&self) -> Result<Vec<i64>, GalleryError> {
        Ok(self.current()?.damaged.iter().copied().collect())
    }

    /// Reads every stored embedding and checks it against its checksum
    /// (an index loaded from its saved copy has not read them); damaged
    /// samples are taken out of the indexes and returned, by id.
    pub fn check(&self) -> Result<Vec<i64>, GalleryError> {
        drop(self.current()?);
        let mut view = self.view_mut();
        let damaged =
            self.with_reader(|store| store.damaged_ids(&view.keys).map_err(|e| self.db(e)))?;
        for &id in &damaged {
            view.forget(id);
            view.damaged.insert(id);
        }
        Ok(view.damaged.iter().copied().collect())
    }

    /// Moves every damaged sample out of the gallery: its id, collection,
    /// person and the time go to the `quarantine` table (no embedding: the
    /// damaged bytes are erased like any deleted sample), so the person can
    /// be enrolled again. Returns `(sample id, collection, person key)`.
    pub fn quarantine_damaged(&self) -> Result<Vec<(i64, String, String)>, GalleryError> {
        let damaged = self.check()?;
        if damaged.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|store| {
            let db = |e| database(&self.path, e);
            let tx = store.conn.transaction().map_err(db)?;
            let mut moved = Vec::new();
            {
                let mut find = tx
                    .prepare(
                        "SELECT c.name, p.key FROM samples s JOIN persons p ON p.id = s.person_id JOIN collections c ON c.id = p.collection_id WHERE s.id = ?1",
                    )
                    .map_err(db)?;
                for &id in &damaged {
                    let Some((collection, person)) = find
                        .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                        .optional()
                        .map_err(db)?
                    else {
                        continue;
                    };
                    tx.execute(
                        "INSERT INTO quarantine (sample_id, collection, person, reason, quarantined_at) VALUES (?1, ?2, ?3, 'embedding fails its checksum', ?4)",
                        params![id, collection, person, now()],
                    )
                    .map_err(db)?;
                    tx.execute("DELETE FROM samples WHERE id = ?1", [id]).map_err(db)?;
                    moved.push((id, collection, person));
                }
            }
            tx.commit().map_err(db)?;
            // Saved indexes may hold the samples' vectors from before the damage.
            for indexed in self.view_ref().collections.values() {
                if moved.iter().any(|(_, c, _)| *c == indexed.collection.name) {
                    self.remove_saved_index(&indexed.collection);
                }
            }
            store.purge_journal().map_err(db)?;
            Ok(moved)
        })
    }

    fn vault(&self, source: facekit_vault::VaultError) -> GalleryError {
        GalleryError::Vault {
            path: self.path.clone(),
            source,
        }
    }

    /// Refuses a master key that does not open the data keys already in
    /// the file (another process rotated it): new keys wrapped under it
    /// would be lost with the next open.
    fn check_master(
        &self,
        conn: &rusqlite::Connection,
        master: &MasterKey,
    ) -> Result<(), GalleryError> {
        let wrapped: Option<(i64, String, Vec<u8>)> = conn
            .query_row(
                "SELECT id, name, data_key FROM collections WHERE data_key IS NOT NULL ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        match wrapped {
            Some((id, name, key)) => {
                unwrap_key(&self.path, Some(master), id, &name, &key).map(drop)
            }
            None => Ok(()),
        }
    }

    fn master(&self) -> Option<Arc<MasterKey>> {
        self.master
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a master key was given at open.
    pub fn has_key(&self) -> bool {
        self.master().is_some()
    }

    /// Encrypts every plaintext collection in place under a new data key
    /// each (the gallery must have been opened with its master key), then
    /// rewrites the file so no plaintext page is left in it or its journal.
    /// Each collection is converted in one transaction: killed midway, the
    /// gallery opens with every sample, each collection either plaintext or
    /// encrypted, and running it again finishes the job. Returns the names
    /// of the collections it encrypted.
    pub fn encrypt(&self) -> Result<Vec<String>, GalleryError> {
        let mut plain: Vec<Collection> = self
            .current()?
            .collections
            .values()
            .filter(|i| !i.collection.encrypted)
            .map(|i| i.collection.clone())
            .collect();
        plain.sort_by(|a, b| a.name.cmp(&b.name));
        let Some(master) = self.master() else {
            return Err(GalleryError::Invalid(
                "encrypting a gallery needs a master key (--key-file, --key-command or FACEKIT_GALLERY_KEY)".into(),
            ));
        };
        let mut done = Vec::new();
        for c in &plain {
            self.write(|store| {
                let tx = store.conn.transaction().map_err(|e| self.db(e))?;
                self.check_master(&tx, &master)?;
                let key = DataKey::generate().map_err(|e| self.vault(e))?;
                let sealer = Sealer::new(key.clone(), c.id);
                let changed = tx
                    .execute(
                        "UPDATE collections SET data_key = ?2 WHERE id = ?1 AND data_key IS NULL",
                        params![c.id, master.wrap(&key, &key_context(c.id))],
                    )
                    .map_err(|e| self.db(e))?;
                if changed == 1 {
                    self.reseal(&tx, c.id, None, &sealer)?;
                    announce_rebuilt(&tx, c.id).map_err(|e| self.db(e))?;
                }
                tx.commit().map_err(|e| self.db(e))
            })?;
            self.remove_saved_index(c);
            done.push(c.name.clone());
        }
        self.scrub()?;
        Ok(done)
    }

    /// Replaces the master key with `new`: every data key is re-wrapped (a
    /// few bytes per collection), and with `reencrypt` every collection
    /// gets a new data key and every sample is sealed again. One
    /// transaction: killed midway, the old key still opens everything.
    /// Other processes holding the gallery must reopen it with `new`.
    pub fn rotate_keys(&self, new: MasterKey, reencrypt: bool) -> Result<usize, GalleryError> {
        let Some(current) = self.master() else {
            return Err(GalleryError::Invalid(
                "rotating keys needs the current master key (--key-file, --key-command or FACEKIT_GALLERY_KEY)".into(),
            ));
        };
        let sealers: Vec<(i64, Sealer)> = {
            let view = self.current()?;
            view.keys.iter().map(|(id, s)| (*id, s.clone())).collect()
        };
        self.write(|store| {
            let tx = store.conn.transaction().map_err(|e| self.db(e))?;
            self.check_master(&tx, &current)?;
            for (id, old) in &sealers {
                let (id, old) = (*id, Some(old));
                let key = if reencrypt {
                    DataKey::generate().map_err(|e| self.vault(e))?
                } else {
                    old.expect("listed").key().clone()
                };
                tx.execute(
                    "UPDATE collections SET data_key = ?2 WHERE id = ?1",
                    params![id, new.wrap(&key, &key_context(id))],
                )
                .map_err(|e| self.db(e))?;
                if reencrypt {
                    self.reseal(&tx, id, old, &Sealer::new(key, id))?;
                    announce_rebuilt(&tx, id).map_err(|e| self.db(e))?;
                }
            }
            tx.commit().map_err(|e| self.db(e))?;
            // Before the indexes catch up: they read the new data keys.
            *self.master.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(new));
            Ok(())
        })?;
        if reencrypt {
            // Saved indexes sealed under the old data keys go too.
            for indexed in self.view_ref().collections.values() {
                if indexed.collection.encrypted {
                    self.remove_saved_index(&indexed.collection);
                }
            }
            self.scrub()?;
        }
        Ok(sealers.len())
    }

    /// Seals every sample of collection `id` under `to` (reading them
    /// plain, or through `from`), in the caller's transaction.
    fn reseal(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        from: Option<&Sealer>,
        to: &Sealer,
    ) -> Result<(), GalleryError> {
        let db = |e| self.db(e);
        // A damaged sample cannot be sealed faithfully: stop, change nothing.
        let samples = crate::store::read_samples(tx, id, None, from)
            .map_err(db)?
            .map_err(|sample| GalleryError::Damaged { sample })?;
        let mut update = tx
            .prepare(
                "UPDATE samples SET embedding = ?2, checksum = ?3, image_sha256 = NULL, bbox = NULL, det_score = NULL, embedding_norm = NULL WHERE id = ?1",
            )
            .map_err(db)?;
        for s in samples {
            let sample = NewSample {
                embedding: s.embedding,
                image_sha256: s.image_sha256,
                bbox: s.bbox,
                det_score: s.det_score,
                embedding_norm: s.embedding_norm,
            };
            let row = stored(&sample, Some(to));
            update
                .execute(params![s.id, row.blob, row.checksum])
                .map_err(db)?;
        }
        Ok(())
    }

    /// Rewrites the whole file (VACUUM) and empties the journal, so pages
    /// that held what was just re-sealed are gone from both.
    fn scrub(&self) -> Result<(), GalleryError> {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer
            .conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.db(e))
    }

    /// The collection `name` as indexed, after checking the caller's model.
    fn checked(
        &self,
        view: &View,
        collection: &str,
        contract: &EmbeddingContract,
    ) -> Result<Collection, GalleryError> {
        let c = indexed(view, collection)?.collection.clone();
        check_contract(&c, contract)?;
        Ok(c)
    }

    fn person_of(&self, store: &Store, c: &Collection, key: &str) -> Result<Person, GalleryError> {
        store
            .person(c.id, key)
            .map_err(|e| self.db(e))?
            .ok_or_else(|| GalleryError::NoSuchPerson {
                collection: c.name.clone(),
                person: key.into(),
            })
    }

    /// The `k` nearest samples, best first, exact cosines: candidates of an
    /// index that only proposes are re-scored with their stored `f32` vectors.
    fn scored(
        &self,
        store: &Store,
        indexed: &Indexed,
        sealer: Option<&Sealer>,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(i64, f32)>, GalleryError> {
        let index = &indexed.index;
        let mut hits = if index.final_scores() {
            index.search(query, k)
        } else {
            let ids: Vec<i64> = index
                .search(query, k.max(RESCORED))
                .iter()
                .map(|h| h.0)
                .collect();
            let mut hits = Vec::with_capacity(ids.len());
            for (id, stored) in store.embeddings(&ids, sealer).map_err(|e| self.db(e))? {
                let stored = stored.map_err(|sample| GalleryError::Damaged { sample })?;
                hits.push((id, cosine_similarity(query, &stored)));
            }
            hits
        };
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        hits.truncate(k);
        Ok(hits)
    }

    /// The nearest samples of persons (faces of none left out), best first.
    fn nearest(
        &self,
        view: &View,
        indexed: &Indexed,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<PersonMatch>, GalleryError> {
        self.with_reader(|store| {
            let hits = self.scored(store, indexed, view.sealer(indexed.collection.id), query, k)?;
            let owners = &indexed.owners;
            let mut person_ids: Vec<i64> = hits
                .iter()
                .filter_map(|h| owners.get(&h.0))
                .copied()
                .collect();
            person_ids.sort_unstable();
            person_ids.dedup();
            let names: HashMap<i64, (String, String)> = store
                .person_names(&person_ids)
                .map_err(|e| self.db(e))?
                .into_iter()
                .filter(|(_, key, _)| key != UNASSIGNED)
                .map(|(id, key, name)| (id, (key, name)))
                .collect();
            Ok(hits
                .into_iter()
                .filter_map(|(sample_id, score)| {
                    let (key, name) = names.get(owners.get(&sample_id)?)?.clone();
                    Some(PersonMatch {
                        key,
                        name,
                        score,
                        sample_id,
                    })
                })
                .collect())
        })
    }

    /// Adds samples to persons (created on first use, name and metadata
    /// updated; the empty key holds faces of no person) in one transaction.
    fn insert_samples(
        &self,
        c: &Collection,
        items: &[(&PersonInfo, &NewSample)],
    ) -> Result<Vec<i64>, GalleryError> {
        for (_, sample) in items {
            check_vector(c, &sample.embedding)?;
        }
        let sealer = self.current()?.sealer(c.id).cloned();
        self.write(|store| {
            let db = |e: rusqlite::Error| database(&self.path, e);
            let tx = store.conn.transaction().map_err(db)?;
            let mut ids = Vec::with_capacity(items.len());
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO persons (collection_id, key, name, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (collection_id, key) DO UPDATE SET name = excluded.name, metadata = excluded.metadata
                         RETURNING id",
                    )
                    .map_err(db)?;
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO samples (person_id, embedding, checksum, image_sha256, bbox, det_score, embedding_norm, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                    )
                    .map_err(db)?;
                for (person, s) in items {
                    let person_id: i64 = upsert
                        .query_row(
                            params![
                                c.id,
                                person.key,
                                person.name,
                                person.metadata.to_string(),
                                now()
                            ],
                            |r| r.get(0),
                        )
                        .map_err(db)?;
                    let row = stored(s, sealer.as_ref());
                    let id: i64 = insert
                        .query_row(
                            params![
                                person_id,
                                row.blob,
                                row.checksum,
                                row.image_sha256,
                                row.bbox,
                                row.det_score,
                                row.embedding_norm,
                                now()
                            ],
                            |r| r.get(0),
                        )
                        .map_err(db)?;
                    ids.push(id);
                }
            }
            // A collection dropped by another process since the check above
            // cascades nothing into a commit: refuse rather than orphan rows.
            // Likewise one encrypted by another process since: its samples
            // must all be sealed.
            let encrypted: Option<bool> = tx
                .query_row("SELECT data_key IS NOT NULL FROM collections WHERE id = ?1", [c.id], |r| r.get(0))
                .optional()
                .map_err(db)?;
            match encrypted {
                None => return Err(GalleryError::NoSuchCollection(c.name.clone())),
                Some(e) if e != sealer.is_some() => {
                    return Err(GalleryError::Invalid(format!(
                        "collection '{}' was encrypted by another process meanwhile: enroll again",
                        c.name
                    )));
                }
                Some(_) => {}
            }
            tx.commit().map_err(db)?;
            Ok(ids)
        })
    }

    /// After a delete: the saved index still holds the deleted vectors, so
    /// it goes at once (it is saved afresh on close), and so do the freed
    /// pages in the journal.
    fn erase_traces(&self, store: &Store, c: &Collection) -> Result<(), GalleryError> {
        self.remove_saved_index(c);
        store.prune_changes().map_err(|e| self.db(e))?;
        store.purge_journal().map_err(|e| self.db(e))
    }
}

/// Where an encrypted collection's sealed index is saved.
fn sealed_index(index_file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sealed", index_file.display()))
}

/// The data key `wrapped` for collection `id`, opened with `master`.
fn unwrap_key(
    path: &Path,
    master: Option<&MasterKey>,
    id: i64,
    name: &str,
    wrapped: &[u8],
) -> Result<DataKey, GalleryError> {
    let Some(master) = master else {
        return Err(GalleryError::KeyRequired {
            path: path.to_path_buf(),
            collection: name.into(),
        });
    };
    master
        .unwrap(wrapped, &key_context(id))
        .map_err(|_| GalleryError::Vault {
            path: path.to_path_buf(),
            source: facekit_vault::VaultError::WrongKey {
                what: format!("the data key of collection '{name}'"),
            },
        })
}

/// Logs collection `id` as dropped and created again, so every other
/// process rebuilds its index and reads its new key.
fn announce_rebuilt(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO changes (kind, collection_id) VALUES ('collection_dropped', ?1), ('collection_created', ?1)",
        [id],
    )
    .map(drop)
}

/// Logs that collection `id`'s facts changed (not its samples): other
/// processes reread them and keep their index.
fn announce_changed(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO changes (kind, collection_id) VALUES ('collection_changed', ?1)",
        [id],
    )
    .map(drop)
}

/// Inode of the gallery's `-wal` file, if it exists.
fn journal_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).ok().map(|m| m.ino())
}

fn indexed<'v>(view: &'v View, name: &str) -> Result<&'v Indexed, GalleryError> {
    view.by_name(name)
        .ok_or_else(|| GalleryError::NoSuchCollection(name.into()))
}

impl FaceGallery for Gallery {
    fn create_collection_with_review(
        &self,
        name: &str,
        contract: &EmbeddingContract,
        index: IndexKind,
        review: ReviewMode,
    ) -> Result<Collection, GalleryError> {
        if name.trim().is_empty() {
            return Err(GalleryError::Invalid("a collection needs a name".into()));
        }
        crate::backend::check_new_contract(contract)?;
        let id = self.write(|store| {
            let db = |e| database(&self.path, e);
            let tx = store.conn.transaction().map_err(db)?;
            let inserted = tx
                .execute(
                    "INSERT INTO collections (name, model_sha256, dimension, preprocessing, index_kind, review, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                    params![name, contract.model_sha256, contract.dimension as i64, contract.preprocessing, index.to_string(), review.to_string(), now()],
                )
                .map_err(db)?;
            if inserted == 0 {
                return Err(GalleryError::CollectionExists(name.into()));
            }
            let id = tx.last_insert_rowid();
            if let Some(master) = self.master() {
                self.check_master(&tx, &master)?;
                let key = DataKey::generate().map_err(|e| self.vault(e))?;
                tx.execute(
                    "UPDATE collections SET data_key = ?2 WHERE id = ?1",
                    params![id, master.wrap(&key, &key_context(id))],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)?;
            Ok(id)
        })?;
        let view = self.current()?;
        view.collections
            .get(&id)
            .map(|i| i.collection.clone())
            // Dropped by another process in the meantime.
            .ok_or_else(|| GalleryError::NoSuchCollection(name.into()))
    }

    fn collection(&self, name: &str) -> Result<Collection, GalleryError> {
        Ok(indexed(&*self.current()?, name)?.collection.clone())
    }

    fn collections(&self) -> Result<Vec<Collection>, GalleryError> {
        let mut all: Vec<Collection> = self
            .current()?
            .collections
            .values()
            .map(|i| i.collection.clone())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn persons(&self, collection: &str) -> Result<Vec<Person>, GalleryError> {
        let c = self.collection(collection)?;
        self.with_reader(|store| store.persons(c.id).map_err(|e| self.db(e)))
    }

    fn person(&self, collection: &str, key: &str) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        self.with_reader(|store| self.person_of(store, &c, key))
    }

    fn create_person(&self, collection: &str, person: &PersonInfo) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        check_key(&person.key)?;
        self.write(|store| {
            let inserted = store
                .conn
                .execute(
                    "INSERT INTO persons (collection_id, key, name, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![c.id, person.key, person.name, person.metadata.to_string(), now()],
                )
                .map_err(|e| self.db(e))?;
            if inserted == 0 {
                return Err(GalleryError::PersonExists {
                    collection: c.name.clone(),
                    person: person.key.clone(),
                });
            }
            self.person_of(store, &c, &person.key)
        })
    }

    fn update_person(
        &self,
        collection: &str,
        key: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let p = self.person_of(store, &c, key)?;
            store
                .conn
                .execute(
                    "UPDATE persons SET name = COALESCE(?2, name), metadata = COALESCE(?3, metadata) WHERE id = ?1",
                    params![p.id, name, metadata.map(|m| m.to_string())],
                )
                .map_err(|e| self.db(e))?;
            self.person_of(store, &c, key)
        })
    }

    fn samples(&self, collection: &str, person: Option<&str>) -> Result<Vec<Sample>, GalleryError> {
        let c = self.collection(collection)?;
        self.with_reader(|store| {
            let person_id = match person {
                Some(key) => Some(self.person_of(store, &c, key)?.id),
                None => None,
            };
            store
                .samples(c.id, person_id, self.view_ref().sealer(c.id))
                .map_err(|e| self.db(e))?
                .map_err(|sample| GalleryError::Damaged { sample })
        })
    }

    fn enroll_batch(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        items: &[(&PersonInfo, &NewSample)],
    ) -> Result<Vec<i64>, GalleryError> {
        let c = self.checked(&*self.current()?, collection, contract)?;
        for (person, _) in items {
            check_key(&person.key)?;
        }
        self.insert_samples(&c, items)
    }

    fn nearest_samples(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        k: usize,
    ) -> Result<Vec<PersonMatch>, GalleryError> {
        let view = self.current()?;
        let c = self.checked(&view, collection, contract)?;
        check_vector(&c, embedding)?;
        self.nearest(
            &view,
            indexed(&view, collection)?,
            &l2_normalized(embedding),
            k,
        )
    }

    fn delete_sample(&self, collection: &str, sample: i64) -> Result<(), GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let n = store
                .conn
                .execute("DELETE FROM samples WHERE id = ?1 AND person_id IN (SELECT id FROM persons WHERE collection_id = ?2)", params![sample, c.id])
                .map_err(|e| self.db(e))?;
            if n == 0 {
                return Err(GalleryError::NoSuchSample {
                    collection: c.name.clone(),
                    sample,
                });
            }
            self.erase_traces(store, &c)
        })
    }

    fn set_retention(
        &self,
        collection: &str,
        days: Option<u32>,
    ) -> Result<Collection, GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let db = |e| database(&self.path, e);
            let tx = store.conn.transaction().map_err(db)?;
            let n = tx
                .execute(
                    "UPDATE collections SET retention_days = ?2 WHERE id = ?1",
                    params![c.id, days],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(GalleryError::NoSuchCollection(c.name.clone()));
            }
            // Every process (this one too) reads the collection's facts
            // afresh; its index stays as it is.
            announce_changed(&tx, c.id).map_err(db)?;
            tx.commit().map_err(db)
        })?;
        self.collection(collection)
    }

    fn erase_enrolled_before(
        &self,
        collection: &str,
        before: i64,
    ) -> Result<Vec<(i64, String)>, GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let db = |e| database(&self.path, e);
            let tx = store.conn.transaction().map_err(db)?;
            let erased: Vec<(i64, String)> = {
                let mut old = tx
                    .prepare(
                        "SELECT s.id, p.key FROM samples s JOIN persons p ON p.id = s.person_id WHERE p.collection_id = ?1 AND s.created_at < ?2 ORDER BY s.id",
                    )
                    .map_err(db)?;
                old.query_map(params![c.id, before], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?
                    .collect::<Result<_, _>>()
                    .map_err(db)?
            };
            tx.execute(
                "DELETE FROM samples WHERE created_at < ?2 AND person_id IN (SELECT id FROM persons WHERE collection_id = ?1)",
                params![c.id, before],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            if !erased.is_empty() {
                self.erase_traces(store, &c)?;
            }
            Ok(erased)
        })
    }

    fn delete_person(&self, collection: &str, person: &str) -> Result<usize, GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let p = self.person_of(store, &c, person)?;
            store
                .conn
                .execute("DELETE FROM persons WHERE id = ?1", [p.id])
                .map_err(|e| self.db(e))?;
            self.erase_traces(store, &c)?;
            Ok(p.samples)
        })
    }

    fn delete_collection(&self, collection: &str) -> Result<(), GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let n = store
                .conn
                .execute("DELETE FROM collections WHERE id = ?1", [c.id])
                .map_err(|e| self.db(e))?;
            if n == 0 {
                return Err(GalleryError::NoSuchCollection(c.name.clone()));
            }
            self.erase_traces(store, &c)
        })
    }

    fn stats(&self, collection: &str) -> Result<GalleryStats, GalleryError> {
        let view = self.current()?;
        let indexed = indexed(&view, collection)?;
        let c = indexed.collection.clone();
        let persons = self.with_reader(|store| store.person_count(c.id).map_err(|e| self.db(e)))?;
        Ok(GalleryStats {
            persons,
            samples: indexed.index.len(),
            index_bytes: indexed.index.memory_bytes(),
            collection: c,
        })
    }

    fn enroll_unassigned(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        samples: &[NewSample],
    ) -> Result<Vec<i64>, GalleryError> {
        let c = self.checked(&*self.current()?, collection, contract)?;
        let nobody = PersonInfo {
            key: UNASSIGNED.into(),
            name: String::new(),
            metadata: serde_json::json!({}),
        };
        let items: Vec<(&PersonInfo, &NewSample)> = samples.iter().map(|s| (&nobody, s)).collect();
        self.insert_samples(&c, &items)
    }

    fn cluster_faces(&self, collection: &str) -> Result<Vec<ClusterFace>, GalleryError> {
        let c = self.collection(collection)?;
        let view = self.current()?;
        self.with_reader(|store| {
            store
                .cluster_faces(c.id, view.sealer(c.id))
                .map_err(|e| self.db(e))
        })
    }

    fn sample_embeddings(
        &self,
        collection: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, Vec<f32>)>, GalleryError> {
        let view = self.current()?;
        let indexed = indexed(&view, collection)?;
        let held: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| indexed.owners.contains_key(id))
            .collect();
        self.with_reader(|store| {
            store
                .embeddings(&held, view.sealer(indexed.collection.id))
                .map_err(|e| self.db(e))?
                .into_iter()
                .map(|(id, e)| Ok((id, e.map_err(|sample| GalleryError::Damaged { sample })?)))
                .collect()
        })
    }

    fn neighbours(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<(i64, f32)>>, GalleryError> {
        let view = self.current()?;
        let indexed = indexed(&view, collection)?;
        for q in queries {
            check_vector(&indexed.collection, q)?;
        }
        self.with_reader(|store| {
            queries
                .iter()
                .map(|q| {
                    let sealer = view.sealer(indexed.collection.id);
                    self.scored(store, indexed, sealer, &l2_normalized(q), k)
                })
                .collect()
        })
    }

    /// Sealed under the master key when the collection is encrypted.
    fn export(
        &self,
        collection: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, GalleryError> {
        let master = self
            .master()
            .filter(|_| self.collection(collection).is_ok_and(|c| c.encrypted));
        crate::transfer::export_collection(self, collection, out, master.as_deref())
    }

    fn apply_edits(&self, collection: &str, edits: &[Edit]) -> Result<Renumbered, GalleryError> {
        let c = self.collection(collection)?;
        self.write(|store| {
            let db = |e: rusqlite::Error| database(&self.path, e);
            let tx = store.conn.transaction().map_err(db)?;
            for edit in edits {
                crate::edits::apply(&tx, &c, edit).map_err(|e| match e {
                    crate::edits::EditError::Sql(e) => db(e),
                    crate::edits::EditError::Gallery(e) => e,
                })?;
            }
            tx.commit().map_err(db)?;
            Ok(Vec::new())
        })
    }
}

impl Drop for Gallery {
    fn drop(&mut self) {
        // Best effort: a missing or stale saved index is rebuilt at next open.
        let _ = self.save_indexes();
    }
}
