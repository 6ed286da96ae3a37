//! A data subject's rights and the retention schedule: everything held
//! about one person exported or erased (with a receipt tied to the audit
//! trail), and samples past their collection's retention erased.

use facekit_audit::{Entry, Event, Filter, Operation};
use facekit_gallery::{Collection, GalleryError, Person, Sample};
use serde::Serialize;

use crate::FaceService;

/// Everything a collection holds about one person, as a data subject may
/// ask for it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonExport {
    /// The collection.
    pub collection: String,
    /// When this export was made, Unix seconds.
    pub exported_at: i64,
    /// Key, name, metadata, creation time.
    pub person: Person,
    /// Every face sample: embedding, source image hash, box, scores, time.
    pub samples: Vec<Sample>,
    /// Faces marked "not this person" for them (ids).
    pub not_this_person: Vec<i64>,
    /// Every audit entry naming them in this collection (this export's
    /// own entry included).
    pub audit: Vec<Entry>,
}

/// What an erasure did, and the audit entry that records it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureReceipt {
    /// The collection.
    pub collection: String,
    /// The person's key.
    pub person: String,
    /// Face samples erased (overwritten in the file, not just unlinked).
    pub samples_erased: usize,
    /// When, Unix seconds.
    pub erased_at: i64,
    /// The audit entry's position (absent without a trail).
    pub audit_seq: Option<i64>,
    /// The audit entry's hash: `facekit audit show` finds it, and
    /// `audit verify` proves the trail still holds it.
    pub audit_hash: Option<String>,
}

/// What a purge erased in one collection.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeReport {
    /// The collection.
    pub collection: String,
    /// Its retention, days.
    pub retention_days: u32,
    /// Samples enrolled before this time (Unix seconds) were erased.
    pub cutoff: i64,
    /// How many.
    pub samples_erased: usize,
    /// Whose (keys; faces of no person are counted, not named).
    pub persons: Vec<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl FaceService {
    /// Everything held about `key` in `collection` (recorded).
    pub fn export_person(&self, collection: &str, key: &str) -> Result<PersonExport, GalleryError> {
        let g = self.gallery();
        let person = g.person(collection, key)?;
        let samples = g.samples(collection, Some(key))?;
        let not_this_person = g
            .cluster_faces(collection)?
            .into_iter()
            .filter(|f| f.excluded.iter().any(|p| p == key))
            .map(|f| f.id)
            .collect();
        self.record(
            Event::new(Operation::PersonExport, collection)
                .persons([key])
                .results(samples.len()),
        )?;
        let audit = match self.audit_trail() {
            Some(trail) => trail
                .entries(&Filter {
                    collection: Some(collection.into()),
                    person: Some(key.into()),
                    ..Filter::default()
                })
                .map_err(|e| GalleryError::Audit(e.to_string()))?,
            None => Vec::new(),
        };
        Ok(PersonExport {
            collection: collection.into(),
            exported_at: now(),
            person,
            samples,
            not_this_person,
            audit,
        })
    }

    /// Erases `key` and every sample of theirs from `collection` (as
    /// deletes do: overwritten in the file and its journal, gone from the
    /// indexes) and returns the receipt with its audit entry.
    pub fn erase_person(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<ErasureReceipt, GalleryError> {
        self.writing(collection, |g| {
            let samples_erased = g.delete_person(collection, key)?;
            let entry = self.record(
                Event::new(Operation::Erase, collection)
                    .persons([key])
                    .results(samples_erased),
            )?;
            Ok(ErasureReceipt {
                collection: collection.into(),
                person: key.into(),
                samples_erased,
                erased_at: now(),
                audit_seq: entry.as_ref().map(|e| e.seq),
                audit_hash: entry.map(|e| e.hash),
            })
        })
    }

    /// Sets how many days `collection` keeps samples (`None`: until
    /// deleted); recorded.
    pub fn set_retention(
        &self,
        collection: &str,
        days: Option<u32>,
    ) -> Result<Collection, GalleryError> {
        self.writing(collection, |g| {
            let c = g.set_retention(collection, days)?;
            self.record(
                Event::new(Operation::Retention, collection).results(days.unwrap_or(0) as usize),
            )?;
            Ok(c)
        })
    }

    /// Erases the samples past their collection's retention, in
    /// `collection` or every collection that has one; each collection
    /// that lost samples gets one audit entry.
    pub fn purge(&self, collection: Option<&str>) -> Result<Vec<PurgeReport>, GalleryError> {
        let collections = match collection {
            Some(name) => vec![self.gallery().collection(name)?],
            None => self.gallery().collections()?,
        };
        let mut reports = Vec::new();
        for c in collections {
            let Some(days) = c.retention_days else {
                continue;
            };
            let cutoff = now() - i64::from(days) * 86_400;
            let erased = self.writing(&c.name, |g| {
                let erased = g.erase_enrolled_before(&c.name, cutoff)?;
                if !erased.is_empty() {
                    self.record(
                        Event::new(Operation::Purge, &c.name)
                            .persons(erased.iter().map(|(_, p)| p))
                            .results(erased.len()),
                    )?;
                }
                Ok::<_, GalleryError>(erased)
            })?;
            let mut persons: Vec<String> = erased
                .iter()
                .map(|(_, p)| p.clone())
                .filter(|p| !p.is_empty())
                .collect();
            persons.sort();
            persons.dedup();
            reports.push(PurgeReport {
                collection: c.name,
                retention_days: days,
                cutoff,
                samples_erased: erased.len(),
                persons,
            });
        }
        Ok(reports)
    }
}
