//! Embeddings of a set's images, as InsightFace's evaluation makes them,
//! with an on-disk cache so that a second run (another threshold, another
//! report) does not touch the models.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use facekit_core::sha256_hex;
use facekit_image::{RgbImage, decode_bytes, resize_linear};
use facekit_pipeline::{FaceAnalyzer, PipelineError};
use facekit_recognition::ArcFace;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::sets::ImageSource;

/// How images become face crops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageMode {
    /// Images are face crops already: resized to the model input, as
    /// InsightFace's `verification.py` does with `.bin` sets.
    Aligned,
    /// Detect, take the largest face, `norm_crop`; the whole image resized
    /// when no face is found (counted).
    Detect,
}

impl std::fmt::Display for ImageMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Aligned => "aligned",
            Self::Detect => "detect",
        })
    }
}

/// Everything that changes an embedding, recorded in reports and used as
/// the cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedSettings {
    /// How crops are made.
    pub mode: ImageMode,
    /// Embedding of image + mirrored image, summed before normalising.
    pub flip: bool,
    /// SHA-256 of the recognition model file.
    pub recognizer_sha256: String,
    /// SHA-256 of the detector file (detect mode).
    pub detector_sha256: Option<String>,
    /// Detector settings (sizes, thresholds), as text.
    pub detector_settings: Option<String>,
}

/// One image's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEmbedding {
    /// Unit-length embedding.
    pub embedding: Vec<f32>,
    /// Detect mode found no face, so the whole image was used.
    pub fallback: bool,
}

/// SHA-256 of a file.
pub fn file_sha256(path: &Path) -> Result<String, EvalError> {
    std::fs::read(path)
        .map(|b| sha256_hex(&b))
        .map_err(EvalError::io(path))
}

/// The analyzer's recognition model, or the error that it has none.
pub(crate) fn recognizer(analyzer: &FaceAnalyzer) -> Result<&ArcFace, EvalError> {
    analyzer
        .pack()
        .recognizer()
        .ok_or_else(|| EvalError::NoRecognizer(analyzer.pack().dir().to_path_buf()))
}

impl EmbedSettings {
    /// The settings of `analyzer` in `mode`.
    pub fn of(analyzer: &FaceAnalyzer, mode: ImageMode, flip: bool) -> Result<Self, EvalError> {
        let rec = recognizer(analyzer)?;
        let detect = mode == ImageMode::Detect;
        Ok(Self {
            mode,
            flip,
            recognizer_sha256: file_sha256(rec.model().path())?,
            detector_sha256: if detect {
                Some(file_sha256(analyzer.pack().detector().model().path())?)
            } else {
                None
            },
            detector_settings: detect.then(|| format!("{:?}", analyzer.options().detect)),
        })
    }

    fn cache_file(&self, dir: &Path, kind: &str) -> PathBuf {
        let key = sha256_hex(serde_json::to_string(self).unwrap_or_default().as_bytes());
        dir.join(format!("{kind}-{}.json", &key[..16]))
    }
}

/// The `side × side` face crop of one image as verification makes it
/// (detect mode: the largest face, `norm_crop`; else, or when no face is
/// found, the whole image resized) and whether it fell back to the whole
/// image. The trainer's own verification uses it too, so both measure the
/// same crops.
pub fn face_crop(
    analyzer: &FaceAnalyzer,
    img: &RgbImage,
    side: u32,
    mode: ImageMode,
) -> Result<(RgbImage, bool), EvalError> {
    if mode == ImageMode::Detect {
        let largest = analyzer
            .detect(img)?
            .into_iter()
            .filter_map(|f| Some((f.bbox.area(), f.kps?)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, kps)) = largest {
            let crop = facekit_align::norm_crop(img, &kps, side).map_err(PipelineError::from)?;
            return Ok((crop, false));
        }
    }
    let whole = if img.width() == side && img.height() == side {
        img.clone()
    } else {
        resize_linear(img, side, side)
    };
    Ok((whole, mode == ImageMode::Detect))
}

/// The embedding of one decoded image (crop, and its mirror with the flip
/// test: InsightFace adds both raw embeddings, then normalises).
fn embed_image(
    analyzer: &FaceAnalyzer,
    rec: &ArcFace,
    img: &RgbImage,
    settings: &EmbedSettings,
) -> Result<ImageEmbedding, EvalError> {
    let (crop, fallback) = face_crop(analyzer, img, rec.input_size(), settings.mode)?;
    let mut crops = vec![crop];
    if settings.flip {
        crops.push(crops[0].mirrored());
    }
    let raw = rec.embed_aligned(&crops).map_err(PipelineError::from)?;
    let sum: Vec<f32> = (0..raw[0].len())
        .map(|i| raw.iter().map(|e| e[i]).sum())
        .collect();
    Ok(ImageEmbedding {
        embedding: facekit_core::l2_normalized(&sum),
        fallback,
    })
}

/// What a cache file holds: the settings and, by image content hash,
/// each image's result.
#[derive(Serialize, Deserialize)]
struct CacheFile<T> {
    settings: EmbedSettings,
    embeddings: HashMap<String, T>,
}

