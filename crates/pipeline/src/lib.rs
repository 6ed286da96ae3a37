//! The face analysis pipeline: decode → detect → align → embed → landmarks,
//! gender/age and head pose, as InsightFace's `FaceAnalysis.get`, with the
//! same numbers; then liveness (when the pack has MiniFASNet models) and,
//! on request, each face's quality.
//!
//! A [`FaceAnalyzer`] owns a loaded [`ModelPack`] and settings; it is
//! `Send + Sync`, so callers may analyse images from several threads at once
//! (each model keeps a session pool). Depends on the image, detection,
//! recognition, attributes, liveness, quality, models and runtime crates.
//!
//! ```no_run
//! use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
//! let analyzer = FaceAnalyzer::from_pack("buffalo_l", AnalyzeOptions::default())?;
//! let faces = analyzer.analyze_file("group.jpg".as_ref())?;
//! for face in &faces.faces {
//!     println!("{:?} score {:.3}", face.bbox, face.det_score);
//! }
//! # Ok::<(), facekit_pipeline::PipelineError>(())
//! ```

mod record;

use std::collections::BTreeMap;
use std::path::Path;

use facekit_align::{AlignError, norm_crop};
use facekit_attributes::{AttributeError, BoxCrops, GenderAge, Landmarks};
use facekit_core::{BBox, Point, Stage, l2_norm, l2_normalized, timed};
use facekit_detection::{DetectOptions, DetectionError};
use facekit_image::{DecodeError, DecodeLimits, RgbImage, decode_file};
use facekit_models::{ModelPack, PackError, resolve_pack};

pub use facekit_detection::DetectorKind;
pub use facekit_models::DetectorChoice;
use facekit_recognition::RecognitionError;
use facekit_runtime::{Runtime, RuntimeOptions};
use serde::Serialize;

