//! The identity gallery: collections of persons, each with face samples
//! (embedding, source image hash, box, quality figures, time), stored in one
//! SQLite file and searched through in-memory indexes built at open and kept
//! up to date with what this and any other process sharing the file writes.
//!
//! Every collection pins the [`EmbeddingContract`] of the model that made
//! its vectors; enrolling or searching with another model is refused rather
//! than silently comparing incompatible embeddings. A write is acknowledged
//! only after SQLite has committed it (WAL, `synchronous=FULL`), so it
//! survives `kill -9`. Depends on `facekit-core` and, for enrolling from
//! photos, `facekit-pipeline`.
//!
//! ```no_run
//! use facekit_gallery::{EmbeddingContract, FaceGallery, Gallery, IndexKind, NewSample, PersonInfo};
//! let contract = EmbeddingContract {
//!     model_sha256: "0ba9fbfa…".into(),
//!     dimension: 128,
//!     preprocessing: "norm_crop 112; (x-0)/1; RGB".into(),
//! };
//! let gallery = Gallery::open("faces.db".as_ref())?;
//! gallery.create_collection("staff", &contract, IndexKind::Exact)?;
//! let alice = PersonInfo::new("alice");
//! gallery.enroll("staff", &contract, &alice, &[NewSample::embedding(vec![0.1; 128])])?;
//! let found = gallery.identify("staff", &contract, &[0.1; 128], 5, 0.3)?;
//! assert_eq!(found.best.unwrap().key, "alice");
//! # Ok::<(), facekit_gallery::GalleryError>(())
//! ```

mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
mod edits;
mod gallery;
mod images;
mod index;
mod store;
mod transfer;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use backend::{
    FaceGallery, MAX_DIMENSION, Renumbered, check_contract, check_key, check_new_contract,
    check_vector,
};
pub use facekit_quality::ReviewMode;
pub use facekit_vault::{KEY_ENV, KeySource, MasterKey};
pub use gallery::{Gallery, GalleryStats, Identification, PersonMatch, Verification};
pub use images::{
    EnrollCandidate, EnrollFilter, contract_of, enrollment_candidates, enrollment_faces,
    enrollment_samples,
};
pub use index::{ExactIndex, HnswIndex, Int8Index, VectorIndex};
pub use transfer::{
    EXPORT_FORMAT, ExportHeader, ExportReader, ExportRecord, export_collection, parse_header,
    parse_record,
};

/// What produced a collection's vectors; two embeddings are comparable only
/// under the same contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// A misspelt field is an error, not a contract silently missing it.
#[serde(deny_unknown_fields)]
pub struct EmbeddingContract {
    /// SHA-256 of the recognition model file.
    pub model_sha256: String,
    /// Embedding length.
    pub dimension: usize,
    /// How faces were prepared for the model (alignment, size, normalisation).
    pub preprocessing: String,
}

/// How a collection is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Lowercase as on the command line; the aliases read exports written before.
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Full `f32` scan: exact, the default for small galleries.
    #[default]
    #[serde(alias = "Exact")]
    Exact,
    /// Full int8 scan with `f32` re-scoring of the best candidates: exact
    /// top results, a quarter of the scan bandwidth.
    #[serde(alias = "Int8")]
    Int8,
    /// Approximate HNSW graph (usearch, int8) with `f32` re-scoring: for
    /// galleries of hundreds of thousands of faces and more.
    #[serde(alias = "Hnsw")]
    Hnsw,
}

impl std::fmt::Display for IndexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IndexKind::Exact => "exact",
            IndexKind::Int8 => "int8",
            IndexKind::Hnsw => "hnsw",
        })
    }
}

facekit_core::from_words!(IndexKind, "index kind", GalleryError = GalleryError::Invalid, {
    "exact" => Exact, "int8" => Int8, "hnsw" => Hnsw
});

