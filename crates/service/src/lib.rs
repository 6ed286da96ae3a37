//! The gallery service: the one implementation of "enroll these faces",
//! "who is every face of this photo", "is this that person", clustering a
//! collection into people with its corrections, and the deletes, which the CLI, the HTTP server and the Python package call
//! instead of each composing gallery calls of their own, with the checks
//! faces pass first (liveness, enrollment review). It holds a shared
//! [`FaceGallery`] (the embedded SQLite store or Milvus): searches run in
//! parallel on every thread that calls them, writes to one collection are
//! serialised here (so a backend without transactions across calls, such
//! as Milvus, never interleaves two writers of one collection), and no lock
//! of the service is held while another collection is written or searched.
//!
//! ```no_run
//! use std::sync::Arc;
//! use facekit_gallery::{EmbeddingContract, Gallery, IndexKind, NewSample, PersonInfo};
//! use facekit_service::{FaceService, ReviewMode};
//! let contract = EmbeddingContract {
//!     model_sha256: "0ba9fbfa…".into(),
//!     dimension: 4,
//!     preprocessing: "norm_crop 112".into(),
//! };
//! let service = FaceService::new(Arc::new(Gallery::open("faces.db".as_ref())?));
//! service.create_collection("staff", &contract, IndexKind::Exact, ReviewMode::Off)?;
//! let ann = PersonInfo::new("ann");
//! service.enroll("staff", &contract, &ann, &[NewSample::embedding(vec![1.0, 0.0, 0.0, 0.0])])?;
//! let found = service.identify_embedding("staff", &contract, &[0.9, 0.1, 0.0, 0.0], 5, 0.3)?;
//! assert_eq!(found.best.unwrap().key, "ann");
//! # Ok::<(), facekit_gallery::GalleryError>(())
//! ```

mod checks;
mod privacy;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use facekit_audit::{Actor, AuditLog, Entry, Event, Operation};

use facekit_cluster::collection::{self, Run, RunReport};
use facekit_cluster::{ClusterError, ClusterOptions};
use facekit_gallery::{
    Collection, EmbeddingContract, FaceGallery, GalleryError, IndexKind, MasterKey, NewSample,
    Person, PersonInfo, PersonMatch, Renumbered, Sample, Verification,
};
use facekit_pipeline::{Face, FaceRecord, ImageFaces};
use serde::Serialize;

pub use checks::{
    EnrollChecks, EnrollReport, EnrolledSample, LivenessPolicy, RefusedFace, SpoofDetected,
    refuse_spoofs,
};
pub use facekit_gallery_milvus::{open_gallery, open_gallery_with_key};
pub use facekit_quality::{Refusal, ReviewMode};
pub use privacy::{ErasureReceipt, PersonExport, PurgeReport};

/// Where the audit trail of the gallery at `address` is kept: in the
/// gallery file itself, or for Milvus in `$FACEKIT_HOME/audit.db`.
pub fn audit_trail_of(address: &str) -> Result<PathBuf, GalleryError> {
    if !address.starts_with("milvus://") {
        return Ok(PathBuf::from(address));
    }
    let home = facekit_models::facekit_home().ok_or_else(|| {
        GalleryError::Invalid("no $FACEKIT_HOME or $HOME to keep the audit trail in".into())
    })?;
    std::fs::create_dir_all(&home).map_err(|source| GalleryError::Io {
        path: home.clone(),
        source,
    })?;
    Ok(home.join("audit.db"))
}

/// Opens the gallery at `address` (a file or `milvus://…`, with its master
/// key if given) and its audit trail ([`audit_trail_of`]), acting as the
/// OS user.
pub fn open_audited(address: &str, master: Option<MasterKey>) -> Result<FaceService, GalleryError> {
    // The gallery first: a refused key must leave the file untouched.
    let gallery = open_gallery_with_key(address, master)?;
    let trail = AuditLog::open(&audit_trail_of(address)?).map_err(audit_failed)?;
    Ok(FaceService::audited(Arc::from(gallery), trail))
}

