//! Single models, as `model_zoo.get_model` returns them: one file routed
//! by its signature, run on its own.

use std::path::PathBuf;

use facekit_attributes::{BoxCrops, GenderAge, Landmarks};
use facekit_models::{LoadedModel, Route};
use facekit_pipeline::{DetSize, DetectionOptions, Face};
use ndarray::{Array1, Array2};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, face_columns, five_points, pixels};
use crate::errors::{self, FacekitError};

/// An attribute model's outputs and, for gender/age, `(gender, age)`.
type AttributeOutputs<'py> = (Bound<'py, PyArray1<f32>>, Option<(u8, u32)>);
/// A landmark model's points and, for the 3-D model, the head pose.
type LandmarkOutputs<'py> = (Bound<'py, PyArray2<f32>>, Option<Bound<'py, PyArray1<f32>>>);

/// One model file and its task.
#[pyclass(frozen, module = "facekit._facekit")]
pub struct Model {
    model: LoadedModel,
    route: Route,
    file: PathBuf,
}

fn run_error(e: impl Into<anyhow::Error>) -> PyErr {
    FacekitError::new_err(errors::message(e))
}

impl Model {
    fn wrong_task(&self, wanted: &str) -> PyErr {
        PyValueError::new_err(format!(
            "{} is a {} model, not {wanted}",
            self.file.display(),
            self.route.kind.task()
        ))
    }
}

#[pymethods]
impl Model {
    /// Loads and routes `file`; `None` when its signature matches no task
    /// facekit runs (InsightFace's `get_model` returns `None` too).
    #[staticmethod]
    #[pyo3(signature = (file, library, threads = None, providers = None))]
    fn load(
        py: Python<'_>,
        file: PathBuf,
        library: PathBuf,
        threads: Option<usize>,
        providers: Option<Vec<String>>,
    ) -> PyResult<Option<Self>> {
        let providers = crate::analysis::providers(providers)?;
        let loaded = py
            .detach(|| {
                LoadedModel::load(
                    &crate::analysis::runtime(library, threads, providers)?,
                    &file,
                )
            })
            .map_err(errors::pack)?;
        Ok(loaded.map(|(model, route)| Self { model, route, file }))
    }

    /// InsightFace's `taskname`.
    #[getter]
    fn taskname(&self) -> String {
        self.route.kind.task()
    }

    /// The model file.
    #[getter]
    fn file(&self) -> PathBuf {
        self.file.clone()
    }

    /// `(width, height)` of a fixed input, else `None`.
    #[getter]
    fn input_size(&self) -> Option<(u32, u32)> {
        self.route.input_size
    }

    /// Value subtracted from each 0–255 pixel.
    #[getter]
    fn input_mean(&self) -> f32 {
        self.route.mean
    }

    /// Value the difference is divided by.
    #[getter]
    fn input_std(&self) -> f32 {
        self.route.std
    }

