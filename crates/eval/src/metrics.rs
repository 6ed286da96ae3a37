//! Verification metrics over pair scores (cosine similarity of the two
//! embeddings): InsightFace's 10-fold accuracy, the ROC with AUC and EER,
//! TAR at fixed FARs, and the threshold for a target FAR.

use serde::Serialize;

/// InsightFace `verification.py` thresholds: squared L2 distance between
/// unit embeddings, `np.arange(0, 4, 0.01)`.
const DISTANCE_STEPS: usize = 400;
const DISTANCE_STEP: f64 = 0.01;

/// The FARs reported by default, 1e-1 … 1e-6.
pub const STANDARD_FARS: [f64; 6] = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6];

/// Squared L2 distance between unit vectors with cosine `score`.
fn distance(score: f32) -> f64 {
    2.0 - 2.0 * f64::from(score)
}

/// The cosine threshold equivalent to a squared-distance threshold.
fn cosine_of(distance: f64) -> f64 {
    1.0 - distance / 2.0
}

/// Accuracy of "same when distance < threshold" over the pairs in `idx`.
fn accuracy_at(threshold: f64, dist: &[f64], same: &[bool], idx: &[usize]) -> f64 {
    let correct = idx
        .iter()
        .filter(|&&i| (dist[i] < threshold) == same[i])
        .count();
    correct as f64 / idx.len().max(1) as f64
}

/// The grid threshold with the best accuracy on `idx` (the first on ties,
/// as `np.argmax`).
fn best_threshold(dist: &[f64], same: &[bool], idx: &[usize]) -> (f64, f64) {
    let mut best = (0.0, f64::MIN);
    for step in 0..DISTANCE_STEPS {
        let t = step as f64 * DISTANCE_STEP;
        let acc = accuracy_at(t, dist, same, idx);
        if acc > best.1 {
            best = (t, acc);
        }
    }
    best
}

