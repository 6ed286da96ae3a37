//! `facekit gallery …`: the identity gallery from the command line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use facekit_audit::{Actor, AuditLog, Event, Filter, Operation};
use facekit_cluster::ClusterOptions;
use facekit_cluster::collection::Run;
use facekit_gallery::{
    EnrollCandidate, EnrollFilter, ExportReader, FaceGallery, Gallery, IndexKind, KeySource,
    MasterKey, PersonInfo, Renumbered, UNASSIGNED, contract_of, enrollment_faces,
};
use facekit_models::facekit_home;
use facekit_service::{EnrollChecks, FaceService, audit_trail_of, open_audited, refuse_spoofs};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{
    AuditCommand, GalleryCommand, GalleryDb, GalleryKey, GalleryKeysCommand, PersonCommand,
};
use crate::{Batch, Stages, analyzer, expand, for_each_image};

/// `explicit`, else `name` in $FACEKIT_HOME (created when missing).
pub(crate) fn home_file(explicit: Option<&Path>, name: &str) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let home =
        facekit_home().context("no home folder: pass the file's path or set FACEKIT_HOME")?;
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    Ok(home.join(name))
}

pub(crate) fn print(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Where the master key comes from: the file, the command, else
/// $FACEKIT_GALLERY_KEY when it is set.
pub(crate) fn key_source(key: &GalleryKey) -> Option<KeySource> {
    if let Some(path) = &key.key_file {
        Some(KeySource::File(path.clone()))
    } else if let Some(command) = &key.key_command {
        Some(KeySource::Command(command.clone()))
    } else {
        std::env::var_os(facekit_gallery::KEY_ENV)
            .map(|_| KeySource::Env(facekit_gallery::KEY_ENV.into()))
    }
}

/// The master key, if one is given; `create` makes a missing key file.
pub(crate) fn master_key(key: &GalleryKey, create: bool) -> Result<Option<MasterKey>> {
    let Some(source) = key_source(key) else {
        return Ok(None);
    };
    let key = if create {
        source.load_or_create()
    } else {
        source.load()
    };
    Ok(Some(key?))
}

/// The gallery at `address` (a `milvus://` address or a file path), or the
/// default file in $FACEKIT_HOME, opened with its master key if one is
/// given and its audit trail, acting as the OS user.
pub(crate) fn open_address(address: Option<&str>, key: &GalleryKey) -> Result<FaceService> {
    open_keyed(address, key, false)
}

fn open_keyed(address: Option<&str>, key: &GalleryKey, create: bool) -> Result<FaceService> {
    Ok(open_audited(
        &resolve_address(address)?,
        master_key(key, create)?,
    )?)
}

/// A `milvus://` address as given, else the gallery file's path.
fn resolve_address(address: Option<&str>) -> Result<String> {
    Ok(match address {
        Some(a) if a.starts_with("milvus://") => a.to_string(),
        other => home_file(other.map(Path::new), "gallery.db")?
            .display()
            .to_string(),
    })
}

/// The gallery file (not Milvus) of `db`, for what only files do.
fn open_file(db: &GalleryDb, what: &str, create: bool) -> Result<Gallery> {
    if db.db.as_deref().is_some_and(|a| a.starts_with("milvus://")) {
        bail!("gallery {what} works on gallery files, not Milvus");
    }
    let path = home_file(db.db.as_deref().map(Path::new), "gallery.db")?;
    Ok(Gallery::open_with_key(&path, master_key(&db.key, create)?)?)
}

pub fn run(db: &GalleryDb, command: GalleryCommand) -> Result<bool> {
    match command {
        GalleryCommand::Check { quarantine } => return check(db, quarantine),
        GalleryCommand::Encrypt => return encrypt(db),
        GalleryCommand::Keys { command } => return keys(db, command),
        _ => {}
    }
    let encrypt = matches!(command, GalleryCommand::Create { encrypt: true, .. });
    if encrypt && key_source(&db.key).is_none() {
        bail!(
            "--encrypt needs the master key: --key-file PATH (created when missing) or --key-command CMD"
        );
    }
    let service = open_keyed(db.db.as_deref(), &db.key, encrypt)?;
    let gallery = service.gallery();
    match command {
        GalleryCommand::Create {
            collection,
            index,
            review,
            retention_days,
            encrypt: _,
            common,
        } => {
            let analyzer = analyzer(&common, 1, Stages::EMBED)?;
            let contract = contract_of(&analyzer)?;
            let mut c = service.create_collection(
                &collection,
                &contract,
                index.parse::<IndexKind>()?,
                review,
            )?;
            if retention_days.is_some() {
                c = service.set_retention(&collection, retention_days)?;
            }
            print(&serde_json::to_value(c)?)?;
            Ok(true)
        }
        GalleryCommand::Enroll {
            collection,
            paths,
            person,
            name,
            all_faces,
            min_face,
            min_score,
            review,
            threshold,
            liveness,
            common,
        } => {
            let work = enroll_plan(&paths, person.as_deref(), name.as_deref())?;
            let (files, people): (Vec<PathBuf>, Vec<PersonInfo>) = work.into_iter().unzip();
            let batch = Batch::of(files, paths.iter().any(|p| p.is_dir()), None);
            let analyzer = analyzer(&common, batch.jobs, Stages::EMBED)?;
            let contract = contract_of(&analyzer)?;
            gallery.collection(&collection)?;
            let checks = EnrollChecks {
                review,
                liveness: liveness.resolve(&analyzer)?,
                threshold,
            };
            let filter = EnrollFilter {
                all_faces,
                min_size: min_face,
                min_score,
            };
            let person_of: std::collections::HashMap<&Path, &PersonInfo> = batch
                .files
                .iter()
                .map(PathBuf::as_path)
                .zip(&people)
                .collect();
            for_each_image(
                &batch,
                |path| Ok(enrollment_faces(&analyzer, path, &filter)?),
                |path, candidates: Vec<EnrollCandidate>| {
                    let person = person_of[path];
                    if candidates.is_empty() {
                        bail!(filter.nothing_found());
                    }
                    let report = service.enroll_candidates(
                        &collection,
                        &contract,
                        person,
                        candidates,
                        &checks,
                    )?;
                    let ids = report.enrolled_ids().map_err(anyhow::Error::msg)?;
                    let mut line = json!({"image": path.display().to_string(), "person": person.key, "samples": ids});
                    if !report.refused.is_empty() {
                        line["refused"] = serde_json::to_value(&report.refused)?;
                    }
                    Ok(line.to_string())
                },
            )
        }
        GalleryCommand::Identify {
            collection,
            input,
            top_k,
            decision,
            liveness,
            common,
        } => {
            let batch = Batch::resolve(&input);
            let analyzer = analyzer(&common, batch.jobs, Stages::EMBED)?;
            let contract = contract_of(&analyzer)?;
            let threshold = decision.threshold(|| Ok(contract.model_sha256.clone()))?;
            let policy = liveness.resolve(&analyzer)?;
            gallery.collection(&collection)?;
            for_each_image(
                &batch,
                |path| Ok(analyzer.analyze_file(path)?),
                |path, found| {
                    refuse_spoofs(&found.faces, policy)?;
                    let mut faces = Vec::new();
                    for m in service.identify_faces(
                        &collection,
                        &contract,
                        &found.faces,
                        top_k,
                        threshold,
                    )? {
                        let mut record = serde_json::to_value(&m.face)?;
                        record["best"] = serde_json::to_value(&m.best)?;
                        record["matches"] = serde_json::to_value(&m.matches)?;
                        faces.push(record);
                    }
                    if faces.is_empty() {
                        bail!("no face found");
                    }
                    Ok(json!({"image": path.display().to_string(), "faces": faces}).to_string())
                },
            )
        }
        GalleryCommand::Verify {
            collection,
            person,
            image,
            decision,
            liveness,
            common,
        } => {
            let analyzer = analyzer(&common, 1, Stages::EMBED)?;
            let contract = contract_of(&analyzer)?;
            let threshold = decision.threshold(|| Ok(contract.model_sha256.clone()))?;
            let policy = liveness.resolve(&analyzer)?;
            let photo = analyzer
                .analyze_file(&image)
                .with_context(|| image.display().to_string())?;
            refuse_spoofs(&photo.faces, policy).with_context(|| image.display().to_string())?;
            let v = service
                .verify_largest(&collection, &contract, &person, photo, threshold)?
                .with_context(|| format!("{}: no face found", image.display()))?
                .verification;
            print(
                &json!({"image": image.display().to_string(), "person": person, "score": v.score, "same": v.same, "threshold": threshold}),
            )?;
            Ok(true)
        }
        GalleryCommand::Delete {
            collection,
            person,
            sample,
        } => {
            let deleted = match (person, sample) {
                (Some(p), _) => {
                    json!({"person": p, "samples_deleted": service.delete_person(&collection, &p)?})
                }
                (None, Some(id)) => {
                    service.delete_sample(&collection, id)?;
                    json!({"sample": id, "samples_deleted": 1})
                }
                (None, None) => {
                    service.delete_collection(&collection)?;
                    json!({"collection": collection, "deleted": true})
                }
            };
            print(&deleted)?;
            Ok(true)
        }
        GalleryCommand::List { collection } => {
            match collection {
                Some(c) => {
                    for p in gallery.persons(&c)? {
                        print(&serde_json::to_value(p)?)?;
                    }
                }
                None => {
                    for c in gallery.collections()? {
                        print(&serde_json::to_value(c)?)?;
                    }
                }
            }
            Ok(true)
        }
        GalleryCommand::Export { collection } => {
            let expected = gallery.stats(&collection)?.samples;
            // The header line, then one line per sample.
            let progress = ProgressBar::new(expected as u64 + 1).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} lines exported ({per_sec})")
                    .expect("valid template"),
            );
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let n = service.export(
                &collection,
                &mut LineProgress {
                    inner: &mut out,
                    progress: &progress,
                },
            )?;
            out.flush()?;
            progress.finish_and_clear();
            if n != expected {
                bail!("'{collection}' holds {expected} samples but {n} were exported");
            }
            eprintln!("facekit: exported {n} samples of '{collection}' (counts verified)");
            Ok(true)
        }
        GalleryCommand::Import {
            collection,
            file,
            batch,
        } => import(&service, &collection, &file, batch.max(1), &db.key),
        GalleryCommand::Stats { collection } => {
            print(&serde_json::to_value(gallery.stats(&collection)?)?)?;
            Ok(true)
        }
        GalleryCommand::Add {
            collection,
            input,
            min_face,
            min_score,
            common,
        } => {
            let batch = Batch::resolve(&input);
            let analyzer = analyzer(&common, batch.jobs, Stages::EMBED)?;
            let contract = contract_of(&analyzer)?;
            gallery.collection(&collection)?;
            let filter = EnrollFilter {
                all_faces: true,
                min_size: min_face,
                min_score,
            };
            for_each_image(
                &batch,
                |path| Ok(enrollment_faces(&analyzer, path, &filter)?),
                |path, candidates: Vec<EnrollCandidate>| {
                    let image = path.display().to_string();
                    if candidates.is_empty() {
                        // A photo without faces is normal in a library: listed, not an error.
                        return Ok(json!({"image": image, "samples": [], "skipped": filter.nothing_found()}).to_string());
                    }
                    let samples: Vec<_> = candidates.into_iter().map(|c| c.sample).collect();
                    let ids = service.enroll_unassigned(&collection, &contract, &samples)?;
                    Ok(json!({"image": image, "samples": ids}).to_string())
                },
            )
        }
        GalleryCommand::Cluster {
            collection,
            full,
            threshold,
        } => {
            let options = ClusterOptions {
                threshold,
                ..ClusterOptions::default()
            };
            let run = if full { Run::Full } else { Run::Incremental };
            let spinner = ProgressBar::new_spinner()
                .with_message(format!("clustering the faces of '{collection}'"));
            spinner.enable_steady_tick(std::time::Duration::from_millis(200));
            let report = service.cluster(&collection, &options, run)?;
            spinner.finish_and_clear();
            print(&serde_json::to_value(report)?)?;
            Ok(true)
        }
        GalleryCommand::Faces {
            collection,
            unassigned,
        } => {
            for f in gallery.cluster_faces(&collection)? {
                if !unassigned || f.person == UNASSIGNED {
                    print(&serde_json::to_value(f)?)?;
                }
            }
            Ok(true)
        }
        GalleryCommand::Name {
            collection,
            person,
            name,
        } => {
            let p = service.update_person(&collection, &person, Some(&name), None)?;
            print(&serde_json::to_value(p)?)?;
            Ok(true)
        }
        GalleryCommand::Merge {
            collection,
            from,
            into,
        } => corrected(
            gallery,
            &collection,
            &into,
            service.merge_persons(&collection, &from, &into)?,
        ),
        GalleryCommand::Split {
            collection,
            person,
            faces,
            into,
            name,
        } => {
            let mut info = PersonInfo::new(&into);
            if let Some(name) = name {
                info.name = name;
            }
            let renumbered = service.split_person(&collection, &person, &faces, &info)?;
            corrected(gallery, &collection, &into, renumbered)
        }
        GalleryCommand::Move {
            collection,
            faces,
            to,
        } => corrected(
            gallery,
            &collection,
            &to,
            service.move_faces(&collection, &faces, &to)?,
        ),
        GalleryCommand::NotPerson {
            collection,
            face,
            person,
        } => corrected(
            gallery,
            &collection,
            &person,
            service.not_this_person(&collection, face, &person)?,
        ),
        GalleryCommand::Retention { collection, days } => {
            let days =
                match days.as_str() {
                    "off" => None,
                    n => Some(n.parse::<u32>().with_context(|| {
                        format!("retention '{n}': give a number of days or 'off'")
                    })?),
                };
            print(&serde_json::to_value(
                service.set_retention(&collection, days)?,
            )?)?;
            Ok(true)
        }
        GalleryCommand::Purge { collection } => {
            for report in service.purge(collection.as_deref())? {
                print(&serde_json::to_value(report)?)?;
            }
            Ok(true)
        }
        GalleryCommand::Person {
            command:
                PersonCommand::Export {
                    collection,
                    person,
                    out,
                },
        } => {
            let export = service.export_person(&collection, &person)?;
            match out {
                Some(path) => {
                    use std::os::unix::fs::OpenOptionsExt;
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    serde_json::to_writer_pretty(std::io::BufWriter::new(file), &export)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "facekit: {} samples of '{person}' written to {}",
                        export.samples.len(),
                        path.display()
                    );
                }
                None => print(&serde_json::to_value(export)?)?,
            }
            Ok(true)
        }
        GalleryCommand::Person {
            command: PersonCommand::Erase { collection, person },
        } => {
            print(&serde_json::to_value(
                service.erase_person(&collection, &person)?,
            )?)?;
            Ok(true)
        }
        // Reached only through the early returns above (they need the
        // file itself, not a backend).
        GalleryCommand::Check { .. } | GalleryCommand::Encrypt | GalleryCommand::Keys { .. } => {
            unreachable!("handled before the service is made")
        }
    }
}