    /// Detects faces; columns `bbox`, `det_score`, `kps` (see the analyzer).
    #[pyo3(signature = (img, rgb, det_thresh, input_size = None, max_num = 0, det_metric = "default"))]
    #[allow(clippy::too_many_arguments)]
    fn detect<'py>(
        &self,
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        rgb: bool,
        det_thresh: f32,
        input_size: Option<(u32, u32)>,
        max_num: usize,
        det_metric: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let LoadedModel::Detector(detector) = &self.model else {
            return Err(self.wrong_task("detection"));
        };
        let options = DetectionOptions {
            det_size: input_size.map_or(DetSize::Auto, |(w, h)| DetSize::fixed(w, h)),
            score_threshold: Some(det_thresh),
            max_num,
            metric: crate::analysis::metric(det_metric)?,
            ..DetectionOptions::default()
        };
        let src = pixels(img, !rgb)?;
        let found = py
            .detach(|| detector.detect(&src, &options))
            .map_err(run_error)?;
        let faces: Vec<Face> = found.into_iter().map(Face::from).collect();
        face_columns(py, &faces)
    }

    /// The raw embedding of the face with landmarks `kps` (aligned with
    /// `norm_crop` at the model's input size).
    fn embed<'py>(
        &self,
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        rgb: bool,
        kps: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let LoadedModel::Recognizer(rec) = &self.model else {
            return Err(self.wrong_task("recognition"));
        };
        let (src, kps) = (pixels(img, !rgb)?, five_points(kps)?);
        let embedding = py
            .detach(|| -> anyhow::Result<Vec<f32>> {
                let crop = rec.align(&src, &kps)?;
                Ok(rec.embed_aligned(&[crop])?.remove(0))
            })
            .map_err(|e| FacekitError::new_err(format!("{e:#}")))?;
        Ok(PyArray1::from_owned_array(py, Array1::from(embedding)))
    }

    /// Raw embeddings of aligned crops at the model's input size, one row each.
    fn get_feat<'py>(
        &self,
        py: Python<'py>,
        crops: Vec<Bound<'py, PyAny>>,
        rgb: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let LoadedModel::Recognizer(rec) = &self.model else {
            return Err(self.wrong_task("recognition"));
        };
        let size = rec.input_size();
        let images = crops
            .iter()
            .map(|c| {
                let img = pixels(c, !rgb)?;
                if (img.width(), img.height()) != (size, size) {
                    return Err(PyValueError::new_err(format!(
                        "an aligned crop for {} must be {size}×{size}; got {}×{}",
                        self.file.display(),
                        img.width(),
                        img.height()
                    )));
                }
                Ok(img)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let embeddings = py
            .detach(|| rec.embed_aligned(&images))
            .map_err(run_error)?;
        let width = rec.dimension();
        Ok(PyArray2::from_owned_array(
            py,
            Array2::from_shape_vec((embeddings.len(), width), embeddings.concat())
                .map_err(run_error)?,
        ))
    }

    /// An attribute model's outputs for the face in `bbox`, and for a
    /// gender/age model `(gender, age)` as InsightFace reads them.
    fn attribute<'py>(
        &self,
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        rgb: bool,
        bbox: &Bound<'py, PyAny>,
    ) -> PyResult<AttributeOutputs<'py>> {
        let LoadedModel::Attribute(model) = &self.model else {
            return Err(self.wrong_task("an attribute task"));
        };
        let (src, bbox) = (pixels(img, !rgb)?, arrays::bbox(bbox)?);
        let outputs = py
            .detach(|| model.predict(&mut BoxCrops::new(&src, &[bbox])))
            .map_err(run_error)?
            .remove(0);
        let genderage = GenderAge::from_outputs(&outputs).map(|g| (g.gender.index(), g.age));
        Ok((PyArray1::from_vec(py, outputs), genderage))
    }

    /// A landmark model's points for the face in `bbox` (`(N, 2)` or
    /// `(N, 3)`), and for the 3-D model the head pose `(pitch, yaw, roll)`.
    fn landmarks<'py>(
        &self,
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        rgb: bool,
        bbox: &Bound<'py, PyAny>,
    ) -> PyResult<LandmarkOutputs<'py>> {
        let LoadedModel::Landmark(model) = &self.model else {
            return Err(self.wrong_task("a landmark task"));
        };
        let (src, bbox) = (pixels(img, !rgb)?, arrays::bbox(bbox)?);
        let found = py
            .detach(|| model.predict(&mut BoxCrops::new(&src, &[bbox])))
            .map_err(run_error)?
            .remove(0);
        Ok(match found {
            Landmarks::TwoD(points) => {
                let flat: Vec<f32> = points.iter().flat_map(|p| [p.x, p.y]).collect();
                (
                    PyArray2::from_owned_array(
                        py,
                        Array2::from_shape_vec((points.len(), 2), flat).map_err(run_error)?,
                    ),
                    None,
                )
            }
            Landmarks::ThreeD { points, pose } => (
                PyArray2::from_owned_array(
                    py,
                    Array2::from_shape_vec((points.len(), 3), points.concat())
                        .map_err(run_error)?,
                ),
                Some(PyArray1::from_vec(
                    py,
                    vec![pose.pitch, pose.yaw, pose.roll],
                )),
            ),
        })
    }
}
