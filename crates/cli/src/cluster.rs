//! `facekit cluster` and `facekit eval cluster`: photos into people.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use facekit_cluster::metrics::score;
use facekit_cluster::photos::{
    FaceFilters, FoundFace, Skipped, group_faces, photo_faces, representative,
};
use facekit_cluster::{ClusterOptions, Clustering};
use facekit_core::Point;
use facekit_image::{RgbImage, decode_file};
use facekit_pipeline::FaceAnalyzer;
use serde_json::json;

use crate::args::{ClusterArgs, Common, Inputs};
use crate::eval::{bar, cache_dir};
use crate::gallery::print;
use crate::{Batch, Stages, analyzer, expand};

fn options(args: &ClusterArgs) -> ClusterOptions {
    ClusterOptions {
        method: args.method,
        threshold: args.threshold,
        neighbours: args.neighbours,
        min_samples: args.min_samples,
        min_size: args.min_cluster,
        cannot_link: !args.allow_same_photo,
        ..ClusterOptions::default()
    }
}

/// Detects and embeds every face of `files` with a progress bar.
fn faces_of(
    files: &[PathBuf],
    jobs: usize,
    args: &ClusterArgs,
    common: &Common,
) -> Result<(FaceAnalyzer, Vec<FoundFace>, Vec<Skipped>)> {
    if files.is_empty() {
        bail!("no image files found");
    }
    let analyzer = analyzer(common, jobs, Stages::EMBED)?;
    crate::require_recognizer(&analyzer)?;
    let filters = FaceFilters {
        min_size: args.min_face_size,
        min_score: args.min_score,
    };
    let progress = bar(files.len(), "photos");
    let (faces, skipped) = photo_faces(
        &analyzer,
        files,
        &filters,
        jobs,
        cache_dir(args.no_cache, &args.cache).as_deref(),
        &|| progress.inc(1),
    )?;
    progress.finish_and_clear();
    Ok((analyzer, faces, skipped))
}

fn face_json(f: &FoundFace) -> serde_json::Value {
    json!({"image": f.image, "bbox": f.face.bbox, "det_score": f.face.det_score})
}

/// Each face's aligned crop, decoding each photo once.
fn crops(analyzer: &FaceAnalyzer, faces: &[FoundFace]) -> Result<Vec<RgbImage>> {
    let rec = analyzer
        .pack()
        .recognizer()
        .context("no recognition model")?;
    let mut decoded: HashMap<&Path, RgbImage> = HashMap::new();
    faces
        .iter()
        .map(|f| {
            if !decoded.contains_key(f.image.as_path()) {
                let img = decode_file(&f.image, &analyzer.options().limits)
                    .with_context(|| format!("cannot read {}", f.image.display()))?;
                decoded.insert(&f.image, img);
            }
            let kps = f.face.kps.map(|[x, y]| Point::new(x, y));
            Ok(rec.align(&decoded[f.image.as_path()], &kps)?)
        })
        .collect()
}

fn png_base64(img: &RgbImage) -> Result<String> {
    let buffer = image::RgbImage::from_raw(img.width(), img.height(), img.as_raw().to_vec())
        .context("image buffer")?;
    let mut bytes = Cursor::new(Vec::new());
    buffer.write_to(&mut bytes, image::ImageFormat::Png)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes.into_inner()))
}

/// An HTML page with every cluster's crops in a row, the unclustered last.
fn contact_sheet(
    groups: &[(String, Vec<usize>)],
    crops: &[RgbImage],
    faces: &[FoundFace],
) -> Result<String> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>facekit clusters</title>\
         <style>body{font-family:sans-serif}img{width:96px;height:96px;margin:2px}</style>\n",
    );
    for (name, members) in groups {
        html.push_str(&format!(
            "<h2>{} ({} faces)</h2><div>",
            escape(name),
            members.len()
        ));
        for &i in members {
            html.push_str(&format!(
                "<img title=\"{}\" src=\"data:image/png;base64,{}\">",
                escape(&faces[i].image.display().to_string()),
                png_base64(&crops[i])?
            ));
        }
        html.push_str("</div>\n");
    }
    Ok(html)
}

