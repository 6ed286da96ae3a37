//! The JSON-lines export format: one header line (format version, collection,
//! contract, index kind), then one line per face sample with its person.
//! `import` reads it back into this or another gallery file.
//!
//! An encrypted collection exports sealed: the header carries a fresh
//! export key wrapped by the gallery's master key, and each sample line is
//! its JSON record sealed under that key, in base64. Only the same master
//! key reads it back.

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use facekit_vault::{DataKey, MasterKey};
use serde::{Deserialize, Serialize};

use crate::{
    EmbeddingContract, FaceGallery, GalleryError, IndexKind, NewSample, PersonInfo, ReviewMode,
};

/// Version of the export format.
pub const EXPORT_FORMAT: u32 = 1;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// Format version ([`EXPORT_FORMAT`]).
    pub facekit_gallery: u32,
    /// The collection exported.
    pub collection: String,
    /// Its embedding contract.
    pub contract: EmbeddingContract,
    /// Its index kind.
    pub index: IndexKind,
    /// Its enrollment review default (`off` in exports without one).
    #[serde(default)]
    pub review: ReviewMode,
    /// For a sealed export: its key, wrapped by the master key, in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// What an export key is wrapped with.
const EXPORT_KEY_CONTEXT: &[u8] = b"facekit export key";
/// What each sealed export line is bound to.
const EXPORT_RECORD_CONTEXT: &[u8] = b"facekit export record";

/// Reads an export's lines, opening sealed ones.
///
/// ```
/// use facekit_gallery::ExportReader;
/// let header = r#"{"facekit_gallery":1,"collection":"staff","contract":{"model_sha256":"ab","dimension":2,"preprocessing":"p"},"index":"exact"}"#;
/// let reader = ExportReader::new(header, None)?;
/// let record = reader.record(r#"{"person":{"key":"a","name":"A","metadata":{}},"embedding":[1.0,0.0],"image_sha256":null,"bbox":null,"det_score":null,"embedding_norm":null}"#, 2)?;
/// assert_eq!(record.person.key, "a");
/// # Ok::<(), facekit_gallery::GalleryError>(())
/// ```
pub struct ExportReader {
    /// The header line.
    pub header: ExportHeader,
    key: Option<DataKey>,
}

impl ExportReader {
    /// Parses the header line; a sealed export needs the master key that
    /// wrote it.
    pub fn new(header_line: &str, master: Option<&MasterKey>) -> Result<Self, GalleryError> {
        let header = parse_header(header_line)?;
        let key = match (&header.sealed, master) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(GalleryError::Invalid(
                    "this export is sealed: give the master key of the gallery that wrote it (--key-file, --key-command or FACEKIT_GALLERY_KEY)".into(),
                ));
            }
            (Some(wrapped), Some(master)) => {
                let wrapped = BASE64.decode(wrapped).map_err(|e| {
                    GalleryError::Invalid(format!("the export's sealed key is not base64: {e}"))
                })?;
                Some(
                    master
                        .unwrap(&wrapped, EXPORT_KEY_CONTEXT)
                        .map_err(|source| GalleryError::Vault {
                            path: "the export".into(),
                            source,
                        })?,
                )
            }
        };
        Ok(Self { header, key })
    }

    /// One sample line; `line_no` is for the error.
    pub fn record(&self, line: &str, line_no: usize) -> Result<ExportRecord, GalleryError> {
        let Some(key) = &self.key else {
            return parse_record(line, line_no);
        };
        let bad = |reason: String| GalleryError::Invalid(format!("line {line_no}: {reason}"));
        let sealed = BASE64
            .decode(line.trim())
            .map_err(|e| bad(format!("not a sealed record: {e}")))?;
        let plain = zeroize::Zeroizing::new(
            key.open(&sealed, EXPORT_RECORD_CONTEXT)
                .map_err(|e| bad(e.to_string()))?,
        );
        serde_json::from_slice(&plain).map_err(|e| bad(e.to_string()))
    }
}

