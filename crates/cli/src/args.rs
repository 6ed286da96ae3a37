//! Command-line arguments: parsing only, no I/O (resolved in `main`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use facekit_pipeline::{DetSize, DetectorChoice, DetectorKind};
use facekit_runtime::Provider;
use facekit_service::{LivenessPolicy, ReviewMode};

/// Face analysis with InsightFace's models and numbers.
#[derive(Debug, Parser)]
#[command(name = "facekit", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect and embed faces; one JSON object per image on stdout.
    Analyze {
        #[command(flatten)]
        input: Inputs,
        /// Include the raw embedding vectors in the output.
        #[arg(long)]
        embeddings: bool,
        /// Add each face's quality: a score in [0, 1] and its components.
        #[arg(long)]
        quality: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Detect faces only (boxes, landmarks, scores).
    Detect {
        #[command(flatten)]
        input: Inputs,
        #[command(flatten)]
        common: Common,
    },
    /// Detect and embed faces, always printing the embeddings.
    Embed {
        #[command(flatten)]
        input: Inputs,
        #[command(flatten)]
        common: Common,
    },
    /// Write the aligned face crops (InsightFace norm_crop) as PNG files.
    Align {
        #[command(flatten)]
        input: Inputs,
        /// Folder for `<image stem>.face<N>.png` crops.
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Compare the largest faces of two images: cosine similarity and decision.
    Compare {
        /// First image.
        a: PathBuf,
        /// Second image.
        b: PathBuf,
        #[command(flatten)]
        decision: Decision,
        #[command(flatten)]
        common: Common,
    },
    /// Draw boxes, landmarks and scores onto a copy of an image.
    Draw {
        /// Input image.
        input: PathBuf,
        /// Output image (.png or .jpg).
        output: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Model packs.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Enrolled identities: create collections, enroll faces, identify and verify.
    Gallery {
        #[command(flatten)]
        db: GalleryDb,
        #[command(subcommand)]
        command: GalleryCommand,
    },
    /// The gallery's audit trail: who enrolled, searched, exported,
    /// deleted or erased what, hash-chained.
    Audit {
        /// Gallery file or milvus://HOST:PORT (whose trail is
        /// $FACEKIT_HOME/audit.db). Default: $FACEKIT_HOME/gallery.db.
        #[arg(long, global = true, env = "FACEKIT_GALLERY")]
        db: Option<String>,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Group the faces of photos into people: one JSON object with the
    /// clusters (faces, a representative each), the unclustered faces and
    /// the photos that gave none.
    Cluster {
        #[command(flatten)]
        input: Inputs,
        /// Folder for one sub-folder per cluster of aligned face crops
        /// (`cluster<N>/`, and `unclustered/`).
        #[arg(long)]
        thumbnails: Option<PathBuf>,
        /// An HTML contact sheet of the clusters (crops inlined).
        #[arg(long)]
        sheet: Option<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Faces in video files: tracks, identities, redaction from an
    /// editable plan (through FFmpeg).
    Video {
        #[command(subcommand)]
        command: VideoCommand,
    },
    /// Evaluation protocols: verification accuracy, ROC and TAR@FAR,
    /// threshold calibration, WIDER FACE AP.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Serve the HTTP API (detect, embed, compare, the gallery) until
    /// SIGINT or SIGTERM; prints `{"listening": URL}` once bound.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        common: Common,
    },
    /// API keys of the server: create (prints the secret once), list, revoke.
    Keys {
        /// Key file (SQLite). Default: $FACEKIT_HOME/keys.db, else ~/.facekit/keys.db.
        #[arg(long, global = true, env = "FACEKIT_KEYS")]
        keys: Option<PathBuf>,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Time analysis over images: images/s, where the time goes stage by
    /// stage, and the share spent inside ONNX Runtime.
    Bench {
        #[command(flatten)]
        input: Inputs,
        /// Passes over the inputs (after one warm-up pass).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Train recognizers (prepare, run, resume, export): runs the
    /// `facekit-train` program, built apart because it links libtorch
    /// (`facekit train --help` lists its commands).
    #[command(disable_help_flag = true)]
    Train {
        /// Arguments for `facekit-train`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// `facekit serve` settings; each overrides the config file's `[server]` table.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file: `gallery`, `keys`, `providers` (as `--provider`, a list), and a `[server]` table (`bind`,
    /// `tls_cert`, `tls_key`, `auth`, `threshold`, `shutdown_grace_secs`, `ui`, `liveness`,
    /// `[server.limits]`); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long)]
    pub bind: Option<std::net::SocketAddr>,
    /// Gallery file or milvus://HOST:PORT (default: $FACEKIT_HOME/gallery.db).
    #[arg(long, env = "FACEKIT_GALLERY")]
    pub db: Option<String>,
    #[command(flatten)]
    pub gallery_key: GalleryKey,
    /// Key file (default: $FACEKIT_HOME/keys.db).
    #[arg(long, env = "FACEKIT_KEYS")]
    pub keys: Option<PathBuf>,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve /v1 without API keys (everyone is admin); logged as a warning.
    #[arg(long)]
    pub no_auth: bool,
    /// Do not serve the web console at /ui/ (config: `[server] ui = false`).
    #[arg(long)]
    pub no_ui: bool,
    /// Inference workers (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker before new ones get 503 (default 64).
    #[arg(long)]
    pub queue: Option<usize>,
    /// Largest request body in bytes (default 16 MiB).
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Seconds before a request is answered 503 (default 30).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Default cosine threshold of compare, identify and verify (default 0.3).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Default threshold calibrated for this false accept rate (`facekit eval calibrate`).
    #[arg(long, conflicts_with = "threshold")]
    pub far: Option<f64>,
    #[command(flatten)]
    pub liveness: LivenessArg,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it with its secret token (shown only now).
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// reader (analysis, search), writer (also enroll and delete), admin
        /// (also collections and keys).
        #[arg(long)]
        role: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id; the server refuses it from the next request on.
    Revoke {
        /// The key's id (`fk_<id>_…`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show which file of a pack serves which task, with input size and normalisation.
    List {
        /// Pack name (e.g. buffalo_l) or folder of .onnx files.
        pack: Option<String>,
        #[arg(long, env = "FACEKIT_ORT_LIB")]
        ort_lib: Option<PathBuf>,
    },
    /// Download an official InsightFace pack (buffalo_l, buffalo_m, buffalo_s,
    /// buffalo_sc, antelopev2) into $FACEKIT_HOME/models, SHA-256 verified.
    Fetch {
        /// Pack name.
        pack: String,
        /// Download again and replace the pack if it is already there.
        #[arg(long)]
        force: bool,
        /// Fetch the zip from this address instead (a mirror); the official
        /// hashes are still checked.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Where the same/different decision threshold comes from.
#[derive(Debug, Args, Clone)]
pub struct Decision {
    /// Cosine similarity at or above which two faces are the same person.
    #[arg(long, default_value_t = 0.3)]
    pub threshold: f32,
    /// Use the threshold calibrated for this false accept rate with this
    /// recognition model (`facekit eval calibrate`) instead of --threshold.
    #[arg(long, conflicts_with = "threshold")]
    pub far: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// 10-fold verification accuracy (InsightFace protocol), ROC, AUC, EER
    /// and TAR@FAR on a .bin set, LFW pairs or CFP; prints a summary line
    /// and writes a report folder with --out.
    Verify {
        #[command(flatten)]
        set: PairSource,
        /// Folder for report.json, report.md, roc.svg and scores.svg.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The cosine threshold for a target false accept rate, measured on a
    /// labelled set and stored for `compare --far` and the gallery.
    Calibrate {
        #[command(flatten)]
        set: PairSource,
        /// Target false accept rate(s), e.g. 1e-4.
        #[arg(long, required = true)]
        far: Vec<f64>,
        /// Calibration file (default: $FACEKIT_HOME/calibration.json).
        #[arg(long)]
        book: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Clustering quality on a folder-per-person tree (each photo's largest
    /// face is its folder's person): pairwise and BCubed precision, recall
    /// and F, clusters against people, the share unclustered; for these
    /// settings and for InsightFace's GUI method on the same embeddings.
    Cluster {
        /// Folder with one sub-folder of photos per person.
        #[arg(long)]
        images: PathBuf,
        /// Images at once (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        common: Common,
    },
    /// WIDER FACE AP (easy, medium, hard) over the ground-truth images found
    /// in a folder.
    Detect {
        /// Folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat,
        /// or wider_face_val_bbx_gt*.txt with a difficulty_gt_index*.json.
        #[arg(long)]
        gt: PathBuf,
        /// Folder of WIDER images (event/name.jpg, or flat).
        #[arg(long)]
        images: PathBuf,
        /// Folder for report.json and report.md.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Images at once (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
}

/// How faces are clustered.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// `graph` (Chinese whispers over the neighbour graph) or `dbscan`.
    #[arg(long, default_value = "graph")]
    pub method: facekit_cluster::Method,
    /// Cosine similarity that links two faces.
    #[arg(long, default_value_t = facekit_cluster::DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Neighbours kept per face.
    #[arg(long, default_value_t = 20)]
    pub neighbours: usize,
    /// DBSCAN: faces (itself included) within the threshold of a core face.
    #[arg(long, default_value_t = 2)]
    pub min_samples: usize,
    /// Smallest cluster; smaller groups stay unclustered.
    #[arg(long, default_value_t = 2)]
    pub min_cluster: usize,
    /// Faces whose shorter side is under this many pixels are left out.
    #[arg(long, default_value_t = 50.0)]
    pub min_face_size: f32,
    /// Faces detected with a lower score are left out.
    #[arg(long, default_value_t = 0.7)]
    pub min_score: f32,
    /// Let two faces of one photo be one person (off by default).
    #[arg(long)]
    pub allow_same_photo: bool,
    /// Embedding cache folder (default: $FACEKIT_HOME/eval-cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
}

/// A labelled pair set and how to embed it.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("set").required(true).args(["bin", "pairs", "cfp"])))]
pub struct PairSource {
    /// InsightFace .bin verification set.
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// LFW pairs.txt; the images come from --images.
    #[arg(long, requires = "images")]
    pub pairs: Option<PathBuf>,
    /// Image folder for --pairs (Name/Name_0001.jpg).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// CFP folder (holding Protocol/).
    #[arg(long)]
    pub cfp: Option<PathBuf>,
    /// CFP protocol: fp (frontal–profile) or ff (frontal–frontal).
    #[arg(long, default_value = "fp")]
    pub protocol: String,
    /// `aligned` (images are face crops) or `detect` (largest face,
    /// norm_crop). Default: aligned for .bin, detect otherwise.
    #[arg(long)]
    pub mode: Option<String>,
    /// Turn off the flip test (embedding of image + mirror image).
    #[arg(long)]
    pub no_flip: bool,
    /// Folds of the accuracy protocol.
    #[arg(long, default_value_t = 10)]
    pub folds: usize,
    /// Embedding cache folder (default: $FACEKIT_HOME/eval-cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
    /// Images at once (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct GalleryDb {
    /// Gallery: a file (SQLite; created when missing) or a Milvus server,
    /// `milvus://HOST:PORT[?tls=true&database=NAME]` (token in
    /// FACEKIT_MILVUS_TOKEN). Default: $FACEKIT_HOME/gallery.db.
    #[arg(long, global = true, env = "FACEKIT_GALLERY")]
    pub db: Option<String>,
    #[command(flatten)]
    pub key: GalleryKey,
}

/// Where the gallery's master key comes from (encryption at rest).
#[derive(Debug, Clone, Default, Args)]
pub struct GalleryKey {
    /// File holding the gallery's master key (64 hex digits; created,
    /// mode 0600, by `gallery create --encrypt` and `gallery encrypt`).
    /// Encrypted collections need it; with it, new collections are
    /// encrypted. Else the key command, else $FACEKIT_GALLERY_KEY (the key
    /// itself).
    #[arg(long, global = true, env = "FACEKIT_GALLERY_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// A command that prints the master key (run with `sh -c`, at most 30 s):
    /// say, one that asks Vault or a cloud KMS.
    #[arg(long, global = true, conflicts_with = "key_file")]
    pub key_command: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GalleryCommand {
    /// Create a collection pinned to the pack's recognition model.
    Create {
        collection: String,
        /// Search index: `exact` (f32 scan, the default), `int8` (int8 scan)
        /// or `hnsw` (approximate, for hundreds of thousands of faces and
        /// more); candidates are always re-scored with the stored vectors.
        #[arg(long, default_value = "exact")]
        index: String,
        /// How its enrollment photos are reviewed unless `enroll --review`
        /// says otherwise: `off`, `standard` or `strict`.
        #[arg(long, default_value = "off")]
        review: ReviewMode,
        /// Erase its samples once this many days old (`gallery purge`, and
        /// `facekit serve` on its schedule). Default: kept until deleted.
        #[arg(long)]
        retention_days: Option<u32>,
        /// Encrypt its biometric data at rest: needs --key-file (created,
        /// mode 0600, with a new random key when missing) or --key-command.
        /// Every collection created with a master key is encrypted.
        #[arg(long)]
        encrypt: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Enroll faces from photos. A folder of folders enrolls one person per
    /// subfolder (`identities/<person>/*.jpg`); with --person, every photo
    /// given is that person.
    Enroll {
        collection: String,
        /// Photos, or folders of per-person folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Enroll every photo as this person (key).
        #[arg(long)]
        person: Option<String>,
        /// Display name for --person (default: the key).
        #[arg(long, requires = "person")]
        name: Option<String>,
        /// Enroll every qualifying face of a photo, not just the largest.
        #[arg(long)]
        all_faces: bool,
        /// Smallest face enrolled (shorter box side, pixels).
        #[arg(long, default_value_t = 32.0)]
        min_face: f32,
        /// Lowest detection score enrolled.
        #[arg(long, default_value_t = 0.5)]
        min_score: f32,
        /// Review of each photo: `off`, `standard` (refuse faces too small,
        /// blurred, badly exposed, turned, tilted or cut off) or `strict`
        /// (tighter, and the face must match its person and no other).
        /// Default: the collection's.
        #[arg(long)]
        review: Option<ReviewMode>,
        /// The similarity `strict` compares with.
        #[arg(long, default_value_t = 0.3)]
        threshold: f32,
        #[command(flatten)]
        liveness: LivenessArg,
        #[command(flatten)]
        common: Common,
    },
    /// Who is this? Top-k persons for every face of every photo.
    Identify {
        collection: String,
        #[command(flatten)]
        input: Inputs,
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        #[command(flatten)]
        decision: Decision,
        #[command(flatten)]
        liveness: LivenessArg,
        #[command(flatten)]
        common: Common,
    },
    /// Is the largest face of a photo this person?
    Verify {
        collection: String,
        person: String,
        image: PathBuf,
        #[command(flatten)]
        decision: Decision,
        #[command(flatten)]
        liveness: LivenessArg,
        #[command(flatten)]
        common: Common,
    },
    /// Delete a sample, a person, or (with neither) the whole collection;
    /// deleted data is erased from the file.
    Delete {
        collection: String,
        #[arg(long, conflicts_with = "sample")]
        person: Option<String>,
        #[arg(long)]
        sample: Option<i64>,
    },
    /// List collections, or the persons of one.
    List { collection: Option<String> },
    /// Write a collection as JSON lines (header, then samples with embeddings).
    Export { collection: String },
    /// Read an export (file or `-` for stdin) into a collection, creating it
    /// with the export's contract when missing. Prints one line per sample
    /// once it is committed.
    Import {
        collection: String,
        file: PathBuf,
        /// Samples per transaction.
        #[arg(long, default_value_t = 256)]
        batch: usize,
    },
    /// Persons, samples and index size of a collection.
    Stats { collection: String },
    /// Add every face of photos without a person (a photo library's
    /// import) for `gallery cluster` to place: one JSON line per photo.
    Add {
        collection: String,
        #[command(flatten)]
        input: Inputs,
        /// Smallest face added (shorter box side, pixels; PhotoPrism's 50).
        #[arg(long, default_value_t = 50.0)]
        min_face: f32,
        /// Lowest detection score added (Immich's 0.7).
        #[arg(long, default_value_t = 0.7)]
        min_score: f32,
        #[command(flatten)]
        common: Common,
    },
    /// Cluster a collection's faces into people: faces not seen before
    /// join the person their neighbours vote for, or form new suggested
    /// persons (`cluster-<face id>`); --full places every face no person
    /// decided again. Corrections (name, merge, split, move, not-person)
    /// are kept by both.
    Cluster {
        collection: String,
        /// Place every face no person decided again, not only new ones.
        #[arg(long)]
        full: bool,
        /// Cosine similarity two faces need to be linked (measured on LFW
        /// with SFace; see the README).
        #[arg(long, default_value_t = facekit_cluster::DEFAULT_THRESHOLD)]
        threshold: f32,
    },
    /// Every face of a collection with clustering's view of it: its person
    /// (empty: none), whether clustering placed it, the persons it must
    /// never join. One JSON line each.
    Faces {
        collection: String,
        /// Only faces of no person.
        #[arg(long)]
        unassigned: bool,
    },
    /// Name a person; a suggestion of clustering becomes a person whose
    /// faces stay as they are.
    Name {
        collection: String,
        person: String,
        name: String,
    },
    /// Merge person FROM into INTO (every face of FROM goes to INTO; FROM
    /// is deleted).
    Merge {
        collection: String,
        from: String,
        into: String,
    },
    /// Split faces off a person into a new person; they never join the
    /// first again.
    Split {
        collection: String,
        person: String,
        /// Face ids to split off, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        faces: Vec<i64>,
        /// The new person's key.
        #[arg(long)]
        into: String,
        /// Its display name (default: the key).
        #[arg(long)]
        name: Option<String>,
    },
    /// Move faces to a person, pinned there.
    Move {
        collection: String,
        /// Face ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        faces: Vec<i64>,
        /// The person's key.
        #[arg(long)]
        to: String,
    },
    /// "Not this person": the face never joins PERSON again (and leaves
    /// them if it is theirs).
    NotPerson {
        collection: String,
        face: i64,
        person: String,
    },
    /// Reads every stored embedding of a gallery file and checks it against
    /// its checksum; lists damaged samples (exit status 1 when there are any).
    Check {
        /// Move damaged samples out (into the `quarantine` table: ids and
        /// persons only) so their persons can be enrolled again.
        #[arg(long)]
        quarantine: bool,
    },
    /// Sets how many days a collection keeps samples: a number, or `off`.
    Retention { collection: String, days: String },
    /// Erases the samples past their collection's retention (of one
    /// collection, or of all that have one); one JSON line per collection.
    Purge { collection: Option<String> },
    /// A data subject's rights: everything held about one person.
    Person {
        #[command(subcommand)]
        command: PersonCommand,
    },
    /// Encrypts every plaintext collection of a gallery file in place under
    /// the master key (--key-file, created when missing, or --key-command).
    /// Safe to interrupt: run it again to finish.
    Encrypt,
    /// The gallery's master key.
    Keys {
        #[command(subcommand)]
        command: GalleryKeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Everything held about a person (record, samples with embeddings,
    /// audit entries naming them) as one JSON document.
    Export {
        collection: String,
        person: String,
        /// Write it to this file (created mode 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erases a person and every sample of theirs; prints the receipt
    /// (what, when, and the audit entry's hash).
    Erase { collection: String, person: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries as JSON lines, oldest first.
    Show {
        /// Only entries after this position.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Only this collection.
        #[arg(long)]
        collection: Option<String>,
        /// Only entries naming this person key.
        #[arg(long)]
        person: Option<String>,
    },
    /// Walks the hash chain; exits 1 naming the first broken entry.
    Verify,
    /// Every entry as JSON lines, then a last line with the chain's head
    /// hash (to keep elsewhere: it proves later that nothing was cut off).
    Export {
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GalleryKeysCommand {
    /// Replaces the master key (given by --key-file or --key-command) with
    /// a new one: every collection's data key is re-wrapped.
    Rotate {
        /// File for the new key (created with a new random key when
        /// missing; must not be the current key file).
        #[arg(long, required_unless_present = "new_key_command")]
        new_key_file: Option<PathBuf>,
        /// A command that prints the new key.
        #[arg(long, conflicts_with = "new_key_file")]
        new_key_command: Option<String>,
        /// Also give every collection a new data key and seal every sample
        /// again (slower: for a data key that may have leaked).
        #[arg(long)]
        reencrypt: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum VideoCommand {
    /// Who appears when: one JSON line per track (frames, times, identity,
    /// best faces with their quality and embeddings).
    Tracks {
        input: PathBuf,
        /// Write each track's best aligned face as `track<ID>.png` here.
        #[arg(long)]
        thumbnails: Option<PathBuf>,
        #[command(flatten)]
        analysis: VideoAnalysisArgs,
        #[command(flatten)]
        identity: VideoIdentityArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Analyse and write the plan (tracks, identities, render settings).
    Analyze {
        input: PathBuf,
        /// The plan to write.
        #[arg(long)]
        plan: PathBuf,
        #[command(flatten)]
        job: VideoPlanArgs,
    },
    /// Render a plan (no model runs): the redacted video.
    Render {
        input: PathBuf,
        #[arg(long)]
        plan: PathBuf,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Analyse and render in one go (the plan kept when --plan is given).
    Process {
        input: PathBuf,
        #[arg(long, short)]
        output: PathBuf,
        /// Also write the plan here.
        #[arg(long)]
        plan: Option<PathBuf>,
        #[command(flatten)]
        job: VideoPlanArgs,
    },
}

/// What making a plan takes: analysis, identities, render settings, models.
#[derive(Debug, Args, Clone)]
pub struct VideoPlanArgs {
    #[command(flatten)]
    pub analysis: VideoAnalysisArgs,
    #[command(flatten)]
    pub identity: VideoIdentityArgs,
    #[command(flatten)]
    pub render: VideoRenderArgs,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args, Clone)]
pub struct VideoAnalysisArgs {
    /// Frames analysed per second (detection on a stride, tracking between).
    #[arg(long, default_value_t = 15.0)]
    pub analysis_fps: f64,
    /// Frames covered before a track's first and after its last detection.
    #[arg(long, default_value_t = 3)]
    pub lead_frames: u64,
}

#[derive(Debug, Args, Clone)]
pub struct VideoIdentityArgs {
    /// Reference photos: one person per file (named by it) or per sub-folder.
    #[arg(long, conflicts_with = "db")]
    pub references: Option<PathBuf>,
    /// A gallery (file or milvus://) whose persons are the references.
    #[arg(long, requires = "collection")]
    pub db: Option<String>,
    #[command(flatten)]
    pub gallery_key: GalleryKey,
    /// The gallery collection.
    #[arg(long)]
    pub collection: Option<String>,
    #[command(flatten)]
    pub decision: Decision,
}

#[derive(Debug, Args, Clone)]
pub struct VideoRenderArgs {
    /// `all` faces, `only` the confirmed references, or everyone `except`
    /// them (unknown and conflicting tracks are redacted).
    #[arg(long, default_value = "all")]
    pub policy: facekit_video::plan::Policy,
    /// `blur`, `mosaic` or `solid`.
    #[arg(long, default_value = "blur")]
    pub style: facekit_video::plan::Style,
    /// `ellipse` or `box`.
    #[arg(long, default_value = "ellipse")]
    pub mask: facekit_video::plan::Mask,
    /// Grow each box about its centre by this factor (from √2 the ellipse
    /// covers the whole detected box).
    #[arg(long, default_value_t = 1.5)]
    pub box_scale: f32,
    /// x264 quality (lower is better).
    #[arg(long, default_value_t = 20)]
    pub crf: u8,
    /// x264 preset.
    #[arg(long, default_value = "veryfast")]
    pub preset: String,
}

/// What spoofed faces do.
#[derive(Debug, Args, Clone, Copy)]
pub struct LivenessArg {
    /// `normal` (a face the pack's liveness models call printed or replayed
    /// is not enrolled, identified or verified), `observe` (reported only)
    /// or `off`. Default: `normal` when the pack has liveness models, else
    /// `off`.
    #[arg(long)]
    pub liveness: Option<LivenessPolicy>,
}

impl LivenessArg {
    /// The policy, checked against what the analyzer can do.
    pub fn resolve(
        &self,
        analyzer: &facekit_pipeline::FaceAnalyzer,
    ) -> anyhow::Result<LivenessPolicy> {
        LivenessPolicy::resolve(self.liveness, analyzer.checks_liveness())
            .map_err(anyhow::Error::msg)
    }
}

#[derive(Debug, Args)]
pub struct Inputs {
    /// Image files or folders (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Images processed in parallel (default: the cores, at most one per image).
    /// Parallel images with one ONNX Runtime thread each beat one image with all
    /// threads on throughput (measured 1.87× vs 1.09× InsightFace on 2 cores).
    #[arg(long, short)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Model pack: a folder of .onnx files, or a pack name looked up in
    /// $FACEKIT_HOME/models and ~/.insightface/models.
    #[arg(long, short, env = "FACEKIT_MODELS", default_value = "buffalo_l")]
    pub models: String,
    /// Detection size: `auto` (128 and 640, merged, InsightFace 2.x's default) or `W H`.
    #[arg(long, num_args = 1..=2, value_names = ["W", "H"], default_value = "auto")]
    pub det_size: Vec<String>,
    /// Detector: `scrfd`, `yunet` or `retinaface` (the pack's first model of
    /// that family), or a path to a detector .onnx file. Default: the pack's
    /// first detection model.
    #[arg(long, env = "FACEKIT_DETECTOR")]
    pub detector: Option<String>,
    /// Minimum detection score (default: the detector's own, SCRFD and
    /// RetinaFace 0.5, YuNet 0.9).
    #[arg(long)]
    pub det_thresh: Option<f32>,
    /// NMS overlap threshold (default: SCRFD and RetinaFace 0.4, YuNet 0.3).
    #[arg(long)]
    pub nms_thresh: Option<f32>,
    /// Detectors that run at the photo's own size (YuNet, dynamic RetinaFace)
    /// shrink photos whose longer side is larger than this first (0: never).
    #[arg(long, default_value_t = facekit_detection::DEFAULT_MAX_SIDE)]
    pub max_side: u32,
    /// Keep at most this many faces per image (largest and most central first); 0 = all.
    #[arg(long, default_value_t = 0)]
    pub max_faces: usize,
    /// ONNX Runtime intra-op threads per model (default: cores ÷ jobs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH or the setup folder).
    #[arg(long, env = "FACEKIT_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
    /// ONNX Runtime execution providers in order of preference, comma-separated:
    /// cpu, cuda, tensorrt, openvino, coreml. One missing from the installed
    /// ONNX Runtime is an error unless a later one takes over (`cuda,cpu`),
    /// which is reported on stderr. Default: cuda when the library has it, then cpu.
    #[arg(long = "provider", env = "FACEKIT_PROVIDER", value_delimiter = ',')]
    pub providers: Vec<Provider>,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = 50_000_000)]
    pub max_pixels: u64,
    /// Refuse files larger than this many bytes.
    #[arg(long, default_value_t = 100 << 20)]
    pub max_file_bytes: u64,
}

impl Common {
    /// The parsed `--detector`.
    pub fn detector(&self) -> DetectorChoice {
        match self
            .detector
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => DetectorChoice::FirstInPack,
            Some("scrfd") => DetectorChoice::Kind(DetectorKind::Scrfd),
            Some("yunet") => DetectorChoice::Kind(DetectorKind::YuNet),
            Some("retinaface") => DetectorChoice::Kind(DetectorKind::RetinaFace),
            Some(_) => {
                DetectorChoice::File(PathBuf::from(self.detector.as_deref().unwrap_or_default()))
            }
        }
    }

    /// The parsed `--det-size`.
    pub fn det_size(&self) -> Result<DetSize, String> {
        match self.det_size.as_slice() {
            [a] if a.eq_ignore_ascii_case("auto") => Ok(DetSize::Auto),
            [s] => {
                let n = s
                    .parse::<u32>()
                    .map_err(|_| format!("--det-size: '{s}' is not 'auto' or a size"))?;
                Ok(DetSize::fixed(n, n))
            }
            [w, h] => {
                let parse = |v: &String| {
                    v.parse::<u32>()
                        .map_err(|_| format!("--det-size: '{v}' is not a number"))
                };
                Ok(DetSize::fixed(parse(w)?, parse(h)?))
            }
            _ => Err("--det-size takes 'auto' or W H".into()),
        }
    }
}
