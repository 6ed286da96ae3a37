//! Faces into people. Each face is a unit embedding and the photo it came
//! from; [`cluster`] links every face to its nearest neighbours above a
//! similarity threshold (an exact scan up to [`ClusterOptions::exact_up_to`]
//! faces, the gallery's HNSW index beyond, so a million faces never needs
//! an N² matrix) and groups the graph: by Chinese whispers (the default),
//! where a face never joins a group that already holds a face of its photo,
//! or by DBSCAN, as InsightFace's GUI runs it ([`ClusterOptions::insightface_gui`]).
//! [`metrics`] scores a clustering against the truth (pairwise and BCubed).
//! [`photos`] runs it on folders of photos. Depends on `facekit-gallery`
//! for its vector indexes and `facekit-eval` for cached face embeddings.
//!
//! ```
//! use facekit_cluster::{ClusterOptions, FaceVector, cluster};
//! let unit = |a: f32| vec![a.cos(), a.sin()];
//! let faces = [
//!     FaceVector { embedding: unit(0.0), photo: 1 },
//!     FaceVector { embedding: unit(0.1), photo: 2 },
//!     FaceVector { embedding: unit(0.05), photo: 2 }, // same photo as the one before
//!     FaceVector { embedding: unit(3.0), photo: 3 },
//! ];
//! let options = ClusterOptions { threshold: 0.9, ..ClusterOptions::default() };
//! let found = cluster(&faces, &options)?;
//! assert_eq!(found.clusters, 1);
//! assert_eq!(found.labels[0], Some(0));
//! // Faces 1 and 2 share a photo: never one person.
//! assert_ne!(found.labels[1], found.labels[2]);
//! assert_eq!(found.labels[3], None); // alone: unclustered
//! # Ok::<(), facekit_cluster::ClusterError>(())
//! ```

pub mod collection;
mod dbscan;
mod graph;
pub mod metrics;
mod neighbours;
pub mod photos;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use neighbours::FaceIndex;

use neighbours::Neighbours;

/// One face: its embedding (unit length) and the photo it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceVector {
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// The photo; two faces of one photo are never one person.
    pub photo: u64,
}

/// How faces are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Chinese whispers over the neighbour graph, edges weighted by
    /// similarity, with cannot-link constraints while it runs.
    #[default]
    Graph,
    /// DBSCAN on cosine similarity (a face is core with `min_samples`
    /// faces, itself included, at or above the threshold).
    Dbscan,
}

facekit_core::from_words!(Method, "method", { "graph" => Graph, "dbscan" => Dbscan });

/// Clustering settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// The method.
    pub method: Method,
    /// Cosine similarity two faces need to be linked.
    pub threshold: f32,
    /// Neighbours kept per face (the graph's degree, DBSCAN's search depth).
    pub neighbours: usize,
    /// DBSCAN: faces (itself included) within the threshold that make a
    /// face core.
    pub min_samples: usize,
    /// Groups smaller than this are left unclustered.
    pub min_size: usize,
    /// Two faces of one photo are never one person.
    pub cannot_link: bool,
    /// Up to this many faces, neighbours come from an exact scan; beyond,
    /// from an HNSW index (re-scored exactly).
    pub exact_up_to: usize,
}

impl Default for ClusterOptions {
    /// The defaults measured on LFW with SFace (see the README).
    fn default() -> Self {
        Self {
            method: Method::Graph,
            threshold: DEFAULT_THRESHOLD,
            neighbours: 20,
            min_samples: 2,
            min_size: 2,
            cannot_link: true,
            exact_up_to: 20_000,
        }
    }
}

/// Default similarity threshold of the graph method.
pub const DEFAULT_THRESHOLD: f32 = 0.55;

impl ClusterOptions {
    /// InsightFace's GUI albums: DBSCAN, cosine threshold 0.48, min samples
    /// 2, no constraints.
    pub fn insightface_gui() -> Self {
        Self {
            method: Method::Dbscan,
            threshold: 0.48,
            neighbours: 1000,
            min_samples: 2,
            min_size: 2,
            cannot_link: false,
            ..Self::default()
        }
    }
}

/// A clustering: each face's cluster (`None`: unclustered), clusters
/// numbered from 0 by size, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clustering {
    /// By face, in input order.
    pub labels: Vec<Option<u32>>,
    /// Number of clusters.
    pub clusters: u32,
    /// By cluster: the group key of [`Constraints::pinned`] faces in it.
    pub keys: Vec<Option<u32>>,
}

impl Clustering {
    /// The faces of each cluster, cluster 0 first.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.clusters as usize];
        for (i, l) in self.labels.iter().enumerate() {
            if let Some(l) = l {
                out[*l as usize].push(i);
            }
        }
        out
    }
}

