use std::fmt;
use std::path::{Path, PathBuf};

use facekit_attributes::{AttributeError, AttributeModel, LandmarkModel};
use facekit_detection::{DetectionError, DetectorKind, FaceDetector};
use facekit_liveness::{LivenessError, LivenessModel, LivenessModels};
use facekit_recognition::{ArcFace, RecognitionError};
use facekit_runtime::{OnnxModel, Runtime, RuntimeError};

use crate::router::{ModelKind, Route, route};

/// Why a pack could not be found or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// No folder matches the pack name.
    #[error(
        "model pack '{name}' not found; looked in: {searched}. Download it with `facekit models fetch {name}` or pass a folder of .onnx files (e.g. --models ~/.insightface/models/buffalo_l)"
    )]
    NotFound {
        /// The name or path given.
        name: String,
        /// Folders tried.
        searched: String,
    },
    /// The folder cannot be listed.
    #[error("cannot read model folder {dir}: {source}")]
    Io {
        /// The folder.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The pack has no usable face detector (of the kind asked for).
    #[error("no {wanted}face detection model in {dir} (files: {files})")]
    NoDetector {
        /// The folder.
        dir: PathBuf,
        /// `"yunet "` etc. when a kind was asked for, else empty.
        wanted: String,
        /// The .onnx files it holds.
        files: String,
    },
    /// A file given as the detector is not one.
    #[error("{file} is not a face detection model")]
    NotADetector {
        /// The file.
        file: PathBuf,
    },
    /// ONNX Runtime could not be loaded.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The detector was rejected.
    #[error(transparent)]
    Detection(#[from] DetectionError),
    /// The recognizer was rejected.
    #[error(transparent)]
    Recognition(#[from] RecognitionError),
    /// A landmark or attribute model was rejected.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    /// A liveness model was rejected.
    #[error(transparent)]
    Liveness(#[from] LivenessError),
}

/// facekit's own folder: `$FACEKIT_HOME`, default `~/.facekit` (`None`
/// without a home folder).
pub fn facekit_home() -> Option<PathBuf> {
    std::env::var_os("FACEKIT_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".facekit")))
}

/// Where facekit keeps model packs: `<facekit_home>/models`.
pub fn models_home() -> Option<PathBuf> {
    facekit_home().map(|h| h.join("models"))
}

/// Finds a pack: an existing folder path as given, else
/// `<models_home>/<name>` (see [`models_home`]), else InsightFace's own
/// `~/.insightface/models/<name>`.
pub fn resolve_pack(name_or_path: &str) -> Result<PathBuf, PackError> {
    let given = PathBuf::from(name_or_path);
    if given.is_dir() {
        return Ok(given);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut searched = vec![given.clone()];
    if given.components().count() == 1 {
        searched.extend(models_home().map(|h| h.join(name_or_path)));
        searched.extend(home.map(|h| h.join(".insightface/models").join(name_or_path)));
    }
    searched
        .iter()
        .skip(1)
        .find(|p| p.is_dir())
        .cloned()
        .ok_or_else(|| PackError::NotFound {
            name: name_or_path.to_string(),
            searched: searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Which detector a pack uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DetectorChoice {
    /// The first detection model in name order (InsightFace's rule).
    #[default]
    FirstInPack,
    /// The first detection model of this family.
    Kind(DetectorKind),
    /// This model file, wherever it lives; the pack's own detectors are unused.
    File(PathBuf),
}

/// What became of one file of a pack.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryStatus {
    /// The model serves its task.
    Used,
    /// An earlier file already serves the same task (InsightFace keeps the first).
    Duplicate,
    /// Recognised, but this build does not run that kind yet.
    Unsupported,
    /// The signature matches no task.
    Unrecognised,
    /// ONNX Runtime could not load it.
    Failed(String),
    /// Its task is not among those asked for (`allowed_modules`).
    NotAllowed,
}

impl fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryStatus::Used => f.write_str("used"),
            EntryStatus::Duplicate => f.write_str("ignored: another file serves this task"),
            EntryStatus::Unsupported => {
                f.write_str("ignored: this model kind is not supported yet")
            }
            EntryStatus::Unrecognised => f.write_str("ignored: signature matches no task"),
            EntryStatus::Failed(why) => write!(f, "failed to load: {why}"),
            EntryStatus::NotAllowed => f.write_str("ignored: its task is not among those allowed"),
        }
    }
}

/// One `.onnx` file of a pack and its routing.
#[derive(Debug, Clone)]
pub struct PackEntry {
    /// The file.
    pub file: PathBuf,
    /// How it was routed, if it was.
    pub route: Option<Route>,
    /// What became of it.
    pub status: EntryStatus,
}

/// A loaded pack: the models facekit runs, and a record of every file.
#[derive(Debug)]
pub struct ModelPack {
    dir: PathBuf,
    entries: Vec<PackEntry>,
    detector: FaceDetector,
    recognizer: Option<ArcFace>,
    landmarks: Vec<LandmarkModel>,
    attributes: Vec<AttributeModel>,
    liveness: LivenessModels,
}

impl ModelPack {
    /// Loads every `.onnx` file of `dir` (sorted by name) and assigns tasks;
    /// the first detection model is the detector, as in InsightFace.
    pub fn load(runtime: &Runtime, dir: &Path) -> Result<Self, PackError> {
        Self::load_with(runtime, dir, &DetectorChoice::FirstInPack)
    }

    /// As [`load`](Self::load), with the detector chosen by `choice` (an
    /// error if the pack has none of the family asked for).
    pub fn load_with(
        runtime: &Runtime,
        dir: &Path,
        choice: &DetectorChoice,
    ) -> Result<Self, PackError> {
        Self::load_tasks(runtime, dir, choice, None)
    }

    /// As [`load_with`](Self::load_with), keeping only the models whose
    /// task (InsightFace's `taskname`: `detection`, `recognition`,
    /// `genderage`, `landmark_2d_106`, …) is in `allowed` when given, as
    /// InsightFace's `allowed_modules`; the others are listed as
    /// [`EntryStatus::NotAllowed`].
    pub fn load_tasks(
        runtime: &Runtime,
        dir: &Path,
        choice: &DetectorChoice,
        allowed: Option<&[&str]>,
    ) -> Result<Self, PackError> {
        let mut detector = match choice {
            DetectorChoice::File(file) => Some(detector_from_file(runtime, file)?),
            _ => None,
        };
        let detector_kind = match choice {
            DetectorChoice::Kind(kind) => Some(*kind),
            _ => None,
        };
        let io = |source| PackError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "onnx") && p.is_file())
            .collect();
        files.sort();

        let mut recognizer = None;
        let (mut landmarks, mut attributes, mut liveness) = (Vec::new(), Vec::new(), Vec::new());
        let mut entries = Vec::new();
        let mut tasks_taken: Vec<String> = Vec::new();
        for file in files {
            let model = match runtime.load(&file) {
                Ok(m) => m,
                // The machine's accelerator, not this file, is at fault.
                Err(e @ RuntimeError::ProviderFailed { .. }) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "model failed to load");
                    entries.push(PackEntry {
                        file,
                        route: None,
                        status: EntryStatus::Failed(e.to_string()),
                    });
                    continue;
                }
            };
            let Some(r) = route(&model) else {
                entries.push(PackEntry {
                    file,
                    route: None,
                    status: EntryStatus::Unrecognised,
                });
                continue;
            };
            let task = r.kind.task();
            let detector_taken = detector.is_some() && matches!(r.kind, ModelKind::Detector(_));
            let wrong_detector = matches!(r.kind, ModelKind::Detector(k) if detector_kind.is_some_and(|want| want != k));
            let status = if allowed.is_some_and(|tasks| !tasks.iter().any(|t| *t == task)) {
                EntryStatus::NotAllowed
            } else if detector_taken || wrong_detector || tasks_taken.contains(&task) {
                EntryStatus::Duplicate
            } else {
                match LoadedModel::new(model, &r) {
                    Ok(Some(LoadedModel::Detector(d))) => {
                        detector = Some(d);
                        EntryStatus::Used
                    }
                    Ok(Some(LoadedModel::Recognizer(m))) => {
                        recognizer = Some(m);
                        EntryStatus::Used
                    }
                    Ok(Some(LoadedModel::Landmark(m))) => {
                        landmarks.push(m);
                        EntryStatus::Used
                    }
                    Ok(Some(LoadedModel::Attribute(m))) => {
                        attributes.push(m);
                        EntryStatus::Used
                    }
                    Ok(Some(LoadedModel::Liveness(m))) => {
                        liveness.push(m);
                        EntryStatus::Used
                    }
                    Ok(None) => EntryStatus::Unsupported,
                    // A liveness file without its scale is reported, and the
                    // rest of the pack still loads.
                    Err(PackError::Liveness(e)) => EntryStatus::Failed(e.to_string()),
                    Err(e) => return Err(e),
                }
            };
            if status == EntryStatus::Used {
                tasks_taken.push(task);
            }
            entries.push(PackEntry {
                file,
                route: Some(r),
                status,
            });
        }
        let detector = detector.ok_or_else(|| PackError::NoDetector {
            dir: dir.to_path_buf(),
            wanted: detector_kind.map_or(String::new(), |k| format!("{} ", k.name())),
            files: entries
                .iter()
                .map(|e| e.file.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
            detector,
            recognizer,
            landmarks,
            attributes,
            liveness: LivenessModels::new(liveness),
        })
    }

    /// The pack folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every file and what became of it, in name order.
    pub fn entries(&self) -> &[PackEntry] {
        &self.entries
    }

    /// The face detector.
    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    /// The recognizer, when the pack has one.
    pub fn recognizer(&self) -> Option<&ArcFace> {
        self.recognizer.as_ref()
    }

    /// Landmark models (at most one per task: 2-D 106, 3-D 68).
    pub fn landmarks(&self) -> &[LandmarkModel] {
        &self.landmarks
    }

    /// Attribute models (gender/age and any `attribute_N`).
    pub fn attributes(&self) -> &[AttributeModel] {
        &self.attributes
    }

    /// The liveness models (empty when the pack has none), fused.
    pub fn liveness(&self) -> &LivenessModels {
        &self.liveness
    }
}

/// One model file loaded as the task its signature shows.
#[derive(Debug)]
pub enum LoadedModel {
    /// A face detector.
    Detector(FaceDetector),
    /// An ArcFace-family recognizer.
    Recognizer(ArcFace),
    /// A 106-point 2-D or 68-point 3-D landmark model.
    Landmark(LandmarkModel),
    /// Gender/age or another attribute model.
    Attribute(AttributeModel),
    /// A MiniFASNet liveness model.
    Liveness(LivenessModel),
}

impl LoadedModel {
    /// Loads `file` and routes it (InsightFace's `model_zoo.get_model`);
    /// `Ok(None)` when its signature matches no task this build runs.
    pub fn load(runtime: &Runtime, file: &Path) -> Result<Option<(Self, Route)>, PackError> {
        let model = runtime.load(file)?;
        let Some(r) = route(&model) else {
            return Ok(None);
        };
        Ok(Self::new(model, &r)?.map(|m| (m, r)))
    }

    /// The model for a routed file; `None` for kinds not run yet.
    fn new(model: OnnxModel, r: &Route) -> Result<Option<Self>, PackError> {
        Ok(Some(match r.kind {
            ModelKind::Detector(kind) => Self::Detector(FaceDetector::new(kind, model)?),
            ModelKind::ArcFace => Self::Recognizer(ArcFace::new(model, r.mean, r.std)?),
            // The two landmark tasks faces have fields for.
            ModelKind::Landmark {
                points: 106,
                three_d: false,
            }
            | ModelKind::Landmark {
                points: 68,
                three_d: true,
            } => Self::Landmark(LandmarkModel::new(model, r.mean, r.std)?),
            ModelKind::Attribute { .. } => {
                Self::Attribute(AttributeModel::new(model, r.mean, r.std)?)
            }
            ModelKind::Liveness { .. } => Self::Liveness(LivenessModel::new(model)?),
            _ => return Ok(None),
        }))
    }
}

/// Loads `file` as whichever detector family its signature shows.
fn detector_from_file(runtime: &Runtime, file: &Path) -> Result<FaceDetector, PackError> {
    match LoadedModel::load(runtime, file)? {
        Some((LoadedModel::Detector(d), _)) => Ok(d),
        _ => Err(PackError::NotADetector {
            file: file.to_path_buf(),
        }),
    }
}
