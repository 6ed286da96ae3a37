//! The gallery on Milvus, for galleries that outgrow one machine: the same
//! [`FaceGallery`] operations as the embedded SQLite store, with all state in
//! a Milvus cluster so that several facekit processes share it.
//!
//! Each facekit collection is two Milvus collections: `facekit_<hex
//! name>_samples` (sample id, person key, the raw embedding searched by
//! cosine — FLAT for `exact`, HNSW for `hnsw` — source image hash, box,
//! detection score, embedding norm, time) whose description holds the
//! embedding contract, and `facekit_<hex name>_persons` (key, name, JSON
//! metadata, time), plus, once clustering or a correction has touched it,
//! `facekit_<hex name>_clusters` (clustering's state of each face and
//! which persons are suggestions; keys only). Milvus 2.3 cannot update a
//! row, so moving a face to another person re-inserts it under a new id
//! ([`FaceGallery::apply_edits`] returns the renumbering). Reads use strong consistency, so a search sees the
//! write just acknowledged. [`open_gallery`] picks the backend from an
//! address: a file path is the embedded store, `milvus://HOST:PORT` is
//! Milvus. Depends on `facekit-gallery` and the official `milvus-sdk-rust`.
//!
//! ```no_run
//! use facekit_gallery::FaceGallery;
//! let gallery = facekit_gallery_milvus::open_gallery("milvus://milvus.internal:19530?tls=true")?;
//! for c in gallery.collections()? {
//!     println!("{} ({}-d)", c.name, c.contract.dimension);
//! }
//! # Ok::<(), facekit_gallery::GalleryError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use facekit_gallery::MasterKey;
use facekit_gallery::{
    ClusterFace, Collection, Edit, EmbeddingContract, FaceGallery, Gallery, GalleryError,
    GalleryStats, IndexKind, NewSample, Person, PersonInfo, PersonMatch, Renumbered, ReviewMode,
    Sample, UNASSIGNED, check_contract, check_key,
};
use facekit_vault::DataKey;
use milvus::v2::prelude::*;
// The prelude has its own `Result`; the gallery API returns `GalleryError`.
use serde::{Deserialize, Serialize};
use std::result::Result;

/// Most rows Milvus returns from one search or query.
const MAX_WINDOW: usize = 16_384;
/// HNSW graph degree and build width (as the embedded HNSW index).
const HNSW_M: &str = "16";
const HNSW_EF_CONSTRUCTION: &str = "200";
/// Smallest HNSW search width.
const HNSW_EF: usize = 128;
/// Rows per insert request (Milvus caps a request at 64 MB).
const INSERT_BATCH: usize = 2_000;

/// A gallery address: a file path, or `milvus://HOST:PORT` with options
/// `?tls=true`, `&database=NAME`, `&consistency=bounded`,
/// `&token=USER:PASSWORD` (or the `FACEKIT_MILVUS_TOKEN` environment
/// variable, kept out of command lines).
pub fn open_gallery(address: &str) -> Result<Box<dyn FaceGallery>, GalleryError> {
    open_gallery_with_key(address, None)
}

/// [`open_gallery`] with the gallery's master key (see
/// [`Gallery::open_with_key`]). On Milvus the key seals what search does
/// not need: the source image hash, box, detection score and embedding
/// norm of every sample of the collections it creates; the vectors stay in
/// the clear, since Milvus searches them.
pub fn open_gallery_with_key(
    address: &str,
    master: Option<MasterKey>,
) -> Result<Box<dyn FaceGallery>, GalleryError> {
    if address.starts_with("milvus://") {
        let mut gallery = MilvusGallery::connect(&MilvusAddress::parse(address)?)?;
        gallery.master = master;
        Ok(Box::new(gallery))
    } else {
        Ok(Box::new(Gallery::open_with_key(address.as_ref(), master)?))
    }
}

/// Where a Milvus server is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct MilvusAddress {
    /// `http(s)://HOST:PORT` for the client.
    pub uri: String,
    /// `USER:PASSWORD` or an API key.
    pub token: Option<String>,
    /// A database other than `default`.
    pub database: Option<String>,
    /// `consistency=bounded`: reads may miss writes of the last seconds
    /// (Milvus's default), instead of waiting for them (strong, the default
    /// here: about one time tick, 200 ms, per read).
    pub bounded: bool,
    /// `milvus://HOST:PORT` (no secrets), for messages.
    pub display: String,
}

impl std::fmt::Debug for MilvusAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl MilvusAddress {
    /// Parses `milvus://HOST:PORT[?tls=true&database=NAME&token=…]`.
    pub fn parse(address: &str) -> Result<Self, GalleryError> {
        // Errors name the address without its query: it may carry a token.
        let shown = address.split('?').next().unwrap_or_default();
        let invalid =
            |why: &str| GalleryError::Invalid(format!("gallery address '{shown}': {why}"));
        let rest = address
            .strip_prefix("milvus://")
            .ok_or_else(|| invalid("expected milvus://HOST:PORT"))?;
        let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host_port = host_port.trim_end_matches('/');
        if host_port.is_empty() || !host_port.contains(':') {
            return Err(invalid(
                "expected milvus://HOST:PORT (Milvus listens on 19530 by default)",
            ));
        }
        let mut tls = false;
        let mut token = std::env::var("FACEKIT_MILVUS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let mut database = None;
        let mut bounded = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("tls", v) => tls = matches!(v, "true" | "1" | "yes"),
                ("token", v) => token = Some(v.to_string()),
                ("database", v) => database = Some(v.to_string()),
                ("consistency", "strong") => bounded = false,
                ("consistency", "bounded") => bounded = true,
                ("consistency", v) => {
                    return Err(invalid(&format!("consistency '{v}' (strong or bounded)")));
                }
                (k, _) => {
                    return Err(invalid(&format!(
                        "unknown option '{k}' (tls, token, database, consistency)"
                    )));
                }
            }
        }
        let scheme = if tls { "https" } else { "http" };
        Ok(Self {
            uri: format!("{scheme}://{host_port}"),
            token,
            database,
            bounded,
            display: format!("milvus://{host_port}"),
        })
    }
}

/// The collection facts kept in the samples collection's description.
#[derive(Debug, Serialize, Deserialize)]
struct Description {
    facekit_gallery: u32,
    name: String,
    contract: EmbeddingContract,
    index: IndexKind,
    /// Absent in collections made before review defaults existed.
    #[serde(default)]
    review: ReviewMode,
    created_at: i64,
    /// An encrypted collection's data key, wrapped by the master key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_key: Option<String>,
}

/// Milvus names for a facekit collection: any name, hex-encoded into the
/// characters Milvus allows.
fn milvus_names(name: &str) -> (String, String) {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    (
        format!("facekit_{hex}_samples"),
        format!("facekit_{hex}_persons"),
    )
}

/// A search hit: sample id, person key, cosine.
type Hit = (i64, String, f32);

