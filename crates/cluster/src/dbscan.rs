//! DBSCAN over the neighbour graph, as scikit-learn runs it: a face is core
//! when `min_samples` faces, itself included, are within the threshold;
//! clusters grow from core faces in input order, and a border face joins
//! the first cluster that reaches it.

use crate::Neighbours;

pub(crate) fn dbscan(graph: &Neighbours, min_samples: usize) -> Vec<Option<u32>> {
    let n = graph.len();
    let core: Vec<bool> = graph.iter().map(|l| l.len() + 1 >= min_samples).collect();
    let mut label: Vec<Option<u32>> = vec![None; n];
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..n {
        if !core[start] || label[start].is_some() {
            continue;
        }
        label[start] = Some(next);
        stack.push(start);
        while let Some(i) = stack.pop() {
            if !core[i] {
                continue;
            }
            for &(j, _) in &graph[i] {
                let j = j as usize;
                if label[j].is_none() {
                    label[j] = Some(next);
                    stack.push(j);
                }
            }
        }
        next += 1;
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_faces_chain_and_border_faces_join_but_do_not_extend() {
        // 0-1-2 chain of core faces (min samples 2); 3 is a border of 2
        // only in 2's list (3 sees nobody: not core); 4 alone.
        let graph: Neighbours = vec![
            vec![(1, 0.9)],
            vec![(0, 0.9), (2, 0.9)],
            vec![(1, 0.9), (3, 0.9)],
            vec![],
            vec![],
        ];
        let labels = dbscan(&graph, 2);
        assert_eq!(labels, vec![Some(0), Some(0), Some(0), Some(0), None]);
        // With min samples 3 only 1 and 2 are core (two neighbours + self).
        let labels = dbscan(&graph, 3);
        assert_eq!(labels, vec![Some(0), Some(0), Some(0), Some(0), None]);
    }
}
