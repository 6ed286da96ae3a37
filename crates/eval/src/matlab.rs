//! The official WIDER FACE ground truth: `wider_face_val.mat` (events, file
//! names, boxes) and `wider_{easy,medium,hard}_val.mat` (`gt_list`: which
//! faces count in each setting), read with `matrw`.

use std::path::Path;

use matrw::MatVariable;

use crate::EvalError;
use crate::wider::{GroundTruthImage, SETTINGS};

/// Largest MAT-file read (WIDER's val files are under 4 MB).
const MAX_MAT_BYTES: u64 = 64 << 20;

fn load(path: &Path) -> Result<matrw::MatFile, EvalError> {
    let name = path
        .to_str()
        .ok_or_else(|| EvalError::invalid(path, "path is not UTF-8"))?;
    if !path.is_file() {
        return Err(EvalError::invalid(path, "file not found"));
    }
    // WIDER's files are a few MB; matrw would allocate whatever a crafted
    // header declares.
    let size = std::fs::metadata(path).map_err(EvalError::io(path))?.len();
    if size > MAX_MAT_BYTES {
        return Err(EvalError::invalid(
            path,
            format!("{size} bytes is more than a ground-truth MAT-file has ({MAX_MAT_BYTES})"),
        ));
    }
    // matrw panics (todo!, unwrap) on element types it does not expect.
    std::panic::catch_unwind(|| matrw::load_matfile(name))
        .map_err(|_| EvalError::invalid(path, "not a readable MAT-file (unexpected contents)"))?
        .map_err(|e| EvalError::invalid(path, format!("not a readable MAT-file: {e}")))
}

/// The elements of a cell array (matched directly: matrw's generic
/// accessors panic on types they do not expect).
fn cells<'a>(v: &'a MatVariable, path: &Path, what: &str) -> Result<&'a [MatVariable], EvalError> {
    match v {
        MatVariable::CellArray(c) => Ok(&c.value),
        _ => Err(EvalError::invalid(
            path,
            format!("{what} is not a cell array"),
        )),
    }
}

fn text(v: &MatVariable, path: &Path, what: &str) -> Result<String, EvalError> {
    match v {
        MatVariable::NumericArray(_) => v
            .to_vec_char()
            .map(|c| c.into_iter().collect())
            .ok_or_else(|| EvalError::invalid(path, format!("{what} is not text"))),
        _ => Err(EvalError::invalid(path, format!("{what} is not text"))),
    }
}

/// A numeric matrix as rows (MAT-files store columns first).
fn rows(v: &MatVariable, cols: usize, path: &Path, what: &str) -> Result<Vec<Vec<f64>>, EvalError> {
    let MatVariable::NumericArray(n) = v else {
        return Err(EvalError::invalid(path, format!("{what} is not numeric")));
    };
    let values = v
        .to_vec_f64()
        .or_else(|| {
            v.to_vec_i32()
                .map(|x| x.into_iter().map(f64::from).collect())
        })
        .or_else(|| {
            v.to_vec_u16()
                .map(|x| x.into_iter().map(f64::from).collect())
        })
        .or_else(|| {
            v.to_vec_u8()
                .map(|x| x.into_iter().map(f64::from).collect())
        })
        .ok_or_else(|| EvalError::invalid(path, format!("{what} has an unexpected number type")))?;
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let n_rows = n.dim.first().copied().unwrap_or(0);
    if n_rows * cols != values.len() {
        return Err(EvalError::invalid(
            path,
            format!("{what}: {} values do not form {cols} columns", values.len()),
        ));
    }
    Ok((0..n_rows)
        .map(|r| (0..cols).map(|c| values[c * n_rows + r]).collect())
        .collect())
}

pub(crate) fn read_wider_mat(dir: &Path) -> Result<Vec<GroundTruthImage>, EvalError> {
    let main_path = dir.join("wider_face_val.mat");
    let main = load(&main_path)?;
    let setting_paths = SETTINGS.map(|s| dir.join(format!("wider_{s}_val.mat")));
    let setting_files = [
        load(&setting_paths[0])?,
        load(&setting_paths[1])?,
        load(&setting_paths[2])?,
    ];
    let p = main_path.as_path();
    let events = cells(&main["event_list"], p, "event_list")?;
    let files = cells(&main["file_list"], p, "file_list")?;
    let boxes = cells(&main["face_bbx_list"], p, "face_bbx_list")?;
    if files.len() != events.len() || boxes.len() != events.len() {
        return Err(EvalError::invalid(
            p,
            "event_list, file_list and face_bbx_list differ in length",
        ));
    }
    let keep_lists: Vec<&[MatVariable]> = setting_files
        .iter()
        .zip(&setting_paths)
        .map(|(f, sp)| cells(&f["gt_list"], sp, "gt_list"))
        .collect::<Result<_, _>>()?;
    let mut images = Vec::new();
    for e in 0..events.len() {
        let event = text(&events[e], p, "an event name")?;
        let names = cells(&files[e], p, "a file list")?;
        let event_boxes = cells(&boxes[e], p, "a box list")?;
        let keeps: Vec<&[MatVariable]> = keep_lists
            .iter()
            .zip(&setting_paths)
            .map(|(k, sp)| {
                k.get(e)
                    .ok_or_else(|| {
                        EvalError::invalid(sp, "gt_list has fewer events than wider_face_val.mat")
                    })
                    .and_then(|v| cells(v, sp, "a gt_list entry"))
            })
            .collect::<Result<_, _>>()?;
        for (j, name) in names.iter().enumerate() {
            let name = text(name, p, "a file name")?;
            let faces = event_boxes
                .get(j)
                .ok_or_else(|| EvalError::invalid(p, format!("no boxes for {name}")))?;
            let boxes = rows(faces, 4, p, "a box matrix")?
                .into_iter()
                .map(|r| [r[0], r[1], r[2], r[3]])
                .collect();
            let mut keep: [Vec<usize>; 3] = Default::default();
            for (s, k) in keeps.iter().enumerate() {
                let list = k.get(j).ok_or_else(|| {
                    EvalError::invalid(&setting_paths[s], format!("no entry for {name}"))
                })?;
                keep[s] = rows(list, 1, &setting_paths[s], "a keep list")?
                    .into_iter()
                    .map(|r| r[0] as usize)
                    .collect();
            }
            images.push(GroundTruthImage {
                name: format!("{event}/{name}.jpg"),
                boxes,
                keep,
            });
        }
    }
    Ok(images)
}
