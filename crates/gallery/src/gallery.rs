use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use facekit_core::{cosine_similarity, l2_normalized};
use rusqlite::params;
use serde::Serialize;

use crate::backend::{check_contract, check_key, check_vector};
use crate::index::{ExactIndex, HnswIndex, Int8Index, VectorIndex};
use crate::store::{Store, now, to_blob};
use crate::{
    Collection, EmbeddingContract, FaceGallery, GalleryError, IndexKind, NewSample, Person,
    PersonInfo, Sample,
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

/// A gallery file and its search indexes. One writer per file at a time
/// (SQLite serialises writers; readers in other processes see committed data).
pub struct Gallery {
    path: PathBuf,
    store: Store,
    indexes: HashMap<i64, Box<dyn VectorIndex>>,
    /// Per collection, each sample's person id: search results are named
    /// without reading sample rows (random reads of a large file).
    owners: HashMap<i64, HashMap<i64, i64>>,
    /// Collections written since their index was last saved.
    dirty: HashSet<i64>,
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

impl Gallery {
    /// Opens (or creates) the gallery file and builds every collection's index.
    pub fn open(path: &Path) -> Result<Self, GalleryError> {
        let store = Store::open(path)?;
        let mut gallery = Self {
            path: path.to_path_buf(),
            store,
            indexes: HashMap::new(),
            owners: HashMap::new(),
            dirty: HashSet::new(),
        };
        for c in gallery.store.collections().map_err(|e| gallery.db(e))? {
            let index = match gallery.load_saved_index(&c) {
                Some(index) => index,
                None => gallery.rebuild_index(&c)?,
            };
            gallery.indexes.insert(c.id, index);
            let owners = gallery
                .store
                .sample_owners(c.id)
                .map_err(|e| gallery.db(e))?;
            gallery.owners.insert(c.id, owners.into_iter().collect());
        }
        Ok(gallery)
    }

    /// Reads every sample of `c` into a fresh index.
    fn rebuild_index(&mut self, c: &Collection) -> Result<Box<dyn VectorIndex>, GalleryError> {
        let samples = self.store.samples(c.id, None).map_err(|e| self.db(e))?;
        let mut index = new_index(c.index, c.contract.dimension, samples.len())?;
        let mut units = Vec::with_capacity(samples.len());
        for s in samples {
            if s.embedding.len() != c.contract.dimension {
                return Err(GalleryError::Database {
                    path: self.path.clone(),
                    reason: format!(
                        "sample {} has {} values, collection '{}' takes {}",
                        s.id,
                        s.embedding.len(),
                        c.name,
                        c.contract.dimension
                    ),
                });
            }
            units.push((s.id, l2_normalized(&s.embedding)));
        }
        index.insert_many(&units);
        // A rebuilt HNSW graph is worth saving for the next open.
        self.dirty.insert(c.id);
        Ok(index)
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
        HnswIndex::remove_saved(&index_file);
    }

    /// The saved index of `c`, if it was saved for exactly the samples the
    /// file holds now (same count, largest id and id sum).
    fn load_saved_index(&self, c: &Collection) -> Option<Box<dyn VectorIndex>> {
        if c.index != IndexKind::Hnsw {
            return None;
        }
        let (index_file, meta_file) = self.index_files(c);
        let saved: (i64, i64, i64) =
            serde_json::from_str(&std::fs::read_to_string(meta_file).ok()?).ok()?;
        if saved != self.store.fingerprint(c.id).ok()? {
            return None;
        }
        let index = HnswIndex::load(c.contract.dimension, &index_file).ok()?;
        (index.len() as i64 == saved.0).then(|| Box::new(index) as Box<dyn VectorIndex>)
    }

    /// Saves the indexes that are slow to rebuild (HNSW) of every collection
    /// written since they were last saved, so the next open loads them
    /// instead of rebuilding. Also done when the gallery is dropped. Each
    /// file is written beside the gallery and renamed into place; a stale or
    /// missing file only means a rebuild.
    pub fn save_indexes(&mut self) -> Result<(), GalleryError> {
        for c in self.collections()? {
            if !self.dirty.contains(&c.id) {
                continue;
            }
            let (index_file, meta_file) = self.index_files(&c);
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
            let saved = self.indexes[&c.id].save(&index_file).map_err(|e| {
                GalleryError::Invalid(format!("cannot save the index of '{}': {e}", c.name))
            })?;
            if saved {
                let fingerprint = self.store.fingerprint(c.id).map_err(|e| self.db(e))?;
                let meta_tmp = meta_file.with_extension("tmp");
                std::fs::write(&meta_tmp, serde_json::json!(fingerprint).to_string())
                    .map_err(io(&meta_tmp))?;
                std::fs::rename(&meta_tmp, &meta_file).map_err(io(&meta_file))?;
            }
            self.dirty.remove(&c.id);
        }
        Ok(())
    }

    fn db(&self, e: rusqlite::Error) -> GalleryError {
        GalleryError::Database {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// The gallery file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn person_of(&self, c: &Collection, key: &str) -> Result<Person, GalleryError> {
        self.store
            .person(c.id, key)
            .map_err(|e| self.db(e))?
            .ok_or_else(|| GalleryError::NoSuchPerson {
                collection: c.name.clone(),
                person: key.into(),
            })
    }

    /// The collection, after checking the caller's model is its model.
    fn checked(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
    ) -> Result<Collection, GalleryError> {
        let c = self.collection(collection)?;
        check_contract(&c, contract)?;
        Ok(c)
    }

    /// The nearest samples with their persons, best first; candidates of
    /// an index that only proposes are re-scored with their stored `f32`
    /// vectors.
    fn nearest(
        &self,
        c: &Collection,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<PersonMatch>, GalleryError> {
        let index = &self.indexes[&c.id];
        let mut hits = if index.final_scores() {
            index.search(query, k)
        } else {
            let ids: Vec<i64> = index
                .search(query, k.max(RESCORED))
                .iter()
                .map(|h| h.0)
                .collect();
            self.store
                .embeddings(&ids)
                .map_err(|e| self.db(e))?
                .into_iter()
                .map(|(id, stored)| (id, cosine_similarity(query, &stored)))
                .collect()
        };
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        hits.truncate(k);
        let owners = &self.owners[&c.id];
        let mut person_ids: Vec<i64> = hits
            .iter()
            .filter_map(|h| owners.get(&h.0))
            .copied()
            .collect();
        person_ids.sort_unstable();
        person_ids.dedup();
        let names: HashMap<i64, (String, String)> = self
            .store
            .person_names(&person_ids)
            .map_err(|e| self.db(e))?
            .into_iter()
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
    }

    fn after_delete(&mut self, c: &Collection, ids: &[i64]) -> Result<(), GalleryError> {
        self.dirty.insert(c.id);
        // A saved index still holds the deleted vectors: erase it now (it is
        // saved afresh on close).
        self.remove_saved_index(c);
        if let Some(index) = self.indexes.get_mut(&c.id) {
            for &id in ids {
                index.remove(id);
            }
        }
        if let Some(owners) = self.owners.get_mut(&c.id) {
            for id in ids {
                owners.remove(id);
            }
        }
        self.store.purge_journal().map_err(|e| self.db(e))
    }
}

impl FaceGallery for Gallery {
    fn create_collection(
        &mut self,
        name: &str,
        contract: &EmbeddingContract,
        index: IndexKind,
    ) -> Result<Collection, GalleryError> {
        if name.trim().is_empty() {
            return Err(GalleryError::Invalid("a collection needs a name".into()));
        }
        if self
            .store
            .collection(name)
            .map_err(|e| self.db(e))?
            .is_some()
        {
            return Err(GalleryError::CollectionExists(name.into()));
        }
        self.store
            .conn
            .execute(
                "INSERT INTO collections (name, model_sha256, dimension, preprocessing, index_kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, contract.model_sha256, contract.dimension as i64, contract.preprocessing, index.to_string(), now()],
            )
            .map_err(|e| self.db(e))?;
        let c = self.collection(name)?;
        self.indexes
            .insert(c.id, new_index(index, contract.dimension, 0)?);
        self.owners.insert(c.id, HashMap::new());
        Ok(c)
    }

    fn collection(&self, name: &str) -> Result<Collection, GalleryError> {
        self.store
            .collection(name)
            .map_err(|e| self.db(e))?
            .ok_or_else(|| GalleryError::NoSuchCollection(name.into()))
    }

    fn collections(&self) -> Result<Vec<Collection>, GalleryError> {
        self.store.collections().map_err(|e| self.db(e))
    }

    fn persons(&self, collection: &str) -> Result<Vec<Person>, GalleryError> {
        let c = self.collection(collection)?;
        self.store.persons(c.id).map_err(|e| self.db(e))
    }

    fn person(&self, collection: &str, key: &str) -> Result<Person, GalleryError> {
        self.person_of(&self.collection(collection)?, key)
    }

    fn create_person(
        &mut self,
        collection: &str,
        person: &PersonInfo,
    ) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        check_key(&person.key)?;
        let inserted = self
            .store
            .conn
            .execute(
                "INSERT INTO persons (collection_id, key, name, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![c.id, person.key, person.name, person.metadata.to_string(), now()],
            )
            .map_err(|e| self.db(e))?;
        if inserted == 0 {
            return Err(GalleryError::PersonExists {
                collection: c.name,
                person: person.key.clone(),
            });
        }
        self.person_of(&c, &person.key)
    }

    fn update_person(
        &mut self,
        collection: &str,
        key: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        let p = self.person_of(&c, key)?;
        self.store
            .conn
            .execute(
                "UPDATE persons SET name = COALESCE(?2, name), metadata = COALESCE(?3, metadata) WHERE id = ?1",
                params![p.id, name, metadata.map(|m| m.to_string())],
            )
            .map_err(|e| self.db(e))?;
        self.person_of(&c, key)
    }

    fn samples(&self, collection: &str, person: Option<&str>) -> Result<Vec<Sample>, GalleryError> {
        let c = self.collection(collection)?;
        let person_id = match person {
            Some(key) => Some(self.person_of(&c, key)?.id),
            None => None,
        };
        self.store.samples(c.id, person_id).map_err(|e| self.db(e))
    }

    fn enroll_batch(
        &mut self,
        collection: &str,
        contract: &EmbeddingContract,
        items: &[(&PersonInfo, &NewSample)],
    ) -> Result<Vec<i64>, GalleryError> {
        let c = self.checked(collection, contract)?;
        for (person, sample) in items {
            check_key(&person.key)?;
            check_vector(&c, &sample.embedding)?;
        }
        let path = self.path.clone();
        let db = |e: rusqlite::Error| GalleryError::Database {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tx = self.store.conn.transaction().map_err(db)?;
        let mut ids = Vec::with_capacity(items.len());
        let mut owners = Vec::with_capacity(items.len());
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
                    "INSERT INTO samples (person_id, embedding, image_sha256, bbox, det_score, embedding_norm, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
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
                let bbox = s.bbox.map(|b| serde_json::json!(b).to_string());
                let id: i64 = insert
                    .query_row(
                        params![
                            person_id,
                            to_blob(&s.embedding),
                            s.image_sha256,
                            bbox,
                            s.det_score,
                            s.embedding_norm,
                            now()
                        ],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                ids.push(id);
                owners.push((id, person_id));
            }
        }
        tx.commit().map_err(db)?;
        self.dirty.insert(c.id);
        self.owners.entry(c.id).or_default().extend(owners);
        let units: Vec<(i64, Vec<f32>)> = ids
            .iter()
            .zip(items)
            .map(|(id, (_, s))| (*id, l2_normalized(&s.embedding)))
            .collect();
        self.indexes
            .get_mut(&c.id)
            .expect("every collection has an index")
            .insert_many(&units);
        Ok(ids)
    }

    fn nearest_samples(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        k: usize,
    ) -> Result<Vec<PersonMatch>, GalleryError> {
        let c = self.checked(collection, contract)?;
        check_vector(&c, embedding)?;
        self.nearest(&c, &l2_normalized(embedding), k)
    }

    fn delete_sample(&mut self, collection: &str, sample: i64) -> Result<(), GalleryError> {
        let c = self.collection(collection)?;
        let n = self
            .store
            .conn
            .execute("DELETE FROM samples WHERE id = ?1 AND person_id IN (SELECT id FROM persons WHERE collection_id = ?2)", params![sample, c.id])
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(GalleryError::NoSuchSample {
                collection: c.name,
                sample,
            });
        }
        self.after_delete(&c, &[sample])
    }

    fn delete_person(&mut self, collection: &str, person: &str) -> Result<usize, GalleryError> {
        let c = self.collection(collection)?;
        let p = self.person_of(&c, person)?;
        let ids: Vec<i64> = self
            .store
            .samples(c.id, Some(p.id))
            .map_err(|e| self.db(e))?
            .iter()
            .map(|s| s.id)
            .collect();
        self.store
            .conn
            .execute("DELETE FROM persons WHERE id = ?1", [p.id])
            .map_err(|e| self.db(e))?;
        self.after_delete(&c, &ids)?;
        Ok(ids.len())
    }

    fn delete_collection(&mut self, collection: &str) -> Result<(), GalleryError> {
        let c = self.collection(collection)?;
        self.store
            .conn
            .execute("DELETE FROM collections WHERE id = ?1", [c.id])
            .map_err(|e| self.db(e))?;
        self.indexes.remove(&c.id);
        self.owners.remove(&c.id);
        self.dirty.remove(&c.id);
        self.remove_saved_index(&c);
        self.store.purge_journal().map_err(|e| self.db(e))
    }

    fn stats(&self, collection: &str) -> Result<GalleryStats, GalleryError> {
        let c = self.collection(collection)?;
        let persons = self.store.person_count(c.id).map_err(|e| self.db(e))?;
        let index = &self.indexes[&c.id];
        Ok(GalleryStats {
            persons,
            samples: index.len(),
            index_bytes: index.memory_bytes(),
            collection: c,
        })
    }
}

impl Drop for Gallery {
    fn drop(&mut self) {
        // Best effort: a missing or stale saved index is rebuilt at next open.
        let _ = self.save_indexes();
    }
}