/// One image's content hash and, unless `known` has it, `compute` of its
/// pixels. The file is read once (within the limits), for the hash and the
/// pixels.
fn hash_and_compute<T>(
    analyzer: &FaceAnalyzer,
    source: &ImageSource,
    known: &HashMap<String, T>,
    compute: &(dyn Fn(&RgbImage) -> Result<T, EvalError> + Sync),
) -> Result<(String, Option<T>), EvalError> {
    let limits = &analyzer.options().limits;
    let bytes = source.bytes(limits)?;
    let key = sha256_hex(&bytes);
    if known.contains_key(&key) {
        return Ok((key, None));
    }
    let img = decode_bytes(&bytes, limits).map_err(|e| EvalError::Image {
        image: source.describe(),
        source: e,
    })?;
    Ok((key, Some(compute(&img)?)))
}

/// `compute` of every image, in order, `jobs` at a time, each image's
/// own result (a bad image does not stop the others); with a cache file,
/// results under the same settings are read from it and new ones added.
fn cached<T>(
    analyzer: &FaceAnalyzer,
    images: &[ImageSource],
    settings: &EmbedSettings,
    jobs: usize,
    cache_path: Option<PathBuf>,
    progress: &(dyn Fn() + Sync),
    compute: &(dyn Fn(&RgbImage) -> Result<T, EvalError> + Sync),
) -> Result<Vec<Result<T, EvalError>>, EvalError>
where
    T: Serialize + serde::de::DeserializeOwned + Clone + Send + Sync,
{
    let mut cache = cache_path
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<CacheFile<T>>(&t).ok())
        .filter(|c| &c.settings == settings)
        .unwrap_or_else(|| CacheFile {
            settings: settings.clone(),
            embeddings: HashMap::new(),
        });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| EvalError::Invalid(format!("cannot start {jobs} worker threads: {e}")))?;
    let known = &cache.embeddings;
    let results: Vec<Result<(String, Option<T>), EvalError>> = pool.install(|| {
        images
            .par_iter()
            .map(|source| {
                let out = hash_and_compute(analyzer, source, known, compute);
                progress();
                out
            })
            .collect()
    });
    let mut keys = Vec::with_capacity(results.len());
    let mut added = false;
    for result in results {
        keys.push(result.map(|(key, fresh)| {
            if let Some(value) = fresh {
                cache.embeddings.insert(key.clone(), value);
                added = true;
            }
            key
        }));
    }
    if let (Some(path), true) = (&cache_path, added) {
        write_cache(path, &cache)?;
    }
    Ok(keys
        .into_iter()
        .map(|k| k.map(|k| cache.embeddings[&k].clone()))
        .collect())
}

/// Embeddings of every image, in order, computed `jobs` at a time; with a
/// cache folder, images already embedded under the same settings are read
/// from it and new ones are added. `progress` is called once per image.
pub fn embed_images(
    analyzer: &FaceAnalyzer,
    images: &[ImageSource],
    settings: &EmbedSettings,
    jobs: usize,
    cache_dir: Option<&Path>,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<ImageEmbedding>, EvalError> {
    let rec = recognizer(analyzer)?;
    let compute = |img: &RgbImage| embed_image(analyzer, rec, img, settings);
    cached(
        analyzer,
        images,
        settings,
        jobs,
        cache_dir.map(|d| settings.cache_file(d, "embeddings")),
        progress,
        &compute,
    )?
    .into_iter()
    .collect()
}

/// One face of a photo, embedded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoFace {
    /// `[left, top, right, bottom]`, pixels.
    pub bbox: [f32; 4],
    /// The detector's score.
    pub det_score: f32,
    /// The five landmarks, `[x, y]` each (for aligned thumbnails).
    pub kps: [[f32; 2]; 5],
    /// Unit-length embedding.
    pub embedding: Vec<f32>,
}

/// Every face (with landmarks) of every image, embedded, `jobs` images at
/// a time, each image's own result; cached like [`embed_images`] under
/// the analyzer's detect-mode settings.
pub fn embed_faces(
    analyzer: &FaceAnalyzer,
    images: &[ImageSource],
    jobs: usize,
    cache_dir: Option<&Path>,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Result<Vec<PhotoFace>, EvalError>>, EvalError> {
    let settings = EmbedSettings::of(analyzer, ImageMode::Detect, false)?;
    let compute = |img: &RgbImage| -> Result<Vec<PhotoFace>, EvalError> {
        let mut faces = analyzer.detect(img)?;
        faces.retain(|f| f.kps.is_some());
        analyzer.embed(img, &mut faces)?;
        Ok(faces
            .into_iter()
            .filter_map(|f| {
                Some(PhotoFace {
                    bbox: f.bbox.to_array(),
                    det_score: f.det_score,
                    kps: f.kps?.map(|p| [p.x, p.y]),
                    embedding: facekit_core::l2_normalized(f.embedding.as_ref()?),
                })
            })
            .collect())
    };
    let cache_path = cache_dir.map(|d| settings.cache_file(d, "faces"));
    cached(
        analyzer, images, &settings, jobs, cache_path, progress, &compute,
    )
}

fn write_cache<T: Serialize>(path: &Path, cache: &CacheFile<T>) -> Result<(), EvalError> {
    let json = serde_json::to_vec(cache).map_err(|e| EvalError::Invalid(e.to_string()))?;
    crate::write_atomic(path, &json)
}

/// Cosine similarity of each pair's two unit embeddings.
pub fn pair_scores(embeddings: &[ImageEmbedding], pairs: &[crate::sets::Pair]) -> Vec<f32> {
    pairs
        .iter()
        .map(|p| {
            facekit_core::cosine_similarity(&embeddings[p.a].embedding, &embeddings[p.b].embedding)
        })
        .collect()
}
