//! Verification sets: image pairs labelled same / different, read from the
//! three layouts in use — InsightFace `.bin` files, LFW `pairs.txt` over an
//! image folder, and the CFP `Protocol/` folder.

use std::path::{Path, PathBuf};

use crate::pickle::{self, Value};
use crate::{EvalError, ImageMode, read_text};

/// Where one image of a set comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// A file on disk.
    File(PathBuf),
    /// Encoded bytes held in memory (a `.bin` entry).
    Encoded {
        /// Position in the `.bin` file's image list.
        index: usize,
        /// The JPEG/PNG bytes.
        bytes: Vec<u8>,
    },
}

impl ImageSource {
    /// The encoded bytes: the file read within `limits`, or the bytes held.
    pub fn bytes(
        &self,
        limits: &facekit_image::DecodeLimits,
    ) -> Result<std::borrow::Cow<'_, [u8]>, EvalError> {
        match self {
            Self::File(p) => facekit_image::read_file(p, limits)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| EvalError::Image {
                    image: self.describe(),
                    source: e,
                }),
            Self::Encoded { bytes, .. } => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }

    /// A name for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Encoded { index, .. } => format!("image #{index}"),
        }
    }
}

/// One labelled pair, by index into [`PairSet::images`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// First image.
    pub a: usize,
    /// Second image.
    pub b: usize,
    /// Whether both show the same person.
    pub same: bool,
}

/// A verification set: distinct images and the pairs over them, in the
/// protocol's order (the 10 folds are consecutive runs of pairs).
#[derive(Debug, Clone, PartialEq)]
pub struct PairSet {
    /// Human-readable description of the source (for reports).
    pub source: String,
    /// Every image, once.
    pub images: Vec<ImageSource>,
    /// The pairs.
    pub pairs: Vec<Pair>,
}

impl PairSet {
    /// Number of genuine (same) and impostor (different) pairs.
    pub fn counts(&self) -> (usize, usize) {
        let same = self.pairs.iter().filter(|p| p.same).count();
        (same, self.pairs.len() - same)
    }

    /// The first `count` pairs (whole folds when `count` is a multiple of
    /// the fold size; 0: all) and only the images they use, renumbered in
    /// their original order.
    ///
    /// ```
    /// use facekit_eval::{ImageSource, Pair, PairSet};
    /// let image = |n: &str| ImageSource::File(n.into());
    /// let set = PairSet {
    ///     source: "demo".into(),
    ///     images: vec![image("a"), image("b"), image("c"), image("d")],
    ///     pairs: vec![Pair { a: 2, b: 0, same: true }, Pair { a: 1, b: 3, same: false }],
    /// };
    /// let first = set.first_pairs(1);
    /// assert_eq!(first.images, vec![image("a"), image("c")]);
    /// assert_eq!(first.pairs, vec![Pair { a: 1, b: 0, same: true }]);
    /// ```
    pub fn first_pairs(mut self, count: usize) -> PairSet {
        if count > 0 {
            self.pairs.truncate(count);
        }
        let mut used: Vec<usize> = self.pairs.iter().flat_map(|p| [p.a, p.b]).collect();
        used.sort_unstable();
        used.dedup();
        let position = |i: usize| used.binary_search(&i).expect("listed above");
        let pairs = self
            .pairs
            .iter()
            .map(|p| Pair {
                a: position(p.a),
                b: position(p.b),
                same: p.same,
            })
            .collect();
        let mut images: Vec<Option<ImageSource>> = self.images.into_iter().map(Some).collect();
        PairSet {
            source: self.source,
            images: used
                .iter()
                .map(|&i| images[i].take().expect("once each"))
                .collect(),
            pairs,
        }
    }
}