/// The Milvus collection of clustering state of a facekit collection.
fn clusters_name(name: &str) -> String {
    let (samples, _) = milvus_names(name);
    samples.replace("_samples", "_clusters")
}

/// Clustering's state of one face, as stored (JSON) in the clusters collection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FaceState {
    suggested: bool,
    seen: bool,
    excluded: Vec<String>,
}

/// What one [`FaceGallery::apply_edits`] call has decided but not yet written.
#[derive(Default)]
struct PendingEdits {
    /// Every face's state, by current id.
    faces: HashMap<i64, FaceState>,
    /// Faces whose state changed.
    dirty: HashSet<i64>,
    /// `(id given, current id)` of the faces re-inserted so far.
    renumbered: Vec<(i64, i64)>,
    /// `(face, person)` moves not yet made.
    moves: Vec<(i64, String)>,
    /// Clustering state rows to write (`None`: delete).
    rows: HashMap<String, Option<String>>,
}

impl PendingEdits {
    /// Where face `id` (as an edit names it) is now.
    fn current(&self, id: i64) -> i64 {
        self.renumbered
            .iter()
            .find(|(given, _)| *given == id)
            .map_or(id, |(_, now)| *now)
    }

    /// Face `id`'s state, to change.
    fn state(&mut self, id: i64) -> &mut FaceState {
        self.dirty.insert(id);
        self.faces.entry(id).or_default()
    }
}

fn face_item(id: i64) -> String {
    format!("face:{id}")
}

fn person_item(key: &str) -> String {
    format!("person:{key}")
}

/// A Milvus string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The gallery on a Milvus server.
pub struct MilvusGallery {
    address: MilvusAddress,
    client: ClientV2,
    /// Of searches, counts and reads: `Strong` unless the address asks for less.
    consistency: ConsistencyLevel,
    /// Runs the async client for the synchronous gallery API; shut down in
    /// the background on drop, which is allowed inside another runtime.
    runtime: Option<tokio::runtime::Runtime>,
    /// Wraps the data keys of encrypted collections (and makes every
    /// collection created through it encrypted).
    master: Option<MasterKey>,
}

/// An encrypted collection's data key and what its sealed fields are bound
/// to. The sealed fields are kept, base64, in the `bbox` column (the
/// others stay empty): Milvus has no way to add a column to an existing
/// collection, and this keeps one schema for both kinds.
struct Sealing {
    key: DataKey,
    aad: Vec<u8>,
}

/// What a collection's data key is wrapped with (binding it to the collection).
fn key_context(name: &str) -> Vec<u8> {
    [b"facekit milvus data key ".as_slice(), name.as_bytes()].concat()
}

impl Sealing {
    fn new(key: DataKey, name: &str) -> Self {
        Self {
            key,
            aad: [b"facekit milvus sample ".as_slice(), name.as_bytes()].concat(),
        }
    }

    /// The biometric fields search does not need, sealed.
    fn seal(&self, s: &Sample) -> String {
        let plain = serde_json::json!([s.image_sha256, s.bbox, s.det_score, s.embedding_norm]);
        BASE64.encode(self.key.seal(plain.to_string().as_bytes(), &self.aad))
    }

    /// Fills `s`'s sealed fields from `sealed`; `Damaged` when they do not open.
    fn open_into(&self, s: &mut Sample, sealed: &str) -> Result<(), GalleryError> {
        type Fields = (Option<String>, Option<[f32; 4]>, Option<f32>, Option<f32>);
        let fields: Option<Fields> = BASE64
            .decode(sealed)
            .ok()
            .and_then(|bytes| self.key.open(&bytes, &self.aad).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok());
        let (image_sha256, bbox, det_score, embedding_norm) =
            fields.ok_or(GalleryError::Damaged { sample: s.id })?;
        s.image_sha256 = image_sha256;
        s.bbox = bbox;
        s.det_score = det_score;
        s.embedding_norm = embedding_norm;
        Ok(())
    }
}

impl std::fmt::Debug for MilvusGallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilvusGallery")
            .field("address", &self.address)
            .finish()
    }
}

impl Drop for MilvusGallery {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// How a read finds its rows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Read {
    /// One query, at most Milvus's result window, at this consistency.
    Lookup(ConsistencyLevel),
    /// Every matching row, page by page.
    Scan,
}

/// Sample fields read back.
const SAMPLE_FIELDS: [&str; 8] = [
    "sample_id",
    "person",
    "embedding",
    "image_sha256",
    "bbox",
    "det_score",
    "embedding_norm",
    "created_at",
];