/// `gallery check`: every stored embedding against its checksum.
/// Prints the person a correction concerns and the faces it renumbered.
fn corrected(
    gallery: &dyn FaceGallery,
    collection: &str,
    person: &str,
    renumbered: Renumbered,
) -> Result<bool> {
    let person = gallery.person(collection, person)?;
    print(&json!({"person": person, "renumbered": renumbered}))?;
    Ok(true)
}

fn check(db: &GalleryDb, quarantine: bool) -> Result<bool> {
    let gallery = open_file(db, "check (Milvus checks its own segments)", false)?;
    let path = gallery.path().to_path_buf();
    if quarantine {
        let moved = gallery.quarantine_damaged()?;
        for (sample, collection, person) in &moved {
            print(
                &json!({"sample": sample, "collection": collection, "person": person, "quarantined": true}),
            )?;
        }
        eprintln!(
            "facekit: {} damaged samples moved to quarantine",
            moved.len()
        );
        return Ok(true);
    }
    let damaged = gallery.check()?;
    for sample in &damaged {
        print(&json!({"sample": sample, "damaged": true}))?;
    }
    eprintln!(
        "facekit: {} damaged samples in {}",
        damaged.len(),
        path.display()
    );
    Ok(damaged.is_empty())
}

/// `gallery encrypt`: every plaintext collection sealed in place.
fn encrypt(db: &GalleryDb) -> Result<bool> {
    if key_source(&db.key).is_none() {
        bail!(
            "gallery encrypt needs the master key: --key-file PATH (created when missing) or --key-command CMD"
        );
    }
    let gallery = open_file(db, "encrypt", true)?;
    let done = gallery.encrypt()?;
    record_file_operation(
        &gallery,
        Event::new(Operation::Encrypt, "").results(done.len()),
    )?;
    for c in gallery.collections()? {
        print(
            &json!({"collection": c.name, "encrypted": c.encrypted, "now": done.contains(&c.name)}),
        )?;
    }
    eprintln!("facekit: {} collections encrypted", done.len());
    Ok(true)
}

