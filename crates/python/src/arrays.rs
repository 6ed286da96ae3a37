//! numpy images in and out, the faces of an image as numpy columns, and
//! InsightFace's `face_align` functions.

use std::path::PathBuf;

use facekit_core::Point;
use facekit_image::{DecodeLimits, RgbImage, decode_file};
use facekit_pipeline::Face;
use ndarray::{Array1, Array2, Array3};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::{self, FacekitError, ImageError};

/// An image argument: pixels already in memory, a numpy array's bytes not
/// yet converted, or a file to decode.
pub enum ImageInput<'a> {
    /// Pixels in RGB order.
    Pixels(RgbImage),
    /// An array's bytes, converted to RGB by [`load`](Self::load).
    View(PixelView<'a>),
    /// A file, decoded as `cv2.imread` would (EXIF applied, alpha dropped).
    Path(PathBuf),
}

/// Whether an argument is a path (`str` or `os.PathLike`), and which.
fn as_path(obj: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let os = obj.py().import("os")?;
        return Ok(Some(os.call_method1("fspath", (obj,))?.extract()?));
    }
    Ok(None)
}

impl ImageInput<'static> {
    /// Reads an argument: a path (`str` or `os.PathLike`), or a `uint8`
    /// array of shape `(H, W)`, `(H, W, 1)`, `(H, W, 3)` or `(H, W, 4)`, in
    /// BGR(A) order unless `rgb`.
    pub fn extract(obj: &Bound<'_, PyAny>, rgb: bool) -> PyResult<Self> {
        match as_path(obj)? {
            Some(path) => Ok(Self::Path(path)),
            None => pixels(obj, !rgb).map(Self::Pixels),
        }
    }
}

/// The arguments of a batch, borrowed for the time it runs: arrays stay
/// numpy's until a worker converts each (in parallel, and only the images
/// in flight held as RGB), paths are decoded by the workers.
pub enum BatchArgument<'py> {
    /// A `uint8` array, borrowed read-only.
    Array(numpy::PyReadonlyArrayDyn<'py, u8>),
    /// A file.
    Path(PathBuf),
}

impl<'py> BatchArgument<'py> {
    /// Reads an argument as [`ImageInput::extract`] does.
    pub fn extract(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        match as_path(obj)? {
            Some(path) => Ok(Self::Path(path)),
            None => readonly_array(obj).map(Self::Array),
        }
    }

    /// The input the pipeline reads, BGR(A) unless `rgb`.
    pub fn input(&self, rgb: bool) -> PyResult<ImageInput<'_>> {
        match self {
            Self::Array(array) => view(array, !rgb).map(ImageInput::View),
            Self::Path(path) => Ok(ImageInput::Path(path.clone())),
        }
    }
}

impl ImageInput<'_> {
    /// The pixels, decoding a file within `limits`; errors name the file.
    pub fn load(
        self,
        limits: &DecodeLimits,
    ) -> Result<RgbImage, (Option<PathBuf>, PipelineFailure)> {
        match self {
            Self::Pixels(img) => Ok(img),
            Self::View(view) => Ok(view.to_image()),
            Self::Path(path) => {
                decode_file(&path, limits).map_err(|e| (Some(path), PipelineFailure(e.into())))
            }
        }
    }

    /// The file, when the argument was one.
    pub fn path(&self) -> Option<&PathBuf> {
        match self {
            Self::Path(p) => Some(p),
            Self::Pixels(_) | Self::View(_) => None,
        }
    }
}

/// A pipeline error carried out of a GIL-free section.
pub struct PipelineFailure(pub facekit_pipeline::PipelineError);

impl From<facekit_pipeline::PipelineError> for PipelineFailure {
    fn from(e: facekit_pipeline::PipelineError) -> Self {
        Self(e)
    }
}

impl PipelineFailure {
    /// The Python exception, naming the file when there was one.
    pub fn into_py(self, path: Option<&PathBuf>) -> PyErr {
        let name = path.map(|p| p.display().to_string());
        errors::pipeline(self.0, name.as_deref())
    }
}