/// Why faces could not be clustered.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Embeddings of different lengths, or not finite.
    #[error("face {index}: {why}")]
    BadEmbedding {
        /// The face.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// A setting out of range.
    #[error("{0}")]
    Invalid(String),
    /// The gallery refused or failed.
    #[error(transparent)]
    Gallery(#[from] facekit_gallery::GalleryError),
}

/// Corrections a person made, which every clustering keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Faces whose group a person decided (named, moved, merged, split
    /// off): face → group key (below 2³¹). Faces with one key stay
    /// together, and pinned faces never move; the others may join them.
    pub pinned: HashMap<usize, u32>,
    /// `(face, group key)` pairs that must never be: "not this person".
    pub forbidden: HashSet<(usize, u32)>,
}

/// Labels from here up are the clusterer's own; below are group keys.
pub(crate) const FREE_LABELS: u32 = 1 << 31;

/// A clustering kept up to date as faces arrive: [`add`](Self::add)
/// places new faces only (each joins the group its neighbours vote for, or
/// they form new ones; the faces already placed stay), and
/// [`recluster`](Self::recluster) runs everything again. Both keep the
/// [`Constraints`].
pub struct Clusterer {
    options: ClusterOptions,
    vectors: Vec<Vec<f32>>,
    photos: Vec<u64>,
    index: Option<FaceIndex>,
    /// The undirected neighbour graph.
    adjacent: Neighbours,
    /// Each face's group (`None`: DBSCAN noise).
    groups: Vec<Option<u32>>,
    next_label: u32,
}

impl Clusterer {
    /// An empty clusterer.
    pub fn new(options: ClusterOptions) -> Result<Self, ClusterError> {
        if !(options.threshold.is_finite() && (-1.0..=1.0).contains(&options.threshold)) {
            return Err(ClusterError::Invalid(format!(
                "threshold {} is not a cosine between -1 and 1",
                options.threshold
            )));
        }
        if options.neighbours == 0 {
            return Err(ClusterError::Invalid(
                "neighbours must be at least 1".into(),
            ));
        }
        Ok(Self {
            options,
            vectors: Vec::new(),
            photos: Vec::new(),
            index: None,
            adjacent: Vec::new(),
            groups: Vec::new(),
            next_label: FREE_LABELS,
        })
    }

