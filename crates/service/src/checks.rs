//! The checks a face passes before it is enrolled, identified or verified:
//! liveness (a printed or replayed face is refused in `normal` mode) and
//! the enrollment review (quality limits, and under `strict` the fit of the
//! new sample to its person and to no other).

use facekit_audit::{Event, Operation};
use facekit_gallery::{
    EmbeddingContract, EnrollCandidate, FaceGallery, GalleryError, PersonInfo, ReviewMode,
};
use facekit_pipeline::{Face, FaceRecord};
use facekit_quality::{Refusal, review};
use serde::{Deserialize, Serialize};

use crate::FaceService;

/// What happens to faces the liveness models call spoofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LivenessPolicy {
    /// Not checked.
    Off,
    /// Checked and reported; nothing is refused.
    Observe,
    /// A spoofed face is not enrolled, identified or verified.
    Normal,
}

impl LivenessPolicy {
    /// The policy `requested` (default: `normal` when the analyzer checks
    /// liveness, else `off`); asking to check without liveness models is an
    /// error, never a silent pass.
    pub fn resolve(requested: Option<Self>, checks_liveness: bool) -> Result<Self, String> {
        match requested {
            None if checks_liveness => Ok(Self::Normal),
            None => Ok(Self::Off),
            Some(Self::Off) => Ok(Self::Off),
            Some(p) if checks_liveness => Ok(p),
            Some(p) => Err(format!(
                "liveness '{p:?}' needs liveness models in the pack (Silent-Face's 2.7_80x80_MiniFASNetV2.onnx and 4_0_0_80x80_MiniFASNetV1SE.onnx)"
            )),
        }
    }
}

facekit_core::from_words!(LivenessPolicy, "liveness", {
    "off" => Off, "observe" => Observe, "normal" => Normal
});

/// A photo refused because a face in it is a presentation attack.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "spoof_detected: {spoofed} of {faces} faces look printed or replayed (real score {real_score:.3}, under the fused verdict's real class)"
)]
pub struct SpoofDetected {
    /// Faces judged spoofed.
    pub spoofed: usize,
    /// Faces checked.
    pub faces: usize,
    /// The lowest real score among the spoofed faces.
    pub real_score: f64,
}

/// Refuses the photo under `normal` when any of its faces is spoofed: a
/// presentation attack taints the whole probe.
pub fn refuse_spoofs(faces: &[Face], policy: LivenessPolicy) -> Result<(), SpoofDetected> {
    if policy != LivenessPolicy::Normal {
        return Ok(());
    }
    let spoofed: Vec<f64> = faces
        .iter()
        .filter_map(|f| f.liveness.as_ref())
        .filter(|l| !l.is_real)
        .map(|l| l.real_score)
        .collect();
    if spoofed.is_empty() {
        return Ok(());
    }
    Err(SpoofDetected {
        spoofed: spoofed.len(),
        faces: faces.len(),
        real_score: spoofed.iter().copied().fold(f64::INFINITY, f64::min),
    })
}

/// How one enrollment is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrollChecks {
    /// The review level (`None`: the collection's default).
    pub review: Option<ReviewMode>,
    /// What spoofed faces do.
    pub liveness: LivenessPolicy,
    /// The match threshold `strict` compares with.
    pub threshold: f32,
}

/// An enrolled sample and its face.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolledSample {
    /// Sample id (for deleting it).
    pub id: i64,
    /// The face it came from.
    pub face: FaceRecord,
}

/// A face the checks refused.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedFace {
    /// The face, with its quality and liveness.
    pub face: FaceRecord,
    /// Every reason, in the order checked.
    pub refusals: Vec<Refusal>,
}

/// What an enrollment did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollReport {
    /// The review level applied.
    pub review: ReviewMode,
    /// The samples stored, committed, in order.
    pub enrolled: Vec<EnrolledSample>,
    /// The faces refused.
    pub refused: Vec<RefusedFace>,
}

impl EnrollReport {
    /// Whether any refused face was a spoof.
    pub fn spoof_refused(&self) -> bool {
        self.refused
            .iter()
            .any(|r| r.refusals.iter().any(|x| x.reason == "spoof_detected"))
    }

    /// The ids stored, or why nothing was (`refused (standard review): …`).
    pub fn enrolled_ids(&self) -> Result<Vec<i64>, String> {
        if self.enrolled.is_empty() {
            return Err(format!(
                "refused ({} review): {}",
                self.review,
                self.refusal_summary()
            ));
        }
        Ok(self.enrolled.iter().map(|s| s.id).collect())
    }

