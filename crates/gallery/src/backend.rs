//! The gallery operations as a trait, so that a distributed engine can stand
//! in for the embedded SQLite [`Gallery`](crate::Gallery): a backend provides
//! storage and nearest-sample search; enrolling, identifying, verifying and
//! exporting are built on those once, here.

use std::io::Write;

use facekit_core::{cosine_similarity, l2_normalized};

use crate::{
    ClusterFace, Collection, Edit, EmbeddingContract, GalleryError, GalleryStats, Identification,
    IndexKind, NewSample, Person, PersonInfo, PersonMatch, ReviewMode, Sample, Verification,
};

fn summary(c: &EmbeddingContract) -> String {
    let sha: String = c.model_sha256.chars().take(12).collect();
    format!("sha256 {sha}…, {}-d, {}", c.dimension, c.preprocessing)
}

/// `(old id, new id)` of the samples a backend re-inserted to move them
/// (Milvus 2.3 cannot update a row in place); always empty for the
/// embedded store, whose ids never change.
pub type Renumbered = Vec<(i64, i64)>;

/// Longest embedding a collection may take (ArcFace's is 512).
pub const MAX_DIMENSION: usize = 8192;

/// Refuses a contract no collection should be pinned to: a dimension of 0
/// or over [`MAX_DIMENSION`], an empty or oversized model hash, an
/// oversized preprocessing description.
pub fn check_new_contract(c: &EmbeddingContract) -> Result<(), GalleryError> {
    let problem = if c.dimension == 0 || c.dimension > MAX_DIMENSION {
        format!("dimension {} is outside 1 to {MAX_DIMENSION}", c.dimension)
    } else if c.model_sha256.is_empty() || c.model_sha256.len() > 128 {
        "model_sha256 must be 1 to 128 characters".to_string()
    } else if c.preprocessing.len() > 1024 {
        "preprocessing must be at most 1024 bytes".to_string()
    } else {
        return Ok(());
    };
    Err(GalleryError::Invalid(format!(
        "embedding contract: {problem}"
    )))
}

/// Refuses a caller whose model is not the collection's.
pub fn check_contract(c: &Collection, contract: &EmbeddingContract) -> Result<(), GalleryError> {
    if &c.contract != contract {
        return Err(GalleryError::ContractMismatch {
            collection: c.name.clone(),
            expected: summary(&c.contract),
            got: summary(contract),
        });
    }
    Ok(())
}

/// Refuses an empty person key.
pub fn check_key(key: &str) -> Result<(), GalleryError> {
    if key.trim().is_empty() {
        return Err(GalleryError::Invalid(
            "a person needs a non-empty key".into(),
        ));
    }
    Ok(())
}

/// Refuses a vector of the wrong length, or one that cannot be normalised.
pub fn check_vector(c: &Collection, v: &[f32]) -> Result<(), GalleryError> {
    if v.len() != c.contract.dimension {
        return Err(GalleryError::WrongDimension {
            collection: c.name.clone(),
            expected: c.contract.dimension,
            got: v.len(),
        });
    }
    // The norm too: values near f32::MAX are finite but their squares are not.
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if v.iter().any(|x| !x.is_finite()) || !norm.is_finite() || norm == 0.0 {
        return Err(GalleryError::Invalid(
            "embedding is zero, not finite, or too large to normalise".into(),
        ));
    }
    Ok(())
}

/// A face gallery backend: collections pinned to an embedding contract,
/// persons, samples, and nearest-sample search with exact cosine scores.
///
/// Every method takes `&self`: a backend is shared by threads (searches in
/// parallel) and does its own locking, and sees what other processes
/// sharing its storage committed.
pub trait FaceGallery: Send + Sync {
    /// Creates a collection pinned to `contract`, its enrollments
    /// unreviewed by default.
    fn create_collection(
        &self,
        name: &str,
        contract: &EmbeddingContract,
        index: IndexKind,
    ) -> Result<Collection, GalleryError> {
        self.create_collection_with_review(name, contract, index, ReviewMode::Off)
    }

    /// Creates a collection pinned to `contract` whose enrollments are
    /// reviewed at `review` unless a call says otherwise (fixed for the
    /// collection's life, like its contract).
    fn create_collection_with_review(
        &self,
        name: &str,
        contract: &EmbeddingContract,
        index: IndexKind,
        review: ReviewMode,
    ) -> Result<Collection, GalleryError>;

    /// The collection called `name`.
    fn collection(&self, name: &str) -> Result<Collection, GalleryError>;

    /// Every collection, by name.
    fn collections(&self) -> Result<Vec<Collection>, GalleryError>;

    /// Every person of a collection, by key, with sample counts.
    fn persons(&self, collection: &str) -> Result<Vec<Person>, GalleryError>;

    /// One person of a collection, with their sample count.
    fn person(&self, collection: &str, key: &str) -> Result<Person, GalleryError>;

    /// Creates a person without samples; refuses a key already taken.
    fn create_person(&self, collection: &str, person: &PersonInfo) -> Result<Person, GalleryError>;