fn audit_failed(e: facekit_audit::AuditError) -> GalleryError {
    GalleryError::Audit(e.to_string())
}

/// One face's candidates.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceMatches {
    /// The face (absent when searching by embedding).
    pub face: Option<FaceRecord>,
    /// Up to `top_k` persons, best first.
    pub matches: Vec<PersonMatch>,
    /// The top match if it reaches the threshold; null means unknown.
    pub best: Option<PersonMatch>,
}

/// A face compared with one person.
#[derive(Debug, Clone)]
pub struct FaceVerification {
    /// The face compared.
    pub face: FaceRecord,
    /// Its score and decision.
    pub verification: Verification,
}

/// The gallery operations every interface shares. Each operation on
/// biometric data (enroll, identify, verify, listing or exporting
/// embeddings, deletes, erasure, purge) appends one entry to the audit
/// trail, when the service has one, in the name of its [`Actor`]; an
/// operation whose entry cannot be written fails (a search returns
/// nothing). Clones share the gallery, the locks and the trail.
#[derive(Clone)]
pub struct FaceService {
    shared: Arc<Shared>,
    /// Who the operations are recorded for.
    actor: Actor,
}

/// What every [`FaceService::acting_as`] copy shares.
struct Shared {
    gallery: Arc<dyn FaceGallery>,
    /// One lock per collection name, taken by writes only.
    writers: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    audit: Option<AuditLog>,
}

impl std::fmt::Debug for FaceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceService").finish_non_exhaustive()
    }
}

impl FaceService {
    /// A service over a gallery backend, keeping no audit trail (a
    /// library's own use; the CLI, server and Python package keep one).
    pub fn new(gallery: Arc<dyn FaceGallery>) -> Self {
        Self::with_trail(gallery, None)
    }

    /// A service recording every biometric operation in `trail`, acting
    /// as the OS user until [`FaceService::acting_as`] says otherwise.
    pub fn audited(gallery: Arc<dyn FaceGallery>, trail: AuditLog) -> Self {
        Self::with_trail(gallery, Some(trail))
    }

    fn with_trail(gallery: Arc<dyn FaceGallery>, audit: Option<AuditLog>) -> Self {
        Self {
            shared: Arc::new(Shared {
                gallery,
                writers: Mutex::new(HashMap::new()),
                audit,
            }),
            actor: Actor::os_user(),
        }
    }

    /// Opens the gallery at `address` (a file path or `milvus://…`) with
    /// its audit trail ([`open_audited`]).
    pub fn open(address: &str) -> Result<Self, GalleryError> {
        open_audited(address, None)
    }

    /// The same service (gallery, locks, trail) recording its operations
    /// for `actor`: an API key and its request, say.
    pub fn acting_as(&self, actor: Actor) -> Self {
        Self {
            shared: self.shared.clone(),
            actor,
        }
    }

    /// The backend, for reads that need no coordination (lists, counts).
    pub fn gallery(&self) -> &dyn FaceGallery {
        self.shared.gallery.as_ref()
    }

    /// The audit trail, when the service keeps one.
    pub fn audit_trail(&self) -> Option<&AuditLog> {
        self.shared.audit.as_ref()
    }

    /// Appends `event` to the audit trail (if any) for this actor.
    pub fn record(&self, event: Event) -> Result<Option<Entry>, GalleryError> {
        match &self.shared.audit {
            Some(trail) => trail
                .append(&self.actor, &event)
                .map(Some)
                .map_err(audit_failed),
            None => Ok(None),
        }
    }

    /// Runs `op`, then records what [`Event`] `event` makes of its result;
    /// the result is returned only once recorded.
    fn audited_op<T, E: From<GalleryError>>(
        &self,
        op: impl FnOnce() -> Result<T, E>,
        event: impl FnOnce(&T) -> Event,
    ) -> Result<T, E> {
        let result = op()?;
        self.record(event(&result))?;
        Ok(result)
    }

