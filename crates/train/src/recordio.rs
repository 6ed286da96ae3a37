//! MXNet's RecordIO, the format MS1MV2, Glint360K and WebFace42M ship in
//! (`train.rec` + `train.idx`), read and written without MXNet.
//!
//! A record is `magic (0xced7230a) · lrecord · data · zero padding to 4
//! bytes`, where `lrecord` holds a 3-bit continuation flag and a 29-bit
//! length. A payload that contains the magic at a 4-byte boundary is split
//! there (flags 1 = first, 2 = middle, 3 = last; the magic is left out and
//! put back on reading), as dmlc-core's writer does. The index file is one
//! `key<TAB>offset` line per record. InsightFace's image records start with
//! MXNet's 24-byte `IRHeader` (`flag: u32, label: f32, id: u64, id2: u64`)
//! followed by `flag` extra `f32` labels when `flag > 0`, then the encoded
//! image; record 0 of a face dataset is a header whose labels give the
//! range of image keys.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The 4 bytes every RecordIO part starts with (little-endian).
pub const MAGIC: u32 = 0xced7_230a;
/// Longest record this reader accepts (MXNet's own limit is 2^29 bytes per
/// part); a corrupt length must not make it allocate gigabytes.
pub const MAX_RECORD_BYTES: usize = 64 << 20;
/// Longest index line; a binary file passed as an index fails fast.
const MAX_INDEX_LINE: usize = 256;

/// What can go wrong reading or writing RecordIO.
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not RecordIO (or not where the index says).
    #[error("{path}: {problem} at byte {offset}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad part.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// A line of the index is not `key<TAB>offset`.
    #[error("{path}: line {line}: {problem}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A key the index does not have.
    #[error("{path}: no record with key {key}")]
    NoKey {
        /// The index file.
        path: PathBuf,
        /// The key asked for.
        key: u64,
    },
    /// A record too short for the header it must start with.
    #[error("record {key}: {problem}")]
    Header {
        /// The record's key.
        key: u64,
        /// What is wrong.
        problem: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RecordIoError + '_ {
    move |source| RecordIoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// MXNet's `IRHeader` and the extra labels that follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageHeader {
    /// The number of extra labels (0: `label` is the only one).
    pub flag: u32,
    /// The label (a class id for image records).
    pub label: f32,
    /// MXNet's record id.
    pub id: u64,
    /// MXNet's second id.
    pub id2: u64,
    /// The `flag` labels that follow the header when `flag > 0`.
    pub labels: Vec<f32>,
}

impl ImageHeader {
    /// A header for an image of class `label`.
    pub fn for_class(label: u32, id: u64) -> Self {
        Self {
            flag: 0,
            label: label as f32,
            id,
            id2: 0,
            labels: Vec::new(),
        }
    }

    /// The class: the first extra label when there are any (as
    /// arcface_torch reads it), else `label`.
    pub fn class(&self) -> f32 {
        self.labels.first().copied().unwrap_or(self.label)
    }