/// A collection and its contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Collection {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The model its vectors come from.
    pub contract: EmbeddingContract,
    /// Its search index.
    pub index: IndexKind,
    /// How enrollment photos are reviewed unless a call says otherwise.
    pub review: ReviewMode,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Its biometric fields are sealed under a data key the gallery's
    /// master key wraps (see [`Gallery::open_with_key`]).
    #[serde(default)]
    pub encrypted: bool,
    /// Samples are erased by a purge once this many days old (`None`:
    /// kept until deleted).
    #[serde(default)]
    pub retention_days: Option<u32>,
}

/// An enrolled person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// The caller's identifier, unique in the collection.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Free JSON metadata.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Number of face samples.
    pub samples: usize,
    /// Made by clustering and not yet named by a person.
    #[serde(default)]
    pub suggested: bool,
}

/// Who a new sample belongs to; the person is created on first use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonInfo {
    /// Identifier, unique in the collection.
    pub key: String,
    /// Display name (defaults to the key).
    pub name: String,
    /// Free JSON metadata.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
}

impl PersonInfo {
    /// A person known by `key`, displayed as `key`, no metadata.
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_string(),
            name: key.to_string(),
            metadata: serde_json::json!({}),
        }
    }
}

/// A face sample to enroll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSample {
    /// Raw embedding (normalised for search; stored as given).
    pub embedding: Vec<f32>,
    /// SHA-256 of the source image, when it came from one.
    pub image_sha256: Option<String>,
    /// Face box `[x1, y1, x2, y2]` in the source image.
    pub bbox: Option<[f32; 4]>,
    /// Detector confidence.
    pub det_score: Option<f32>,
    /// Norm of the raw embedding (a quality signal).
    pub embedding_norm: Option<f32>,
}

impl NewSample {
    /// A bare precomputed embedding.
    pub fn embedding(embedding: Vec<f32>) -> Self {
        Self {
            embedding,
            image_sha256: None,
            bbox: None,
            det_score: None,
            embedding_norm: None,
        }
    }
}

/// The person key of faces that belong to no person yet (enrolled
/// unassigned, or left out by clustering). No person can take it: keys are
/// never empty.
pub const UNASSIGNED: &str = "";

/// A stored face sample (what `export` writes, one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sample {
    /// Row id.
    pub id: i64,
    /// The person's key; empty ([`UNASSIGNED`]) for a face of no person.
    pub person: String,
    /// Raw embedding as enrolled.
    pub embedding: Vec<f32>,
    /// SHA-256 of the source image.
    pub image_sha256: Option<String>,
    /// Face box.
    pub bbox: Option<[f32; 4]>,
    /// Detector confidence.
    pub det_score: Option<f32>,
    /// Norm of the raw embedding.
    pub embedding_norm: Option<f32>,
    /// Enrollment time, Unix seconds.
    pub created_at: i64,
}

/// A face as clustering sees it: who holds it and who decided that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterFace {
    /// The sample's id.
    pub id: i64,
    /// Its person's key; empty ([`UNASSIGNED`]) for none.
    pub person: String,
    /// Placed by clustering (free to move at a full re-cluster); `false`
    /// when a person decided (enrolled it to a person, moved, merged,
    /// split, named).
    pub suggested: bool,
    /// Clustering has looked at it (an incremental run places only faces
    /// it has not).
    pub seen: bool,
    /// Persons it must never join ("not this person").
    pub excluded: Vec<String>,
    /// SHA-256 of its photo: two faces of one photo are never one person.
    pub image_sha256: Option<String>,
}

