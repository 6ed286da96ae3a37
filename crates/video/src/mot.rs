//! Tracking accuracy against ground truth: CLEAR-MOT's MOTA (misses,
//! false positives and identity switches over the ground-truth boxes) and
//! IDF1 (the F1 of boxes whose track is the one globally assigned to their
//! true identity). A box matches when IoU ≥ the threshold.

use facekit_core::BBox;

/// One box of a sequence: frame, identity, box.
pub type Labelled = (u64, u32, BBox);

/// The scores of one sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotScores {
    /// 1 − (misses + false positives + switches) / ground-truth boxes.
    pub mota: f64,
    /// 2·IDTP / (ground-truth boxes + hypothesis boxes).
    pub idf1: f64,
    /// Ground-truth boxes.
    pub truth: usize,
    /// Ground-truth boxes no hypothesis matched.
    pub misses: usize,
    /// Hypothesis boxes that matched no ground truth.
    pub false_positives: usize,
    /// Times a true identity's matched track changed.
    pub id_switches: usize,
}

/// Scores `hypothesis` (tracker output) against `truth`.
pub fn evaluate(truth: &[Labelled], hypothesis: &[Labelled], min_iou: f32) -> MotScores {
    let frames: std::collections::BTreeSet<u64> =
        truth.iter().chain(hypothesis).map(|b| b.0).collect();
    let gt_ids = ids(truth);
    let hyp_ids = ids(hypothesis);
    let mut counts = vec![vec![0usize; hyp_ids.len()]; gt_ids.len()];
    let (mut misses, mut false_positives, mut switches) = (0, 0, 0);
    let mut last_match: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    for f in frames {
        let gts: Vec<&Labelled> = truth.iter().filter(|b| b.0 == f).collect();
        let hyps: Vec<&Labelled> = hypothesis.iter().filter(|b| b.0 == f).collect();
        // Identity co-occurrence for IDF1 (any overlapping pair counts).
        for g in &gts {
            for h in &hyps {
                if g.2.iou(&h.2) >= min_iou {
                    let (gi, hi) = (
                        gt_ids.binary_search(&g.1).unwrap(),
                        hyp_ids.binary_search(&h.1).unwrap(),
                    );
                    counts[gi][hi] += 1;
                }
            }
        }
        // CLEAR-MOT: keep last frame's pairs that still overlap, then the
        // best remaining overlaps.
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        let (mut g_used, mut h_used) = (vec![false; gts.len()], vec![false; hyps.len()]);
        for (gi, g) in gts.iter().enumerate() {
            if let Some(&track) = last_match.get(&g.1)
                && let Some(hi) = hyps
                    .iter()
                    .position(|h| h.1 == track && g.2.iou(&h.2) >= min_iou)
                && !h_used[hi]
            {
                pairs.push((gi, hi));
                g_used[gi] = true;
                h_used[hi] = true;
            }
        }
        let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
        for (gi, g) in gts.iter().enumerate().filter(|(i, _)| !g_used[*i]) {
            for (hi, h) in hyps.iter().enumerate().filter(|(i, _)| !h_used[*i]) {
                let o = g.2.iou(&h.2);
                if o >= min_iou {
                    candidates.push((o, gi, hi));
                }
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, gi, hi) in candidates {
            if !g_used[gi] && !h_used[hi] {
                g_used[gi] = true;
                h_used[hi] = true;
                pairs.push((gi, hi));
            }
        }
        for (gi, hi) in pairs {
            let (g, h) = (gts[gi].1, hyps[hi].1);
            if last_match.insert(g, h).is_some_and(|before| before != h) {
                switches += 1;
            }
        }
        misses += g_used.iter().filter(|u| !**u).count();
        false_positives += h_used.iter().filter(|u| !**u).count();
    }
    let idtp = best_assignment(&counts);
    let total = truth.len() + hypothesis.len();
    MotScores {
        mota: 1.0 - (misses + false_positives + switches) as f64 / truth.len().max(1) as f64,
        idf1: if total == 0 {
            1.0
        } else {
            2.0 * idtp as f64 / total as f64
        },
        truth: truth.len(),
        misses,
        false_positives,
        id_switches: switches,
    }
}

fn ids(boxes: &[Labelled]) -> Vec<u32> {
    let mut ids: Vec<u32> = boxes.iter().map(|b| b.1).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The largest total of a one-to-one assignment of rows to columns
/// (Hungarian method on the negated counts, rows ≤ columns padded).
fn best_assignment(counts: &[Vec<usize>]) -> usize {
    let n = counts.len().max(counts.first().map_or(0, Vec::len));
    if n == 0 {
        return 0;
    }
    let max = counts.iter().flatten().copied().max().unwrap_or(0) as i64;
    let cost = |i: usize, j: usize| {
        max - counts.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0) as i64
    };
    // Jonker-Volgenant style potentials, 1-based as in the classic form.
    let (mut u, mut v) = (vec![0i64; n + 1], vec![0i64; n + 1]);
    let (mut p, mut way) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![i64::MAX; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let (i0, mut delta, mut j1) = (p[j0], i64::MAX, 0);
            for j in 1..=n {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    (1..=n)
        .filter(|&j| p[j] > 0)
        .map(|j| {
            counts
                .get(p[j] - 1)
                .and_then(|r| r.get(j - 1))
                .copied()
                .unwrap_or(0)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32) -> BBox {
        BBox::new(x, 0.0, x + 10.0, 10.0)
    }

    #[test]
    fn a_perfect_tracker_scores_one_and_a_switch_is_counted() {
        let truth: Vec<Labelled> = (0..10)
            .flat_map(|f| [(f, 1, b(0.0)), (f, 2, b(50.0))])
            .collect();
        let perfect: Vec<Labelled> = truth.iter().map(|&(f, id, x)| (f, id + 10, x)).collect();
        let s = evaluate(&truth, &perfect, 0.5);
        assert_eq!((s.mota, s.idf1, s.id_switches), (1.0, 1.0, 0));
        // Track 11 becomes track 12's face halfway: one switch, IDF1 < 1.
        let switched: Vec<Labelled> = truth
            .iter()
            .map(|&(f, id, x)| (f, if id == 1 && f >= 5 { 13 } else { id + 10 }, x))
            .collect();
        let s = evaluate(&truth, &switched, 0.5);
        assert_eq!(s.id_switches, 1);
        assert!((s.idf1 - 0.75).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn the_assignment_is_optimal_not_greedy() {
        // Greedy would take 5 (row 0 → col 0) and then 1; the best is 4 + 4.
        let counts = vec![vec![5, 4], vec![4, 1]];
        assert_eq!(best_assignment(&counts), 8);
    }
}