/// `gallery keys rotate`: a new master key.
fn keys(db: &GalleryDb, command: GalleryKeysCommand) -> Result<bool> {
    let GalleryKeysCommand::Rotate {
        new_key_file,
        new_key_command,
        reencrypt,
    } = command;
    if key_source(&db.key).is_none() {
        bail!("gallery keys rotate needs the current master key: --key-file or --key-command");
    }
    let new = match (new_key_file, new_key_command) {
        (Some(path), _) => {
            if db
                .key
                .key_file
                .as_ref()
                .is_some_and(|old| same_file(old, &path))
            {
                bail!(
                    "--new-key-file must not be the current key file: the old key is needed until the rotation is committed"
                );
            }
            KeySource::File(path)
        }
        (None, Some(command)) => KeySource::Command(command),
        (None, None) => bail!("give --new-key-file or --new-key-command"),
    };
    let gallery = open_file(db, "keys rotate", false)?;
    let rotated = gallery.rotate_keys(new.load_or_create()?, reencrypt)?;
    record_file_operation(
        &gallery,
        Event::new(Operation::RotateKeys, "").results(rotated),
    )?;
    print(&json!({"collections": rotated, "reencrypted": reencrypt}))?;
    eprintln!(
        "facekit: {rotated} data keys re-wrapped under the new master key; keep the old key until every process uses the new one"
    );
    Ok(true)
}

