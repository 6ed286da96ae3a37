//! A gallery collection into people, and the corrections that every later
//! clustering keeps. Faces enrolled without a person ([`UNASSIGNED`]) are
//! placed by [`cluster_collection`]: an incremental run places only the
//! faces clustering has not seen (each joins the person or suggestion its
//! neighbours in the gallery's own index vote for, or new faces form new
//! suggested persons); a full run places every face no person decided
//! again. A person's decisions — naming a suggestion, merging, splitting,
//! moving a face, "not this person" — pin faces to persons or forbid them
//! one, and both runs honour them. Works on any [`FaceGallery`] backend.
//!
//! ```no_run
//! use facekit_cluster::ClusterOptions;
//! use facekit_cluster::collection::{cluster_collection, name_person, Run};
//! use facekit_gallery::{FaceGallery, Gallery};
//! let gallery = Gallery::open("photos.db".as_ref())?;
//! let run = cluster_collection(&gallery, "family", &ClusterOptions::default(), Run::Incremental)?;
//! for key in &run.new_persons {
//!     println!("suggested: {key}");
//! }
//! if let Some(key) = run.new_persons.first() {
//!     name_person(&gallery, "family", key, "Grandma")?;
//! }
//! # Ok::<(), facekit_cluster::ClusterError>(())
//! ```

use std::collections::{HashMap, HashSet};

use facekit_core::l2_normalized;
use facekit_gallery::{ClusterFace, Edit, FaceGallery, PersonInfo, Renumbered, UNASSIGNED};
use serde::Serialize;

use crate::graph::{self, Rules};
use crate::{
    ClusterError, ClusterOptions, Clusterer, Constraints, FREE_LABELS, FaceVector, Method,
};

/// Which faces a run places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    /// Only faces clustering has not seen (DBSCAN, which has no
    /// incremental form, always runs full).
    Incremental,
    /// Every face no person decided.
    Full,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunReport {
    /// Whether it was a full run.
    pub full: bool,
    /// Faces it placed (looked at).
    pub placed: usize,
    /// Of those, faces that joined a person that existed before the run.
    pub joined: usize,
    /// Suggested persons it created, by key.
    pub new_persons: Vec<String>,
    /// Suggested persons it removed (a full run: their faces went elsewhere).
    pub removed_persons: Vec<String>,
    /// Faces of the collection that belong to no person after it.
    pub unassigned: usize,
    /// Faces the backend renumbered to move them (Milvus), `[old, new]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<i64>>))]
    pub renumbered: Renumbered,
}

/// A photo id for the cannot-link rule: the image hash's first 64 bits;
/// a face without a hash is a photo of its own.
fn photo_of(face: &ClusterFace) -> u64 {
    face.image_sha256
        .as_deref()
        .and_then(|h| h.get(..16))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(u64::MAX - face.id as u64)
}

/// Whether clustering may move a face: a person decided nothing about it.
fn movable(face: &ClusterFace) -> bool {
    face.person == UNASSIGNED || face.suggested
}

/// A key for a new suggested person, not taken yet.
fn fresh_key(taken: &mut HashSet<String>, first_face: i64) -> String {
    let base = format!("cluster-{first_face}");
    let mut key = base.clone();
    let mut n = 2;
    while taken.contains(&key) {
        key = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(key.clone());
    key
}

/// The collection's persons as labels: key → label (below 2³¹).
struct Labels {
    of_key: HashMap<String, u32>,
    keys: Vec<String>,
}

impl Labels {
    fn new(faces: &[ClusterFace], persons: impl IntoIterator<Item = String>) -> Self {
        let mut keys: Vec<String> = persons.into_iter().collect();
        keys.extend(faces.iter().map(|f| f.person.clone()));
        keys.retain(|k| k != UNASSIGNED);
        keys.sort();
        keys.dedup();
        let of_key = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
        Self { of_key, keys }
    }

    fn forbidden(&self, faces: &[ClusterFace]) -> HashSet<(usize, u32)> {
        faces
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                f.excluded
                    .iter()
                    .filter_map(move |k| self.of_key.get(k).map(|&l| (i, l)))
            })
            .collect()
    }
}