/// The bytes of a checked `uint8` image array (grey, BGR(A) or RGB(A)).
pub struct PixelView<'a> {
    data: std::borrow::Cow<'a, [u8]>,
    width: u32,
    height: u32,
    channels: usize,
    swap: bool,
}

impl PixelView<'_> {
    /// The 3-channel pixels, channels swapped when `swap` (BGR ↔ RGB);
    /// grayscale is expanded and alpha dropped, as `cv2.imread` does for
    /// files.
    pub fn to_image(&self) -> RgbImage {
        let flat = &self.data;
        let data: Vec<u8> = match (self.channels, self.swap) {
            (1, _) => flat.iter().flat_map(|&v| [v, v, v]).collect(),
            (3, false) => flat.to_vec(),
            (3, true) => {
                let mut out = flat.to_vec();
                for px in out.chunks_exact_mut(3) {
                    px.swap(0, 2);
                }
                out
            }
            (_, false) => flat
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
            (_, true) => flat
                .chunks_exact(4)
                .flat_map(|p| [p[2], p[1], p[0]])
                .collect(),
        };
        RgbImage::from_raw(self.width, self.height, data).expect("sized when checked")
    }
}

/// A `uint8` numpy array borrowed read-only; anything else is a
/// `TypeError` that says what an image must be.
fn readonly_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<numpy::PyReadonlyArrayDyn<'py, u8>> {
    let Ok(array) = obj.cast::<PyArrayDyn<u8>>() else {
        let kind = match obj.getattr("dtype") {
            Ok(dtype) => format!("a numpy array of dtype {dtype}"),
            Err(_) => format!("{}", obj.get_type().name()?),
        };
        return Err(PyTypeError::new_err(format!(
            "an image must be a uint8 numpy array of shape (H, W, 3) in BGR order, as cv2.imread returns (or a path); got {kind}"
        )));
    };
    Ok(array.readonly())
}

/// The array's bytes with its shape checked; `swap`: BGR ↔ RGB.
fn view<'a>(
    readonly: &'a numpy::PyReadonlyArrayDyn<'_, u8>,
    swap: bool,
) -> PyResult<PixelView<'a>> {
    let view = readonly.as_array();
    let shape = view.shape().to_vec();
    let (height, width, channels) = match shape[..] {
        [h, w] => (h, w, 1),
        [h, w, c] if matches!(c, 1 | 3 | 4) => (h, w, c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "an image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {shape:?}"
            )));
        }
    };
    if height == 0 || width == 0 {
        return Err(PyValueError::new_err(format!(
            "the image is empty (shape {shape:?})"
        )));
    }
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(PyValueError::new_err(format!(
            "the image is too large (shape {shape:?})"
        )));
    };
    // `iter` walks any strides in row-major order; a C-contiguous array
    // (what cv2 and numpy make) is borrowed as one slice.
    let data = match readonly.as_slice() {
        Ok(s) => s.into(),
        Err(_) => view.iter().copied().collect::<Vec<u8>>().into(),
    };
    Ok(PixelView {
        data,
        width,
        height,
        channels,
        swap,
    })
}

/// The 3-channel pixels of a `uint8` array, channels swapped when `swap`
/// (BGR ↔ RGB); grayscale is expanded and alpha dropped, as `cv2.imread`
/// does for files.
pub fn pixels(obj: &Bound<'_, PyAny>, swap: bool) -> PyResult<RgbImage> {
    Ok(view(&readonly_array(obj)?, swap)?.to_image())
}

/// An image as a `(H, W, 3)` array, channels swapped when `swap`.
pub fn to_array<'py>(py: Python<'py>, img: &RgbImage, swap: bool) -> Bound<'py, PyArray3<u8>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut data = img.as_raw().to_vec();
    if swap {
        for px in data.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
    PyArray3::from_owned_array(
        py,
        Array3::from_shape_vec((h, w, 3), data).expect("an image's bytes fill its shape"),
    )
}