    /// Splits a record into its header and payload (MXNet's `unpack`).
    pub fn unpack(key: u64, record: &[u8]) -> Result<(Self, &[u8]), RecordIoError> {
        let short = |need: usize| RecordIoError::Header {
            key,
            problem: format!("{} bytes, the header needs {need}", record.len()),
        };
        if record.len() < 24 {
            return Err(short(24));
        }
        let u32_at = |i: usize| u32::from_le_bytes(record[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(record[i..i + 8].try_into().expect("8 bytes"));
        let flag = u32_at(0);
        let extra = flag as usize * 4;
        if record.len() < 24 + extra {
            return Err(short(24 + extra));
        }
        let labels = record[24..24 + extra]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let header = Self {
            flag,
            label: f32::from_bits(u32_at(4)),
            id: u64_at(8),
            id2: u64_at(16),
            labels,
        };
        Ok((header, &record[24 + extra..]))
    }

    /// Header and payload as one record (MXNet's `pack`).
    pub fn pack(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.labels.len() * 4 + payload.len());
        out.extend_from_slice(&(self.labels.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.label.to_le_bytes());
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.id2.to_le_bytes());
        for label in &self.labels {
            out.extend_from_slice(&label.to_le_bytes());
        }
        out.extend_from_slice(payload);
        out
    }
}

/// A `.rec` file opened with its `.idx`: records by key, in key order.
pub struct IndexedReader {
    rec: BufReader<File>,
    rec_path: PathBuf,
    idx_path: PathBuf,
    offsets: BTreeMap<u64, u64>,
}

impl IndexedReader {
    /// Opens `rec` with the index `idx`.
    ///
    /// ```no_run
    /// let mut data = facekit_train::recordio::IndexedReader::open("train.rec", "train.idx")?;
    /// let (header, jpeg) = data.image(1)?;
    /// println!("class {} with {} bytes", header.class(), jpeg.len());
    /// # Ok::<(), facekit_train::recordio::RecordIoError>(())
    /// ```
    pub fn open(rec: impl AsRef<Path>, idx: impl AsRef<Path>) -> Result<Self, RecordIoError> {
        let (rec, idx) = (rec.as_ref(), idx.as_ref());
        let mut offsets = BTreeMap::new();
        let mut lines = BufReader::new(File::open(idx).map_err(io_error(idx))?);
        let mut line = String::new();
        for number in 1.. {
            line.clear();
            let read = (&mut lines)
                .take(MAX_INDEX_LINE as u64 + 1)
                .read_line(&mut line)
                .map_err(io_error(idx))?;
            if read == 0 {
                break;
            }
            let bad = |problem: String| RecordIoError::Index {
                path: idx.to_path_buf(),
                line: number,
                problem,
            };
            if read > MAX_INDEX_LINE {
                return Err(bad(format!("longer than {MAX_INDEX_LINE} bytes")));
            }
            let text = line.trim_end();
            if text.is_empty() {
                continue;
            }
            let (key, offset) = text
                .split_once('\t')
                .ok_or_else(|| bad(format!("{text:?} is not key<TAB>offset")))?;
            let key: u64 = key
                .trim()
                .parse()
                .map_err(|_| bad(format!("key {key:?}")))?;
            let offset: u64 = offset
                .trim()
                .parse()
                .map_err(|_| bad(format!("offset {offset:?}")))?;
            offsets.insert(key, offset);
        }
        Ok(Self {
            rec: BufReader::new(File::open(rec).map_err(io_error(rec))?),
            rec_path: rec.to_path_buf(),
            idx_path: idx.to_path_buf(),
            offsets,
        })
    }

    /// The keys, ascending.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.offsets.keys().copied()
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The keys of the image records: InsightFace's face datasets put a
    /// header at key 0 whose first label is one past the last image key
    /// (as arcface_torch's `MXFaceDataset` reads it); without one, every
    /// key.
    pub fn image_keys(&mut self) -> Result<Vec<u64>, RecordIoError> {
        if self.offsets.contains_key(&0) {
            let (header, _) = self.image(0)?;
            if header.flag > 0 {
                let end = header.class() as u64;
                return Ok(self.keys().filter(|&k| (1..end).contains(&k)).collect());
            }
        }
        Ok(self.keys().collect())
    }

    /// The record with `key`, whole (parts joined).
    pub fn record(&mut self, key: u64) -> Result<Vec<u8>, RecordIoError> {
        let offset = *self.offsets.get(&key).ok_or_else(|| RecordIoError::NoKey {
            path: self.idx_path.clone(),
            key,
        })?;
        self.rec
            .seek(SeekFrom::Start(offset))
            .map_err(io_error(&self.rec_path))?;
        read_record(&mut self.rec, &self.rec_path, offset)?.ok_or_else(|| RecordIoError::Corrupt {
            path: self.rec_path.clone(),
            offset,
            problem: "the index points past the end of the file".into(),
        })
    }