impl MilvusGallery {
    /// Connects (and checks the server answers).
    pub fn connect(address: &MilvusAddress) -> Result<Self, GalleryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| GalleryError::Remote {
                address: address.display.clone(),
                reason: format!("cannot start the client runtime: {e}"),
            })?;
        let mut config = ConnectConfig::new().uri(address.uri.clone());
        if let Some(token) = &address.token {
            config = config.token(token.clone());
        }
        if let Some(database) = &address.database {
            config = config.database(database.clone());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(ClientV2::new(&config).await);
        });
        let client = rx
            .recv()
            .map_err(|e| GalleryError::Remote {
                address: address.display.clone(),
                reason: e.to_string(),
            })?
            .map_err(|e| GalleryError::Remote {
                address: address.display.clone(),
                reason: format!("cannot connect: {e}"),
            })?;
        Ok(Self {
            address: address.clone(),
            client,
            consistency: if address.bounded {
                ConsistencyLevel::Bounded
            } else {
                ConsistencyLevel::Strong
            },
            runtime: Some(runtime),
            master: None,
        })
    }

    /// Runs one client call to completion from synchronous code (also from
    /// a thread of another runtime, such as the server's blocking pool).
    fn call<T: Send + 'static, F>(&self, op: impl FnOnce(ClientV2) -> F) -> Result<T, GalleryError>
    where
        F: Future<Output = milvus::v2::error::Result<T>> + Send + 'static,
    {
        let future = op(self.client.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("runtime lives until drop")
            .spawn(async move {
                let _ = tx.send(future.await);
            });
        rx.recv()
            .map_err(|e| self.remote(e))?
            .map_err(|e| self.remote(e))
    }

    fn lookup(&self) -> Read {
        Read::Lookup(self.consistency)
    }

    fn remote(&self, e: impl std::fmt::Display) -> GalleryError {
        GalleryError::Remote {
            address: self.address.display.clone(),
            reason: e.to_string(),
        }
    }

    fn exists(&self, milvus_name: &str) -> Result<bool, GalleryError> {
        let request = HasCollectionRequest::builder()
            .collection_name(milvus_name)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move { c.has_collection(request).await.map(|r| r.exists()) })
    }

    fn describe(&self, milvus_name: &str) -> Result<(i64, String), GalleryError> {
        let request = DescribeCollectionRequest::builder()
            .collection_name(milvus_name)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move {
            let d = c.describe_collection(request).await?;
            let d = d.description();
            Ok((d.get_collection_id(), d.get_description().to_string()))
        })
    }

    /// Rows matching `filter`, with `fields`: a bounded lookup (one query,
    /// at most Milvus's result window) or a full scan (the query iterator,
    /// page by page; slower, for listings and exports).
    // The large error is the SDK's own, converted at once.
    #[allow(clippy::result_large_err)]
    fn rows(
        &self,
        milvus_name: &str,
        filter: String,
        fields: &[&str],
        read: Read,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, GalleryError> {
        let consistency = match read {
            Read::Lookup(level) => level,
            Read::Scan => self.consistency,
        };
        let mut query = QueryRequest::builder()
            .collection_name(milvus_name)
            .filter(filter)
            .output_fields(fields.iter().map(|f| f.to_string()).collect::<Vec<_>>())
            .consistency_level(consistency);
        if read != Read::Scan {
            query = query.limit(MAX_WINDOW as i64);
        }
        let query = query.build().map_err(|e| self.remote(e))?;
        if read != Read::Scan {
            return self.call(|c| async move {
                let response = c.query(query).await?;
                response
                    .results()
                    .rows()?
                    .map(|row| row.to_entity_row())
                    .collect()
            });
        }
        let request = QueryIteratorRequest::builder()
            .query(query)
            .batch_size(4_096)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move {
            let mut iterator = c.query_iterator(request).await?;
            let mut rows = Vec::new();
            while let Some(page) = iterator.next().await? {
                let before = rows.len();
                for row in page.results().rows()? {
                    rows.push(row.to_entity_row()?);
                }
                if rows.len() == before {
                    break;
                }
            }
            Ok(rows)
        })
    }

    fn count(&self, milvus_name: &str, filter: String) -> Result<usize, GalleryError> {
        let request = QueryRequest::builder()
            .collection_name(milvus_name)
            .filter(filter)
            .output_fields(["count(*)"])
            .consistency_level(self.consistency)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move {
            let response = c.query(request).await?;
            let n = match response.results().rows()?.next() {
                Some(row) => row.get_i64("count(*)")?,
                None => 0,
            };
            Ok(n.max(0) as usize)
        })
    }

    fn delete_where(&self, milvus_name: &str, filter: String) -> Result<(), GalleryError> {
        let request = DeleteRequest::builder()
            .collection_name(milvus_name)
            .filter(filter)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move { c.delete(request).await.map(|_| ()) })
    }

    fn create_indexed(
        &self,
        milvus_name: &str,
        schema: CollectionSchema,
        description: String,
        index: IndexParam,
    ) -> Result<(), GalleryError> {
        let create = CreateCollectionRequest::builder()
            .collection_name(milvus_name)
            .description(description)
            .schema(schema)
            .num_shards(1)
            .consistency_level(ConsistencyLevel::Strong)
            .build()
            .map_err(|e| self.remote(e))?;
        let index = CreateIndexRequest::builder()
            .collection_name(milvus_name)
            .index_param(index)
            .sync(true)
            .build()
            .map_err(|e| self.remote(e))?;
        let load = LoadCollectionRequest::builder()
            .collection_name(milvus_name)
            .sync(true)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move {
            c.create_collection(create).await?;
            c.create_index(index).await?;
            c.load_collection(load).await
        })
    }

    fn person_rows(
        &self,
        persons: &str,
        filter: String,
        read: Read,
    ) -> Result<Vec<(String, String, serde_json::Value, i64)>, GalleryError> {
        self.rows(
            persons,
            filter,
            &["key", "name", "metadata", "created_at"],
            read,
        )?
        .into_iter()
        .map(|row| {
            let text = |f: &str| {
                row.get(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let metadata =
                serde_json::from_str(&text("metadata")).unwrap_or(serde_json::Value::Null);
            let created = row.get("created_at").and_then(|v| v.as_i64()).unwrap_or(0);
            Ok((text("key"), text("name"), metadata, created))
        })
        .collect()
    }

    fn upsert_persons(
        &self,
        persons: &str,
        rows: &[(String, String, serde_json::Value, i64)],
    ) -> Result<(), GalleryError> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows = InsertRequest::builder()
            .collection_name(persons)
            .columns(vec![
                FieldData::varchar("key", rows.iter().map(|r| r.0.clone()).collect()),
                FieldData::varchar("name", rows.iter().map(|r| r.1.clone()).collect()),
                FieldData::varchar("metadata", rows.iter().map(|r| r.2.to_string()).collect()),
                FieldData::int64("created_at", rows.iter().map(|r| r.3).collect()),
                FieldData::float_vector("placeholder", vec![vec![0.0, 0.0]; rows.len()]),
            ])
            .build()
            .map_err(|e| self.remote(e))?;
        let request = UpsertRequest::builder()
            .insert(rows)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move { c.upsert(request).await.map(|_| ()) })
    }

    /// Seals what was inserted into `collection` and waits until Milvus has
    /// indexed every row (growing segments are searched by brute force until
    /// then): for benchmarks and bulk loads.
    pub fn wait_until_indexed(&self, collection: &str) -> Result<(), GalleryError> {
        self.collection(collection)?;
        let (samples, _) = milvus_names(collection);
        let flush = FlushRequest::builder()
            .collection_names([samples.clone()])
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move { c.flush(flush).await.map(|_| ()) })?;
        loop {
            let describe = DescribeIndexRequest::builder()
                .collection_name(&samples)
                .field_name("embedding")
                .build()
                .map_err(|e| self.remote(e))?;
            let (indexed, total) = self.call(|c| async move {
                let r = c.describe_index(describe).await?;
                Ok(r.indexes().iter().fold((0, 0), |(i, t), d| {
                    (i + d.get_indexed_rows(), t + d.get_total_rows())
                }))
            })?;
            if indexed >= total {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Clustering's state of a collection: each face's by sample id, and
    /// the keys of suggested persons (nothing before clustering touched it).
    fn cluster_state(
        &self,
        collection: &str,
    ) -> Result<(HashMap<i64, FaceState>, HashSet<String>), GalleryError> {
        let name = clusters_name(collection);
        let mut faces = HashMap::new();
        let mut suggested = HashSet::new();
        if !self.exists(&name)? {
            return Ok((faces, suggested));
        }
        for row in self.rows(&name, "item != \"\"".into(), &["item", "state"], Read::Scan)? {
            let text = |f: &str| row.get(f).and_then(|v| v.as_str()).unwrap_or("");
            let item = text("item");
            if let Some(id) = item.strip_prefix("face:").and_then(|i| i.parse().ok()) {
                faces.insert(id, serde_json::from_str(text("state")).unwrap_or_default());
            } else if let Some(key) = item.strip_prefix("person:") {
                suggested.insert(key.to_string());
            }
        }
        Ok((faces, suggested))
    }

    /// Writes clustering state rows (`None` deletes one), creating the
    /// collection that holds them on first use.
    fn write_cluster_state(
        &self,
        collection: &str,
        rows: HashMap<String, Option<String>>,
    ) -> Result<(), GalleryError> {
        if rows.is_empty() {
            return Ok(());
        }
        let name = clusters_name(collection);
        if !self.exists(&name)? {
            let schema = CollectionSchema::new()
                .add_field(
                    FieldSchema::new()
                        .name("item")
                        .data_type(DataType::VarChar)
                        .max_length(600)
                        .primary_key(true),
                )
                .add_field(
                    FieldSchema::new()
                        .name("state")
                        .data_type(DataType::VarChar)
                        .max_length(65_535),
                )
                // Milvus 2.3 needs a vector field in every collection.
                .add_field(
                    FieldSchema::new()
                        .name("placeholder")
                        .data_type(DataType::FloatVector)
                        .dimension(2),
                );
            self.create_indexed(
                &name,
                schema,
                format!("facekit clustering of '{collection}'"),
                IndexParam::new()
                    .field_name("placeholder")
                    .index_type(IndexType::Flat)
                    .metric_type(MetricType::L2),
            )?;
        }
        let (gone, kept): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, s)| s.is_none());
        for chunk in gone.chunks(INSERT_BATCH) {
            let items: Vec<String> = chunk.iter().map(|(i, _)| quote(i)).collect();
            self.delete_where(&name, format!("item in [{}]", items.join(",")))?;
        }
        for chunk in kept.chunks(INSERT_BATCH) {
            let insert = InsertRequest::builder()
                .collection_name(&name)
                .columns(vec![
                    FieldData::varchar("item", chunk.iter().map(|r| r.0.clone()).collect()),
                    FieldData::varchar(
                        "state",
                        chunk
                            .iter()
                            .map(|r| r.1.clone().unwrap_or_default())
                            .collect(),
                    ),
                    FieldData::float_vector("placeholder", vec![vec![0.0, 0.0]; chunk.len()]),
                ])
                .build()
                .map_err(|e| self.remote(e))?;
            let request = UpsertRequest::builder()
                .insert(insert)
                .build()
                .map_err(|e| self.remote(e))?;
            self.call(|c| async move { c.upsert(request).await.map(|_| ()) })?;
        }
        Ok(())
    }

    /// Inserts sample rows (their ids ignored: Milvus gives new ones),
    /// returning the new ids in order.
    fn insert_samples(
        &self,
        samples: &str,
        rows: &[Sample],
        sealing: Option<&Sealing>,
    ) -> Result<Vec<i64>, GalleryError> {
        let mut ids = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(INSERT_BATCH) {
            let stored: Vec<StoredFields> =
                chunk.iter().map(|s| stored_fields(s, sealing)).collect();
            let request = InsertRequest::builder()
                .collection_name(samples)
                .columns(vec![
                    FieldData::varchar("person", chunk.iter().map(|s| s.person.clone()).collect()),
                    FieldData::float_vector(
                        "embedding",
                        chunk.iter().map(|s| s.embedding.clone()).collect(),
                    ),
                    FieldData::varchar(
                        "image_sha256",
                        stored.iter().map(|f| f.image_sha256.clone()).collect(),
                    ),
                    FieldData::varchar("bbox", stored.iter().map(|f| f.bbox.clone()).collect()),
                    FieldData::float("det_score", stored.iter().map(|f| f.det_score).collect()),
                    FieldData::float(
                        "embedding_norm",
                        stored.iter().map(|f| f.embedding_norm).collect(),
                    ),
                    FieldData::int64("created_at", chunk.iter().map(|s| s.created_at).collect()),
                ])
                .build()
                .map_err(|e| self.remote(e))?;
            let inserted =
                self.call(|c| async move { c.insert(request).await.map(|r| r.ids().clone()) })?;
            match inserted {
                Ids::Int64(new) if new.len() == chunk.len() => ids.extend(new),
                other => {
                    return Err(self.remote(format!("insert returned unexpected ids: {other:?}")));
                }
            }
        }
        Ok(ids)
    }

    /// For each vector, the `limit` nearest samples `(id, person, cosine)`.
    fn search(
        &self,
        c: &Collection,
        vectors: Vec<Vec<f32>>,
        limit: usize,
    ) -> Result<Vec<Vec<Hit>>, GalleryError> {
        let (samples, _) = milvus_names(&c.name);
        let limit = limit.clamp(1, MAX_WINDOW);
        let mut params = HashMap::new();
        if c.index == IndexKind::Hnsw {
            params.insert("ef".to_string(), limit.max(HNSW_EF).to_string());
        }
        let request = SearchRequest::builder()
            .collection_name(&samples)
            .vector_field("embedding")
            .vectors(SearchVectors::Float(vectors))
            .output_fields(["person"])
            .limit(limit as i64)
            .extra_params(params)
            .consistency_level(self.consistency)
            .build()
            .map_err(|e| self.remote(e))?;
        self.call(|c| async move {
            let response = c.search(request).await?;
            let mut all = Vec::new();
            for result in response.results() {
                // Milvus 2.3 leaves these names out of search results.
                let mut result = result.clone();
                result
                    .set_primary_field_name("sample_id")
                    .set_score_field_name("score");
                let mut hits = Vec::new();
                for row in result.rows()? {
                    hits.push((
                        row.get_i64("sample_id")?,
                        row.get_str("person")?.to_string(),
                        row.get_f32("score")?,
                    ));
                }
                all.push(hits);
            }
            Ok(all)
        })
    }

    /// Makes the moves `pending` holds, following the faces' state to
    /// their new ids.
    fn flush_moves(&self, c: &Collection, pending: &mut PendingEdits) -> Result<(), GalleryError> {
        // The last move of a face is the one that counts.
        let mut last: HashMap<i64, String> = HashMap::new();
        for (id, person) in pending.moves.drain(..) {
            last.insert(id, person);
        }
        let moves: Vec<(i64, String)> = last.into_iter().collect();
        for (old, new) in self.move_samples(c, &moves)? {
            if let Some(state) = pending.faces.remove(&old) {
                pending.faces.insert(new, state);
            }
            if pending.dirty.remove(&old) {
                pending.dirty.insert(new);
            }
            pending.rows.insert(face_item(old), None);
            match pending.renumbered.iter_mut().find(|(_, now)| *now == old) {
                Some(entry) => entry.1 = new,
                None => pending.renumbered.push((old, new)),
            }
        }
        Ok(())
    }

    /// Adds a new person to `c`, or refuses one whose key is `taken`.
    fn add_person(
        &self,
        c: &Collection,
        person: &PersonInfo,
        taken: bool,
    ) -> Result<(), GalleryError> {
        if taken {
            return Err(GalleryError::PersonExists {
                collection: c.name.clone(),
                person: person.key.clone(),
            });
        }
        self.upsert_persons(
            &milvus_names(&c.name).1,
            &[(
                person.key.clone(),
                person.name.clone(),
                person.metadata.clone(),
                now(),
            )],
        )
    }

    /// Deletes clustering state rows, if the collection has any.
    fn forget_cluster_state(
        &self,
        collection: &str,
        items: impl IntoIterator<Item = String>,
    ) -> Result<(), GalleryError> {
        if !self.exists(&clusters_name(collection))? {
            return Ok(());
        }
        self.write_cluster_state(collection, items.into_iter().map(|i| (i, None)).collect())
    }

    /// The collection `name` and, when it is encrypted, its data key
    /// (opened with the master key: an error without it or with another).
    fn described(&self, name: &str) -> Result<(Collection, Option<Sealing>), GalleryError> {
        let (samples, _) = milvus_names(name);
        if !self.exists(&samples)? {
            return Err(GalleryError::NoSuchCollection(name.into()));
        }
        let (id, description) = self.describe(&samples)?;
        let d: Description = serde_json::from_str(&description).map_err(|e| {
            self.remote(format!(
                "collection {samples} has no facekit description: {e}"
            ))
        })?;
        let sealing = match &d.data_key {
            None => None,
            Some(wrapped) => Some(Sealing::new(self.unwrap_key(&d.name, wrapped)?, &d.name)),
        };
        let collection = Collection {
            id,
            name: d.name,
            contract: d.contract,
            index: d.index,
            review: d.review,
            created_at: d.created_at,
            encrypted: sealing.is_some(),
            retention_days: None,
        };
        Ok((collection, sealing))
    }

    /// The data key of collection `name`, opened with the master key.
    fn unwrap_key(&self, name: &str, wrapped: &str) -> Result<DataKey, GalleryError> {
        let path = std::path::PathBuf::from(self.address.display.clone());
        let Some(master) = &self.master else {
            return Err(GalleryError::KeyRequired {
                path,
                collection: name.into(),
            });
        };
        let bytes = BASE64.decode(wrapped).map_err(|e| {
            self.remote(format!(
                "collection '{name}': its data key is not base64: {e}"
            ))
        })?;
        master
            .unwrap(&bytes, &key_context(name))
            .map_err(|source| GalleryError::Vault { path, source })
    }

    /// Moves faces to persons by re-inserting each under its new person
    /// (Milvus 2.3 cannot update a row); returns `(old id, new id)`.
    fn move_samples(
        &self,
        c: &Collection,
        moves: &[(i64, String)],
    ) -> Result<Vec<(i64, i64)>, GalleryError> {
        let (samples, _) = milvus_names(&c.name);
        let (_, sealing) = self.described(&c.name)?;
        let mut rows: HashMap<i64, Sample> = HashMap::new();
        for chunk in moves.chunks(1_000) {
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.to_string()).collect();
            for row in self.rows(
                &samples,
                format!("sample_id in [{}]", ids.join(",")),
                &SAMPLE_FIELDS,
                self.lookup(),
            )? {
                let s = opened_sample(&row, sealing.as_ref())?;
                rows.insert(s.id, s);
            }
        }
        let mut moved: Vec<Sample> = Vec::new();
        for (id, person) in moves {
            let mut s = rows.get(id).cloned().ok_or(GalleryError::NoSuchSample {
                collection: c.name.clone(),
                sample: *id,
            })?;
            if s.person != *person {
                s.person = person.clone();
                moved.push(s);
            }
        }
        let new_ids = self.insert_samples(&samples, &moved, sealing.as_ref())?;
        for chunk in moved.chunks(1_000) {
            let ids: Vec<String> = chunk.iter().map(|s| s.id.to_string()).collect();
            self.delete_where(&samples, format!("sample_id in [{}]", ids.join(",")))?;
        }
        Ok(moved.iter().map(|s| s.id).zip(new_ids).collect())
    }

    fn person_of(&self, c: &Collection, key: &str) -> Result<Person, GalleryError> {
        let (samples, persons) = milvus_names(&c.name);
        let (key, name, metadata, created_at) = self
            .person_rows(&persons, format!("key == {}", quote(key)), self.lookup())?
            .into_iter()
            .next()
            .ok_or_else(|| GalleryError::NoSuchPerson {
                collection: c.name.clone(),
                person: key.to_string(),
            })?;
        let count = self.count(&samples, format!("person == {}", quote(&key)))?;
        let clusters = clusters_name(&c.name);
        let suggested = self.exists(&clusters)?
            && !self
                .rows(
                    &clusters,
                    format!("item == {}", quote(&person_item(&key))),
                    &["item"],
                    self.lookup(),
                )?
                .is_empty();
        Ok(Person {
            id: 0,
            key,
            name,
            metadata,
            created_at,
            samples: count,
            suggested,
        })
    }
}