/// The raw bytes inside a `.bin` list entry: a Python 2 `str` / `bytes`, or
/// a numpy `uint8` array (whose `BUILD` state ends with its data).
fn entry_bytes(v: Value) -> Option<Vec<u8>> {
    // The memo is gone once the pickle is loaded, so the bytes are taken
    // without a copy.
    let owned =
        |b: std::rc::Rc<Vec<u8>>| std::rc::Rc::try_unwrap(b).unwrap_or_else(|b| (*b).clone());
    match v {
        Value::Bytes(b) => Some(owned(b)),
        Value::Object {
            state: Some(state), ..
        } => match *state {
            Value::Tuple(mut fields) => match fields.pop()? {
                Value::Bytes(b) => Some(owned(b)),
                // numpy keeps Python 2 data as a latin-1 str.
                Value::Str(s) => Some(s.chars().map(|c| c as u32 as u8).collect()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

fn as_list(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::List(items) | Value::Tuple(items) => Some(items),
        _ => None,
    }
}

/// Reads an InsightFace `.bin` set: a pickle of `(images, issame)` where
/// images `2i` and `2i + 1` form pair `i`. Both layouts found in the wild
/// are read: raw JPEG strings (Python 2, protocol 2; also raw `bytes`
/// under protocols 3–4) and JPEGs wrapped in numpy `uint8` arrays.
pub fn read_bin(path: &Path) -> Result<PairSet, EvalError> {
    let data = std::fs::read(path).map_err(EvalError::io(path))?;
    let value = pickle::load(&data)
        .map_err(|e| EvalError::invalid(path, format!("not a readable pickle: {e}")))?;
    let shape = "expected a pickled (images, issame) pair";
    let mut top = as_list(value).ok_or_else(|| EvalError::invalid(path, shape))?;
    if top.len() != 2 {
        return Err(EvalError::invalid(path, shape));
    }
    let labels = top.pop().expect("two items");
    let images =
        as_list(top.pop().expect("two items")).ok_or_else(|| EvalError::invalid(path, shape))?;
    let labels: Vec<bool> = match labels {
        Value::List(items) | Value::Tuple(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Bool(b) => Some(b),
                Value::Int(i) => Some(i != 0),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                EvalError::invalid(path, "issame holds something other than booleans")
            })?,
        // A numpy bool array.
        other => entry_bytes(other)
            .ok_or_else(|| EvalError::invalid(path, "issame is neither a list nor a numpy array"))?
            .into_iter()
            .map(|b| b != 0)
            .collect(),
    };
    let images: Vec<ImageSource> = images
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            entry_bytes(v)
                .map(|bytes| ImageSource::Encoded { index, bytes })
                .ok_or_else(|| {
                    EvalError::invalid(path, format!("image #{index} is not encoded bytes"))
                })
        })
        .collect::<Result<_, _>>()?;
    if images.len() != 2 * labels.len() {
        return Err(EvalError::invalid(
            path,
            format!(
                "{} images for {} pairs (expected two per pair)",
                images.len(),
                labels.len()
            ),
        ));
    }
    let pairs = labels
        .into_iter()
        .enumerate()
        .map(|(i, same)| Pair {
            a: 2 * i,
            b: 2 * i + 1,
            same,
        })
        .collect();
    Ok(PairSet {
        source: format!("InsightFace .bin {}", path.display()),
        images,
        pairs,
    })
}

/// Collects images by path, each once, in first-use order.
#[derive(Default)]
struct ImageTable {
    images: Vec<ImageSource>,
    index: std::collections::HashMap<PathBuf, usize>,
}

impl ImageTable {
    fn add(&mut self, path: PathBuf) -> usize {
        if let Some(&i) = self.index.get(&path) {
            return i;
        }
        self.images.push(ImageSource::File(path.clone()));
        self.index.insert(path, self.images.len() - 1);
        self.images.len() - 1
    }
}

/// The LFW file of `name`'s `n`-th image, as the LFW folder names it
/// (`Name/Name_0001.jpg`); any image extension is accepted.
fn lfw_image(dir: &Path, name: &str, n: u32) -> Result<PathBuf, EvalError> {
    let folder = dir.join(name);
    let stem = format!("{name}_{n:04}");
    for ext in ["jpg", "png", "jpeg", "JPG"] {
        let p = folder.join(format!("{stem}.{ext}"));
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(EvalError::invalid(
        &folder.join(format!("{stem}.jpg")),
        "image named in pairs.txt not found",
    ))
}

/// Reads LFW's `pairs.txt` (a header `sets n`, then per set `n` matched
/// lines `name i j` and `n` mismatched lines `name1 i name2 j`) over the
/// LFW image folder. Pairs stay in file order, so fold `k` is pairs
/// `k·2n … (k+1)·2n − 1`, LFW's own split.
pub fn read_lfw_pairs(pairs_txt: &Path, images_dir: &Path) -> Result<PairSet, EvalError> {
    let text = read_text(pairs_txt)?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| EvalError::invalid(pairs_txt, "empty file"))?;
    let head: Vec<&str> = header.split_whitespace().collect();
    let mut table = ImageTable::default();
    let mut pairs = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |s: &str| {
            s.parse::<u32>().map_err(|_| {
                EvalError::invalid(
                    pairs_txt,
                    format!("line {}: '{s}' is not an image number", n + 2),
                )
            })
        };
        let (a, b, same) = match f.as_slice() {
            [name, i, j] => (
                lfw_image(images_dir, name, num(i)?)?,
                lfw_image(images_dir, name, num(j)?)?,
                true,
            ),
            [n1, i, n2, j] => (
                lfw_image(images_dir, n1, num(i)?)?,
                lfw_image(images_dir, n2, num(j)?)?,
                false,
            ),
            _ => {
                return Err(EvalError::invalid(
                    pairs_txt,
                    format!("line {}: expected 3 or 4 fields, got '{line}'", n + 2),
                ));
            }
        };
        pairs.push(Pair {
            a: table.add(a),
            b: table.add(b),
            same,
        });
    }
    if let [sets, per] = head.as_slice() {
        let expected = sets.parse::<usize>().ok().zip(per.parse::<usize>().ok());
        if let Some((sets, per)) = expected
            && sets * per * 2 != pairs.len()
        {
            return Err(EvalError::invalid(
                pairs_txt,
                format!(
                    "header promises {sets} sets of 2×{per} pairs, the file has {}",
                    pairs.len()
                ),
            ));
        }
    }
    Ok(PairSet {
        source: format!("LFW pairs {}", pairs_txt.display()),
        images: table.images,
        pairs,
    })
}

