//! Who each track is: its best faces (spread in time) are matched one by
//! one, and a track is confirmed as a person only when at least two of its
//! samples agree on that person at or above the threshold and they
//! outnumber, two to one, the samples that name someone else. One noisy
//! frame never decides.

use std::path::Path;

use facekit_core::{cosine_similarity, l2_normalized};
use facekit_pipeline::FaceAnalyzer;

use crate::VideoError;
use crate::analyze::AnalysedTrack;
use crate::plan::{Identity, IdentityStatus};

/// Samples that must agree for a confirmation.
pub const MIN_AGREEING: u32 = 2;

/// Finds the best-matching person of one embedding.
pub trait Matcher {
    /// The best person and its similarity, if any person is known.
    fn best(&self, embedding: &[f32]) -> Result<Option<(String, f32)>, VideoError>;
}

/// Reference photos: one person per file (named by its stem) or per
/// sub-folder (named by the folder, every photo in it a sample).
#[derive(Debug, Default)]
pub struct References {
    people: Vec<(String, Vec<f32>)>,
}

impl References {
    /// Embeds the largest face of every photo under `dir`.
    pub fn load(dir: &Path, analyzer: &FaceAnalyzer) -> Result<Self, VideoError> {
        let io = |e: std::io::Error| VideoError::Io {
            what: format!("reading {}", dir.display()),
            source: e,
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        let mut people = Vec::new();
        for path in entries {
            let (person, photos) = if path.is_dir() {
                let mut photos: Vec<_> = std::fs::read_dir(&path)
                    .map_err(io)?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                photos.sort();
                (
                    path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    photos,
                )
            } else {
                (
                    path.file_stem().map(|n| n.to_string_lossy().into_owned()),
                    vec![path.clone()],
                )
            };
            let Some(person) = person else { continue };
            for photo in photos {
                let faces = analyzer.analyze_file(&photo)?;
                let embedding = faces.largest().and_then(|f| f.embedding).ok_or_else(|| {
                    VideoError::Invalid(format!(
                        "{}: no face to use as a reference",
                        photo.display()
                    ))
                })?;
                people.push((person.clone(), l2_normalized(&embedding)));
            }
        }
        if people.is_empty() {
            return Err(VideoError::Invalid(format!(
                "{}: no reference photos",
                dir.display()
            )));
        }
        Ok(Self { people })
    }

    /// The people named, sorted, each once.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.people.iter().map(|(n, _)| n.clone()).collect();
        names.dedup();
        names
    }
}

impl Matcher for References {
    fn best(&self, embedding: &[f32]) -> Result<Option<(String, f32)>, VideoError> {
        let e = l2_normalized(embedding);
        Ok(self
            .people
            .iter()
            .map(|(name, r)| (name, cosine_similarity(&e, r)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(n, s)| (n.clone(), s)))
    }
}

/// Decides the identity of every track from its best faces' embeddings.
pub fn identify(
    tracks: &mut [AnalysedTrack],
    matcher: &dyn Matcher,
    threshold: f32,
) -> Result<(), VideoError> {
    for t in tracks {
        let mut votes: Vec<(String, u32, f32)> = Vec::new();
        for e in &t.embeddings {
            let Some((person, score)) = matcher.best(e)? else {
                continue;
            };
            if score < threshold {
                continue;
            }
            match votes.iter_mut().find(|(p, _, _)| *p == person) {
                Some(v) => {
                    v.1 += 1;
                    v.2 = v.2.max(score);
                }
                None => votes.push((person, 1, score)),
            }
        }
        votes.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)));
        let others: u32 = votes.iter().skip(1).map(|v| v.1).sum();
        let samples = t.embeddings.len() as u32;
        t.track.identity = match votes.first() {
            Some((person, n, score)) if *n >= MIN_AGREEING && *n >= 2 * others => Identity {
                status: IdentityStatus::Confirmed,
                person: Some(person.clone()),
                score: Some(*score),
                votes: *n,
                samples,
            },
            Some((person, n, score)) if others > 0 => Identity {
                status: IdentityStatus::Conflict,
                person: Some(person.clone()),
                score: Some(*score),
                votes: *n,
                samples,
            },
            _ => Identity {
                samples,
                ..Identity::default()
            },
        };
    }
    Ok(())
}