    /// The refusals in one line (`reason: message; …`).
    pub fn refusal_summary(&self) -> String {
        self.refused
            .iter()
            .flat_map(|r| &r.refusals)
            .map(|r| format!("{}: {}", r.reason, r.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl FaceService {
    /// Checks a photo's enrollment candidates and enrolls those that pass
    /// to `person` (created on first use) in one transaction. Strict
    /// review reads the gallery under the collection's write lock, so two
    /// enrollments of one collection cannot pass on each other's stale view.
    pub fn enroll_candidates(
        &self,
        collection: &str,
        contract: &EmbeddingContract,
        person: &PersonInfo,
        candidates: Vec<EnrollCandidate>,
        checks: &EnrollChecks,
    ) -> Result<EnrollReport, GalleryError> {
        self.writing(collection, |g| {
            let level = match checks.review {
                Some(level) => level,
                None => g.collection(collection)?.review,
            };
            let (mut accepted, mut refused) = (Vec::new(), Vec::new());
            for candidate in candidates {
                let refusals = check(
                    g,
                    collection,
                    contract,
                    &person.key,
                    &candidate,
                    level,
                    checks,
                )?;
                if refusals.is_empty() {
                    accepted.push(candidate);
                } else {
                    refused.push(RefusedFace {
                        face: FaceRecord::new(&candidate.face, false),
                        refusals,
                    });
                }
            }
            let samples: Vec<_> = accepted.iter().map(|c| c.sample.clone()).collect();
            let ids = if samples.is_empty() {
                Vec::new()
            } else {
                g.enroll(collection, contract, person, &samples)?
            };
            self.record(
                Event::new(Operation::Enroll, collection)
                    .persons([&person.key])
                    .results(ids.len()),
            )?;
            Ok(EnrollReport {
                review: level,
                enrolled: ids
                    .into_iter()
                    .zip(accepted)
                    .map(|(id, c)| EnrolledSample {
                        id,
                        face: FaceRecord::new(&c.face, false),
                    })
                    .collect(),
                refused,
            })
        })
    }
}

/// Every reason to refuse one candidate.
fn check(
    g: &dyn FaceGallery,
    collection: &str,
    contract: &EmbeddingContract,
    person: &str,
    candidate: &EnrollCandidate,
    level: ReviewMode,
    checks: &EnrollChecks,
) -> Result<Vec<Refusal>, GalleryError> {
    let mut refusals = Vec::new();
    if let Err(spoof) = refuse_spoofs(std::slice::from_ref(&candidate.face), checks.liveness) {
        refusals.push(Refusal {
            reason: "spoof_detected",
            message: format!(
                "the face looks printed or replayed (real score {:.3})",
                spoof.real_score
            ),
        });
    }
    if let Some(quality) = &candidate.face.quality {
        refusals.extend(review(quality, level));
    }
    if level == ReviewMode::Strict && refusals.is_empty() {
        refusals.extend(fit_to_person(
            g,
            collection,
            contract,
            person,
            &candidate.sample.embedding,
            checks.threshold,
        )?);
    }
    Ok(refusals)
}

/// Strict review's gallery checks: the sample must not be closer to
/// another person than to its own, and must match its own person's
/// existing samples.
fn fit_to_person(
    g: &dyn FaceGallery,
    collection: &str,
    contract: &EmbeddingContract,
    person: &str,
    embedding: &[f32],
    threshold: f32,
) -> Result<Vec<Refusal>, GalleryError> {
    let own_samples = match g.person(collection, person) {
        Ok(p) => p.samples,
        Err(GalleryError::NoSuchPerson { .. }) => 0,
        Err(e) => return Err(e),
    };
    let own = if own_samples > 0 {
        Some(
            g.verify(collection, contract, person, embedding, threshold)?
                .score,
        )
    } else {
        None
    };
    let mut refusals = Vec::new();
    let found = g.identify(collection, contract, embedding, 2, threshold)?;
    if let Some(other) = found.matches.iter().find(|m| m.key != person)
        && other.score >= threshold
        && own.is_none_or(|own| other.score > own)
    {
        refusals.push(Refusal {
            reason: "closer_to_other_person",
            message: format!(
                "the face matches person '{}' (similarity {:.3}) better than '{person}' ({})",
                other.key,
                other.score,
                own.map_or("no samples yet".to_string(), |s| format!("{s:.3}"))
            ),
        });
    }
    if let Some(own) = own
        && own < threshold
    {
        refusals.push(Refusal {
            reason: "far_from_own_samples",
            message: format!(
                "the face's best similarity to '{person}''s {own_samples} samples is {own:.3}, under {threshold}"
            ),
        });
    }
    Ok(refusals)
}