/// Records a gallery-wide operation done on the file itself.
fn record_file_operation(gallery: &Gallery, event: Event) -> Result<()> {
    AuditLog::open(gallery.path())?.append(&Actor::os_user(), &event)?;
    Ok(())
}

/// `facekit audit show|verify|export`.
pub fn audit(address: Option<&str>, command: AuditCommand) -> Result<bool> {
    let path = audit_trail_of(&resolve_address(address)?)?;
    if !path.exists() {
        bail!("{}: no such gallery file", path.display());
    }
    let trail = AuditLog::open(&path)?;
    match command {
        AuditCommand::Show {
            after,
            limit,
            collection,
            person,
        } => {
            let filter = Filter {
                after,
                limit,
                collection,
                person,
                operation: None,
            };
            for entry in trail.entries(&filter)? {
                print(&serde_json::to_value(entry)?)?;
            }
            Ok(true)
        }
        AuditCommand::Verify => {
            let verified = trail.verify()?;
            print(&serde_json::to_value(&verified)?)?;
            match verified.broken {
                Some(b) => {
                    eprintln!(
                        "facekit: audit trail {}: entry {} is broken: {}",
                        path.display(),
                        b.seq,
                        b.reason
                    );
                    Ok(false)
                }
                None => Ok(true),
            }
        }
        AuditCommand::Export { out } => {
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| path.display().to_string())?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let entries = trail.entries(&Filter::default())?;
            for entry in &entries {
                writeln!(sink, "{}", serde_json::to_string(entry)?)?;
            }
            let head = json!({"entries": entries.len(), "head": entries.last().map(|e| &e.hash)});
            writeln!(sink, "{head}")?;
            sink.flush()?;
            Ok(true)
        }
    }
}

