//! A clustering against the truth: pairwise and BCubed precision, recall
//! and F, clusters against people, and the share left unclustered. An
//! unclustered face counts as a cluster of its own (it was not wrongly
//! merged, and its pairs were missed).

use std::collections::HashMap;

use serde::Serialize;

/// Precision, recall and their harmonic mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f: f64,
}

impl Prf {
    fn new(precision: f64, recall: f64) -> Self {
        let f = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Self {
            precision,
            recall,
            f,
        }
    }
}

/// The scores of one clustering.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClusterScores {
    /// Faces scored.
    pub faces: usize,
    /// Pairs of faces: put together and truly together.
    pub pairwise: Prf,
    /// Per face: the share of its cluster that is its person, and of its
    /// person that is in its cluster, averaged.
    pub bcubed: Prf,
    /// Clusters found (unclustered faces not counted).
    pub clusters: usize,
    /// People in the truth.
    pub people: usize,
    /// Share of faces left unclustered.
    pub unclustered: f64,
}

fn pairs(n: usize) -> f64 {
    (n * n.saturating_sub(1) / 2) as f64
}

/// Scores `labels` (`None`: unclustered) against `truth` (a person id per
/// face, same order).
pub fn score(labels: &[Option<u32>], truth: &[u32]) -> ClusterScores {
    assert_eq!(labels.len(), truth.len(), "one truth per face");
    // Unclustered faces get clusters of their own, numbered past the rest.
    let top = labels
        .iter()
        .flatten()
        .max()
        .map_or(0, |m| u64::from(*m) + 1);
    let cluster_of = |i: usize| labels[i].map_or(top + i as u64, u64::from);
    let (mut cells, mut by_cluster, mut by_person) = (
        HashMap::<(u64, u32), usize>::new(),
        HashMap::<u64, usize>::new(),
        HashMap::<u32, usize>::new(),
    );
    for (i, &p) in truth.iter().enumerate() {
        let c = cluster_of(i);
        *cells.entry((c, p)).or_default() += 1;
        *by_cluster.entry(c).or_default() += 1;
        *by_person.entry(p).or_default() += 1;
    }
    let together: f64 = cells.values().map(|&n| pairs(n)).sum();
    let predicted: f64 = by_cluster.values().map(|&n| pairs(n)).sum();
    let actual: f64 = by_person.values().map(|&n| pairs(n)).sum();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    // BCubed, summed by cell: each of a cell's n faces has n in common.
    let (mut precision, mut recall) = (0.0, 0.0);
    for (&(c, p), &n) in &cells {
        let n = n as f64;
        precision += n * n / by_cluster[&c] as f64;
        recall += n * n / by_person[&p] as f64;
    }
    let faces = truth.len();
    let count = faces.max(1) as f64;
    ClusterScores {
        faces,
        pairwise: Prf::new(ratio(together, predicted), ratio(together, actual)),
        bcubed: Prf::new(precision / count, recall / count),
        clusters: labels
            .iter()
            .flatten()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        people: by_person.len(),
        unclustered: labels.iter().filter(|l| l.is_none()).count() as f64 / count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_worked_by_hand() {
        // Truth: A A A B B; predicted: {0,1} {2,3} and 4 unclustered.
        let truth = [0, 0, 0, 1, 1];
        let labels = [Some(0), Some(0), Some(1), Some(1), None];
        let s = score(&labels, &truth);
        // Pairs together: (0,1) right, (2,3) wrong → precision 1/2; truth
        // pairs: 3 (A) + 1 (B) = 4, one found → recall 1/4.
        assert_eq!(s.pairwise.precision, 0.5);
        assert_eq!(s.pairwise.recall, 0.25);
        assert!((s.pairwise.f - 1.0 / 3.0).abs() < 1e-12);
        // BCubed precision: faces 0,1: 1; 2,3: 1/2; 4: 1 → 4/5.
        // Recall: 0,1: 2/3; 2: 1/3; 3: 1/2; 4: 1/2 → (4/3 + 1/3 + 1) / 5.
        assert!((s.bcubed.precision - 0.8).abs() < 1e-12);
        assert!((s.bcubed.recall - (8.0 / 3.0) / 5.0).abs() < 1e-12);
        assert_eq!((s.clusters, s.people), (2, 2));
        assert!((s.unclustered - 0.2).abs() < 1e-12);
        // Perfect.
        let s = score(&[Some(0), Some(0), Some(0), Some(1), Some(1)], &truth);
        assert_eq!((s.pairwise.f, s.bcubed.f), (1.0, 1.0));
    }
}
