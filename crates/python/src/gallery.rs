//! `facekit.Gallery`: the identity gallery (a SQLite file or Milvus) through
//! the service the CLI and the server use. Records come back as the JSON
//! the CLI prints, parsed into Python values.

use std::str::FromStr;

use facekit_core::sha256_hex;
use facekit_gallery::{
    EmbeddingContract, EnrollCandidate, EnrollFilter, GalleryError as LibGalleryError, IndexKind,
    PersonInfo, enrollment_candidates, enrollment_faces,
};
use facekit_pipeline::{FaceAnalyzer, ImageFaces};
use facekit_quality::ReviewMode;
use facekit_service::{EnrollChecks, FaceService, LivenessPolicy, refuse_spoofs};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::analysis::Analyzer;
use crate::arrays::{ImageInput, PipelineFailure};
use crate::errors::{self, FacekitError, GalleryError};

/// The default cosine threshold, as the CLI's `--threshold`.
const DEFAULT_THRESHOLD: f32 = 0.3;

/// An open gallery.
#[pyclass(frozen, module = "facekit._facekit")]
pub struct Gallery {
    service: FaceService,
}

fn json<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| FacekitError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

fn parse<T: FromStr>(value: &str) -> PyResult<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| PyValueError::new_err(e.to_string()))
}

fn liveness(analyzer: &FaceAnalyzer, requested: Option<&str>) -> PyResult<LivenessPolicy> {
    let requested = requested.map(parse::<LivenessPolicy>).transpose()?;
    LivenessPolicy::resolve(requested, analyzer.checks_liveness()).map_err(PyValueError::new_err)
}

/// A probe photo for identify and verify: the contract, the photo's faces
/// (refused when the liveness policy finds a spoof) and its name for errors.
fn probe(
    py: Python<'_>,
    app: &Analyzer,
    image: &Bound<'_, PyAny>,
    rgb: bool,
    requested: Option<&str>,
) -> PyResult<(EmbeddingContract, ImageFaces, String)> {
    let (analyzer, contract) = (app.analyzer(), app.contract()?);
    let policy = liveness(analyzer, requested)?;
    let input = ImageInput::extract(image, rgb)?;
    let label = input
        .path()
        .map_or("the image".to_string(), |p| p.display().to_string());
    let photo = analyze(py, analyzer, input)?;
    refuse_spoofs(&photo.faces, policy)
        .map_err(|e| GalleryError::new_err(format!("{label}: {e}")))?;
    Ok((contract, photo, label))
}

/// The faces of an image argument, naming the file in errors.
fn analyze(py: Python<'_>, analyzer: &FaceAnalyzer, input: ImageInput) -> PyResult<ImageFaces> {
    let path = input.path().cloned();
    py.detach(|| -> Result<ImageFaces, PipelineFailure> {
        let img = input.load(&analyzer.options().limits).map_err(|(_, e)| e)?;
        let faces = analyzer.analyze(&img)?;
        Ok(ImageFaces {
            width: img.width(),
            height: img.height(),
            faces,
        })
    })
    .map_err(|e| e.into_py(path.as_ref()))
}

#[pymethods]
impl Gallery {
    /// Opens (creating when missing) the gallery at `address`: a file path
    /// or `milvus://HOST:PORT[?tls=true&database=NAME]`.
    #[new]
    fn new(py: Python<'_>, address: String) -> PyResult<Self> {
        let service = py
            .detach(|| FaceService::open(&address))
            .map_err(errors::gallery)?;
        Ok(Self { service })
    }

