//! `CombinedMarginLoss` of arcface_torch: the margin applied to the
//! target class's cosine before the scaled softmax. `(s, m1, m2, m3)` =
//! `(64, 1.0, 0.5, 0.0)` is ArcFace, `(64, 1.0, 0.0, 0.4)` CosFace.
//!
//! arcface_torch's current ArcFace adds the angular margin under
//! `no_grad` (`cos(arccos(x) + m2)` replaces the target logit, and the
//! gradient passes through as if the logit were unchanged):
//! [`ArcGradient::StraightThrough`], the default. Its earlier version
//! differentiated `cos(θ + m2)` and fell back to `x − sin(π − m2)·m2`
//! when `x ≤ cos(π − m2)` (or to `x` when `x ≤ 0` with `easy_margin`):
//! [`ArcGradient::Threshold`]. Margins arcface_torch does not take
//! (`m1 ≠ 1`, or `m2` and `m3` both non-zero, which it silently reduces
//! to CosFace) apply MXNet InsightFace's full `cos(m1·θ + m2) − m3`.

use tch::Tensor;

/// How the ArcFace margin's gradient is taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArcGradient {
    /// arcface_torch now: the margin is added without gradient.
    StraightThrough,
    /// arcface_torch before 2022: `cos(θ + m)` differentiated, with the
    /// threshold fallback (`easy_margin`: fall back when `cos θ ≤ 0`).
    Threshold {
        /// Fall back to the plain cosine when `cos θ ≤ 0`.
        easy_margin: bool,
    },
}

/// The margin loss's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CombinedMargin {
    /// Scale.
    pub s: f64,
    /// Multiplicative angular margin.
    pub m1: f64,
    /// Additive angular margin (ArcFace).
    pub m2: f64,
    /// Additive cosine margin (CosFace).
    pub m3: f64,
    /// Non-target logits above this are zeroed (0: off), as
    /// arcface_torch's `interclass_filtering_threshold`.
    pub interclass_filtering_threshold: f64,
    /// How the ArcFace margin is differentiated.
    pub arc_gradient: ArcGradient,
}

impl CombinedMargin {
    /// ArcFace: `(64, 1.0, 0.5, 0.0)`.
    ///
    /// ```
    /// use facekit_train::margin::CombinedMargin;
    /// use tch::Tensor;
    /// let cosine = Tensor::from_slice(&[0.8f32, 0.1, 0.3, 0.9]).view([2, 2]);
    /// let labels = Tensor::from_slice(&[0i64, 1]);
    /// let logits = CombinedMargin::arcface().apply(&cosine, &labels);
    /// let target = 64.0 * (0.8f64.acos() + 0.5).cos();
    /// assert!((logits.double_value(&[0, 0]) - target).abs() < 1e-4);
    /// assert!((logits.double_value(&[0, 1]) - 6.4).abs() < 1e-4); // non-target: s·cos
    /// ```
    pub fn arcface() -> Self {
        Self::new(64.0, 1.0, 0.5, 0.0)
    }

    /// CosFace: `(64, 1.0, 0.0, 0.4)`.
    pub fn cosface() -> Self {
        Self::new(64.0, 1.0, 0.0, 0.4)
    }

    /// Any `(s, m1, m2, m3)`, without inter-class filtering.
    pub fn new(s: f64, m1: f64, m2: f64, m3: f64) -> Self {
        Self {
            s,
            m1,
            m2,
            m3,
            interclass_filtering_threshold: 0.0,
            arc_gradient: ArcGradient::StraightThrough,
        }
    }

