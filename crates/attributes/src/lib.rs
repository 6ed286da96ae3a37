//! Per-face attributes, as InsightFace 2.1's `attribute.py` and
//! `landmark.py`: every model here sees the same box-centred square crop
//! ([`facekit_align::box_crop`]) and maps its answer back to the photo.
//!
//! - [`AttributeModel`]: 96×96 models; three outputs are gender and age
//!   ([`GenderAge`]), any other length a generic `attribute_N` vector.
//! - [`LandmarkModel`]: 192×192 models; 2-D (106 points) or the 3-D 68-point
//!   model, whose points also give the head [`Pose`].
//!
//! Depends on `facekit-core`, `facekit-image`, `facekit-align` and
//! `facekit-runtime`.
//!
//! ```no_run
//! use facekit_attributes::{AttributeModel, BoxCrops, GenderAge};
//! use facekit_core::BBox;
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let model = AttributeModel::new(runtime.load("genderage.onnx".as_ref())?, 127.5, 128.0)?;
//! let img = facekit_image::decode_file("t1.jpg".as_ref(), &Default::default())?;
//! let boxes = [BBox::new(745.3, 342.2, 847.3, 480.1)];
//! let outputs = model.predict(&mut BoxCrops::new(&img, &boxes))?;
//! let GenderAge { gender, age } = GenderAge::from_outputs(&outputs[0]).unwrap();
//! println!("{gender:?}, {age}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod box_model;
mod genderage;
mod landmarks;
mod meanshape;
mod pose;

pub use box_model::{AttributeError, BoxCrops};
pub use genderage::{AttributeModel, Gender, GenderAge};
pub use landmarks::{LandmarkModel, Landmarks};
pub use pose::{Pose, head_pose};