    /// Runs a write to `collection` while no other write of this service
    /// to the same collection runs.
    fn writing<T>(&self, collection: &str, op: impl FnOnce(&dyn FaceGallery) -> T) -> T {
        let lock = self
            .shared
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(collection.to_string())
            .or_default()
            .clone();
        // A writer that panicked left the backend consistent (its writes
        // are transactions): the lock only orders writers.
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        op(self.gallery())
    }

    /// Creates a collection pinned to `contract`, its enrollments reviewed
    /// at `review` unless a call says otherwise.
    pub fn create_collection(
        &self,
        name: &str,
        contract: &EmbeddingContract,
        index: IndexKind,
        review: ReviewMode,
    ) -> Result<Collection, GalleryError> {
        self.writing(name, |g| {
            g.create_collection_with_review(name, contract, index, review)
        })
    }

    /// Deletes a collection and erases everything in it.
    pub fn delete_collection(&self, name: &str) -> Result<(), GalleryError> {
        self.writing(name, |g| {
            let samples = g.stats(name)?.samples;
            g.delete_collection(name)?;
            self.record(Event::new(Operation::Delete, name).results(samples))
                .map(drop)
        })
    }

    /// Creates a person without samples.
    pub fn create_person(
        &self,
        collection: &str,
        person: &PersonInfo,
    ) -> Result<Person, GalleryError> {
        self.writing(collection, |g| g.create_person(collection, person))
    }

