//! `FaceAnalysis`'s engine: a loaded pack and its settings, analysing one
//! image or many in parallel with the GIL released.

use std::path::PathBuf;

use facekit_core::MaxNumMetric;
use facekit_models::{DetectorChoice, EntryStatus, ModelPack};
use facekit_pipeline::{AnalyzeOptions, DetSize, DetectionOptions, Face, FaceAnalyzer};
use facekit_runtime::{Provider, Runtime, RuntimeOptions, UnknownProvider};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::arrays::{BatchArgument, ImageInput, PipelineFailure, face_columns};
use crate::errors;

/// `(taskname, file, input (w, h) or None, mean, std)` of a model in use.
type ModelInfo = (String, PathBuf, Option<(u32, u32)>, f32, f32);

/// A model pack loaded for analysis (the engine behind `FaceAnalysis`).
#[pyclass(module = "facekit._facekit")]
pub struct Analyzer {
    analyzer: FaceAnalyzer,
    /// The pack's ONNX Runtime: intra-op threads of a lone `get` (all cores
    /// by default), the execution providers in use and any fallbacks.
    runtime: Runtime,
    /// The recognizer's contract, hashed once (reading the model file) on
    /// the first gallery call rather than on every one.
    contract: std::sync::OnceLock<facekit_gallery::EmbeddingContract>,
}

/// ONNX Runtime as the Python package runs it (`FaceAnalysis` and single
/// models alike): `threads` intra-op threads per model (default: all
/// cores), idle pool threads sleeping, on `providers` (see
/// [`providers`]). Spinning, each model's pool spun on the cores the next
/// model needed: `get` ran at 0.74× InsightFace's images/s spinning and
/// 1.53× not (`scripts/bench_python.py`).
pub fn runtime(
    library: PathBuf,
    threads: Option<usize>,
    providers: Vec<Provider>,
) -> Result<Runtime, facekit_runtime::RuntimeError> {
    Runtime::new(&RuntimeOptions {
        library: Some(library),
        intra_threads: threads,
        no_spinning: true,
        providers,
    })
}

/// InsightFace's `providers=[...]` (ONNX Runtime's names, such as
/// `CUDAExecutionProvider`, or facekit's, such as `cuda`); `None`: CUDA
/// when the installed ONNX Runtime has it, then the CPU.
pub fn providers(names: Option<Vec<String>>) -> PyResult<Vec<Provider>> {
    names
        .unwrap_or_default()
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e: UnknownProvider| PyValueError::new_err(e.to_string()))
        })
        .collect()
}

/// `det_metric`: InsightFace's `'default'` (area, less twice the squared
/// distance from the centre) or `'max'` (area).
pub fn metric(name: &str) -> PyResult<MaxNumMetric> {
    match name {
        "default" => Ok(MaxNumMetric::Default),
        "max" => Ok(MaxNumMetric::Max),
        other => Err(PyValueError::new_err(format!(
            "det_metric must be 'default' or 'max'; got '{other}'"
        ))),
    }
}

impl Analyzer {
    /// The pipeline, for the gallery and evaluation.
    pub fn analyzer(&self) -> &FaceAnalyzer {
        &self.analyzer
    }

    /// The embedding contract of the pack's recognizer.
    pub fn contract(&self) -> PyResult<facekit_gallery::EmbeddingContract> {
        if let Some(c) = self.contract.get() {
            return Ok(c.clone());
        }
        let c = facekit_gallery::contract_of(&self.analyzer).map_err(errors::gallery)?;
        Ok(self.contract.get_or_init(|| c).clone())
    }

    fn detect_options(&self, max_num: usize, det_metric: &str) -> PyResult<DetectionOptions> {
        Ok(DetectionOptions {
            max_num,
            metric: metric(det_metric)?,
            ..self.analyzer.options().detect.clone()
        })
    }
}

/// Analyses one image: decode (a path) and run the pipeline.
fn analyze(
    analyzer: &FaceAnalyzer,
    input: ImageInput,
    detect: &DetectionOptions,
) -> Result<Vec<Face>, (Option<PathBuf>, PipelineFailure)> {
    let path = input.path().cloned();
    let img = input.load(&analyzer.options().limits)?;
    analyzer
        .analyze_using(&img, detect, true)
        .map_err(|e| (path, e.into()))
}

#[pymethods]
impl Analyzer {
    /// Loads every `.onnx` file of `model_dir` with the ONNX Runtime
    /// `library`, keeping the tasks in `allowed_modules` when given.
    #[new]
    #[pyo3(signature = (model_dir, library, allowed_modules = None, threads = None, providers = None))]
    fn new(
        py: Python<'_>,
        model_dir: PathBuf,
        library: PathBuf,
        allowed_modules: Option<Vec<String>>,
        threads: Option<usize>,
        providers: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let providers = self::providers(providers)?;
        let load = || -> Result<(FaceAnalyzer, Runtime), facekit_pipeline::PipelineError> {
            let runtime = runtime(library, threads, providers)?;
            let allowed: Option<Vec<&str>> = allowed_modules
                .as_ref()
                .map(|tasks| tasks.iter().map(String::as_str).collect());
            let pack = ModelPack::load_tasks(
                &runtime,
                &model_dir,
                &DetectorChoice::FirstInPack,
                allowed.as_deref(),
            )?;
            let analyzer = FaceAnalyzer::new(pack, AnalyzeOptions::default());
            Ok((analyzer, runtime))
        };
        let (analyzer, runtime) = py.detach(load).map_err(|e| errors::pipeline(e, None))?;
        Ok(Self {
            analyzer,
            runtime,
            contract: std::sync::OnceLock::new(),
        })
    }