/// A sample's biometric columns besides the vector, as stored.
struct StoredFields {
    image_sha256: String,
    bbox: String,
    det_score: f32,
    embedding_norm: f32,
}

/// The columns of `s`: plain (absent values as empty text and -1), or
/// sealed together into `bbox` with the rest empty.
fn stored_fields(s: &Sample, sealing: Option<&Sealing>) -> StoredFields {
    match sealing {
        Some(sealing) => StoredFields {
            image_sha256: String::new(),
            bbox: sealing.seal(s),
            det_score: -1.0,
            embedding_norm: -1.0,
        },
        None => StoredFields {
            image_sha256: s.image_sha256.clone().unwrap_or_default(),
            bbox: s
                .bbox
                .map(|b| serde_json::json!(b).to_string())
                .unwrap_or_default(),
            det_score: s.det_score.unwrap_or(-1.0),
            embedding_norm: s.embedding_norm.unwrap_or(-1.0),
        },
    }
}

/// A sample row to insert for `person`.
fn new_row(person: &str, s: &NewSample) -> Sample {
    Sample {
        id: 0,
        person: person.to_string(),
        embedding: s.embedding.clone(),
        image_sha256: s.image_sha256.clone(),
        bbox: s.bbox,
        det_score: s.det_score,
        embedding_norm: s.embedding_norm,
        created_at: now(),
    }
}