/// One exported face sample and its person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// Who it belongs to.
    pub person: PersonInfo,
    /// The sample, embedding included.
    #[serde(flatten)]
    pub sample: NewSample,
}

/// Writes `collection` of any backend as an export (header, then samples
/// in enrollment order), each record sealed under a fresh export key that
/// `master` wraps when given (how encrypted collections export); returns
/// the number of samples. [`FaceGallery::export`]'s body.
pub fn export_collection<G: FaceGallery + ?Sized>(
    gallery: &G,
    collection: &str,
    out: &mut dyn Write,
    master: Option<&MasterKey>,
) -> Result<usize, GalleryError> {
    {
        let vault = |source| GalleryError::Vault {
            path: "the export".into(),
            source,
        };
        let sealing = master
            .map(|m| DataKey::generate().map(|k| (m, k)))
            .transpose()
            .map_err(vault)?;
        let c = gallery.collection(collection)?;
        let io = |source| GalleryError::Io {
            path: "export output".into(),
            source,
        };
        let header = ExportHeader {
            facekit_gallery: EXPORT_FORMAT,
            collection: c.name.clone(),
            contract: c.contract.clone(),
            index: c.index,
            review: c.review,
            sealed: sealing
                .as_ref()
                .map(|(m, k)| BASE64.encode(m.wrap(k, EXPORT_KEY_CONTEXT))),
        };
        writeln!(
            out,
            "{}",
            serde_json::to_string(&header).expect("serialisable")
        )
        .map_err(io)?;
        let mut persons: std::collections::HashMap<String, PersonInfo> = gallery
            .persons(collection)?
            .into_iter()
            .map(|p| {
                let info = PersonInfo {
                    key: p.key.clone(),
                    name: p.name,
                    metadata: p.metadata,
                };
                (p.key, info)
            })
            .collect();
        let samples = gallery.samples(collection, None)?;
        persons.insert(
            crate::UNASSIGNED.into(),
            PersonInfo {
                key: crate::UNASSIGNED.into(),
                name: String::new(),
                metadata: serde_json::json!({}),
            },
        );
        for s in &samples {
            // A person enrolled (by another caller) between the two reads.
            if !persons.contains_key(&s.person) {
                let p = gallery.person(collection, &s.person)?;
                persons.insert(
                    s.person.clone(),
                    PersonInfo {
                        key: p.key,
                        name: p.name,
                        metadata: p.metadata,
                    },
                );
            }
            let record = ExportRecord {
                person: persons[&s.person].clone(),
                sample: NewSample {
                    embedding: s.embedding.clone(),
                    image_sha256: s.image_sha256.clone(),
                    bbox: s.bbox,
                    det_score: s.det_score,
                    embedding_norm: s.embedding_norm,
                },
            };
            let line =
                zeroize::Zeroizing::new(serde_json::to_string(&record).expect("serialisable"));
            match &sealing {
                Some((_, key)) => writeln!(
                    out,
                    "{}",
                    BASE64.encode(key.seal(line.as_bytes(), EXPORT_RECORD_CONTEXT))
                ),
                None => writeln!(out, "{}", line.as_str()),
            }
            .map_err(io)?;
        }
        Ok(samples.len())
    }
}

/// Parses an export's header line.
pub fn parse_header(line: &str) -> Result<ExportHeader, GalleryError> {
    let header: ExportHeader = serde_json::from_str(line)
        .map_err(|e| GalleryError::Invalid(format!("not a facekit gallery export header: {e}")))?;
    if header.facekit_gallery != EXPORT_FORMAT {
        return Err(GalleryError::Invalid(format!(
            "export format {} is not supported (this build reads {EXPORT_FORMAT})",
            header.facekit_gallery
        )));
    }
    Ok(header)
}

/// Parses one sample line of an export; `line_no` is for the error.
pub fn parse_record(line: &str, line_no: usize) -> Result<ExportRecord, GalleryError> {
    serde_json::from_str(line).map_err(|e| GalleryError::Invalid(format!("line {line_no}: {e}")))
}
