use facekit_runtime::OnnxModel;
use serde::Serialize;

use crate::box_model::{AttributeError, BoxCropModel, BoxCrops};

/// Gender as InsightFace's genderage model reports it (0 female, 1 male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Gender {
    /// Class 0.
    Female,
    /// Class 1.
    Male,
}

impl Gender {
    /// InsightFace's number for it (0 female, 1 male).
    pub fn index(self) -> u8 {
        match self {
            Gender::Female => 0,
            Gender::Male => 1,
        }
    }

    /// InsightFace's `Face.sex` letter: `"F"` or `"M"`.
    pub fn letter(self) -> &'static str {
        match self {
            Gender::Female => "F",
            Gender::Male => "M",
        }
    }
}

/// Gender and age from a three-output attribute model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GenderAge {
    /// Argmax of the first two outputs (the first wins a tie, as `np.argmax`).
    pub gender: Gender,
    /// `round(100 × third output)`, halves to even as `np.round`.
    pub age: u32,
}

impl GenderAge {
    /// Reads gender and age from a model's three outputs; `None` for any
    /// other length.
    pub fn from_outputs(outputs: &[f32]) -> Option<Self> {
        let [female, male, age] = *outputs else {
            return None;
        };
        let gender = if male > female {
            Gender::Male
        } else {
            Gender::Female
        };
        let age = (age * 100.0).round_ties_even().max(0.0) as u32;
        Some(Self { gender, age })
    }
}

/// A 96×96 attribute model (InsightFace's `Attribute`): `genderage.onnx`, or
/// any model with one output vector per face.
#[derive(Debug)]
pub struct AttributeModel {
    inner: BoxCropModel,
}

impl AttributeModel {
    /// Wraps a loaded model with its input normalisation
    /// (`(pixel − mean) / std`, RGB).
    pub fn new(model: OnnxModel, mean: f32, std: f32) -> Result<Self, AttributeError> {
        Ok(Self {
            inner: BoxCropModel::new(model, mean, std, "attribute")?,
        })
    }

    /// InsightFace's task name: `genderage` for three outputs, else
    /// `attribute_<N>`.
    pub fn task(&self) -> String {
        match self.inner.outputs {
            3 => "genderage".into(),
            n => format!("attribute_{n}"),
        }
    }

    /// The underlying model.
    pub fn model(&self) -> &OnnxModel {
        &self.inner.model
    }

    /// The raw output vector for each face of `crops`.
    pub fn predict(&self, crops: &mut BoxCrops<'_>) -> Result<Vec<Vec<f32>>, AttributeError> {
        Ok(self
            .inner
            .run(crops.at(self.inner.size))?
            .into_iter()
            .map(|(o, _)| o)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gender_is_argmax_and_age_rounds_half_to_even() {
        let ga = GenderAge::from_outputs(&[0.2, 0.7, 0.347]).unwrap();
        assert_eq!((ga.gender, ga.age), (Gender::Male, 35));
        let tie = GenderAge::from_outputs(&[0.5, 0.5, 0.125]).unwrap();
        // 12.5 rounds to 12, as np.round does.
        assert_eq!((tie.gender, tie.age), (Gender::Female, 12));
        assert_eq!(GenderAge::from_outputs(&[0.1, 0.2]), None);
        assert_eq!((Gender::Male.letter(), Gender::Female.index()), ("M", 0));
    }
}
