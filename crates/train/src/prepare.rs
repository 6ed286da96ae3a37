//! A folder of identities (`person/*.jpg`) into a training set: each photo's
//! largest face found by facekit's detector and aligned by `norm_crop` to
//! 112×112, JPEG-encoded into MXNet RecordIO as InsightFace's datasets are
//! (header record at key 0, one record per face labelled with its person's
//! class, classes in name order), plus `classes.txt` (one name per class)
//! and InsightFace's `property` file (`classes,112,112`). Photos that fail
//! to decode or show no face are counted and skipped; the rest go on.

use std::path::{Path, PathBuf};

use facekit_eval::ImageMode;
use facekit_pipeline::FaceAnalyzer;
use rayon::prelude::*;

use crate::recordio::{ImageHeader, IndexedWriter, RecordIoError};

/// Side of the aligned crops.
pub const CROP_SIDE: u32 = 112;
/// JPEG quality of the stored crops.
const JPEG_QUALITY: u8 = 95;

/// What [`prepare_folder`] wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrepareSummary {
    /// Identities written.
    pub classes: usize,
    /// Faces written.
    pub faces: usize,
    /// Photos without a detected face (skipped).
    pub no_face: Vec<PathBuf>,
    /// Photos that could not be read, with the reason (skipped).
    pub failed: Vec<(PathBuf, String)>,
}

/// Why preparing failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The folder could not be listed.
    #[error("{path}: {source}")]
    List {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error(transparent)]
    Write(#[from] RecordIoError),
    /// Writing a side file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No identity qualified.
    #[error("{0}: no identity with at least the minimum number of photos")]
    Empty(PathBuf),
}

/// The identities under `root` with at least `min_photos` images, by name,
/// each with its photos sorted, keeping only people `keep` accepts.
pub fn identities(
    root: &Path,
    min_photos: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<PathBuf>)>, PrepareError> {
    let list = |dir: &Path| -> Result<Vec<PathBuf>, PrepareError> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| PrepareError::List {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        Ok(entries)
    };
    let mut people = Vec::new();
    for dir in list(root)?.into_iter().filter(|p| p.is_dir()) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !keep(&name) {
            continue;
        }
        let photos: Vec<PathBuf> = list(&dir)?
            .into_iter()
            .filter(|p| {
                p.extension().is_some_and(|e| {
                    ["jpg", "jpeg", "png", "bmp", "webp"]
                        .contains(&e.to_ascii_lowercase().to_str().unwrap_or(""))
                })
            })
            .collect();
        if photos.len() >= min_photos {
            people.push((name, photos));
        }
    }
    Ok(people)
}

/// Writes `out/train.rec`, `out/train.idx`, `out/classes.txt` and
/// `out/property` from `people` (as [`identities`] lists them).
pub fn prepare_folder(
    analyzer: &FaceAnalyzer,
    people: &[(String, Vec<PathBuf>)],
    out: &Path,
) -> Result<PrepareSummary, PrepareError> {
    if people.is_empty() {
        return Err(PrepareError::Empty(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(|source| PrepareError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let photos: Vec<(u32, &PathBuf)> = people
        .iter()
        .enumerate()
        .flat_map(|(class, (_, photos))| photos.iter().map(move |p| (class as u32, p)))
        .collect();
    let limits = &analyzer.options().limits;
    let crops: Vec<Result<Option<Vec<u8>>, String>> = photos
        .par_iter()
        .map(|(_, path)| {
            let img = facekit_image::decode_file(path, limits).map_err(|e| e.to_string())?;
            let (crop, fallback) =
                facekit_eval::face_crop(analyzer, &img, CROP_SIDE, ImageMode::Detect)
                    .map_err(|e| e.to_string())?;
            if fallback {
                return Ok(None);
            }
            facekit_image::encode_jpeg(&crop, JPEG_QUALITY)
                .map(Some)
                .map_err(|e| e.to_string())
        })
        .collect();
    let mut summary = PrepareSummary {
        classes: people.len(),
        faces: 0,
        no_face: Vec::new(),
        failed: Vec::new(),
    };
    let faces: Vec<(u32, Vec<u8>)> = photos
        .iter()
        .zip(crops)
        .filter_map(|((class, path), crop)| match crop {
            Ok(Some(jpeg)) => Some((*class, jpeg)),
            Ok(None) => {
                summary.no_face.push((*path).clone());
                None
            }
            Err(e) => {
                summary.failed.push(((*path).clone(), e));
                None
            }
        })
        .collect();
    summary.faces = faces.len();
    let mut writer = IndexedWriter::create(out.join("train.rec"), out.join("train.idx"))?;
    let end = faces.len() as f32 + 1.0;
    let header = ImageHeader {
        flag: 2,
        label: 0.0,
        id: 0,
        id2: 0,
        labels: vec![end, end + people.len() as f32],
    };
    writer.write(0, &header.pack(&[]))?;
    for (key, (class, jpeg)) in faces.iter().enumerate() {
        let key = key as u64 + 1;
        writer.write(key, &ImageHeader::for_class(*class, key).pack(jpeg))?;
    }
    writer.finish()?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| PrepareError::Io { path, source })
    };
    write(
        "classes.txt",
        people.iter().map(|(name, _)| format!("{name}\n")).collect(),
    )?;
    write(
        "property",
        format!("{},{CROP_SIDE},{CROP_SIDE}\n", people.len()),
    )?;
    Ok(summary)
}