/// Which CFP protocol: frontal–frontal or frontal–profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfpProtocol {
    /// Frontal vs frontal.
    FF,
    /// Frontal vs profile.
    FP,
}

/// `Pair_list_X.txt`: `index path` per line, paths relative to `Protocol/`.
fn cfp_list(protocol_dir: &Path, letter: &str) -> Result<Vec<PathBuf>, EvalError> {
    let path = protocol_dir.join(format!("Pair_list_{letter}.txt"));
    let text = read_text(&path)?;
    let mut list = Vec::new();
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let mut f = line.split_whitespace();
        let (Some(idx), Some(rel)) = (f.next(), f.next()) else {
            return Err(EvalError::invalid(
                &path,
                format!("line {}: expected 'index path'", n + 1),
            ));
        };
        if idx.parse::<usize>().ok() != Some(n + 1) {
            return Err(EvalError::invalid(
                &path,
                format!("line {}: index {idx} out of order", n + 1),
            ));
        }
        list.push(protocol_dir.join(rel));
    }
    Ok(list)
}

/// Reads the CFP layout: `Protocol/Pair_list_{F,P}.txt` and
/// `Protocol/Split/{FF,FP}/01..10/{same,diff}.txt` (lines `i,j`, 1-based
/// into the frontal list and the frontal or profile list). Pairs are
/// ordered fold by fold, each fold's `same` then `diff`, so the 10 folds
/// are consecutive as the protocol defines them.
pub fn read_cfp(root: &Path, protocol: CfpProtocol) -> Result<PairSet, EvalError> {
    let protocol_dir = if root.join("Protocol").is_dir() {
        root.join("Protocol")
    } else {
        root.to_path_buf()
    };
    let frontal = cfp_list(&protocol_dir, "F")?;
    let (second, split) = match protocol {
        CfpProtocol::FF => (frontal.clone(), "FF"),
        CfpProtocol::FP => (cfp_list(&protocol_dir, "P")?, "FP"),
    };
    let mut table = ImageTable::default();
    let mut pairs = Vec::new();
    for fold in 1..=10 {
        for (file, same) in [("same.txt", true), ("diff.txt", false)] {
            let path = protocol_dir
                .join("Split")
                .join(split)
                .join(format!("{fold:02}"))
                .join(file);
            for (n, line) in read_text(&path)?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
            {
                let bad = || {
                    EvalError::invalid(
                        &path,
                        format!("line {}: expected 'i,j', got '{line}'", n + 1),
                    )
                };
                let (i, j) = line.trim().split_once(',').ok_or_else(bad)?;
                let i: usize = i.trim().parse().map_err(|_| bad())?;
                let j: usize = j.trim().parse().map_err(|_| bad())?;
                let a = frontal.get(i.wrapping_sub(1)).ok_or_else(bad)?;
                let b = second.get(j.wrapping_sub(1)).ok_or_else(bad)?;
                pairs.push(Pair {
                    a: table.add(a.clone()),
                    b: table.add(b.clone()),
                    same,
                });
            }
        }
    }
    Ok(PairSet {
        source: format!("CFP {split} {}", protocol_dir.display()),
        images: table.images,
        pairs,
    })
}

