//! Chinese whispers (Biemann 2006) over the neighbour graph, and the
//! cannot-link repair every method's result goes through.

use std::collections::HashMap;

use crate::{Neighbours, most_central};

/// Rounds at most; it usually settles in under ten.
const MAX_ROUNDS: usize = 30;

/// Adds the neighbour lists of faces `first..` to the undirected graph,
/// each link in both faces' lists, once. Earlier faces only gain links to
/// later ones, appended in order, so only the new lists need sorting.
pub(crate) fn link(adjacent: &mut Neighbours, first: usize, found: Neighbours) {
    adjacent.resize(first + found.len(), Vec::new());
    for (offset, list) in found.into_iter().enumerate() {
        let i = first + offset;
        for (j, s) in list {
            adjacent[i].push((j, s));
            adjacent[j as usize].push((i as u32, s));
        }
    }
    for list in &mut adjacent[first..] {
        list.sort_by_key(|&(j, _)| j);
        list.dedup_by_key(|&mut (j, _)| j);
    }
}

/// What a face may not do while labels spread.
pub(crate) struct Rules<'a> {
    /// Each face's photo: no label holds two faces of one photo.
    pub photos: Option<&'a [u64]>,
    /// `(face, label)` pairs that must never be ("not this person").
    pub forbidden: &'a std::collections::HashSet<(usize, u32)>,
}

/// A fixed shuffle of `items` (xorshift64*: reproducible, no dependency).
fn shuffled(mut items: Vec<usize>) -> Vec<usize> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..items.len()).rev() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let j = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    items
}

/// Chinese whispers over `adjacent`: each face of `movable`, in turn, takes
/// the label its neighbours carry the most similarity for (the others keep
/// theirs but vote), until no label changes. A face never takes a label
/// the rules forbid it. The order is a fixed shuffle, so a run is
/// reproducible.
pub(crate) fn whisper(
    adjacent: &Neighbours,
    label: &mut [u32],
    movable: Vec<usize>,
    rules: &Rules,
) {
    // Faces per (label, photo), for the photo constraint.
    let mut held: HashMap<(u32, u64), u32> = HashMap::new();
    if let Some(photos) = rules.photos {
        for (i, &p) in photos.iter().enumerate() {
            *held.entry((label[i], p)).or_default() += 1;
        }
    }
    let order = shuffled(movable);
    let mut votes: Vec<(u32, f32)> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let mut changed = 0usize;
        for &i in &order {
            votes.clear();
            for &(j, s) in &adjacent[i] {
                let l = label[j as usize];
                match votes.iter_mut().find(|(v, _)| *v == l) {
                    Some(v) => v.1 += s,
                    None => votes.push((l, s)),
                }
            }
            let current = label[i];
            let allowed = |l: u32| {
                !rules.forbidden.contains(&(i, l))
                    && match rules.photos {
                        Some(photos) if l != current => !held.contains_key(&(l, photos[i])),
                        _ => true,
                    }
            };
            let best = votes
                .iter()
                .filter(|(l, _)| allowed(*l))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some(&(best, _)) = best else { continue };
            if best == current {
                continue;
            }
            if let Some(photos) = rules.photos {
                let key = (current, photos[i]);
                let left = held.get_mut(&key).expect("counted");
                *left -= 1;
                if *left == 0 {
                    held.remove(&key);
                }
                *held.entry((best, photos[i])).or_default() += 1;
            }
            label[i] = best;
            changed += 1;
        }
        if changed == 0 {
            break;
        }
    }
}

/// Leaves at most one face of each photo in each group: the one most
/// similar to the group's mean; the others become unclustered.
pub(crate) fn split_shared_photos(groups: &mut [Option<u32>], vectors: &[&[f32]], photos: &[u64]) {
    let mut members: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        if let Some(g) = g {
            members.entry(*g).or_default().push(i);
        }
    }
    for faces in members.values() {
        let mut by_photo: HashMap<u64, Vec<usize>> = HashMap::new();
        for &i in faces {
            by_photo.entry(photos[i]).or_default().push(i);
        }
        if by_photo.values().all(|f| f.len() == 1) {
            continue;
        }
        for shared in by_photo.values().filter(|f| f.len() > 1) {
            let keep = most_central(|i| vectors[i], faces, shared);
            for &i in shared.iter().filter(|&&i| i != keep) {
                groups[i] = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The undirected graph: `j` in `i`'s list or `i` in `j`'s, once each.
    fn undirected(graph: &Neighbours) -> Neighbours {
        let mut adjacent = Neighbours::new();
        link(&mut adjacent, 0, graph.clone());
        adjacent
    }

    fn spread(graph: &Neighbours, photos: Option<&[u64]>) -> Vec<u32> {
        let mut label: Vec<u32> = (0..graph.len() as u32).collect();
        let forbidden = Default::default();
        let rules = Rules {
            photos,
            forbidden: &forbidden,
        };
        whisper(
            &undirected(graph),
            &mut label,
            (0..graph.len()).collect(),
            &rules,
        );
        label
    }

    #[test]
    fn two_cliques_joined_by_one_weak_edge_stay_two() {
        // 0-1-2 strongly linked, 3-4-5 strongly linked, 2-3 weakly.
        let strong = 0.9;
        let mut graph: Neighbours = vec![Vec::new(); 6];
        for (a, b) in [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)] {
            graph[a].push((b as u32, strong));
        }
        graph[2].push((3, 0.3));
        let labels = spread(&graph, None);
        assert_eq!(labels[0], labels[1]);
        assert_eq!(labels[1], labels[2]);
        assert_eq!(labels[3], labels[4]);
        assert_eq!(labels[4], labels[5]);
        assert_ne!(labels[2], labels[3]);
    }

    #[test]
    fn a_face_never_joins_a_group_holding_its_photo() {
        // Three faces all alike; 1 and 2 are in one photo.
        let graph: Neighbours = vec![vec![(1, 0.9), (2, 0.9)], vec![(2, 0.95)], vec![]];
        let labels = spread(&graph, Some(&[10, 20, 20]));
        assert_ne!(labels[1], labels[2]);
        let mut groups = vec![Some(0), Some(0), Some(0)];
        let (a, b, c) = ([1.0f32, 0.0], [0.8f32, 0.6], [0.0f32, 1.0]);
        split_shared_photos(&mut groups, &[&a, &b, &c], &[10, 20, 20]);
        // 1 is closer to the group's mean than 2: 2 leaves.
        assert_eq!(groups, vec![Some(0), Some(0), None]);
    }
}