/// A sample row read back with its sealed fields opened (when the
/// collection is encrypted and the row has them).
fn opened_sample(
    row: &serde_json::Map<String, serde_json::Value>,
    sealing: Option<&Sealing>,
) -> Result<Sample, GalleryError> {
    let mut sample = sample_of(row);
    if let Some(sealing) = sealing {
        let sealed = row.get("bbox").and_then(|v| v.as_str()).unwrap_or("");
        sealing.open_into(&mut sample, sealed)?;
    }
    Ok(sample)
}

/// A sample row read back as stored (sealed fields left unread).
fn sample_of(row: &serde_json::Map<String, serde_json::Value>) -> Sample {
    let text = |f: &str| {
        row.get(f)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let number = |f: &str| row.get(f).and_then(|v| v.as_f64()).unwrap_or(-1.0) as f32;
    let optional = |x: f32| (x >= 0.0).then_some(x);
    let hash = text("image_sha256");
    Sample {
        id: row.get("sample_id").and_then(|v| v.as_i64()).unwrap_or(0),
        person: text("person"),
        embedding: row
            .get("embedding")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_f64())
                    .map(|x| x as f32)
                    .collect()
            })
            .unwrap_or_default(),
        image_sha256: (!hash.is_empty()).then_some(hash),
        bbox: serde_json::from_str(&text("bbox")).ok(),
        det_score: optional(number("det_score")),
        embedding_norm: optional(number("embedding_norm")),
        created_at: row.get("created_at").and_then(|v| v.as_i64()).unwrap_or(0),
    }
}