/// Five `(x, y)` landmarks from any array-like of shape `(5, 2)`.
pub fn five_points(obj: &Bound<'_, PyAny>) -> PyResult<[Point; 5]> {
    let np = obj.py().import("numpy")?;
    let array = np.call_method1("asarray", (obj, "float32"))?;
    let array = array
        .cast::<PyArray2<f32>>()
        .map_err(|_| PyValueError::new_err("landmarks must have shape (5, 2)"))?;
    let view = array.readonly();
    let view = view.as_array();
    if view.shape() != [5, 2] {
        return Err(PyValueError::new_err(format!(
            "landmarks must have shape (5, 2); got {:?}",
            view.shape()
        )));
    }
    Ok(std::array::from_fn(|i| {
        Point::new(view[[i, 0]], view[[i, 1]])
    }))
}

/// A box `[x1, y1, x2, y2]` (more values, such as a score, are ignored).
pub fn bbox(obj: &Bound<'_, PyAny>) -> PyResult<facekit_core::BBox> {
    let values: Vec<f32> = obj
        .py()
        .import("numpy")?
        .call_method1("asarray", (obj, "float32"))?
        .call_method0("ravel")?
        .call_method0("tolist")?
        .extract()?;
    match values[..] {
        [x1, y1, x2, y2, ..] => Ok(facekit_core::BBox::new(x1, y1, x2, y2)),
        _ => Err(PyValueError::new_err(format!(
            "a box must have 4 values [x1, y1, x2, y2]; got {}",
            values.len()
        ))),
    }
}

/// `face_align.norm_crop`: the ArcFace-aligned `image_size` square crop of
/// `img` (channel order kept).
#[pyfunction]
#[pyo3(signature = (img, landmark, image_size = 112, mode = "arcface"))]
pub fn norm_crop<'py>(
    py: Python<'py>,
    img: &Bound<'py, PyAny>,
    landmark: &Bound<'py, PyAny>,
    image_size: u32,
    mode: &str,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    if mode != "arcface" {
        return Err(PyValueError::new_err(format!(
            "mode must be 'arcface' (the only alignment InsightFace defines); got '{mode}'"
        )));
    }
    let src = pixels(img, false)?;
    let kps = five_points(landmark)?;
    let crop = py
        .detach(|| facekit_align::norm_crop(&src, &kps, image_size))
        .map_err(|e| FacekitError::new_err(errors::message(e)))?;
    Ok(to_array(py, &crop, false))
}

/// `face_align.estimate_norm`: the 2×3 similarity transform from the
/// landmarks to the ArcFace template for `image_size`.
#[pyfunction]
#[pyo3(signature = (landmark, image_size = 112, mode = "arcface"))]
pub fn estimate_norm<'py>(
    py: Python<'py>,
    landmark: &Bound<'py, PyAny>,
    image_size: u32,
    mode: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    if mode != "arcface" {
        return Err(PyValueError::new_err(format!(
            "mode must be 'arcface'; got '{mode}'"
        )));
    }
    let kps = five_points(landmark)?;
    let m = facekit_align::estimate_norm(&kps, image_size)
        .map_err(|e| FacekitError::new_err(errors::message(e)))?;
    let rows: Vec<f64> = m.0.iter().flatten().copied().collect();
    Ok(PyArray2::from_owned_array(
        py,
        Array2::from_shape_vec((2, 3), rows).expect("2×3"),
    ))
}

/// Decodes an image file as `cv2.imread` does (BGR, EXIF orientation
/// applied, grayscale expanded, alpha dropped), with facekit's decoder and
/// limits; `rgb=True` keeps RGB order.
#[pyfunction]
#[pyo3(signature = (path, rgb = false))]
pub fn decode<'py>(
    py: Python<'py>,
    path: PathBuf,
    rgb: bool,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let img = py
        .detach(|| decode_file(&path, &DecodeLimits::default()))
        .map_err(|e| ImageError::new_err(format!("{}: {}", path.display(), errors::message(e))))?;
    Ok(to_array(py, &img, !rgb))
}

