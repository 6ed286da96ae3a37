//! Model pack downloads: `facekit models fetch buffalo_l` fetches the
//! official zip, checks its SHA-256 and the SHA-256 of every model file in
//! it, and only then moves the finished folder into place with one rename.
//! A dropped connection, a wrong hash or a bad zip leaves nothing behind but
//! the error. Depends on no other facekit crate.
//!
//! ```no_run
//! use facekit_fetch::{FetchOptions, fetch_pack, official_pack};
//! let spec = official_pack("buffalo_sc").unwrap();
//! let home = std::path::Path::new("/home/me/.facekit/models");
//! let fetched = fetch_pack(spec, spec.url, home, &FetchOptions::default())?;
//! println!("{}", fetched.dir.display());
//! # Ok::<(), facekit_fetch::FetchError>(())
//! ```

mod catalog;
mod install;

pub use catalog::{OFFICIAL_PACKS, official_pack};
pub use install::{FetchError, FetchOptions, Fetched, fetch_pack};

/// What a pack is and how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackSpec<'a> {
    /// Folder name under the model home, e.g. `buffalo_l`.
    pub name: &'a str,
    /// Where the zip is published.
    pub url: &'a str,
    /// SHA-256 of the zip, lowercase hex.
    pub sha256: &'a str,
    /// Size of the zip in bytes, when known.
    pub size: Option<u64>,
    /// Every model file the zip holds (by file name, wherever it sits in
    /// the zip) with its SHA-256.
    pub files: &'a [(&'a str, &'a str)],
}
