//! WIDER FACE average precision, computed as the official evaluation
//! (`eval_tools/evaluation.py`): scores normalised over all images, IoU
//! 0.5 with the `+1` pixel convention, faces outside the setting's list
//! ignored, the 1,000-step precision-recall curve summed over images, VOC
//! AP. Ground truth comes from the official `.mat` files or the text format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{EvalError, read_text};

/// The three official difficulty settings.
pub const SETTINGS: [&str; 3] = ["easy", "medium", "hard"];

/// Steps of the precision-recall curve, as the official code.
const THRESH_NUM: usize = 1000;

/// One image's ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthImage {
    /// `event/name.jpg`, the official relative path.
    pub name: String,
    /// Face boxes `[x, y, w, h]`.
    pub boxes: Vec<[f64; 4]>,
    /// For each setting (easy, medium, hard), the 1-based indices of the
    /// faces that count; the others are ignored.
    pub keep: [Vec<usize>; 3],
}

/// A detection `[x, y, w, h, score]`.
pub type Prediction = [f64; 5];

/// `bbox_overlaps` of the official Cython code: boxes as `[x1, y1, x2, y2]`
/// with inclusive pixel ends (`+1`).
fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = a[2].min(b[2]) - a[0].max(b[0]) + 1.0;
    if iw <= 0.0 {
        return 0.0;
    }
    let ih = a[3].min(b[3]) - a[1].max(b[1]) + 1.0;
    if ih <= 0.0 {
        return 0.0;
    }
    let area = |r: &[f64; 4]| (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
    iw * ih / (area(a) + area(b) - iw * ih)
}

fn corners(r: &[f64]) -> [f64; 4] {
    [r[0], r[1], r[0] + r[2], r[1] + r[3]]
}

/// `image_eval`: for each prediction (best first), how many kept faces are
/// recalled so far, and whether it counts as a proposal (`false` when it
/// matched an ignored face).
fn image_eval(preds: &[Prediction], gt: &[[f64; 4]], keep: &[bool]) -> (Vec<usize>, Vec<bool>) {
    let gt: Vec<[f64; 4]> = gt.iter().map(|g| corners(g)).collect();
    let mut recalled = vec![0i8; gt.len()];
    let mut pred_recall = Vec::with_capacity(preds.len());
    let mut proposal = vec![true; preds.len()];
    for (h, p) in preds.iter().enumerate() {
        let p = corners(p);
        // First maximum, as `argmax`.
        let mut best = (f64::MIN, 0);
        for (i, g) in gt.iter().enumerate() {
            let o = iou(&p, g);
            if o > best.0 {
                best = (o, i);
            }
        }
        if best.0 >= 0.5 {
            let i = best.1;
            if !keep[i] {
                recalled[i] = -1;
                proposal[h] = false;
            } else if recalled[i] == 0 {
                recalled[i] = 1;
            }
        }
        pred_recall.push(recalled.iter().filter(|&&r| r == 1).count());
    }
    (pred_recall, proposal)
}

/// `img_pr_info`: for each of the 1,000 score thresholds, (proposals,
/// recalled faces) among the predictions at or above it.
fn image_pr(preds: &[Prediction], proposal: &[bool], pred_recall: &[usize]) -> Vec<[f64; 2]> {
    (0..THRESH_NUM)
        .map(|t| {
            let thresh = 1.0 - (t + 1) as f64 / THRESH_NUM as f64;
            match preds.iter().rposition(|p| p[4] >= thresh) {
                None => [0.0, 0.0],
                Some(last) => [
                    proposal[..=last].iter().filter(|&&p| p).count() as f64,
                    pred_recall[last] as f64,
                ],
            }
        })
        .collect()
}

/// VOC AP: area under the precision envelope. NaN precisions (no proposal
/// at a threshold) propagate as in numpy.
fn voc_ap(recall: &[f64], precision: &[f64]) -> f64 {
    let mrec: Vec<f64> = std::iter::once(0.0)
        .chain(recall.iter().copied())
        .chain(std::iter::once(1.0))
        .collect();
    let mut mpre: Vec<f64> = std::iter::once(0.0)
        .chain(precision.iter().copied())
        .chain(std::iter::once(0.0))
        .collect();
    for i in (1..mpre.len()).rev() {
        let (a, b) = (mpre[i - 1], mpre[i]);
        mpre[i - 1] = if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        };
    }
    (0..mrec.len() - 1)
        .filter(|&i| mrec[i + 1] != mrec[i])
        .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
        .sum()
}