/// One change to who holds which face, applied by
/// [`FaceGallery::apply_edits`] with the others of its call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Edit {
    /// Creates a person; `suggested` when clustering made it.
    CreatePerson {
        /// Key, name and metadata.
        person: PersonInfo,
        /// Made by clustering (listed as a suggestion until named).
        suggested: bool,
    },
    /// A person's decision on a suggested person: it and its faces are
    /// kept as they are by every later clustering.
    Confirm {
        /// The person's key.
        person: String,
    },
    /// Puts a face with a person ([`UNASSIGNED`] for none) and marks it
    /// seen by clustering.
    Assign {
        /// The sample.
        sample: i64,
        /// The person's key, or empty.
        person: String,
        /// Clustering's placement (`true`) or a person's decision (`false`).
        suggested: bool,
    },
    /// Takes a face from its person and leaves it to the next clustering
    /// run (no person, not seen), keeping its "not this person" marks.
    Release {
        /// The sample.
        sample: i64,
    },
    /// "Not this person": clustering never puts the face with them again.
    Exclude {
        /// The sample.
        sample: i64,
        /// The person's key.
        person: String,
    },
    /// Deletes a person that holds no face any more (refused otherwise:
    /// faces are deleted only by the delete calls).
    DeletePerson {
        /// The person's key.
        person: String,
    },
}

/// Why a gallery operation failed. The database is unchanged by a failed
/// operation.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// The file is not a usable gallery database.
    #[error("gallery database {path}: {reason}")]
    Database {
        /// The file.
        path: PathBuf,
        /// SQLite's explanation.
        reason: String,
    },
    /// A remote gallery backend (Milvus) failed or could not be reached.
    #[error("gallery backend {address}: {reason}")]
    Remote {
        /// Where it was reached.
        address: String,
        /// What it reported.
        reason: String,
    },
    /// No collection of that name.
    #[error("no collection named '{0}' (create it first: facekit gallery create {0})")]
    NoSuchCollection(String),
    /// A collection of that name exists already.
    #[error("collection '{0}' already exists")]
    CollectionExists(String),
    /// No person of that key in the collection.
    #[error("no person '{person}' in collection '{collection}'")]
    NoSuchPerson {
        /// The collection.
        collection: String,
        /// The key asked for.
        person: String,
    },
    /// A person of that key exists already.
    #[error("person '{person}' already exists in collection '{collection}'")]
    PersonExists {
        /// The collection.
        collection: String,
        /// The key.
        person: String,
    },
    /// No sample of that id in the collection.
    #[error("no sample {sample} in collection '{collection}'")]
    NoSuchSample {
        /// The collection.
        collection: String,
        /// The id asked for.
        sample: i64,
    },
    /// The caller's model is not the one the collection was built with.
    #[error(
        "collection '{collection}' holds embeddings of model {expected}, not {got}: use the same model (or a new collection)"
    )]
    ContractMismatch {
        /// The collection.
        collection: String,
        /// The collection's contract, summarised.
        expected: String,
        /// The caller's, summarised.
        got: String,
    },
    /// An embedding of the wrong length.
    #[error("embedding has {got} values; collection '{collection}' takes {expected}")]
    WrongDimension {
        /// The collection.
        collection: String,
        /// Its dimension.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A stored sample whose embedding no longer matches its checksum.
    #[error(
        "sample {sample} is damaged: its stored embedding fails its checksum (see facekit gallery check)"
    )]
    Damaged {
        /// The sample's id.
        sample: i64,
    },
    /// An argument that cannot be used (empty key, non-finite values, …).
    #[error("{0}")]
    Invalid(String),
    /// Reading or analysing a photo failed.
    #[error(transparent)]
    Pipeline(#[from] facekit_pipeline::PipelineError),
    /// The gallery holds encrypted collections and was opened without a
    /// master key.
    #[error(
        "gallery {path}: collection '{collection}' is encrypted: give its master key (--key-file, --key-command or FACEKIT_GALLERY_KEY)"
    )]
    KeyRequired {
        /// The gallery file.
        path: PathBuf,
        /// The first encrypted collection.
        collection: String,
    },
    /// A master key that does not open the gallery's data keys, or a
    /// sealed record that does not open.
    #[error("gallery {path}: {source}")]
    Vault {
        /// The gallery file (or export).
        path: PathBuf,
        /// What the key could not open.
        source: facekit_vault::VaultError,
    },
    /// The operation's entry in the audit trail could not be written, so
    /// the operation is reported failed (a search returns nothing).
    #[error("audit trail: {0}; the operation is refused without its audit entry")]
    Audit(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