/// Places the collection's faces (see the module documentation).
pub fn cluster_collection(
    gallery: &dyn FaceGallery,
    collection: &str,
    options: &ClusterOptions,
    run: Run,
) -> Result<RunReport, ClusterError> {
    // Refuses unusable options before anything is read.
    Clusterer::new(options.clone())?;
    let faces = gallery.cluster_faces(collection)?;
    let persons = gallery.persons(collection)?;
    let suggested: HashSet<String> = persons
        .iter()
        .filter(|p| p.suggested)
        .map(|p| p.key.clone())
        .collect();
    let labels = Labels::new(&faces, persons.iter().map(|p| p.key.clone()));
    let full = run == Run::Full || options.method == Method::Dbscan;
    let targets = if full {
        full_run(gallery, collection, options, &faces, &labels, &suggested)?
    } else {
        incremental_run(gallery, collection, options, &faces, &labels)?
    };
    let mut report = RunReport {
        full,
        ..RunReport::default()
    };
    let mut taken: HashSet<String> = labels.keys.iter().cloned().collect();
    let mut edits = Vec::new();
    // New suggested persons first, then every face placed.
    let mut key_of_group: HashMap<usize, String> = HashMap::new();
    for (group, members) in &targets.new_groups {
        let first = members.iter().map(|&i| faces[i].id).min().unwrap_or(0);
        let key = fresh_key(&mut taken, first);
        edits.push(Edit::CreatePerson {
            person: PersonInfo::new(&key),
            suggested: true,
        });
        report.new_persons.push(key.clone());
        key_of_group.insert(*group, key);
    }
    let mut holds: HashMap<String, usize> = HashMap::new();
    for (i, face) in faces.iter().enumerate() {
        let person = match targets.place.get(&i) {
            Some(Target::Person(key)) => key.clone(),
            Some(Target::Group(g)) => key_of_group[g].clone(),
            Some(Target::Nobody) => UNASSIGNED.to_string(),
            None => face.person.clone(),
        };
        *holds.entry(person.clone()).or_default() += 1;
        if targets.place.contains_key(&i) {
            report.placed += 1;
            if person != UNASSIGNED && labels.of_key.contains_key(&person) && person != face.person
            {
                report.joined += 1;
            }
            if person != face.person || !face.seen || !face.suggested {
                edits.push(Edit::Assign {
                    sample: face.id,
                    person,
                    suggested: true,
                });
            }
        }
    }
    for key in &suggested {
        if !holds.contains_key(key) {
            edits.push(Edit::DeletePerson {
                person: key.clone(),
            });
            report.removed_persons.push(key.clone());
        }
    }
    report.removed_persons.sort();
    report.unassigned = holds.get(UNASSIGNED).copied().unwrap_or(0);
    report.renumbered = gallery.apply_edits(collection, &edits)?;
    Ok(report)
}

/// Where a run puts a face.
enum Target {
    /// An existing person.
    Person(String),
    /// A new suggested person (by group number).
    Group(usize),
    /// No person.
    Nobody,
}

/// A run's decisions: faces (by position) to place, and the groups that
/// become new suggested persons with their members.
#[derive(Default)]
struct Targets {
    place: HashMap<usize, Target>,
    new_groups: Vec<(usize, Vec<usize>)>,
}

/// New faces only: their neighbours come from the gallery's index; they
/// take the label their neighbours vote for (persons' labels, or another
/// face's of no person), and faces of no person left in groups of at
/// least `min_size` form new suggested persons.
fn incremental_run(
    gallery: &dyn FaceGallery,
    collection: &str,
    options: &ClusterOptions,
    faces: &[ClusterFace],
    labels: &Labels,
) -> Result<Targets, ClusterError> {
    let position: HashMap<i64, usize> = faces.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    let new: Vec<usize> = (0..faces.len())
        .filter(|&i| faces[i].person == UNASSIGNED && !faces[i].seen)
        .collect();
    let mut targets = Targets::default();
    if new.is_empty() {
        return Ok(targets);
    }
    let ids: Vec<i64> = new.iter().map(|&i| faces[i].id).collect();
    let embeddings: HashMap<i64, Vec<f32>> = gallery
        .sample_embeddings(collection, &ids)?
        .into_iter()
        .collect();
    let new: Vec<usize> = new
        .into_iter()
        .filter(|&i| embeddings.contains_key(&faces[i].id))
        .collect();
    let queries: Vec<Vec<f32>> = new
        .iter()
        .map(|&i| l2_normalized(&embeddings[&faces[i].id]))
        .collect();
    let found = gallery.neighbours(collection, &queries, options.neighbours + 1)?;
    let is_new: HashSet<usize> = new.iter().copied().collect();
    let mut adjacent = vec![Vec::new(); faces.len()];
    for (&i, hits) in new.iter().zip(found) {
        let kept = hits
            .into_iter()
            .filter_map(|(id, s)| Some((*position.get(&id)?, s)))
            .filter(|&(j, s)| j != i && s >= options.threshold)
            .take(options.neighbours);
        for (j, s) in kept {
            adjacent[i].push((j as u32, s));
            if is_new.contains(&j) {
                adjacent[j].push((i as u32, s));
            }
        }
    }
    for list in &mut adjacent {
        list.sort_by_key(|&(j, _)| j);
        list.dedup_by_key(|&mut (j, _)| j);
    }
    let mut label: Vec<u32> = faces
        .iter()
        .enumerate()
        .map(|(i, f)| match labels.of_key.get(&f.person) {
            Some(&l) => l,
            None => FREE_LABELS + i as u32,
        })
        .collect();
    let photos: Vec<u64> = faces.iter().map(photo_of).collect();
    let forbidden = labels.forbidden(faces);
    let rules = Rules {
        photos: options.cannot_link.then_some(photos.as_slice()),
        forbidden: &forbidden,
    };
    graph::whisper(&adjacent, &mut label, new.clone(), &rules);
    // Groups of faces of no person that the new faces formed or joined
    // (an old face of no person whose label a new face took).
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for &i in &new {
        if label[i] >= FREE_LABELS {
            groups.entry(label[i]).or_default().push(i);
        }
    }
    for (i, f) in faces.iter().enumerate() {
        if f.person == UNASSIGNED
            && !is_new.contains(&i)
            && let Some(members) = groups.get_mut(&label[i])
        {
            members.push(i);
        }
    }
    for &i in &new {
        let l = label[i];
        let target = if l < FREE_LABELS {
            Target::Person(labels.keys[l as usize].clone())
        } else if groups[&l].len() >= options.min_size.max(2) {
            Target::Group(l as usize)
        } else {
            Target::Nobody
        };
        targets.place.insert(i, target);
    }
    let mut new_groups: Vec<(usize, Vec<usize>)> = groups
        .into_iter()
        .filter(|(_, m)| m.len() >= options.min_size.max(2))
        .map(|(l, mut m)| {
            m.sort_unstable();
            (l as usize, m)
        })
        .collect();
    new_groups.sort_by_key(|(_, m)| m[0]);
    for (l, members) in &new_groups {
        for &i in members {
            targets.place.insert(i, Target::Group(*l));
        }
    }
    targets.new_groups = new_groups;
    Ok(targets)
}