    /// Creates a collection for the recognizer of `app`'s pack.
    #[pyo3(signature = (name, app, index = "exact", review = "off"))]
    fn create_collection<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        app: PyRef<'py, Analyzer>,
        index: &str,
        review: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let contract = app.contract()?;
        let (index, review) = (parse::<IndexKind>(index)?, parse::<ReviewMode>(review)?);
        let created = py
            .detach(|| {
                self.service
                    .create_collection(name, &contract, index, review)
            })
            .map_err(errors::gallery)?;
        json(py, &created)
    }

    /// Every collection.
    fn collections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json(
            py,
            &self
                .service
                .gallery()
                .collections()
                .map_err(errors::gallery)?,
        )
    }

    /// Deletes a collection and erases its samples.
    fn delete_collection(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.service.delete_collection(name))
            .map_err(errors::gallery)
    }

    /// The persons of a collection.
    fn persons<'py>(&self, py: Python<'py>, collection: &str) -> PyResult<Bound<'py, PyAny>> {
        json(
            py,
            &self
                .service
                .gallery()
                .persons(collection)
                .map_err(errors::gallery)?,
        )
    }

    /// Enrolls the largest face of `image` (every qualifying face with
    /// `all_faces`) as `person`, after the review and liveness checks;
    /// returns the new sample ids.
    #[pyo3(signature = (collection, person, image, app, name = None, rgb = false, all_faces = false,
        min_face = 32.0, min_score = 0.5, review = None, liveness = None, threshold = DEFAULT_THRESHOLD))]
    #[allow(clippy::too_many_arguments)]
    fn enroll(
        &self,
        py: Python<'_>,
        collection: &str,
        person: &str,
        image: &Bound<'_, PyAny>,
        app: PyRef<'_, Analyzer>,
        name: Option<String>,
        rgb: bool,
        all_faces: bool,
        min_face: f32,
        min_score: f32,
        review: Option<&str>,
        liveness: Option<&str>,
        threshold: f32,
    ) -> PyResult<Vec<i64>> {
        let analyzer = app.analyzer();
        let contract = app.contract()?;
        let checks = EnrollChecks {
            review: review.map(parse::<ReviewMode>).transpose()?,
            liveness: self::liveness(analyzer, liveness)?,
            threshold,
        };
        let filter = EnrollFilter {
            all_faces,
            min_size: min_face,
            min_score,
        };
        let mut info = PersonInfo::new(person);
        if let Some(name) = name {
            info.name = name;
        }
        let input = ImageInput::extract(image, rgb)?;
        let label = input.path().map(|p| p.display().to_string());
        let with_label = |text: String| match &label {
            Some(l) => format!("{l}: {text}"),
            None => text,
        };
        let candidates: Vec<EnrollCandidate> = py
            .detach(|| match input.path() {
                Some(path) => enrollment_faces(analyzer, path, &filter),
                // An array has no file: its pixels stand in for the photo's hash.
                None => {
                    let img = input
                        .load(&analyzer.options().limits)
                        .map_err(|(_, e)| e.0)?;
                    enrollment_candidates(analyzer, &img, &sha256_hex(img.as_raw()), &filter)
                }
            })
            .map_err(|e| GalleryError::new_err(with_label(errors::message(e))))?;
        if candidates.is_empty() {
            return Err(GalleryError::new_err(with_label(filter.nothing_found())));
        }
        let report = py
            .detach(|| {
                self.service
                    .enroll_candidates(collection, &contract, &info, candidates, &checks)
            })
            .map_err(errors::gallery)?;
        report
            .enrolled_ids()
            .map_err(|e| GalleryError::new_err(with_label(e)))
    }

    /// Who is each face of `image`: per face with an embedding, its box and
    /// score, the `top_k` persons and the best one at `threshold` or above.
    #[pyo3(signature = (collection, image, app, rgb = false, top_k = 5, threshold = DEFAULT_THRESHOLD, liveness = None))]
    #[allow(clippy::too_many_arguments)]
    fn identify<'py>(
        &self,
        py: Python<'py>,
        collection: &str,
        image: &Bound<'py, PyAny>,
        app: PyRef<'py, Analyzer>,
        rgb: bool,
        top_k: usize,
        threshold: f32,
        liveness: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (contract, photo, _) = probe(py, &app, image, rgb, liveness)?;
        let found = py
            .detach(|| {
                self.service
                    .identify_faces(collection, &contract, &photo.faces, top_k, threshold)
            })
            .map_err(errors::gallery)?;
        json(py, &found)
    }

    /// Is the largest face of `image` `person`? `{score, same, threshold}`.
    #[pyo3(signature = (collection, person, image, app, rgb = false, threshold = DEFAULT_THRESHOLD, liveness = None))]
    #[allow(clippy::too_many_arguments)]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        collection: &str,
        person: &str,
        image: &Bound<'py, PyAny>,
        app: PyRef<'py, Analyzer>,
        rgb: bool,
        threshold: f32,
        liveness: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (contract, photo, label) = probe(py, &app, image, rgb, liveness)?;
        let verified = py
            .detach(|| {
                self.service
                    .verify_largest(collection, &contract, person, photo, threshold)
            })
            .map_err(errors::gallery)?
            .ok_or_else(|| GalleryError::new_err(format!("{label}: no face found")))?;
        json(
            py,
            &serde_json::json!({
                "person": person,
                "score": verified.verification.score,
                "same": verified.verification.same,
                "threshold": threshold,
                "face": verified.face,
            }),
        )
    }

    /// Deletes a person and erases their samples; how many went.
    fn delete_person(&self, py: Python<'_>, collection: &str, person: &str) -> PyResult<usize> {
        py.detach(|| self.service.delete_person(collection, person))
            .map_err(errors::gallery)
    }

    /// Deletes one sample, erasing it.
    fn delete_sample(&self, py: Python<'_>, collection: &str, sample: i64) -> PyResult<()> {
        py.detach(|| self.service.delete_sample(collection, sample))
            .map_err(errors::gallery)
    }

    /// Everything held about one person (record, samples with embeddings,
    /// the audit entries naming them).
    fn export_person<'py>(
        &self,
        py: Python<'py>,
        collection: &str,
        person: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let export = py
            .detach(|| self.service.export_person(collection, person))
            .map_err(errors::gallery)?;
        json(py, &export)
    }

    /// Erases a person and their samples; the receipt.
    fn erase_person<'py>(
        &self,
        py: Python<'py>,
        collection: &str,
        person: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let receipt = py
            .detach(|| self.service.erase_person(collection, person))
            .map_err(errors::gallery)?;
        json(py, &receipt)
    }

    /// Sets a collection's retention in days (`None`: until deleted).
    fn set_retention<'py>(
        &self,
        py: Python<'py>,
        collection: &str,
        days: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = py
            .detach(|| self.service.set_retention(collection, days))
            .map_err(errors::gallery)?;
        json(py, &c)
    }

    /// Erases the samples past retention; one report per collection.
    #[pyo3(signature = (collection = None))]
    fn purge<'py>(&self, py: Python<'py>, collection: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
        let reports = py
            .detach(|| self.service.purge(collection))
            .map_err(errors::gallery)?;
        json(py, &reports)
    }

    /// Audit entries, oldest first.
    #[pyo3(signature = (after = 0, limit = 0, collection = None, person = None))]
    fn audit<'py>(
        &self,
        py: Python<'py>,
        after: i64,
        limit: usize,
        collection: Option<String>,
        person: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = facekit_audit::Filter {
            after,
            limit,
            collection,
            person,
            operation: None,
        };
        let entries = py
            .detach(|| self.trail()?.entries(&filter).map_err(audit_error))
            .map_err(errors::gallery)?;
        json(py, &entries)
    }

    /// Walks the audit trail's chain: `{entries, head, broken}`.
    fn verify_audit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let verified = py
            .detach(|| self.trail()?.verify().map_err(audit_error))
            .map_err(errors::gallery)?;
        json(py, &verified)
    }
}

impl Gallery {
    fn trail(&self) -> Result<&facekit_audit::AuditLog, LibGalleryError> {
        self.service
            .audit_trail()
            .ok_or_else(|| LibGalleryError::Audit("this gallery keeps no audit trail".into()))
    }
}

fn audit_error(e: facekit_audit::AuditError) -> LibGalleryError {
    LibGalleryError::Audit(e.to_string())
}