    /// Scaled logits with the margin on each row's target. `cosine` is
    /// `[batch, classes]` in [-1, 1]; `labels` `[batch]` (i64) holds each
    /// row's target column or -1 (the target is not among these columns:
    /// another rank's classes).
    pub fn apply(&self, cosine: &Tensor, labels: &Tensor) -> Tensor {
        let positive = labels.ne(-1).nonzero().squeeze_dim(1);
        let columns = labels.index_select(0, &positive);
        // A copy: the ArcFace branch changes values in place, as arcface_torch
        // does to its own tensor, and the caller keeps its cosines.
        let mut logits = cosine.copy();
        if self.interclass_filtering_threshold > 0.0 {
            let keep = tch::no_grad(|| {
                let dirty = logits
                    .gt(self.interclass_filtering_threshold)
                    .to_kind(tch::Kind::Float);
                let mask = Tensor::ones(
                    [positive.size()[0], logits.size()[1]],
                    (tch::Kind::Float, logits.device()),
                )
                .scatter_value(1, &columns.unsqueeze(1), 0.0);
                let cleaned = dirty.index_select(0, &positive) * mask;
                let dirty = dirty.index_copy(0, &positive, &cleaned);
                1.0 - dirty
            });
            logits = keep * logits;
        }
        let target = logits.index(&[Some(&positive), Some(&columns)]);
        let arcface_torch_arc = self.m1 == 1.0 && self.m3 == 0.0;
        let arcface_torch_cos = self.m1 == 1.0 && self.m2 == 0.0 && self.m3 > 0.0;
        if arcface_torch_arc && self.arc_gradient == ArcGradient::StraightThrough {
            // In place under no_grad, as arcface_torch: the values change,
            // the graph does not.
            tch::no_grad(|| {
                let mut changed = logits.detach();
                let _ = changed.arccos_();
                let margin_target = target.detach().arccos() + self.m2;
                let _ =
                    changed.index_put_(&[Some(&positive), Some(&columns)], &margin_target, false);
                let _ = changed.cos_();
                logits.detach().copy_(&changed);
            });
            return logits * self.s;
        }
        let final_target = if arcface_torch_arc {
            let ArcGradient::Threshold { easy_margin } = self.arc_gradient else {
                unreachable!("handled above")
            };
            let (cos_m, sin_m) = (self.m2.cos(), self.m2.sin());
            let sin_theta = (target.square().neg() + 1.0).sqrt();
            let cos_theta_m = &target * cos_m - sin_theta * sin_m;
            if easy_margin {
                cos_theta_m.where_self(&target.gt(0.0), &target)
            } else {
                let theta = (std::f64::consts::PI - self.m2).cos();
                let sinmm = (std::f64::consts::PI - self.m2).sin() * self.m2;
                cos_theta_m.where_self(&target.gt(theta), &(&target - sinmm))
            }
        } else if arcface_torch_cos {
            &target - self.m3
        } else {
            (target.clamp(-1.0, 1.0).arccos() * self.m1 + self.m2).cos() - self.m3
        };
        let logits = logits.index_put(&[Some(&positive), Some(&columns)], &final_target, false);
        logits * self.s
    }
}

/// arcface_torch's `DistCrossEntropy` on one process: the softmax of each
/// row (max subtracted), `−log` of the target's probability (clamped at
/// 1e-30), averaged over the batch. Rows labelled -1 count with
/// probability 1e-30, as there (on one process every row has its target).
/// The gradient is its hand-written backward's, `(softmax − one-hot) /
/// batch`, also where the clamp holds (autograd through the clamp would
/// give 0 there: a target 128 logits behind, common at s = 64, would stop
/// learning).
pub fn softmax_cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    let batch = logits.size()[0];
    let positive = labels.ne(-1).nonzero().squeeze_dim(1);
    let columns = labels.index_select(0, &positive);
    let value = tch::no_grad(|| {
        let max = logits.amax([1], true);
        let exp = (logits - max).exp();
        let probability = &exp / exp.sum_dim_intlist(&[1i64][..], true, tch::Kind::Float);
        let target = probability.index(&[Some(&positive), Some(&columns)]);
        let all = Tensor::zeros([batch], (tch::Kind::Float, logits.device())).index_put(
            &[Some(&positive)],
            &target,
            false,
        );
        -all.clamp_min(1e-30).log().mean(tch::Kind::Float)
    });
    // Same gradient as the backward above: d/dlogits of logsumexp is the
    // softmax, of the target logit the one-hot.
    let surrogate = (logits.logsumexp([1], false).sum(tch::Kind::Float)
        - logits
            .index(&[Some(&positive), Some(&columns)])
            .sum(tch::Kind::Float))
        / batch as f64;
    value + (&surrogate - surrogate.detach())
}