impl FaceGallery for MilvusGallery {
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
        facekit_gallery::check_new_contract(contract)?;
        let (index_type, params) = match index {
            IndexKind::Exact => (IndexType::Flat, HashMap::new()),
            IndexKind::Hnsw => (
                IndexType::Hnsw,
                HashMap::from([
                    ("M".to_string(), HNSW_M.to_string()),
                    (
                        "efConstruction".to_string(),
                        HNSW_EF_CONSTRUCTION.to_string(),
                    ),
                ]),
            ),
            IndexKind::Int8 => {
                return Err(GalleryError::Invalid(
                    "the int8 index is the embedded store's; on Milvus use exact (FLAT) or hnsw (HNSW)".into(),
                ));
            }
        };
        let (samples, persons) = milvus_names(name);
        if name.len() > 110 {
            return Err(GalleryError::Invalid(format!(
                "collection name '{name}' is too long for Milvus (at most 110 bytes)"
            )));
        }
        if self.exists(&samples)? {
            return Err(GalleryError::CollectionExists(name.into()));
        }
        let data_key = match &self.master {
            Some(master) => {
                let key = DataKey::generate().map_err(|source| GalleryError::Vault {
                    path: self.address.display.clone().into(),
                    source,
                })?;
                Some(BASE64.encode(master.wrap(&key, &key_context(name))))
            }
            None => None,
        };
        // Sealed fields (base64 of ~200 bytes) need more room than a box.
        let bbox_length = if data_key.is_some() { 1024 } else { 256 };
        let description = Description {
            facekit_gallery: 1,
            name: name.to_string(),
            contract: contract.clone(),
            index,
            review,
            created_at: now(),
            data_key,
        };
        let varchar = |name: &str, max: u32| {
            FieldSchema::new()
                .name(name)
                .data_type(DataType::VarChar)
                .max_length(max)
        };
        let sample_schema = CollectionSchema::new()
            .add_field(
                FieldSchema::new()
                    .name("sample_id")
                    .data_type(DataType::Int64)
                    .primary_key(true)
                    .auto_id(true),
            )
            .add_field(varchar("person", 512))
            .add_field(
                FieldSchema::new()
                    .name("embedding")
                    .data_type(DataType::FloatVector)
                    .dimension(contract.dimension as u32),
            )
            .add_field(varchar("image_sha256", 64))
            .add_field(varchar("bbox", bbox_length))
            .add_field(
                FieldSchema::new()
                    .name("det_score")
                    .data_type(DataType::Float),
            )
            .add_field(
                FieldSchema::new()
                    .name("embedding_norm")
                    .data_type(DataType::Float),
            )
            .add_field(
                FieldSchema::new()
                    .name("created_at")
                    .data_type(DataType::Int64),
            );
        let person_schema = CollectionSchema::new()
            .add_field(varchar("key", 512).primary_key(true))
            .add_field(varchar("name", 1024))
            .add_field(varchar("metadata", 65_535))
            .add_field(
                FieldSchema::new()
                    .name("created_at")
                    .data_type(DataType::Int64),
            )
            // Milvus 2.3 needs a vector field in every collection.
            .add_field(
                FieldSchema::new()
                    .name("placeholder")
                    .data_type(DataType::FloatVector)
                    .dimension(2),
            );
        self.create_indexed(
            &persons,
            person_schema,
            format!("facekit persons of '{name}'"),
            IndexParam::new()
                .field_name("placeholder")
                .index_type(IndexType::Flat)
                .metric_type(MetricType::L2),
        )?;
        self.create_indexed(
            &samples,
            sample_schema,
            serde_json::to_string(&description).expect("serialisable"),
            IndexParam::new()
                .field_name("embedding")
                .index_type(index_type)
                .metric_type(MetricType::Cosine)
                .extra_params(params),
        )?;
        self.collection(name)
    }

    fn collection(&self, name: &str) -> Result<Collection, GalleryError> {
        Ok(self.described(name)?.0)
    }

    fn collections(&self) -> Result<Vec<Collection>, GalleryError> {
        let request = ListCollectionsRequest::builder()
            .build()
            .map_err(|e| self.remote(e))?;
        let names = self.call(|c| async move {
            c.list_collections(request)
                .await
                .map(|r| r.collection_names().to_vec())
        })?;
        let mut found = Vec::new();
        for milvus_name in names {
            let Some(hex) = milvus_name
                .strip_prefix("facekit_")
                .and_then(|n| n.strip_suffix("_samples"))
            else {
                continue;
            };
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            if let Some(name) = bytes.and_then(|b| String::from_utf8(b).ok()) {
                found.push(self.collection(&name)?);
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    fn persons(&self, collection: &str) -> Result<Vec<Person>, GalleryError> {
        self.collection(collection)?;
        let (samples, persons) = milvus_names(collection);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for row in self.rows(&samples, "sample_id >= 0".into(), &["person"], Read::Scan)? {
            if let Some(key) = row.get("person").and_then(|v| v.as_str()) {
                *counts.entry(key.to_string()).or_default() += 1;
            }
        }
        let (_, suggested) = self.cluster_state(collection)?;
        let mut found: Vec<Person> = self
            .person_rows(&persons, "key != \"\"".into(), Read::Scan)?
            .into_iter()
            .map(|(key, name, metadata, created_at)| Person {
                id: 0,
                samples: counts.get(&key).copied().unwrap_or(0),
                suggested: suggested.contains(&key),
                key,
                name,
                metadata,
                created_at,
            })
            .collect();
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    fn person(&self, collection: &str, key: &str) -> Result<Person, GalleryError> {
        self.person_of(&self.collection(collection)?, key)
    }

    fn create_person(&self, collection: &str, person: &PersonInfo) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        check_key(&person.key)?;
        let (_, persons) = milvus_names(collection);
        let taken = !self
            .person_rows(
                &persons,
                format!("key == {}", quote(&person.key)),
                self.lookup(),
            )?
            .is_empty();
        self.add_person(&c, person, taken)?;
        self.person_of(&c, &person.key)
    }

    fn update_person(
        &self,
        collection: &str,
        key: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Person, GalleryError> {
        let c = self.collection(collection)?;
        let p = self.person_of(&c, key)?;
        let (_, persons) = milvus_names(collection);
        self.upsert_persons(
            &persons,
            &[(
                p.key.clone(),
                name.map_or(p.name, str::to_string),
                metadata.cloned().unwrap_or(p.metadata),
                p.created_at,
            )],
        )?;
        self.person_of(&c, key)
    }

    fn samples(&self, collection: &str, person: Option<&str>) -> Result<Vec<Sample>, GalleryError> {
        let (c, sealing) = self.described(collection)?;
        let (filter, read) = match person {
            Some(key) => {
                self.person_of(&c, key)?;
                (format!("person == {}", quote(key)), self.lookup())
            }
            None => ("sample_id >= 0".into(), Read::Scan),
        };
        let (samples, _) = milvus_names(collection);
        let mut found: Vec<Sample> = self
            .rows(&samples, filter, &SAMPLE_FIELDS, read)?
            .iter()
            .map(|row| opened_sample(row, sealing.as_ref()))
            .collect::<Result<_, _>>()?;
        found.sort_by_key(|s| s.id);
        Ok(found)
    }

    fn enroll_batch(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        items: &[(&PersonInfo, &NewSample)],
    ) -> Result<Vec<i64>, GalleryError> {
        let (c, sealing) = self.described(collection)?;
        check_contract(&c, contract)?;
        for (person, sample) in items {
            check_key(&person.key)?;
            facekit_gallery::check_vector(&c, &sample.embedding)?;
        }
        let (samples, persons) = milvus_names(collection);
        // Persons first (created on first use, name and metadata updated,
        // creation time kept), then the samples: Milvus has no transactions,
        // so a failure in between leaves persons without the new samples.
        let mut latest: Vec<&PersonInfo> = Vec::new();
        for (person, _) in items.iter().rev() {
            if latest.iter().all(|p| p.key != person.key) {
                latest.push(person);
            }
        }
        let keys: Vec<String> = latest.iter().map(|p| quote(&p.key)).collect();
        let existing: HashMap<String, i64> = self
            .person_rows(
                &persons,
                format!("key in [{}]", keys.join(",")),
                self.lookup(),
            )?
            .into_iter()
            .map(|(key, _, _, created)| (key, created))
            .collect();
        let rows: Vec<_> = latest
            .iter()
            .map(|p| {
                let created = existing.get(&p.key).copied().unwrap_or_else(now);
                (p.key.clone(), p.name.clone(), p.metadata.clone(), created)
            })
            .collect();
        self.upsert_persons(&persons, &rows)?;

        let rows: Vec<Sample> = items.iter().map(|(p, s)| new_row(&p.key, s)).collect();
        self.insert_samples(&samples, &rows, sealing.as_ref())
    }

    fn nearest_samples(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        k: usize,
    ) -> Result<Vec<PersonMatch>, GalleryError> {
        let c = self.collection(collection)?;
        check_contract(&c, contract)?;
        facekit_gallery::check_vector(&c, embedding)?;
        let (_, persons) = milvus_names(collection);
        let hits: Vec<(i64, String, f32)> = self
            .search(&c, vec![embedding.to_vec()], k)?
            .into_iter()
            .flatten()
            .filter(|(_, key, _)| key != UNASSIGNED)
            .collect();
        let keys: Vec<String> = hits
            .iter()
            .map(|h| h.1.clone())
            .collect::<HashSet<_>>()
            .iter()
            .map(|k| quote(k))
            .collect();
        let names: HashMap<String, String> = if keys.is_empty() {
            HashMap::new()
        } else {
            // Display names only: a rename seconds old may show the old one.
            self.person_rows(
                &persons,
                format!("key in [{}]", keys.join(",")),
                Read::Lookup(ConsistencyLevel::Bounded),
            )?
            .into_iter()
            .map(|(key, name, _, _)| (key, name))
            .collect()
        };
        let mut matches: Vec<PersonMatch> = hits
            .into_iter()
            .map(|(sample_id, key, score)| PersonMatch {
                name: names.get(&key).cloned().unwrap_or_else(|| key.clone()),
                key,
                score,
                sample_id,
            })
            .collect();
        matches.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(matches)
    }

    fn delete_sample(&self, collection: &str, sample: i64) -> Result<(), GalleryError> {
        self.collection(collection)?;
        let (samples, _) = milvus_names(collection);
        let filter = format!("sample_id in [{sample}]");
        if self.count(&samples, filter.clone())? == 0 {
            return Err(GalleryError::NoSuchSample {
                collection: collection.into(),
                sample,
            });
        }
        self.delete_where(&samples, filter)?;
        self.forget_cluster_state(collection, [face_item(sample)])
    }

    fn delete_person(&self, collection: &str, person: &str) -> Result<usize, GalleryError> {
        let c = self.collection(collection)?;
        let p = self.person_of(&c, person)?;
        let (samples, persons) = milvus_names(collection);
        let filter = format!("person == {}", quote(person));
        let ids: Vec<String> = self
            .rows(&samples, filter.clone(), &["sample_id"], Read::Scan)?
            .iter()
            .map(|row| face_item(sample_of(row).id))
            .collect();
        self.delete_where(&samples, filter)?;
        self.delete_where(&persons, format!("key == {}", quote(person)))?;
        self.forget_cluster_state(collection, ids.into_iter().chain([person_item(person)]))?;
        Ok(p.samples)
    }

    fn delete_collection(&self, collection: &str) -> Result<(), GalleryError> {
        self.collection(collection)?;
        let (samples, persons) = milvus_names(collection);
        for milvus_name in [samples, persons, clusters_name(collection)] {
            if !self.exists(&milvus_name)? {
                continue;
            }
            let request = DropCollectionRequest::builder()
                .collection_name(milvus_name)
                .build()
                .map_err(|e| self.remote(e))?;
            self.call(|c| async move { c.drop_collection(request).await })?;
        }
        Ok(())
    }

    fn enroll_unassigned(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        samples: &[NewSample],
    ) -> Result<Vec<i64>, GalleryError> {
        let (c, sealing) = self.described(collection)?;
        check_contract(&c, contract)?;
        for sample in samples {
            facekit_gallery::check_vector(&c, &sample.embedding)?;
        }
        let rows: Vec<Sample> = samples.iter().map(|s| new_row(UNASSIGNED, s)).collect();
        self.insert_samples(&milvus_names(collection).0, &rows, sealing.as_ref())
    }

    fn cluster_faces(&self, collection: &str) -> Result<Vec<ClusterFace>, GalleryError> {
        let (_, sealing) = self.described(collection)?;
        let (samples, _) = milvus_names(collection);
        let (states, _) = self.cluster_state(collection)?;
        let mut faces: Vec<ClusterFace> = self
            .rows(
                &samples,
                "sample_id >= 0".into(),
                &["sample_id", "person", "image_sha256", "bbox"],
                Read::Scan,
            )?
            .iter()
            .map(|row| {
                let s = opened_sample(row, sealing.as_ref())?;
                let state = states.get(&s.id).cloned().unwrap_or_default();
                Ok(ClusterFace {
                    id: s.id,
                    person: s.person,
                    suggested: state.suggested,
                    seen: state.seen,
                    excluded: state.excluded,
                    image_sha256: s.image_sha256,
                })
            })
            .collect::<Result<_, GalleryError>>()?;
        faces.sort_by_key(|f| f.id);
        Ok(faces)
    }

    fn sample_embeddings(
        &self,
        collection: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, Vec<f32>)>, GalleryError> {
        self.collection(collection)?;
        let (samples, _) = milvus_names(collection);
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            for row in self.rows(
                &samples,
                format!("sample_id in [{}]", list.join(",")),
                &["sample_id", "embedding"],
                self.lookup(),
            )? {
                let s = sample_of(&row);
                found.push((s.id, s.embedding));
            }
        }
        Ok(found)
    }

    fn neighbours(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<(i64, f32)>>, GalleryError> {
        let c = self.collection(collection)?;
        for q in queries {
            facekit_gallery::check_vector(&c, q)?;
        }
        let mut all = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(64) {
            for hits in self.search(&c, chunk.to_vec(), k)? {
                all.push(hits.into_iter().map(|(id, _, s)| (id, s)).collect());
            }
        }
        Ok(all)
    }

    fn export(
        &self,
        collection: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, GalleryError> {
        let (c, sealing) = self.described(collection)?;
        // An encrypted collection exports sealed, as the embedded store's do.
        let master = self.master.as_ref().filter(|_| sealing.is_some());
        facekit_gallery::export_collection(self, &c.name, out, master)
    }

    fn apply_edits(&self, collection: &str, edits: &[Edit]) -> Result<Renumbered, GalleryError> {
        let c = self.collection(collection)?;
        let (samples, persons) = milvus_names(collection);
        let (faces, _) = self.cluster_state(collection)?;
        let mut known: HashSet<String> = self
            .person_rows(&persons, "key != \"\"".into(), Read::Scan)?
            .into_iter()
            .map(|p| p.0)
            .collect();
        let no_person = |key: &str| GalleryError::NoSuchPerson {
            collection: c.name.clone(),
            person: key.into(),
        };
        let mut pending = PendingEdits {
            faces,
            ..PendingEdits::default()
        };
        for edit in edits {
            // Without transactions, edits go in the order given; pending
            // moves are made before any edit that reads samples.
            if !matches!(edit, Edit::Assign { .. } | Edit::Release { .. }) {
                self.flush_moves(&c, &mut pending)?;
            }
            match edit {
                Edit::CreatePerson { person, suggested } => {
                    check_key(&person.key)?;
                    self.add_person(&c, person, known.contains(&person.key))?;
                    known.insert(person.key.clone());
                    if *suggested {
                        pending
                            .rows
                            .insert(person_item(&person.key), Some("{}".into()));
                    }
                }
                Edit::Confirm { person } => {
                    if !known.contains(person) {
                        return Err(no_person(person));
                    }
                    pending.rows.insert(person_item(person), None);
                    for row in self.rows(
                        &samples,
                        format!("person == {}", quote(person)),
                        &["sample_id"],
                        Read::Scan,
                    )? {
                        let state = pending.state(sample_of(&row).id);
                        state.suggested = false;
                        state.seen = true;
                    }
                }
                Edit::Assign {
                    sample,
                    person,
                    suggested,
                } => {
                    if person != UNASSIGNED && !known.contains(person) {
                        return Err(no_person(person));
                    }
                    let id = pending.current(*sample);
                    let state = pending.state(id);
                    state.suggested = *suggested;
                    state.seen = true;
                    if !suggested {
                        state.excluded.retain(|k| k != person);
                    }
                    pending.moves.push((id, person.clone()));
                }
                Edit::Release { sample } => {
                    let id = pending.current(*sample);
                    let state = pending.state(id);
                    state.suggested = true;
                    state.seen = false;
                    pending.moves.push((id, UNASSIGNED.to_string()));
                }
                Edit::Exclude { sample, person } => {
                    check_key(person)?;
                    let id = pending.current(*sample);
                    if self.count(&samples, format!("sample_id in [{id}]"))? == 0 {
                        return Err(GalleryError::NoSuchSample {
                            collection: c.name.clone(),
                            sample: *sample,
                        });
                    }
                    let state = pending.state(id);
                    if !state.excluded.contains(person) {
                        state.excluded.push(person.clone());
                    }
                }
                Edit::DeletePerson { person } => {
                    check_key(person)?;
                    if !known.contains(person) {
                        return Err(no_person(person));
                    }
                    let held = self.count(&samples, format!("person == {}", quote(person)))?;
                    if held > 0 {
                        return Err(GalleryError::Invalid(format!(
                            "person '{person}' still holds {held} faces: move them first (or delete the person)"
                        )));
                    }
                    self.delete_where(&persons, format!("key == {}", quote(person)))?;
                    pending.rows.insert(person_item(person), None);
                    known.remove(person);
                }
            }
        }
        self.flush_moves(&c, &mut pending)?;
        let mut rows = pending.rows;
        for id in pending.dirty {
            let state = serde_json::to_string(&pending.faces[&id]).expect("serialisable");
            rows.insert(face_item(id), Some(state));
        }
        self.write_cluster_state(collection, rows)?;
        Ok(pending.renumbered)
    }

    fn stats(&self, collection: &str) -> Result<GalleryStats, GalleryError> {
        let c = self.collection(collection)?;
        let (samples, persons) = milvus_names(collection);
        Ok(GalleryStats {
            persons: self.count(&persons, "key != \"\"".into())?,
            samples: self.count(&samples, "sample_id >= 0".into())?,
            // The vectors live on the Milvus servers, not in this process.
            index_bytes: 0,
            collection: c,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_never_show_their_token() {
        let a = MilvusAddress::parse(
            "milvus://db.internal:19530?tls=true&token=root:secret&database=faces",
        )
        .unwrap();
        assert_eq!(a.uri, "https://db.internal:19530");
        assert_eq!(
            (a.token.as_deref(), a.database.as_deref()),
            (Some("root:secret"), Some("faces"))
        );
        assert_eq!(format!("{a:?}"), "milvus://db.internal:19530");
        for bad in [
            "milvus://",
            "milvus://host",
            "milvus://host:19530?colour=red",
            "http://host:1",
        ] {
            assert!(MilvusAddress::parse(bad).is_err(), "{bad}");
        }
        let err = MilvusAddress::parse("milvus://host:19530?token=root:secret&colour=red")
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn names_and_literals_are_safe_for_milvus() {
        let (samples, persons) = milvus_names("Staff \"A\"");
        assert!(
            samples
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
        assert_ne!(samples, persons);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