    /// The execution providers in use, best first, in ONNX Runtime's names
    /// (what InsightFace's `session.get_providers()` gives).
    fn providers(&self) -> Vec<&'static str> {
        self.runtime
            .providers()
            .iter()
            .map(|p| p.onnxruntime_name())
            .collect()
    }

    /// Why each provider asked for is not in use (empty when all are).
    fn fallbacks(&self) -> Vec<String> {
        self.runtime.fallbacks()
    }

    /// InsightFace's `prepare`: the detection threshold and input sizes
    /// (`None`: 128×128 and 640×640 merged, InsightFace 2.1's default).
    #[pyo3(signature = (det_thresh, det_sizes = None))]
    fn configure(&mut self, det_thresh: f32, det_sizes: Option<Vec<(u32, u32)>>) -> PyResult<()> {
        if !(0.0..=1.0).contains(&det_thresh) {
            return Err(PyValueError::new_err(format!(
                "det_thresh must be between 0 and 1; got {det_thresh}"
            )));
        }
        if let Some(bad) = det_sizes
            .iter()
            .flatten()
            .find(|(w, h)| *w == 0 || *h == 0 || w % 32 != 0 || h % 32 != 0)
        {
            return Err(PyValueError::new_err(format!(
                "det_size must be multiples of 32 (the detectors' largest stride); got {bad:?}"
            )));
        }
        let detect = &mut self.analyzer.options_mut().detect;
        detect.score_threshold = Some(det_thresh);
        detect.det_size = det_sizes.map_or(DetSize::Auto, DetSize::Sizes);
        Ok(())
    }

    /// The models in use: `(taskname, file, input (w, h) or None, mean, std)`.
    fn models(&self) -> Vec<ModelInfo> {
        self.analyzer
            .pack()
            .entries()
            .iter()
            .filter(|e| e.status == EntryStatus::Used)
            .filter_map(|e| {
                e.route
                    .map(|r| (r.kind.task(), e.file.clone(), r.input_size, r.mean, r.std))
            })
            .collect()
    }

    /// Every file of the pack and what became of it.
    fn entries(&self) -> Vec<(PathBuf, String)> {
        self.analyzer
            .pack()
            .entries()
            .iter()
            .map(|e| (e.file.clone(), e.status.to_string()))
            .collect()
    }

    /// The faces of one image (an array, BGR unless `rgb`, or a path) as
    /// columns (see `face_columns`).
    #[pyo3(signature = (img, rgb = false, max_num = 0, det_metric = "default"))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        rgb: bool,
        max_num: usize,
        det_metric: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let detect = self.detect_options(max_num, det_metric)?;
        let input = ImageInput::extract(img, rgb)?;
        let analyzer = &self.analyzer;
        let faces = py
            .detach(|| analyze(analyzer, input, &detect))
            .map_err(|(path, e)| e.into_py(path.as_ref()))?;
        face_columns(py, &faces)
    }

    /// The faces of many images, analysed in parallel without the GIL; a
    /// failed image gives its exception in its place (the others go on).
    #[pyo3(signature = (images, rgb = false, max_num = 0, det_metric = "default"))]
    fn get_batch<'py>(
        &self,
        py: Python<'py>,
        images: Vec<Bound<'py, PyAny>>,
        rgb: bool,
        max_num: usize,
        det_metric: &str,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let detect = self.detect_options(max_num, det_metric)?;
        let arguments = images
            .iter()
            .map(BatchArgument::extract)
            .collect::<PyResult<Vec<_>>>()?;
        let inputs = arguments
            .iter()
            .map(|a| a.input(rgb))
            .collect::<PyResult<Vec<_>>>()?;
        let analyzer = &self.analyzer;
        // One worker per core, each with its share of the intra-op threads:
        // all-cores sessions side by side made the batch slower than `get`.
        let per_worker = (self.runtime.intra_threads() / rayon::current_num_threads()).max(1);
        let results: Vec<_> = py.detach(|| {
            inputs
                .into_par_iter()
                .map(|input| {
                    facekit_runtime::with_intra_threads(per_worker, || {
                        analyze(analyzer, input, &detect)
                    })
                })
                .collect()
        });
        results
            .into_iter()
            .map(|result| match result {
                Ok(faces) => Ok(face_columns(py, &faces)?.into_any()),
                Err((path, e)) => Ok(e
                    .into_py(path.as_ref())
                    .into_value(py)
                    .into_bound(py)
                    .into_any()),
            })
            .collect()
    }
}