    /// Changes a person's display name and/or metadata.
    fn update_person(
        &self,
        collection: &str,
        key: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Person, GalleryError>;

    /// Every sample of a collection, or of one person, in enrollment order.
    fn samples(&self, collection: &str, person: Option<&str>) -> Result<Vec<Sample>, GalleryError>;

    /// Adds samples of any persons (created on first use, name and metadata
    /// updated) in one transaction; returns the sample ids, in order, once
    /// committed. All or nothing.
    fn enroll_batch(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        items: &[(&PersonInfo, &NewSample)],
    ) -> Result<Vec<i64>, GalleryError>;

    /// The `k` samples most similar to `embedding`, best first, each with its
    /// person and exact cosine similarity.
    fn nearest_samples(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        k: usize,
    ) -> Result<Vec<PersonMatch>, GalleryError>;

    /// Deletes one sample, erasing it.
    fn delete_sample(&self, collection: &str, sample: i64) -> Result<(), GalleryError>;

    /// Deletes a person and all their samples, erasing them; returns how
    /// many samples went.
    fn delete_person(&self, collection: &str, person: &str) -> Result<usize, GalleryError>;

    /// Deletes a collection with everything in it, erasing it.
    fn delete_collection(&self, collection: &str) -> Result<(), GalleryError>;

    /// Counts and index size of a collection.
    fn stats(&self, collection: &str) -> Result<GalleryStats, GalleryError>;

    /// Adds faces of no person yet (a photo library's import) for
    /// clustering to place; returns their ids once committed.
    fn enroll_unassigned(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        samples: &[NewSample],
    ) -> Result<Vec<i64>, GalleryError>;

    /// Every face of a collection as clustering sees it, in id order.
    fn cluster_faces(&self, collection: &str) -> Result<Vec<ClusterFace>, GalleryError>;

    /// The embeddings of some samples of a collection, as enrolled
    /// (ids it does not hold are left out).
    fn sample_embeddings(
        &self,
        collection: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, Vec<f32>)>, GalleryError>;

    /// For each query, the `k` most similar samples of the collection,
    /// assigned or not, best first, with exact cosine similarities.
    fn neighbours(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<(i64, f32)>>, GalleryError>;

    /// Applies `edits` in order, all or nothing where the backend has
    /// transactions (the embedded store); an edit naming a sample that an
    /// earlier one renumbered follows it. Returns the renumbering.
    fn apply_edits(&self, collection: &str, edits: &[Edit]) -> Result<Renumbered, GalleryError>;

    /// Adds samples to one person in one transaction.
    fn enroll(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        person: &PersonInfo,
        samples: &[NewSample],
    ) -> Result<Vec<i64>, GalleryError> {
        let items: Vec<(&PersonInfo, &NewSample)> = samples.iter().map(|s| (person, s)).collect();
        self.enroll_batch(collection, contract, &items)
    }

    /// The `k` most similar persons (each scored by their best sample) and
    /// the top one if it reaches `threshold` (else unknown).
    fn identify(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        embedding: &[f32],
        k: usize,
        threshold: f32,
    ) -> Result<Identification, GalleryError> {
        // Persons can own many samples: widen the sample search until k persons are found.
        let mut want = (k * 8).max(64);
        loop {
            let nearest = self.nearest_samples(collection, contract, embedding, want)?;
            let exhausted = nearest.len() < want;
            let mut matches: Vec<PersonMatch> = Vec::new();
            for m in nearest {
                if matches.iter().all(|x| x.key != m.key) {
                    matches.push(m);
                }
            }
            if matches.len() >= k || exhausted {
                matches.truncate(k);
                let best = matches.first().filter(|m| m.score >= threshold).cloned();
                return Ok(Identification { matches, best });
            }
            want *= 4;
        }
    }

    /// Compares an embedding with one person's samples (best sample counts).
    fn verify(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        person: &str,
        embedding: &[f32],
        threshold: f32,
    ) -> Result<Verification, GalleryError> {
        let c = self.collection(collection)?;
        check_contract(&c, contract)?;
        check_vector(&c, embedding)?;
        let query = l2_normalized(embedding);
        let score = self
            .samples(collection, Some(person))?
            .iter()
            .map(|s| cosine_similarity(&query, &s.embedding))
            .fold(f32::NEG_INFINITY, f32::max);
        Ok(Verification {
            score,
            same: score >= threshold,
        })
    }

    /// Sets how many days a collection keeps its samples (`None`: until
    /// deleted). Backends that cannot store it refuse.
    fn set_retention(
        &self,
        collection: &str,
        days: Option<u32>,
    ) -> Result<Collection, GalleryError> {
        let _ = days;
        self.collection(collection)?;
        Err(GalleryError::Invalid(
            "this gallery backend keeps no retention period: use a gallery file".into(),
        ))
    }

    /// Erases every sample of a collection enrolled before `before` (Unix
    /// seconds), as deletes do; returns `(sample id, person key)` of each.
    fn erase_enrolled_before(
        &self,
        collection: &str,
        before: i64,
    ) -> Result<Vec<(i64, String)>, GalleryError> {
        let old: Vec<(i64, String)> = self
            .samples(collection, None)?
            .into_iter()
            .filter(|s| s.created_at < before)
            .map(|s| (s.id, s.person))
            .collect();
        for (id, _) in &old {
            self.delete_sample(collection, *id)?;
        }
        Ok(old)
    }

    /// Writes a collection as JSON lines (header, then samples in
    /// enrollment order); returns the number of samples.
    fn export(&self, collection: &str, out: &mut dyn Write) -> Result<usize, GalleryError> {
        crate::transfer::export_collection(self, collection, out, None)
    }
}