/// The faces of one image as columns, one row per face, in InsightFace's
/// dtypes: `bbox` (N, 4) float32, `kps` (N, 5, 2) float32, `det_score`
/// (N,) float32, `embedding` (N, D) float32, `gender` (N,) int64, `age`
/// (N,) int64, `landmark_2d_106` (N, 106, 2), `landmark_3d_68` (N, 68, 3),
/// `pose` (N, 3) float32; a column only when every face has the field.
/// `liveness` and `quality` are lists of dicts.
pub fn face_columns<'py>(py: Python<'py>, faces: &[Face]) -> PyResult<Bound<'py, PyDict>> {
    let n = faces.len();
    let columns = PyDict::new(py);
    let rows = |values: Vec<f32>, width: usize| {
        PyArray2::from_owned_array(
            py,
            Array2::from_shape_vec((n, width), values).expect("one row per face"),
        )
    };
    columns.set_item(
        "bbox",
        rows(faces.iter().flat_map(|f| f.bbox.to_array()).collect(), 4),
    )?;
    columns.set_item(
        "det_score",
        PyArray1::from_owned_array(py, Array1::from_iter(faces.iter().map(|f| f.det_score))),
    )?;
    if let Some(kps) = all(faces, |f| f.kps.map(|k| k.map(|p| [p.x, p.y]))) {
        let flat: Vec<f32> = kps.iter().flatten().flatten().copied().collect();
        columns.set_item(
            "kps",
            PyArray3::from_owned_array(py, Array3::from_shape_vec((n, 5, 2), flat).expect("5×2")),
        )?;
    }
    if let Some(embeddings) = all(faces, |f| f.embedding.clone()) {
        let width = embeddings.first().map_or(0, Vec::len);
        columns.set_item("embedding", rows(embeddings.concat(), width))?;
    }
    if let (Some(genders), Some(ages)) = (
        all(faces, |f| f.gender.map(|g| i64::from(g.index()))),
        all(faces, |f| f.age.map(i64::from)),
    ) {
        columns.set_item("gender", PyArray1::from_vec(py, genders))?;
        columns.set_item("age", PyArray1::from_vec(py, ages))?;
    }
    if let Some(points) = all(faces, |f| f.landmark_2d_106.clone()) {
        let count = points.first().map_or(0, Vec::len);
        let flat: Vec<f32> = points.iter().flatten().flat_map(|p| [p.x, p.y]).collect();
        columns.set_item(
            "landmark_2d_106",
            PyArray3::from_owned_array(
                py,
                Array3::from_shape_vec((n, count, 2), flat).expect("N×2"),
            ),
        )?;
    }
    if let Some(points) = all(faces, |f| f.landmark_3d_68.clone()) {
        let count = points.first().map_or(0, Vec::len);
        let flat: Vec<f32> = points.iter().flatten().flatten().copied().collect();
        columns.set_item(
            "landmark_3d_68",
            PyArray3::from_owned_array(
                py,
                Array3::from_shape_vec((n, count, 3), flat).expect("N×3"),
            ),
        )?;
    }
    if let Some(poses) = all(faces, |f| f.pose.map(|p| [p.pitch, p.yaw, p.roll])) {
        columns.set_item("pose", rows(poses.concat(), 3))?;
    }
    if faces.iter().any(|f| f.liveness.is_some()) {
        columns.set_item("liveness", json_list(py, faces, |f| &f.liveness)?)?;
    }
    if faces.iter().any(|f| f.quality.is_some()) {
        columns.set_item("quality", json_list(py, faces, |f| &f.quality)?)?;
    }
    Ok(columns)
}

/// Every face's value, or `None` unless all have one.
fn all<T>(faces: &[Face], field: impl Fn(&Face) -> Option<T>) -> Option<Vec<T>> {
    if faces.is_empty() {
        return None;
    }
    faces.iter().map(field).collect()
}

/// A record field of each face as plain Python values (through JSON: the
/// records' serialisation is the one the CLI prints).
fn json_list<'py, T: serde::Serialize>(
    py: Python<'py>,
    faces: &[Face],
    field: impl Fn(&Face) -> &Option<T>,
) -> PyResult<Bound<'py, PyAny>> {
    let values: Vec<&Option<T>> = faces.iter().map(field).collect();
    let text = serde_json::to_string(&values).map_err(|e| FacekitError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}
