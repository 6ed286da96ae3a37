//! The JSON-lines export format: one header line (format version, collection,
//! contract, index kind), then one line per face sample with its person.
//! `import` reads it back into this or another gallery file.

use std::io::Write;

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

/// [`FaceGallery::export`]'s body.
pub(crate) fn export<G: FaceGallery + ?Sized>(
    gallery: &G,
    collection: &str,
    out: &mut dyn Write,
) -> Result<usize, GalleryError> {
    {
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
            writeln!(
                out,
                "{}",
                serde_json::to_string(&record).expect("serialisable")
            )
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