/// AP of one difficulty setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingAp {
    /// easy, medium or hard.
    pub setting: String,
    /// Average precision.
    pub ap: f64,
    /// Faces that count in this setting over the images evaluated.
    pub faces: usize,
}

/// AP for easy, medium and hard over the images that have predictions
/// (the official code requires one per ground-truth image; a subset run
/// evaluates the images it has). Predictions per image must be sorted by
/// score, best first; scores are min-max normalised over all images first.
pub fn average_precision(
    gt: &[GroundTruthImage],
    predictions: &BTreeMap<String, Vec<Prediction>>,
) -> Vec<SettingAp> {
    let all = predictions.values().flatten().map(|p| p[4]);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let normalised: BTreeMap<&String, Vec<Prediction>> = predictions
        .iter()
        .map(|(k, v)| {
            let v = v
                .iter()
                .map(|p| [p[0], p[1], p[2], p[3], (p[4] - lo) / (hi - lo)])
                .collect();
            (k, v)
        })
        .collect();
    SETTINGS
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mut faces = 0;
            let mut curve = vec![[0.0f64; 2]; THRESH_NUM];
            for img in gt {
                let Some(preds) = normalised.get(&img.name) else {
                    continue;
                };
                let keep_idx = &img.keep[s];
                faces += keep_idx.len();
                if img.boxes.is_empty() || preds.is_empty() {
                    continue;
                }
                let mut keep = vec![false; img.boxes.len()];
                for &k in keep_idx {
                    if let Some(slot) = k.checked_sub(1).and_then(|i| keep.get_mut(i)) {
                        *slot = true;
                    }
                }
                let (pred_recall, proposal) = image_eval(preds, &img.boxes, &keep);
                for (acc, step) in curve
                    .iter_mut()
                    .zip(image_pr(preds, &proposal, &pred_recall))
                {
                    acc[0] += step[0];
                    acc[1] += step[1];
                }
            }
            let precision: Vec<f64> = curve.iter().map(|c| c[1] / c[0]).collect();
            let recall: Vec<f64> = curve.iter().map(|c| c[1] / faces as f64).collect();
            SettingAp {
                setting: (*name).to_string(),
                ap: voc_ap(&recall, &precision),
                faces,
            }
        })
        .collect()
}

/// Reads the ground truth from a folder holding the official
/// `wider_face_val.mat` and `wider_{easy,medium,hard}_val.mat`, or from the
/// text format: `wider_face_val_bbx_gt*.txt` (name, count, then
/// `x y w h …` lines) with the difficulty lists in a JSON file
/// (`{"subsets": {"easy": {"event/name.jpg": [1, 4, …]}, …}}`).
pub fn read_ground_truth(dir: &Path) -> Result<Vec<GroundTruthImage>, EvalError> {
    if dir.join("wider_face_val.mat").is_file() {
        return crate::matlab::read_wider_mat(dir);
    }
    let find = |prefix: &str, ext: &str| -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(ext))
            })
            .collect();
        found.sort();
        found.into_iter().next()
    };
    let txt = find("wider_face_val_bbx_gt", ".txt").ok_or_else(|| {
        EvalError::invalid(
            dir,
            "no wider_face_val.mat and no wider_face_val_bbx_gt*.txt in this folder",
        )
    })?;
    let json = find("", "difficulty_gt_index.subset.json")
        .or_else(|| find("", "difficulty_gt_index.json"))
        .ok_or_else(|| {
            EvalError::invalid(
                dir,
                "the text ground truth needs a difficulty_gt_index*.json with the easy/medium/hard lists",
            )
        })?;
    read_text_ground_truth(&txt, &json)
}