/// Every face: the whole collection clustered again by [`Clusterer`],
/// faces a person decided pinned to their person; clusters without a
/// person keep the key of the suggestion most of their faces were in.
fn full_run(
    gallery: &dyn FaceGallery,
    collection: &str,
    options: &ClusterOptions,
    faces: &[ClusterFace],
    labels: &Labels,
    suggested: &HashSet<String>,
) -> Result<Targets, ClusterError> {
    let mut targets = Targets::default();
    let mut vectors: HashMap<i64, Vec<f32>> = gallery
        .samples(collection, None)?
        .into_iter()
        .map(|s| (s.id, s.embedding))
        .collect();
    let present: Vec<usize> = (0..faces.len())
        .filter(|&i| vectors.contains_key(&faces[i].id))
        .collect();
    if present.is_empty() {
        return Ok(targets);
    }
    let input: Vec<FaceVector> = present
        .iter()
        .map(|&i| FaceVector {
            embedding: l2_normalized(&vectors.remove(&faces[i].id).expect("present")),
            photo: photo_of(&faces[i]),
        })
        .collect();
    let chosen: Vec<ClusterFace> = present.iter().map(|&i| faces[i].clone()).collect();
    // Suggestions are free to move: only a person's decisions pin.
    let mut constraints = Constraints {
        forbidden: labels.forbidden(&chosen),
        ..Constraints::default()
    };
    for (n, f) in chosen.iter().enumerate() {
        if !movable(f) {
            constraints.pinned.insert(n, labels.of_key[&f.person]);
        }
    }
    let mut clusterer = Clusterer::new(options.clone())?;
    clusterer.add(&input, &constraints)?;
    let clustering = clusterer.clustering();
    // Suggestions keep their keys where most of a cluster's faces were.
    let members = clustering.members();
    let mut overlap: Vec<(usize, usize, String)> = Vec::new();
    for (cluster, list) in members.iter().enumerate() {
        if clustering.keys[cluster].is_some() {
            continue;
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for &n in list {
            if suggested.contains(&chosen[n].person) {
                *counts.entry(chosen[n].person.as_str()).or_default() += 1;
            }
        }
        overlap.extend(counts.into_iter().map(|(k, c)| (c, cluster, k.to_string())));
    }
    overlap.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut kept: HashMap<usize, String> = HashMap::new();
    let mut used: HashSet<String> = HashSet::new();
    for (_, cluster, key) in overlap {
        if !kept.contains_key(&cluster) && !used.contains(&key) {
            used.insert(key.clone());
            kept.insert(cluster, key);
        }
    }
    for (cluster, list) in members.iter().enumerate() {
        let target = |_: usize| match (clustering.keys[cluster], kept.get(&cluster)) {
            (Some(k), _) => Target::Person(labels.keys[k as usize].clone()),
            (None, Some(key)) => Target::Person(key.clone()),
            (None, None) => Target::Group(cluster),
        };
        if clustering.keys[cluster].is_none() && !kept.contains_key(&cluster) {
            let positions: Vec<usize> = list.iter().map(|&n| present[n]).collect();
            targets.new_groups.push((cluster, positions));
        }
        for &n in list {
            if !movable(&chosen[n]) {
                continue;
            }
            // A suggestion's key is not a label the clusterer knew: its
            // "not this person" marks are kept here.
            let target = match target(n) {
                Target::Person(key) if chosen[n].excluded.contains(&key) => Target::Nobody,
                other => other,
            };
            targets.place.insert(present[n], target);
        }
    }
    for (n, l) in clustering.labels.iter().enumerate() {
        if l.is_none() && movable(&chosen[n]) {
            targets.place.insert(present[n], Target::Nobody);
        }
    }
    Ok(targets)
}

/// The ids of `person`'s faces.
fn faces_of(
    gallery: &dyn FaceGallery,
    collection: &str,
    person: &str,
) -> Result<Vec<i64>, ClusterError> {
    gallery.person(collection, person)?;
    Ok(gallery
        .cluster_faces(collection)?
        .into_iter()
        .filter(|f| f.person == person)
        .map(|f| f.id)
        .collect())
}

/// Names a person (a suggestion becomes a person: it and its faces stay
/// as they are at every later clustering).
pub fn name_person(
    gallery: &dyn FaceGallery,
    collection: &str,
    person: &str,
    name: &str,
) -> Result<Renumbered, ClusterError> {
    let renamed = gallery.update_person(collection, person, Some(name), None)?;
    if !renamed.suggested {
        return Ok(Renumbered::new());
    }
    Ok(gallery.apply_edits(
        collection,
        &[Edit::Confirm {
            person: person.into(),
        }],
    )?)
}

/// Merges person `from` into `into`: every face of `from` is pinned to
/// `into`, and `from` is deleted.
pub fn merge_persons(
    gallery: &dyn FaceGallery,
    collection: &str,
    from: &str,
    into: &str,
) -> Result<Renumbered, ClusterError> {
    if from == into {
        return Err(ClusterError::Invalid(format!(
            "cannot merge '{from}' into itself"
        )));
    }
    gallery.person(collection, into)?;
    let mut edits: Vec<Edit> = faces_of(gallery, collection, from)?
        .into_iter()
        .map(|sample| Edit::Assign {
            sample,
            person: into.into(),
            suggested: false,
        })
        .collect();
    edits.push(Edit::Confirm {
        person: into.into(),
    });
    edits.push(Edit::DeletePerson {
        person: from.into(),
    });
    Ok(gallery.apply_edits(collection, &edits)?)
}

/// Splits `faces` off `person` into a new person: they are pinned to it
/// and never join `person` again.
pub fn split_person(
    gallery: &dyn FaceGallery,
    collection: &str,
    person: &str,
    faces: &[i64],
    new_person: &PersonInfo,
) -> Result<Renumbered, ClusterError> {
    let held: HashSet<i64> = faces_of(gallery, collection, person)?.into_iter().collect();
    if faces.is_empty() {
        return Err(ClusterError::Invalid(
            "a split needs at least one face".into(),
        ));
    }
    if let Some(f) = faces.iter().find(|f| !held.contains(f)) {
        return Err(ClusterError::Invalid(format!(
            "face {f} is not one of '{person}''s faces"
        )));
    }
    let mut edits = vec![Edit::CreatePerson {
        person: new_person.clone(),
        suggested: false,
    }];
    for &sample in faces {
        edits.push(Edit::Assign {
            sample,
            person: new_person.key.clone(),
            suggested: false,
        });
        edits.push(Edit::Exclude {
            sample,
            person: person.into(),
        });
    }
    Ok(gallery.apply_edits(collection, &edits)?)
}

/// Moves faces to `person`, pinned there.
pub fn move_faces(
    gallery: &dyn FaceGallery,
    collection: &str,
    faces: &[i64],
    person: &str,
) -> Result<Renumbered, ClusterError> {
    gallery.person(collection, person)?;
    let edits: Vec<Edit> = faces
        .iter()
        .map(|&sample| Edit::Assign {
            sample,
            person: person.into(),
            suggested: false,
        })
        .collect();
    Ok(gallery.apply_edits(collection, &edits)?)
}

/// "Not this person": the face never joins `person` again; when it is
/// theirs now, it leaves them, and the next run places it elsewhere.
pub fn not_this_person(
    gallery: &dyn FaceGallery,
    collection: &str,
    face: i64,
    person: &str,
) -> Result<Renumbered, ClusterError> {
    gallery.person(collection, person)?;
    let mut edits = vec![Edit::Exclude {
        sample: face,
        person: person.into(),
    }];
    if faces_of(gallery, collection, person)?.contains(&face) {
        edits.push(Edit::Release { sample: face });
    }
    Ok(gallery.apply_edits(collection, &edits)?)
}