    /// Changes a person's name and/or metadata; naming a suggestion of
    /// clustering makes it a person (its faces stay as they are).
    pub fn update_person(
        &self,
        collection: &str,
        key: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Person, ClusterError> {
        self.writing(collection, |g| {
            if let Some(name) = name {
                collection::name_person(g, collection, key, name)?;
            }
            Ok(g.update_person(collection, key, None, metadata)?)
        })
    }

    /// Adds faces of no person yet, for clustering to place.
    pub fn enroll_unassigned(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        samples: &[NewSample],
    ) -> Result<Vec<i64>, GalleryError> {
        self.writing(collection, |g| {
            self.audited_op(
                || g.enroll_unassigned(collection, contract, samples),
                |ids| Event::new(Operation::Enroll, collection).results(ids.len()),
            )
        })
    }

    /// Places a collection's faces into people (incrementally or all again),
    /// keeping every correction.
    pub fn cluster(
        &self,
        collection: &str,
        options: &ClusterOptions,
        run: Run,
    ) -> Result<RunReport, ClusterError> {
        self.writing(collection, |g| {
            self.audited_op(
                || collection::cluster_collection(g, collection, options, run),
                |report| {
                    Event::new(Operation::Cluster, collection)
                        .persons(report.new_persons.iter().chain(&report.removed_persons))
                        .results(report.placed)
                },
            )
        })
    }

    /// Merges person `from` into `into`.
    pub fn merge_persons(
        &self,
        collection: &str,
        from: &str,
        into: &str,
    ) -> Result<Renumbered, ClusterError> {
        self.writing(collection, |g| {
            let faces = g.person(collection, from)?.samples;
            self.audited_op(
                || collection::merge_persons(g, collection, from, into),
                |_| corrected(collection, [from, into], faces),
            )
        })
    }

    /// Splits faces off a person into a new one.
    pub fn split_person(
        &self,
        collection: &str,
        person: &str,
        faces: &[i64],
        new_person: &PersonInfo,
    ) -> Result<Renumbered, ClusterError> {
        self.writing(collection, |g| {
            self.audited_op(
                || collection::split_person(g, collection, person, faces, new_person),
                |_| corrected(collection, [person, new_person.key.as_str()], faces.len()),
            )
        })
    }

    /// Moves faces to a person.
    pub fn move_faces(
        &self,
        collection: &str,
        faces: &[i64],
        person: &str,
    ) -> Result<Renumbered, ClusterError> {
        self.writing(collection, |g| {
            self.audited_op(
                || collection::move_faces(g, collection, faces, person),
                |_| corrected(collection, [person], faces.len()),
            )
        })
    }

    /// "Not this person" for one face.
    pub fn not_this_person(
        &self,
        collection: &str,
        face: i64,
        person: &str,
    ) -> Result<Renumbered, ClusterError> {
        self.writing(collection, |g| {
            self.audited_op(
                || collection::not_this_person(g, collection, face, person),
                |_| corrected(collection, [person], 1),
            )
        })
    }

    /// Adds samples to one person (created on first use); the ids, once committed.
    pub fn enroll(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        person: &PersonInfo,
        samples: &[NewSample],
    ) -> Result<Vec<i64>, GalleryError> {
        self.writing(collection, |g| {
            self.audited_op(
                || g.enroll(collection, contract, person, samples),
                |ids| {
                    Event::new(Operation::Enroll, collection)
                        .persons([&person.key])
                        .results(ids.len())
                },
            )
        })
    }

    /// Adds samples of any persons in one transaction.
    pub fn enroll_batch(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        items: &[(&PersonInfo, &NewSample)],
    ) -> Result<Vec<i64>, GalleryError> {
        self.writing(collection, |g| {
            self.audited_op(
                || g.enroll_batch(collection, contract, items),
                |ids| {
                    Event::new(Operation::Enroll, collection)
                        .persons(items.iter().map(|(p, _)| &p.key))
                        .results(ids.len())
                },
            )
        })
    }

    /// Deletes a person and erases their samples; how many went.
    pub fn delete_person(&self, collection: &str, key: &str) -> Result<usize, GalleryError> {
        self.writing(collection, |g| {
            self.audited_op(
                || g.delete_person(collection, key),
                |&n| {
                    Event::new(Operation::Delete, collection)
                        .persons([key])
                        .results(n)
                },
            )
        })
    }

    /// Deletes one sample, erasing it.
    pub fn delete_sample(&self, collection: &str, sample: i64) -> Result<(), GalleryError> {
        self.writing(collection, |g| {
            self.audited_op(
                || g.delete_sample(collection, sample),
                |_| Event::new(Operation::Delete, collection).results(1),
            )
        })
    }

    /// The top-k persons for one embedding.
    pub fn identify_embedding(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        top_k: usize,
        threshold: f32,
    ) -> Result<FaceMatches, GalleryError> {
        self.audited_op(
            || self.search(collection, contract, embedding, top_k, threshold),
            |found| identified(collection, std::slice::from_ref(found)),
        )
    }

    /// One unrecorded search (the callers record theirs).
    fn search(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        top_k: usize,
        threshold: f32,
    ) -> Result<FaceMatches, GalleryError> {
        let found = self
            .gallery()
            .identify(collection, contract, embedding, top_k, threshold)?;
        Ok(FaceMatches {
            face: None,
            matches: found.matches,
            best: found.best,
        })
    }

    /// Who is every face of a photo: the top-k persons of each face that
    /// has an embedding, in the photo's order (empty when none has); one
    /// audit entry for the photo.
    pub fn identify_faces(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        faces: &[Face],
        top_k: usize,
        threshold: f32,
    ) -> Result<Vec<FaceMatches>, GalleryError> {
        self.audited_op(
            || {
                faces
                    .iter()
                    .filter_map(|f| f.embedding.as_deref().map(|e| (f, e)))
                    .map(|(face, embedding)| {
                        let mut found =
                            self.search(collection, contract, embedding, top_k, threshold)?;
                        found.face = Some(FaceRecord::new(face, false));
                        Ok(found)
                    })
                    .collect::<Result<Vec<_>, GalleryError>>()
            },
            |found| identified(collection, found),
        )
    }

    /// Compares an embedding with one person's samples.
    pub fn verify_embedding(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        person: &str,
        embedding: &[f32],
        threshold: f32,
    ) -> Result<Verification, GalleryError> {
        self.audited_op(
            || {
                self.gallery()
                    .verify(collection, contract, person, embedding, threshold)
            },
            |_| verified(collection, person, 1),
        )
    }

    /// Is the largest face of a photo that person? `None` when the photo
    /// has no face with an embedding.
    pub fn verify_largest(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        person: &str,
        photo: ImageFaces,
        threshold: f32,
    ) -> Result<Option<FaceVerification>, GalleryError> {
        let Some(face) = ImageFaces {
            faces: photo
                .faces
                .into_iter()
                .filter(|f| f.embedding.is_some())
                .collect(),
            ..photo
        }
        .largest() else {
            self.record(verified(collection, person, 0))?;
            return Ok(None);
        };
        let embedding = face.embedding.as_deref().unwrap_or_default();
        let verification =
            self.verify_embedding(collection, contract, person, embedding, threshold)?;
        Ok(Some(FaceVerification {
            face: FaceRecord::new(&face, false),
            verification,
        }))
    }

    /// A person's stored samples (or a collection's, `person` `None`);
    /// their embeddings only with `embeddings`, which is recorded.
    pub fn faces(
        &self,
        collection: &str,
        person: Option<&str>,
        embeddings: bool,
    ) -> Result<Vec<Sample>, GalleryError> {
        let mut faces = self.gallery().samples(collection, person)?;
        if embeddings {
            self.record(
                Event::new(Operation::ListFaces, collection)
                    .persons(person)
                    .results(faces.len()),
            )?;
        } else {
            faces.iter_mut().for_each(|f| f.embedding.clear());
        }
        Ok(faces)
    }

    /// Writes a collection as JSON lines ([`FaceGallery::export`]);
    /// recorded with its sample count.
    pub fn export(
        &self,
        collection: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, GalleryError> {
        self.audited_op(
            || self.gallery().export(collection, out),
            |&n| Event::new(Operation::Export, collection).results(n),
        )
    }
}

/// The audit event of a search: the persons disclosed, the faces searched.
fn identified(collection: &str, found: &[FaceMatches]) -> Event {
    Event::new(Operation::Identify, collection)
        .persons(found.iter().flat_map(|f| f.matches.iter().map(|m| &m.key)))
        .results(found.len())
}

/// The audit event of a correction: the persons it touched, the faces it moved.
fn corrected<'a>(
    collection: &str,
    persons: impl IntoIterator<Item = &'a str>,
    faces: usize,
) -> Event {
    Event::new(Operation::Correct, collection)
        .persons(persons)
        .results(faces)
}

fn verified(collection: &str, person: &str, faces: usize) -> Event {
    Event::new(Operation::Verify, collection)
        .persons([person])
        .results(faces)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use facekit_gallery::conformance::{contract, vector};
    use facekit_gallery::{Gallery, IndexKind, NewSample, PersonInfo};

    use super::*;

    #[test]
    fn writes_of_many_threads_all_land_and_searches_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let service = Arc::new(FaceService::new(Arc::new(
            Gallery::open(&dir.path().join("g.db")).unwrap(),
        )));
        let c = contract(16);
        for name in ["a", "b"] {
            service
                .create_collection(name, &c, IndexKind::Exact, ReviewMode::Off)
                .unwrap();
        }
        std::thread::scope(|s| {
            for t in 0..4 {
                let (service, c) = (service.clone(), c.clone());
                s.spawn(move || {
                    let collection = if t % 2 == 0 { "a" } else { "b" };
                    for i in 0..10 {
                        let key = format!("p{t}_{i}");
                        service
                            .enroll(
                                collection,
                                &c,
                                &PersonInfo::new(&key),
                                &[NewSample::embedding(vector(t + 4 * (i % 3), 0.1))],
                            )
                            .unwrap();
                        let found = service
                            .identify_embedding(collection, &c, &vector(t, 0.1), 3, 0.0)
                            .unwrap();
                        assert!(!found.matches.is_empty());
                    }
                });
            }
        });
        for name in ["a", "b"] {
            assert_eq!(service.gallery().stats(name).unwrap().samples, 20);
            assert_eq!(service.gallery().persons(name).unwrap().len(), 20);
        }
        assert_eq!(service.delete_person("a", "p0_0").unwrap(), 1);
        let left = service
            .identify_embedding("a", &c, &vector(0, 0.1), 50, 0.0)
            .unwrap();
        assert!(left.matches.iter().all(|m| m.key != "p0_0"));
        assert_eq!(left.matches.len(), 19);
    }
}