fn read_text_ground_truth(txt: &Path, json: &Path) -> Result<Vec<GroundTruthImage>, EvalError> {
    let text = read_text(txt)?;
    let lists: serde_json::Value = serde_json::from_str(&read_text(json)?)
        .map_err(|e| EvalError::invalid(json, e.to_string()))?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate();
    let mut images = Vec::new();
    while let Some((_, name)) = lines.next() {
        let bad = |n: usize, what: &str| EvalError::invalid(txt, format!("line {}: {what}", n + 1));
        let (n, count) = lines
            .next()
            .ok_or_else(|| bad(0, "file ends after an image name"))?;
        let count: usize = count.parse().map_err(|_| bad(n, "expected a face count"))?;
        // An image without faces still has one all-zero line.
        let rows = count.max(1);
        // The count comes from the file: reserve only what lines can back.
        let mut boxes = Vec::with_capacity(count.min(4096));
        for _ in 0..rows {
            let (n, line) = lines
                .next()
                .ok_or_else(|| bad(n, "file ends inside a face list"))?;
            let v: Vec<f64> = line
                .split_whitespace()
                .take(4)
                .map(|x| x.parse().map_err(|_| bad(n, "expected x y w h")))
                .collect::<Result<_, _>>()?;
            if v.len() < 4 {
                return Err(bad(n, "expected x y w h"));
            }
            if count > 0 {
                boxes.push([v[0], v[1], v[2], v[3]]);
            }
        }
        let keep = SETTINGS.map(|s| {
            lists["subsets"][s][name]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_u64())
                        .map(|v| v as usize)
                        .collect()
                })
                .unwrap_or_default()
        });
        images.push(GroundTruthImage {
            name: name.to_string(),
            boxes,
            keep,
        });
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_uses_inclusive_pixel_ends() {
        // Two 10×10-pixel boxes (0..9) overlapping in 5 columns: 50 / 150.
        let a = [0.0, 0.0, 9.0, 9.0];
        let b = [5.0, 0.0, 14.0, 9.0];
        assert!((iou(&a, &b) - 50.0 / 150.0).abs() < 1e-12);
    }

    /// One image, three faces: face 1 (kept), face 2 (kept), face 3 (not in
    /// the setting: ignored). Four predictions, best first:
    /// p1 hits face 1, p2 hits face 3 (ignored: no proposal), p3 misses
    /// everything, p4 hits face 2. Scores 0.9, 0.8, 0.7, 0.6 normalise to
    /// 1, 2/3, 1/3, 0.
    ///
    /// Per threshold `1 − (t+1)/1000`:
    /// - thresholds in (2/3, 1): p1 only → 1 proposal, 1 recalled.
    /// - (1/3, 2/3]: p1, p2 → 1 proposal (p2 ignored), 1 recalled.
    /// - (0, 1/3]: p1–p3 → 2 proposals, 1 recalled.
    /// - 0 (the last step): p1–p4 → 3 proposals, 2 recalled.
    ///
    /// Recall is recalled / 2 kept faces: 0.5 everywhere but the last step
    /// (1.0), where precision is 2/3; elsewhere precision is 1 or 0.5.
    /// The envelope at recall 0.5 is 1 (from the first steps) and at 1.0 is
    /// 2/3, so AP = 0.5·1 + 0.5·(2/3) = 5/6.
    #[test]
    fn ap_of_a_hand_worked_image() {
        let gt = vec![GroundTruthImage {
            name: "e/img.jpg".into(),
            boxes: vec![
                [0.0, 0.0, 10.0, 10.0],
                [100.0, 0.0, 10.0, 10.0],
                [200.0, 0.0, 10.0, 10.0],
            ],
            keep: [vec![1, 2], vec![1, 2], vec![1, 2, 3]],
        }];
        let preds = vec![
            [0.0, 0.0, 10.0, 10.0, 0.9],
            [200.0, 0.0, 10.0, 10.0, 0.8],
            [400.0, 0.0, 10.0, 10.0, 0.7],
            [100.0, 0.0, 10.0, 10.0, 0.6],
        ];
        let predictions = BTreeMap::from([("e/img.jpg".to_string(), preds)]);
        let aps = average_precision(&gt, &predictions);
        assert!((aps[0].ap - 5.0 / 6.0).abs() < 1e-9, "{aps:?}");
        assert_eq!(aps[0].faces, 2);
        // Hard keeps face 3 too: p2 becomes a true positive. Steps: (2/3,1):
        // 1/1 recalled 1; (1/3,2/3]: 2 proposals, 2 recalled; (0,1/3]: 3
        // proposals, 2 recalled; 0: 4 proposals, 3 recalled. Recall over 3
        // faces: 1/3, 2/3, 2/3, 1 with precision 1, 1, 2/3, 3/4 → envelope
        // 1, 1, 3/4 → AP = 1/3 + 1/3 + (1/3)(3/4) = 11/12.
        assert!((aps[2].ap - 11.0 / 12.0).abs() < 1e-9, "{aps:?}");
        assert_eq!(aps[2].faces, 3);
    }
}