/// Where a verification set comes from, as the CLI's `--bin`, `--pairs` +
/// `--images` and `--cfp` + `--protocol` name it (and the Python package's
/// `facekit.eval.verify` keywords).
#[derive(Debug, Clone, Default)]
pub struct SetSource {
    /// An InsightFace `.bin` set.
    pub bin: Option<PathBuf>,
    /// An LFW `pairs.txt`.
    pub pairs: Option<PathBuf>,
    /// The image folder of `pairs` (`Name/Name_0001.jpg`).
    pub images: Option<PathBuf>,
    /// A CFP folder (holding `Protocol/`).
    pub cfp: Option<PathBuf>,
    /// CFP protocol: `fp` (frontal–profile) or `ff` (frontal–frontal).
    pub protocol: String,
    /// `aligned` or `detect`; `None`: aligned for `.bin`, detect otherwise.
    pub mode: Option<String>,
}

impl SetSource {
    /// Reads the set and decides how its images become crops.
    pub fn read(&self) -> Result<(PairSet, ImageMode), EvalError> {
        let (pairs, default_mode) = if let Some(bin) = &self.bin {
            (read_bin(bin)?, ImageMode::Aligned)
        } else if let Some(pairs) = &self.pairs {
            let images = self.images.as_ref().ok_or_else(|| {
                EvalError::Invalid("a pairs file needs its images folder (--images)".into())
            })?;
            (read_lfw_pairs(pairs, images)?, ImageMode::Detect)
        } else if let Some(cfp) = &self.cfp {
            let protocol = match self.protocol.to_ascii_lowercase().as_str() {
                "fp" => CfpProtocol::FP,
                "ff" => CfpProtocol::FF,
                other => {
                    return Err(EvalError::Invalid(format!(
                        "the CFP protocol must be fp or ff, not '{other}'"
                    )));
                }
            };
            (read_cfp(cfp, protocol)?, ImageMode::Detect)
        } else {
            return Err(EvalError::Invalid(
                "give a set: a .bin file (--bin), a pairs.txt (--pairs) or a CFP folder (--cfp)"
                    .into(),
            ));
        };
        let mode = match self.mode.as_deref() {
            None => default_mode,
            Some("aligned") => ImageMode::Aligned,
            Some("detect") => ImageMode::Detect,
            Some(other) => {
                return Err(EvalError::Invalid(format!(
                    "the mode must be aligned or detect, not '{other}'"
                )));
            }
        };
        Ok((pairs, mode))
    }
}