/// `sklearn.model_selection.KFold(n_splits=k, shuffle=False)`: consecutive
/// runs, the first `n % k` one longer.
pub fn kfold(n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    (0..k)
        .map(|fold| {
            let len = n / k + usize::from(fold < n % k);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// One fold of the k-fold protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    /// Pairs tested (indices into the pair list).
    pub pairs: std::ops::Range<usize>,
    /// Threshold chosen on the other folds, as squared L2 distance.
    pub threshold_distance: f64,
    /// The same threshold as cosine similarity.
    pub threshold_cosine: f64,
    /// Accuracy on this fold at that threshold.
    pub accuracy: f64,
}

/// InsightFace's k-fold verification accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldedAccuracy {
    /// Each fold.
    pub folds: Vec<Fold>,
    /// Mean of the fold accuracies.
    pub mean: f64,
    /// Their population standard deviation (`np.std`).
    pub std: f64,
    /// The grid threshold best on all pairs together, as cosine.
    pub best_threshold_cosine: f64,
    /// Accuracy on all pairs at that threshold.
    pub best_accuracy: f64,
}

/// 10-fold accuracy exactly as InsightFace `verification.py`
/// (`calculate_roc`): unit embeddings, squared L2 distance, thresholds
/// 0, 0.01 … 3.99, "same" when distance < threshold; for each fold the
/// threshold is the best on the other folds.
pub fn folded_accuracy(scores: &[f32], same: &[bool], folds: usize) -> FoldedAccuracy {
    let dist: Vec<f64> = scores.iter().map(|&s| distance(s)).collect();
    let all: Vec<usize> = (0..dist.len()).collect();
    let folds: Vec<Fold> = kfold(dist.len(), folds)
        .into_iter()
        .map(|test| {
            let train: Vec<usize> = all.iter().copied().filter(|i| !test.contains(i)).collect();
            let (t, _) = best_threshold(&dist, same, &train);
            let test_idx: Vec<usize> = test.clone().collect();
            Fold {
                accuracy: accuracy_at(t, &dist, same, &test_idx),
                threshold_distance: t,
                threshold_cosine: cosine_of(t),
                pairs: test,
            }
        })
        .collect();
    let n = folds.len().max(1) as f64;
    let mean = folds.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let std = (folds
        .iter()
        .map(|f| (f.accuracy - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let (t, best_accuracy) = best_threshold(&dist, same, &all);
    FoldedAccuracy {
        folds,
        mean,
        std,
        best_threshold_cosine: cosine_of(t),
        best_accuracy,
    }
}

/// One point of the ROC: accepting pairs with score ≥ `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Cosine threshold.
    pub threshold: f32,
    /// False accept rate.
    pub far: f64,
    /// True accept rate.
    pub tar: f64,
}

/// The ROC at every distinct score, from the strictest threshold to the
/// loosest, starting at (0, 0).
pub fn roc(scores: &[f32], same: &[bool]) -> Vec<RocPoint> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let genuine = same.iter().filter(|&&s| s).count().max(1) as f64;
    let impostor = same.iter().filter(|&&s| !s).count().max(1) as f64;
    let mut points = vec![RocPoint {
        threshold: f32::INFINITY,
        far: 0.0,
        tar: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (n, &i) in order.iter().enumerate() {
        if same[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(n + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            points.push(RocPoint {
                threshold: scores[i],
                far: fp as f64 / impostor,
                tar: tp as f64 / genuine,
            });
        }
    }
    points
}

/// Area under the ROC (trapezoids).
pub fn auc(roc: &[RocPoint]) -> f64 {
    roc.windows(2)
        .map(|w| (w[1].far - w[0].far) * (w[1].tar + w[0].tar) / 2.0)
        .sum()
}

/// Equal error rate: where FAR equals 1 − TAR, interpolated linearly
/// between the two ROC points around the crossing.
pub fn eer(roc: &[RocPoint]) -> f64 {
    for w in roc.windows(2) {
        let (d0, d1) = (w[0].far - (1.0 - w[0].tar), w[1].far - (1.0 - w[1].tar));
        if d0 <= 0.0 && d1 >= 0.0 {
            if d1 == d0 {
                return w[0].far;
            }
            let t = -d0 / (d1 - d0);
            return w[0].far + t * (w[1].far - w[0].far);
        }
    }
    1.0
}

/// The operating point for a target FAR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    /// The FAR asked for.
    pub target_far: f64,
    /// Accept when cosine ≥ this: the lowest threshold whose FAR on these
    /// impostor pairs does not exceed the target.
    pub threshold: f32,
    /// The FAR at that threshold on these pairs.
    pub far: f64,
    /// The TAR at that threshold.
    pub tar: f64,
    /// Impostor pairs behind it.
    pub impostor_pairs: usize,
    /// Genuine pairs behind it.
    pub genuine_pairs: usize,
}

/// Why a FAR cannot be measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmeasurable {
    /// The FAR asked for.
    pub target_far: f64,
    /// Why.
    pub reason: String,
}

/// The threshold and TAR at `target_far`. With `n` impostor pairs the
/// smallest FAR that can be told apart from zero is `1/n`; below that the
/// answer says how many pairs it would need.
pub fn at_far(
    scores: &[f32],
    same: &[bool],
    target_far: f64,
) -> Result<OperatingPoint, Unmeasurable> {
    let mut impostor: Vec<f32> = scores
        .iter()
        .zip(same)
        .filter(|(_, s)| !**s)
        .map(|(&x, _)| x)
        .collect();
    let genuine: Vec<f32> = scores
        .iter()
        .zip(same)
        .filter(|(_, s)| **s)
        .map(|(&x, _)| x)
        .collect();
    let n = impostor.len();
    if n == 0 || genuine.is_empty() {
        return Err(Unmeasurable {
            target_far,
            reason: "needs both genuine and impostor pairs".into(),
        });
    }
    if target_far * (n as f64) < 1.0 - 1e-9 {
        return Err(Unmeasurable {
            target_far,
            reason: format!(
                "needs at least {:.0} impostor pairs, the set has {n}",
                (1.0 / target_far).ceil()
            ),
        });
    }
    impostor.sort_by(|a, b| b.total_cmp(a));
    // Up to `allowed` impostors may pass: the threshold sits just above the
    // next one, so it and everything below it are rejected.
    let allowed = ((target_far * n as f64) + 1e-9).floor() as usize;
    let threshold = match impostor.get(allowed) {
        Some(&s) => s.next_up(),
        None => f32::NEG_INFINITY,
    };
    let passes = |v: &[f32]| v.iter().filter(|&&s| s >= threshold).count() as f64 / v.len() as f64;
    Ok(OperatingPoint {
        target_far,
        threshold,
        far: passes(&impostor),
        tar: passes(&genuine),
        impostor_pairs: n,
        genuine_pairs: genuine.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfold_matches_sklearn_split_sizes() {
        assert_eq!(kfold(6000, 10)[3], 1800..2400);
        let sizes: Vec<usize> = kfold(23, 10).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
    }

    /// 20 pairs, 2 folds of 10, with cosines whose distances (2 − 2c) are
    /// exact in binary and fall between grid steps. Fold 0: genuine
    /// distances 0.265625, 0.515625, 0.765625 and 1.890625 (a miss),
    /// impostors 1.765625 ×6. Fold 1: genuine 0.265625 ×5, impostors 3.0 ×4
    /// and 0.609375 (a look-alike).
    fn two_folds() -> (Vec<f32>, Vec<bool>) {
        let cos = |d: f32| 1.0 - d / 2.0;
        let scores: Vec<f32> = [0.265625, 0.515625, 0.765625, 1.890625]
            .into_iter()
            .chain([1.765625; 6])
            .chain([0.265625; 5])
            .chain([3.0; 4])
            .chain([0.609375])
            .map(cos)
            .collect();
        let same: Vec<bool> = [true; 4]
            .into_iter()
            .chain([false; 6])
            .chain([true; 5])
            .chain([false; 5])
            .collect();
        (scores, same)
    }

    #[test]
    fn folded_accuracy_picks_each_threshold_on_the_other_fold() {
        let (scores, same) = two_folds();
        let r = folded_accuracy(&scores, &same, 2);
        // Fold 1 alone is perfect for thresholds in (0.265625, 0.609375]:
        // the first grid step there is 0.27. On fold 0 that accepts only
        // the first genuine pair: 1 + 6 impostors = 7/10.
        assert!((r.folds[0].threshold_distance - 0.27).abs() < 1e-12);
        assert!((r.folds[0].accuracy - 0.7).abs() < 1e-12);
        // Fold 0 alone is best (9/10) in (0.765625, 1.765625]: 0.77. On
        // fold 1 that also accepts the look-alike: 9/10.
        assert!((r.folds[1].threshold_distance - 0.77).abs() < 1e-12);
        assert!((r.folds[1].accuracy - 0.9).abs() < 1e-12);
        assert!((r.mean - 0.8).abs() < 1e-12);
        assert!((r.std - 0.1).abs() < 1e-12);
        // All 20: 18 correct in (0.515625, 0.609375] and again in
        // (0.765625, 1.765625]; the first best step is 0.52 = cosine 0.74.
        assert!((r.best_accuracy - 0.9).abs() < 1e-12);
        assert!((r.best_threshold_cosine - 0.74).abs() < 1e-12);
    }

    #[test]
    fn roc_auc_eer_and_far_thresholds_on_a_known_list() {
        // Genuine 0.9, 0.8, 0.6, 0.4; impostors 0.7, 0.3, 0.2, 0.1.
        let scores = [0.9, 0.8, 0.6, 0.4, 0.7, 0.3, 0.2, 0.1];
        let same = [true, true, true, true, false, false, false, false];
        let curve = roc(&scores, &same);
        let fars: Vec<f64> = curve.iter().map(|p| p.far).collect();
        let tars: Vec<f64> = curve.iter().map(|p| p.tar).collect();
        assert_eq!(fars, vec![0.0, 0.0, 0.0, 0.25, 0.25, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(tars, vec![0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]);
        // Horizontal runs: TAR 0.5 over FAR 0→0.25 (0.125) and TAR 1 over
        // FAR 0.25→1 (0.75); vertical steps add nothing.
        assert!((auc(&curve) - 0.875).abs() < 1e-12);
        // FAR = 1 − TAR at FAR 0.25 (TAR 0.75).
        assert!((eer(&curve) - 0.25).abs() < 1e-12);
        // 4 impostors: FAR 0.25 allows one (0.7) → threshold just above 0.3.
        let p = at_far(&scores, &same, 0.25).unwrap();
        assert_eq!(p.threshold, 0.3f32.next_up());
        assert_eq!((p.far, p.tar), (0.25, 1.0));
        // FAR 0.1 < 1/4: not measurable with 4 impostors.
        let err = at_far(&scores, &same, 0.1).unwrap_err();
        assert!(
            err.reason.contains("at least 10 impostor pairs"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn tied_impostors_never_push_the_far_over_the_target() {
        let scores = [0.9, 0.5, 0.5, 0.5, 0.1];
        let same = [true, false, false, false, false];
        // FAR 0.25 of 4 impostors allows one, but three tie at 0.5: the
        // threshold must reject all three (FAR 0), never accept them (0.75).
        let p = at_far(&scores, &same, 0.25).unwrap();
        assert_eq!(p.far, 0.0);
        assert_eq!(p.tar, 1.0);
        assert!(p.threshold > 0.5);
    }
}