/// `facekit cluster`.
pub fn run(
    input: &Inputs,
    thumbnails: Option<&Path>,
    sheet: Option<&Path>,
    args: &ClusterArgs,
    common: &Common,
) -> Result<bool> {
    let batch = Batch::resolve(input);
    let (analyzer, faces, skipped) = faces_of(&batch.files, batch.jobs, args, common)?;
    let options = options(args);
    let found = group_faces(&faces, &options)?;
    let members = found.members();
    let clusters: Vec<serde_json::Value> = members
        .iter()
        .enumerate()
        .map(|(c, m)| {
            json!({
                "cluster": c,
                "size": m.len(),
                "representative": face_json(&faces[representative(&faces, m)]),
                "faces": m.iter().map(|&i| face_json(&faces[i])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let unclustered: Vec<usize> = (0..faces.len())
        .filter(|&i| found.labels[i].is_none())
        .collect();
    print(&json!({
        "clusters": clusters,
        "unclustered": unclustered.iter().map(|&i| face_json(&faces[i])).collect::<Vec<_>>(),
        "skipped": skipped,
        "settings": options,
    }))?;
    if thumbnails.is_some() || sheet.is_some() {
        let crops = crops(&analyzer, &faces)?;
        let mut groups: Vec<(String, Vec<usize>)> = members
            .into_iter()
            .enumerate()
            .map(|(c, m)| (format!("cluster{c}"), m))
            .collect();
        groups.push(("unclustered".into(), unclustered));
        if let Some(dir) = thumbnails {
            for (name, members) in &groups {
                let folder = dir.join(name);
                std::fs::create_dir_all(&folder)
                    .with_context(|| format!("cannot create {}", folder.display()))?;
                for (n, &i) in members.iter().enumerate() {
                    crate::save(&crops[i], &folder.join(format!("face{n}.png")))?;
                }
            }
        }
        if let Some(path) = sheet {
            std::fs::write(path, contact_sheet(&groups, &crops, &faces)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(true)
}

/// Clusters holding two faces of one photo.
fn shared_photos(found: &Clustering, faces: &[FoundFace]) -> usize {
    found
        .members()
        .iter()
        .filter(|m| {
            let mut photos: Vec<usize> = m.iter().map(|&i| faces[i].photo).collect();
            photos.sort_unstable();
            photos.windows(2).any(|w| w[0] == w[1])
        })
        .count()
}

/// `facekit eval cluster`.
pub fn evaluate(
    images: &Path,
    jobs: Option<usize>,
    args: &ClusterArgs,
    common: &Common,
) -> Result<()> {
    let (files, _) = expand(std::slice::from_ref(&images.to_path_buf()));
    let batch = Batch::of(files, true, jobs);
    let (_, faces, skipped) = faces_of(&batch.files, batch.jobs, args, common)?;
    // The truth: each photo's largest face is its folder's person; other
    // faces are clustered too but not scored.
    let mut largest: HashMap<usize, usize> = HashMap::new();
    let area =
        |f: &FoundFace| (f.face.bbox[2] - f.face.bbox[0]) * (f.face.bbox[3] - f.face.bbox[1]);
    for (i, f) in faces.iter().enumerate() {
        let best = largest.entry(f.photo).or_insert(i);
        if area(f) > area(&faces[*best]) {
            *best = i;
        }
    }
    let mut people: HashMap<String, u32> = HashMap::new();
    let mut scored: Vec<(usize, u32)> = Vec::new();
    for &i in largest.values() {
        let person = faces[i]
            .image
            .strip_prefix(images)
            .ok()
            .and_then(|r| r.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|_| faces[i].image.parent() != Some(images))
            .with_context(|| format!("{} is not in a person's folder", faces[i].image.display()))?;
        let next = people.len() as u32;
        scored.push((i, *people.entry(person).or_insert(next)));
    }
    scored.sort_unstable();
    let truth: Vec<u32> = scored.iter().map(|&(_, p)| p).collect();
    let mut report = serde_json::Map::new();
    for (name, options) in [
        ("facekit", options(args)),
        ("insightface_gui", ClusterOptions::insightface_gui()),
    ] {
        let found = group_faces(&faces, &options)?;
        let labels: Vec<Option<u32>> = scored.iter().map(|&(i, _)| found.labels[i]).collect();
        report.insert(
            name.into(),
            json!({
                "settings": options,
                "scores": score(&labels, &truth),
                "clusters_with_two_faces_of_one_photo": shared_photos(&found, &faces),
            }),
        );
    }
    report.insert("photos".into(), json!(batch.files.len()));
    report.insert("faces".into(), json!(faces.len()));
    report.insert("scored_faces".into(), json!(truth.len()));
    report.insert("skipped_photos".into(), json!(skipped.len()));
    print(&serde_json::Value::Object(report))
}