pub use facekit_attributes::{Gender, Pose};
pub use facekit_detection::{DetSize, DetectOptions as DetectionOptions};
pub use facekit_liveness::Liveness;
use facekit_liveness::LivenessError;
pub use facekit_quality::{FaceQuality, HeadPose};
pub use record::FaceRecord;

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The image could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The models could not be loaded.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// Detection failed.
    #[error(transparent)]
    Detection(#[from] DetectionError),
    /// Embedding failed.
    #[error(transparent)]
    Recognition(#[from] RecognitionError),
    /// A face could not be aligned.
    #[error(transparent)]
    Align(#[from] AlignError),
    /// A landmark or attribute model failed.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    /// A liveness model failed.
    #[error(transparent)]
    Liveness(#[from] LivenessError),
    /// ONNX Runtime could not be loaded.
    #[error(transparent)]
    Runtime(#[from] facekit_runtime::RuntimeError),
}

/// Settings of a [`FaceAnalyzer`].
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Detection settings (sizes, thresholds, `max_num`).
    pub detect: DetectOptions,
    /// Limits on the images read.
    pub limits: DecodeLimits,
    /// Where ONNX Runtime comes from and how many threads it uses.
    pub runtime: RuntimeOptions,
    /// Skip the recognizer even when the pack has one.
    pub skip_embeddings: bool,
    /// Skip landmark and attribute models even when the pack has them.
    pub skip_attributes: bool,
    /// Skip the liveness models even when the pack has them.
    pub skip_liveness: bool,
    /// Measure every face's quality ([`FaceQuality`]).
    pub quality: bool,
    /// Which detector to use (default: the pack's first).
    pub detector: DetectorChoice,
}

/// One analysed face, InsightFace's `Face` record with typed fields; each
/// optional field is present when the pack has the model that produces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Face {
    /// Box in source pixels.
    pub bbox: BBox,
    /// Five landmarks in source pixels (left eye, right eye, nose, left and
    /// right mouth corner), when the detector predicts them.
    pub kps: Option<[Point; 5]>,
    /// Detector confidence.
    pub det_score: f32,
    /// Raw embedding from the recognizer (not normalised).
    pub embedding: Option<Vec<f32>>,
    /// Norm of the raw embedding, a rough quality signal.
    pub embedding_norm: Option<f32>,
    /// From a gender/age model.
    pub gender: Option<Gender>,
    /// Age in years, from a gender/age model.
    pub age: Option<u32>,
    /// 106 landmarks from a 2-D landmark model (`2d106det.onnx`).
    pub landmark_2d_106: Option<Vec<Point>>,
    /// 68 `(x, y, z)` landmarks from the 3-D model (`1k3d68.onnx`).
    pub landmark_3d_68: Option<Vec<[f32; 3]>>,
    /// Head pose fitted to the 3-D landmarks.
    pub pose: Option<Pose>,
    /// Outputs of other attribute models, by task name (`attribute_N`).
    pub attributes: BTreeMap<String, Vec<f32>>,
    /// How usable the face is, when measured.
    pub quality: Option<FaceQuality>,
    /// Whether the face is live (not printed or replayed), when the pack
    /// has liveness models.
    pub liveness: Option<Liveness>,
}

impl From<facekit_core::Detection> for Face {
    /// A face found by a detector, not yet embedded or described.
    fn from(d: facekit_core::Detection) -> Self {
        Face {
            bbox: d.bbox,
            kps: d.kps,
            det_score: d.score,
            ..Face::default()
        }
    }
}

impl Face {
    /// The embedding scaled to unit length (InsightFace's `normed_embedding`).
    pub fn normed_embedding(&self) -> Option<Vec<f32>> {
        self.embedding.as_deref().map(l2_normalized)
    }
}

/// The faces of one image and its decoded size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageFaces {
    /// Decoded width (after EXIF orientation).
    pub width: u32,
    /// Decoded height.
    pub height: u32,
    /// Faces, best first.
    pub faces: Vec<Face>,
}

impl ImageFaces {
    /// The face with the largest box (what one-face operations such as
    /// compare and verify use).
    pub fn largest(self) -> Option<Face> {
        self.faces
            .into_iter()
            .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
    }
}

/// Detects and embeds faces with one model pack.
#[derive(Debug)]
pub struct FaceAnalyzer {
    pack: ModelPack,
    options: AnalyzeOptions,
}

impl FaceAnalyzer {
    /// Loads ONNX Runtime and the pack named or located by `pack`
    /// (see [`resolve_pack`]).
    pub fn from_pack(pack: &str, options: AnalyzeOptions) -> Result<Self, PipelineError> {
        let runtime = Runtime::new(&options.runtime)?;
        let dir = resolve_pack(pack)?;
        let pack = ModelPack::load_with(&runtime, &dir, &options.detector)?;
        Ok(Self::new(pack, options))
    }

    /// An analyzer over an already loaded pack.
    pub fn new(pack: ModelPack, options: AnalyzeOptions) -> Self {
        Self { pack, options }
    }

    /// The loaded pack.
    pub fn pack(&self) -> &ModelPack {
        &self.pack
    }

    /// Gives the pack back (to reuse its loaded models with other settings).
    pub fn into_pack(self) -> ModelPack {
        self.pack
    }

    /// The settings.
    pub fn options(&self) -> &AnalyzeOptions {
        &self.options
    }

    /// The settings, to change (InsightFace's `prepare` sets the detection
    /// threshold and sizes after loading).
    pub fn options_mut(&mut self) -> &mut AnalyzeOptions {
        &mut self.options
    }

    /// Decodes (within the limits) and analyses a file.
    pub fn analyze_file(&self, path: &Path) -> Result<ImageFaces, PipelineError> {
        let img = decode_file(path, &self.options.limits)?;
        let faces = self.analyze(&img)?;
        Ok(ImageFaces {
            width: img.width(),
            height: img.height(),
            faces,
        })
    }

    /// Detects only.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, PipelineError> {
        self.detect_with(img, &self.options.detect)
    }

    /// Detects only, with other detection settings (video fits the sizes
    /// to its frames once, see [`DetSize::fitted`]).
    pub fn detect_with(
        &self,
        img: &RgbImage,
        options: &DetectionOptions,
    ) -> Result<Vec<Face>, PipelineError> {
        let dets = self.pack.detector().detect(img, options)?;
        Ok(dets.into_iter().map(Face::from).collect())
    }

    /// Detects, aligns and embeds every face (one batched recognizer run when
    /// the model allows it), then runs the landmark and attribute models.
    pub fn analyze(&self, img: &RgbImage) -> Result<Vec<Face>, PipelineError> {
        self.analyze_with(img, true)
    }

    /// As [`analyze`](Self::analyze), with the landmark and attribute models
    /// only when `attributes` (and the settings allow them): one analyzer
    /// serves requests that want them and requests that do not.
    pub fn analyze_with(
        &self,
        img: &RgbImage,
        attributes: bool,
    ) -> Result<Vec<Face>, PipelineError> {
        self.analyze_using(img, &self.options.detect, attributes)
    }

    /// As [`analyze_with`](Self::analyze_with), with other detection
    /// settings for this call (InsightFace's `get(img, max_num, det_metric)`).
    pub fn analyze_using(
        &self,
        img: &RgbImage,
        detect: &DetectionOptions,
        attributes: bool,
    ) -> Result<Vec<Face>, PipelineError> {
        let mut faces = self.detect_with(img, detect)?;
        self.embed(img, &mut faces)?;
        if attributes && !self.options.skip_attributes && !faces.is_empty() {
            self.describe(img, &mut faces)?;
        }
        if !self.options.skip_liveness {
            self.check_liveness(img, &mut faces)?;
        }
        if self.options.quality {
            self.assess_quality(img, &mut faces);
        }
        Ok(faces)
    }

    /// Whether the pack has liveness models (and the settings use them).
    pub fn checks_liveness(&self) -> bool {
        !self.options.skip_liveness && !self.pack.liveness().is_empty()
    }

    fn check_liveness(&self, img: &RgbImage, faces: &mut [Face]) -> Result<(), PipelineError> {
        let models = self.pack.liveness();
        if models.is_empty() {
            return Ok(());
        }
        timed(Stage::Liveness, || {
            for face in faces {
                face.liveness = Some(models.check(img, &face.bbox)?);
            }
            Ok(())
        })
    }

    /// Measures the quality of each face with landmarks (from the 3-D pose
    /// when the face has one); what enrollment review and best-face choice
    /// use.
    pub fn assess_quality(&self, img: &RgbImage, faces: &mut [Face]) {
        timed(Stage::Quality, || {
            for face in faces {
                let pose = face.pose.map(|p| HeadPose {
                    pitch: p.pitch,
                    yaw: p.yaw,
                    roll: p.roll,
                });
                face.quality = face.kps.as_ref().and_then(|kps| {
                    facekit_quality::assess(img, &face.bbox, kps, face.det_score, pose)
                });
            }
        });
    }

    /// Aligns and embeds the faces that have landmarks (one batched run
    /// when the model allows it); nothing without a recognizer or with
    /// embeddings skipped.
    pub fn embed(&self, img: &RgbImage, faces: &mut [Face]) -> Result<(), PipelineError> {
        if let Some(rec) = self
            .pack
            .recognizer()
            .filter(|_| !self.options.skip_embeddings)
        {
            let with_kps: Vec<usize> = (0..faces.len())
                .filter(|&i| faces[i].kps.is_some())
                .collect();
            let crops = timed(Stage::Align, || {
                with_kps
                    .iter()
                    .map(|&i| rec.align(img, faces[i].kps.as_ref().expect("filtered")))
                    .collect::<Result<Vec<_>, _>>()
            })?;
            let embeddings = timed(Stage::Embed, || rec.embed_aligned(&crops))?;
            for (i, e) in with_kps.into_iter().zip(embeddings) {
                faces[i].embedding_norm = Some(l2_norm(&e));
                faces[i].embedding = Some(e);
            }
        }
        Ok(())
    }

    /// Whether the pack has landmark or attribute models (and the
    /// settings use them).
    pub fn describes(&self) -> bool {
        let has_models = !self.pack.landmarks().is_empty() || !self.pack.attributes().is_empty();
        has_models && !self.options.skip_attributes
    }

    /// Landmarks, pose, gender/age and other attributes of faces already
    /// detected, from their boxes (what video runs on a track's best faces
    /// only).
    pub fn describe(&self, img: &RgbImage, faces: &mut [Face]) -> Result<(), PipelineError> {
        timed(Stage::Attributes, || self.describe_each(img, faces))
    }

    fn describe_each(&self, img: &RgbImage, faces: &mut [Face]) -> Result<(), PipelineError> {
        let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let mut crops = BoxCrops::new(img, &boxes);
        for model in self.pack.landmarks() {
            for (face, found) in faces.iter_mut().zip(model.predict(&mut crops)?) {
                match found {
                    Landmarks::TwoD(points) => face.landmark_2d_106 = Some(points),
                    Landmarks::ThreeD { points, pose } => {
                        face.landmark_3d_68 = Some(points);
                        face.pose = Some(pose);
                    }
                }
            }
        }
        for model in self.pack.attributes() {
            for (face, outputs) in faces.iter_mut().zip(model.predict(&mut crops)?) {
                match GenderAge::from_outputs(&outputs) {
                    Some(ga) => (face.gender, face.age) = (Some(ga.gender), Some(ga.age)),
                    None => {
                        face.attributes.insert(model.task(), outputs);
                    }
                }
            }
        }
        Ok(())
    }

    /// The aligned crops of every face with landmarks, at the recognizer's
    /// input size (112 when the pack has no recognizer).
    pub fn align(&self, img: &RgbImage) -> Result<Vec<(Face, RgbImage)>, PipelineError> {
        let size = self.pack.recognizer().map_or(112, |r| r.input_size());
        self.detect(img)?
            .into_iter()
            .filter_map(|f| f.kps.map(|k| (f, k)))
            .map(|(f, k)| Ok((f, norm_crop(img, &k, size)?)))
            .collect()
    }
}
