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

mod dbscan;
mod graph;
pub mod metrics;
mod neighbours;
pub mod photos;

use serde::{Deserialize, Serialize};

pub use neighbours::{Neighbours, neighbours};

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

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "graph" => Ok(Self::Graph),
            "dbscan" => Ok(Self::Dbscan),
            other => Err(format!("not one of graph, dbscan: '{other}'")),
        }
    }
}

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
pub const DEFAULT_THRESHOLD: f32 = 0.5;

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
}

/// Clusters `faces` (see the crate documentation).
pub fn cluster(faces: &[FaceVector], options: &ClusterOptions) -> Result<Clustering, ClusterError> {
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
    let dim = faces.first().map_or(0, |f| f.embedding.len());
    for (index, f) in faces.iter().enumerate() {
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
    let vectors: Vec<&[f32]> = faces.iter().map(|f| f.embedding.as_slice()).collect();
    let graph = neighbours(
        &vectors,
        options.neighbours,
        options.threshold,
        options.exact_up_to,
    );
    let photos: Vec<u64> = faces.iter().map(|f| f.photo).collect();
    let mut groups = match options.method {
        Method::Graph => graph::chinese_whispers(&graph, options.cannot_link.then_some(&photos)),
        Method::Dbscan => dbscan::dbscan(&graph, options.min_samples),
    };
    if options.cannot_link {
        graph::split_shared_photos(&mut groups, &vectors, &photos);
    }
    Ok(numbered(&groups, options.min_size))
}

/// Group ids (any numbers; `None` for noise) renumbered by size, largest
/// first (ties by first face), groups under `min_size` dropped.
fn numbered(groups: &[Option<u32>], min_size: usize) -> Clustering {
    let mut sizes: std::collections::HashMap<u32, (usize, usize)> = Default::default();
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
    let rank: std::collections::HashMap<u32, u32> = order
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
    }
}