/// Whether two paths name one file (or the same path when neither exists).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Which person each photo enrolls: `--person` for every photo given (folders
/// searched), else one person per subfolder of each folder given.
fn enroll_plan(
    paths: &[PathBuf],
    person: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<(PathBuf, PersonInfo)>> {
    if let Some(key) = person {
        let mut info = PersonInfo::new(key);
        if let Some(name) = name {
            info.name = name.to_string();
        }
        let (files, _) = expand(paths);
        return Ok(files.into_iter().map(|f| (f, info.clone())).collect());
    }
    let mut plan = Vec::new();
    for root in paths {
        if !root.is_dir() {
            bail!(
                "{}: name the person with --person, or give a folder of per-person folders",
                root.display()
            );
        }
        let mut people: Vec<PathBuf> = std::fs::read_dir(root)
            .with_context(|| root.display().to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        people.sort();
        if people.is_empty() {
            bail!(
                "{}: no per-person subfolders (use --person to enroll these photos as one person)",
                root.display()
            );
        }
        for dir in people {
            let key = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (files, _) = expand(std::slice::from_ref(&dir));
            plan.extend(files.into_iter().map(|f| (f, PersonInfo::new(&key))));
        }
    }
    Ok(plan)
}

/// A writer that advances a progress bar by the lines (samples) written.
struct LineProgress<'a, W> {
    inner: W,
    progress: &'a ProgressBar,
}

impl<W: Write> Write for LineProgress<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        self.progress.inc(lines as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads an export into `collection`, committing `batch` samples per
/// transaction and printing each sample's id only after its commit.
fn import(
    service: &FaceService,
    collection: &str,
    file: &Path,
    batch: usize,
    key: &GalleryKey,
) -> Result<bool> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| file.display().to_string())?,
        ))
    };
    let mut lines = reader.lines().enumerate();
    let (_, first) = lines.next().context("the import is empty")?;
    let reader = ExportReader::new(&first?, master_key(key, false)?.as_ref())?;
    let header = &reader.header;
    let gallery = service.gallery();
    if gallery.collection(collection).is_err() {
        service.create_collection(collection, &header.contract, header.index, header.review)?;
    }
    let before = gallery.stats(collection)?.samples;
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {pos} samples imported ({per_sec})")
            .expect("valid template"),
    );
    let mut pending = Vec::with_capacity(batch);
    let mut imported = 0usize;
    // A batch holds faces of persons or faces of none, never both.
    let unassigned = |r: &facekit_gallery::ExportRecord| r.person.key == UNASSIGNED;
    let mut flush = |pending: &mut Vec<facekit_gallery::ExportRecord>| -> Result<()> {
        let ids = if pending.first().is_some_and(unassigned) {
            let samples: Vec<_> = pending.iter().map(|r| r.sample.clone()).collect();
            service.enroll_unassigned(collection, &header.contract, &samples)?
        } else {
            let items: Vec<_> = pending.iter().map(|r| (&r.person, &r.sample)).collect();
            service.enroll_batch(collection, &header.contract, &items)?
        };
        let mut out = std::io::stdout().lock();
        for (id, r) in ids.iter().zip(pending.iter()) {
            writeln!(out, "{}", json!({"person": r.person.key, "sample": id}))?;
        }
        out.flush()?;
        imported += ids.len();
        progress.inc(ids.len() as u64);
        pending.clear();
        Ok(())
    };
    for (i, line) in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record = reader.record(&line, i + 1)?;
        if pending
            .first()
            .is_some_and(|p| unassigned(p) != unassigned(&record))
        {
            flush(&mut pending)?;
        }
        pending.push(record);
        if pending.len() == batch {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)?;
    progress.finish_and_clear();
    // Another backend may drop rows silently: count what arrived.
    let after = gallery.stats(collection)?.samples;
    if after != before + imported {
        bail!(
            "'{collection}' holds {after} samples after importing {imported} into {before}: some were lost"
        );
    }
    eprintln!(
        "facekit: imported {imported} samples into '{collection}' (now {after}, counts verified)"
    );
    Ok(true)
}