    /// The image record with `key`: its header and encoded image.
    pub fn image(&mut self, key: u64) -> Result<(ImageHeader, Vec<u8>), RecordIoError> {
        let record = self.record(key)?;
        let (header, payload) = ImageHeader::unpack(key, &record)?;
        Ok((header, payload.to_vec()))
    }
}

/// Reads the record that starts at the reader's position: `None` at the
/// end of the file. `offset` is that position, for messages.
pub fn read_record(
    reader: &mut impl Read,
    path: &Path,
    offset: u64,
) -> Result<Option<Vec<u8>>, RecordIoError> {
    let corrupt = |at: u64, problem: String| RecordIoError::Corrupt {
        path: path.to_path_buf(),
        offset: at,
        problem,
    };
    let mut record = Vec::new();
    let mut at = offset;
    loop {
        let mut head = [0u8; 8];
        match reader.read_exact(&mut head[..4]) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && at == offset => {
                return Ok(None);
            }
            Err(e) => return Err(corrupt(at, format!("truncated record ({e})"))),
        }
        reader
            .read_exact(&mut head[4..])
            .map_err(|e| corrupt(at, format!("truncated record ({e})")))?;
        let magic = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        if magic != MAGIC {
            return Err(corrupt(
                at,
                format!("magic {magic:#010x}, not {MAGIC:#010x}"),
            ));
        }
        let lrecord = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        let (flag, length) = (lrecord >> 29, (lrecord & ((1 << 29) - 1)) as usize);
        let first = at == offset;
        match (first, flag) {
            (true, 0 | 1) | (false, 2 | 3) => {}
            _ => {
                return Err(corrupt(
                    at,
                    format!("continuation flag {flag} out of order"),
                ));
            }
        }
        if record.len() + length + 4 > MAX_RECORD_BYTES {
            return Err(corrupt(
                at,
                format!("a record longer than {MAX_RECORD_BYTES} bytes"),
            ));
        }
        if !first {
            // The writer split the payload at this magic and left it out.
            record.extend_from_slice(&MAGIC.to_le_bytes());
        }
        let start = record.len();
        record.resize(start + length, 0);
        reader
            .read_exact(&mut record[start..])
            .map_err(|e| corrupt(at, format!("truncated record ({e})")))?;
        let padding = length.next_multiple_of(4) - length;
        let mut pad = [0u8; 3];
        reader
            .read_exact(&mut pad[..padding])
            .map_err(|e| corrupt(at, format!("truncated padding ({e})")))?;
        at += 8 + (length + padding) as u64;
        if flag == 0 || flag == 3 {
            return Ok(Some(record));
        }
    }
}

/// Writes a `.rec`/`.idx` pair as MXNet's `MXIndexedRecordIO` does.
pub struct IndexedWriter {
    rec: BufWriter<File>,
    idx: BufWriter<File>,
    rec_path: PathBuf,
    idx_path: PathBuf,
    position: u64,
}

impl IndexedWriter {
    /// Creates (or truncates) both files.
    pub fn create(rec: impl AsRef<Path>, idx: impl AsRef<Path>) -> Result<Self, RecordIoError> {
        let (rec, idx) = (rec.as_ref(), idx.as_ref());
        Ok(Self {
            rec: BufWriter::new(File::create(rec).map_err(io_error(rec))?),
            idx: BufWriter::new(File::create(idx).map_err(io_error(idx))?),
            rec_path: rec.to_path_buf(),
            idx_path: idx.to_path_buf(),
            position: 0,
        })
    }

    /// Appends `record` under `key`, split at every aligned magic as
    /// dmlc-core does so that readers can resynchronise.
    pub fn write(&mut self, key: u64, record: &[u8]) -> Result<(), RecordIoError> {
        if record.len() + 4 > MAX_RECORD_BYTES {
            return Err(RecordIoError::Corrupt {
                path: self.rec_path.clone(),
                offset: self.position,
                problem: format!("a record longer than {MAX_RECORD_BYTES} bytes"),
            });
        }
        writeln!(self.idx, "{key}\t{}", self.position).map_err(io_error(&self.idx_path))?;
        let magic = MAGIC.to_le_bytes();
        let mut part_start = 0;
        let mut parts = Vec::new();
        for i in (0..record.len() / 4 * 4).step_by(4) {
            if record[i..i + 4] == magic {
                parts.push((if part_start == 0 { 1 } else { 2 }, part_start, i));
                part_start = i + 4;
            }
        }
        parts.push((
            if part_start == 0 { 0 } else { 3 },
            part_start,
            record.len(),
        ));
        for (flag, start, end) in parts {
            let lrecord = (flag << 29) | (end - start) as u32;
            let padding = (end - start).next_multiple_of(4) - (end - start);
            let bytes = [
                &magic[..],
                &lrecord.to_le_bytes(),
                &record[start..end],
                &[0; 3][..padding],
            ];
            for chunk in bytes {
                self.rec
                    .write_all(chunk)
                    .map_err(io_error(&self.rec_path))?;
                self.position += chunk.len() as u64;
            }
        }
        Ok(())
    }

    /// Flushes both files.
    pub fn finish(mut self) -> Result<(), RecordIoError> {
        self.rec.flush().map_err(io_error(&self.rec_path))?;
        self.idx.flush().map_err(io_error(&self.idx_path))
    }
}