    /// Faces held.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether it holds no face.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    fn check(&self, faces: &[FaceVector]) -> Result<(), ClusterError> {
        let dim = self
            .vectors
            .first()
            .or(faces.first().map(|f| &f.embedding))
            .map_or(0, Vec::len);
        for (i, f) in faces.iter().enumerate() {
            let index = self.len() + i;
            if f.embedding.len() != dim || dim == 0 {
                return Err(ClusterError::BadEmbedding {
                    index,
                    why: format!(
                        "{} values where the first face has {dim}",
                        f.embedding.len()
                    ),
                });
            }
            if f.embedding.iter().any(|v| !v.is_finite()) {
                return Err(ClusterError::BadEmbedding {
                    index,
                    why: "a value is not finite".into(),
                });
            }
        }
        Ok(())
    }

    /// Checks corrections against a clusterer of `faces` faces.
    fn check_constraints(constraints: &Constraints, faces: usize) -> Result<(), ClusterError> {
        let bad = constraints
            .pinned
            .iter()
            .map(|(&f, &k)| (f, k))
            .chain(constraints.forbidden.iter().copied())
            .find(|&(f, k)| f >= faces || k >= FREE_LABELS);
        match bad {
            Some((face, key)) => Err(ClusterError::Invalid(format!(
                "a correction names face {face} (of {faces}) or group key {key} (keys are below 2^31)"
            ))),
            None => Ok(()),
        }
    }

    /// Adds `faces` (numbered after those held) and places them.
    pub fn add(
        &mut self,
        faces: &[FaceVector],
        constraints: &Constraints,
    ) -> Result<(), ClusterError> {
        self.check(faces)?;
        Self::check_constraints(constraints, self.len() + faces.len())?;
        let first = self.len();
        self.vectors
            .extend(faces.iter().map(|f| f.embedding.clone()));
        self.photos.extend(faces.iter().map(|f| f.photo));
        let dim = self.vectors.first().map_or(0, Vec::len);
        let total = self.len();
        let vectors: Vec<&[f32]> = self.vectors.iter().map(Vec::as_slice).collect();
        // A scan that has grown past its size becomes HNSW.
        let rebuild = match &self.index {
            None => true,
            Some(index) => index.scan && total > self.options.exact_up_to,
        };
        if rebuild {
            let mut index = FaceIndex::new(dim, total, self.options.exact_up_to);
            index.add(0, &vectors);
            self.index = Some(index);
        } else if let Some(index) = &mut self.index {
            index.add(first, &vectors[first..]);
        }
        let index = self.index.as_ref().expect("built above");
        let found = index.query(
            &vectors,
            first..total,
            self.options.neighbours,
            self.options.threshold,
        );
        graph::link(&mut self.adjacent, first, found);
        let fresh: Vec<u32> = (0..faces.len() as u32)
            .map(|i| self.next_label + i)
            .collect();
        self.next_label += faces.len() as u32;
        self.groups.extend(fresh.into_iter().map(Some));
        self.place((first..total).collect(), constraints);
        Ok(())
    }

    /// Places every face again (corrections kept).
    pub fn recluster(&mut self, constraints: &Constraints) -> Result<(), ClusterError> {
        Self::check_constraints(constraints, self.len())?;
        let n = self.len() as u32;
        self.groups = (0..n).map(|i| Some(self.next_label + i)).collect();
        self.next_label += n;
        self.place((0..self.len()).collect(), constraints);
        Ok(())
    }

    /// Spreads labels over `movable` faces; pinned faces take their key.
    fn place(&mut self, movable: Vec<usize>, constraints: &Constraints) {
        for (&face, &key) in &constraints.pinned {
            self.groups[face] = Some(key);
        }
        let movable: Vec<usize> = movable
            .into_iter()
            .filter(|i| !constraints.pinned.contains_key(i))
            .collect();
        let rules = graph::Rules {
            photos: self.options.cannot_link.then_some(self.photos.as_slice()),
            forbidden: &constraints.forbidden,
        };
        match self.options.method {
            Method::Graph => {
                let mut label: Vec<u32> = self
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| g.unwrap_or(self.next_label + i as u32))
                    .collect();
                self.next_label += self.len() as u32;
                graph::whisper(&self.adjacent, &mut label, movable, &rules);
                self.groups = label.into_iter().map(Some).collect();
            }
            // DBSCAN has no incremental form: it runs on the whole graph.
            Method::Dbscan => {
                self.groups = dbscan::dbscan(&self.adjacent, self.options.min_samples)
                    .into_iter()
                    .map(|g| g.map(|g| FREE_LABELS + g))
                    .collect();
                for (&face, &key) in &constraints.pinned {
                    self.groups[face] = Some(key);
                }
            }
        }
    }

    /// The clustering now: at most one face of a photo per cluster (with
    /// `cannot_link`), clusters under `min_size` left out, numbered by size.
    pub fn clustering(&self) -> Clustering {
        let mut groups = self.groups.clone();
        if self.options.cannot_link {
            let vectors: Vec<&[f32]> = self.vectors.iter().map(Vec::as_slice).collect();
            graph::split_shared_photos(&mut groups, &vectors, &self.photos);
        }
        numbered(&groups, self.options.min_size)
    }
}

/// Clusters `faces` (see the crate documentation).
pub fn cluster(faces: &[FaceVector], options: &ClusterOptions) -> Result<Clustering, ClusterError> {
    let mut clusterer = Clusterer::new(options.clone())?;
    clusterer.add(faces, &Constraints::default())?;
    Ok(clusterer.clustering())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Of `among`, the face most similar to the mean embedding of `group`
/// (`vector` gives a face's embedding).
pub(crate) fn most_central<'a>(
    vector: impl Fn(usize) -> &'a [f32],
    group: &[usize],
    among: &[usize],
) -> usize {
    let mut mean = vec![0.0f32; vector(group[0]).len()];
    for &i in group {
        mean.iter_mut().zip(vector(i)).for_each(|(m, v)| *m += v);
    }
    among
        .iter()
        .copied()
        .max_by(|&a, &b| dot(&mean, vector(a)).total_cmp(&dot(&mean, vector(b))))
        .expect("a face to choose from")
}

/// Group ids (any numbers; `None` for noise) renumbered by size, largest
/// first (ties by first face), groups under `min_size` dropped.
fn numbered(groups: &[Option<u32>], min_size: usize) -> Clustering {
    let mut sizes: HashMap<u32, (usize, usize)> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        if let Some(g) = g {
            let e = sizes.entry(*g).or_insert((0, i));
            e.0 += 1;
        }
    }
    let mut order: Vec<(u32, usize, usize)> = sizes
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_size.max(1))
        .map(|(g, (n, first))| (g, n, first))
        .collect();
    order.sort_by_key(|&(_, n, first)| (std::cmp::Reverse(n), first));
    let rank: HashMap<u32, u32> = order
        .iter()
        .enumerate()
        .map(|(r, &(g, _, _))| (g, r as u32))
        .collect();
    Clustering {
        labels: groups
            .iter()
            .map(|g| g.and_then(|g| rank.get(&g).copied()))
            .collect(),
        clusters: order.len() as u32,
        keys: order
            .iter()
            .map(|&(g, _, _)| (g < FREE_LABELS).then_some(g))
            .collect(),
    }
}
