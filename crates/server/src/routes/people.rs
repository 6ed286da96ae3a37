//! Photo collections over REST: faces enrolled without a person, clustering
//! them into people, and the corrections (merge, split, move, "not this
//! person"; naming is the person PATCH) that every later clustering keeps.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use facekit_cluster::collection::{Run, RunReport};
use facekit_cluster::photos::FaceFilters;
use facekit_cluster::{ClusterError, ClusterOptions};
use facekit_gallery::{
    ClusterFace, EnrollFilter, NewSample, Person, PersonInfo, Renumbered, enrollment_samples,
};
use facekit_service::FaceService;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::gallery::{EnrolledFace, Page, PathOf};
use crate::AppState;
use crate::auth::{Reader, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::input::Payload;

/// Faces to add without a person: every face of an image, or one embedding.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"image": "/9j/4AAQSkZJRgABAQ…", "min_size": 50}))]
pub struct AddFacesRequest {
    /// The image, base64 (JSON bodies only).
    pub image: Option<String>,
    /// A raw embedding made under the collection's contract, instead of an image.
    pub embedding: Option<Vec<f32>>,
    /// Minimum shorter box side, pixels (default 50, as `facekit cluster`).
    pub min_size: Option<f32>,
    /// Minimum detection score (default 0.7, as `facekit cluster`).
    pub min_score: Option<f32>,
}

/// Faces added.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedFaces {
    /// The new samples, committed, in order.
    pub faces: Vec<EnrolledFace>,
}

/// A page of faces with clustering's view of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterFaceList {
    /// Faces in the collection.
    pub total: usize,
    /// This page, oldest first.
    pub faces: Vec<ClusterFace>,
}

/// A clustering run.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"full": false}))]
pub struct ClusterRequest {
    /// Place every face no person decided again (default: only new faces).
    pub full: bool,
    /// Cosine similarity two faces need to be linked (default 0.55, measured
    /// on LFW with SFace).
    pub threshold: Option<f32>,
}

/// Merge a person into another.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"into": "grandma"}))]
pub struct MergeRequest {
    /// The person that keeps every face.
    pub into: String,
}

/// Split faces off a person into a new one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"faces": [12, 40], "key": "aunt-may", "name": "Aunt May"}))]
pub struct SplitRequest {
    /// Face ids of the person to split off.
    pub faces: Vec<i64>,
    /// The new person's key.
    pub key: String,
    /// Its display name (default: the key).
    pub name: Option<String>,
}

/// A face and a person: move it there, or never there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"person": "grandma"}))]
pub struct FacePerson {
    /// The person's key.
    pub person: String,
}

/// A correction made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Corrected {
    /// The person it concerns, as it is now (the one merged into, the new
    /// one of a split, the one a face moved to or was taken from).
    pub person: Person,
    /// Faces the backend re-inserted under new ids to move them (Milvus),
    /// `[old, new]`; empty for the embedded store.
    pub renumbered: Vec<[i64; 2]>,
}

/// Runs a correction on `collection`, then answers with `person` as it is
/// after it.
async fn correction(
    state: &Arc<AppState>,
    caller: &crate::auth::Caller,
    collection: String,
    person: String,
    op: impl FnOnce(&FaceService, &str) -> Result<Renumbered, ClusterError> + Send + 'static,
) -> Result<Corrected, ApiError> {
    state
        .gallery_as(caller, move |s| {
            let renumbered = op(s, &collection)?;
            Ok::<_, ApiError>(Corrected {
                person: s.gallery().person(&collection, &person)?,
                renumbered: renumbered.into_iter().map(|(a, b)| [a, b]).collect(),
            })
        })
        .await
}

const FACES: &str = "/v1/collections/{collection}/faces";

/// Add faces without a person: every face of an image that passes the
/// filters, or one embedding; `cluster` places them.
#[utoipa::path(post, path = FACES, tag = "people",
    params(("collection" = String, Path)),
    request_body(content = AddFacesRequest, description = "JSON with a base64 `image` or an `embedding`, multipart/form-data with an `image` file, or a raw image/* body"),
    responses((status = 201, body = AddedFaces), (status = 404, description = "`not_found`: no such collection", body = ErrorBody), (status = 409, description = "`contract_mismatch`: the collection's embedding contract is not the server's recognizer", body = ErrorBody), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `no_face`: no face passes the size and score filters; `invalid_argument`: an embedding of the wrong dimension or with a NaN", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn add_faces(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<AddFacesRequest>,
) -> Result<(StatusCode, Json<AddedFaces>), ApiError> {
    let probe = super::gallery::probe(&payload, &payload.params.embedding)?;
    let contract = super::gallery::probe_contract(&state, &collection, &probe).await?;
    let (samples, faces): (Vec<NewSample>, Vec<EnrolledFace>) = match probe {
        super::gallery::Probe::Embedding(e) => (
            vec![NewSample::embedding(e)],
            vec![EnrolledFace {
                id: 0,
                bbox: None,
                det_score: None,
                quality: None,
                liveness: None,
            }],
        ),
        super::gallery::Probe::Image(image) => {
            let defaults = FaceFilters::default();
            let filter = EnrollFilter {
                all_faces: true,
                min_size: payload.params.min_size.unwrap_or(defaults.min_size),
                min_score: payload.params.min_score.unwrap_or(defaults.min_score),
            };
            let worker = state.clone();
            let candidates = state
                .pool
                .run("add_faces", move || {
                    Ok(enrollment_samples(&worker.analyzer, &image, &filter)?)
                })
                .await?;
            if candidates.is_empty() {
                return Err(ApiError::no_face(
                    "the image (no face passes the size and score filters)",
                ));
            }
            candidates
                .into_iter()
                .map(|c| {
                    let face = EnrolledFace {
                        id: 0,
                        bbox: c.sample.bbox,
                        det_score: c.sample.det_score,
                        quality: c.face.quality.clone(),
                        liveness: c.face.liveness.clone(),
                    };
                    (c.sample, face)
                })
                .unzip()
        }
    };
    let ids = state
        .gallery_as(&caller, move |s| {
            s.enroll_unassigned(&collection, &contract, &samples)
        })
        .await?;
    let faces = faces
        .into_iter()
        .zip(ids)
        .map(|(face, id)| EnrolledFace { id, ..face })
        .collect();
    Ok((StatusCode::CREATED, Json(AddedFaces { faces })))
}

/// List the collection's faces with clustering's view of them (who holds
/// each, whether clustering placed it, the persons it must never join).
#[utoipa::path(get, path = FACES, tag = "people",
    params(("collection" = String, Path), Page),
    responses((status = 200, body = ClusterFaceList), (status = 404, description = "`not_found`: no such collection", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn list_collection_faces(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<Page>,
) -> Result<Json<ClusterFaceList>, ApiError> {
    let page = payload.params;
    let faces = state
        .gallery(move |s| s.gallery().cluster_faces(&collection))
        .await?;
    Ok(Json(ClusterFaceList {
        total: faces.len(),
        faces: faces
            .into_iter()
            .skip(page.offset)
            .take(page.limit.min(1000))
            .collect(),
    }))
}

/// Cluster the collection's faces into people: new faces only (join the
/// person their neighbours vote for, or form new suggested persons), or
/// every face no person decided again; corrections are kept.
#[utoipa::path(post, path = "/v1/collections/{collection}/cluster", tag = "people",
    params(("collection" = String, Path)), request_body = ClusterRequest,
    responses((status = 200, body = RunReport), (status = 404, description = "`not_found`: no such collection", body = ErrorBody), (status = 422, description = "`invalid_argument`: a threshold outside -1 to 1", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn cluster(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<ClusterRequest>,
) -> Result<Json<RunReport>, ApiError> {
    let mut options = ClusterOptions::default();
    if let Some(t) = payload.params.threshold {
        options.threshold = t;
    }
    let run = if payload.params.full {
        Run::Full
    } else {
        Run::Incremental
    };
    Ok(Json(
        state
            .gallery_as(&caller, move |s| s.cluster(&collection, &options, run))
            .await?,
    ))
}

/// Merge this person into another: every face goes there, pinned, and
/// this person is deleted.
#[utoipa::path(post, path = "/v1/collections/{collection}/persons/{person}/merge", tag = "people",
    params(("collection" = String, Path), ("person" = String, Path)), request_body = MergeRequest,
    responses((status = 200, body = Corrected), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody), (status = 422, description = "`invalid_argument`: a person merged into itself", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn merge(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
    payload: Payload<MergeRequest>,
) -> Result<Json<Corrected>, ApiError> {
    let into = payload.params.into;
    correction(&state, &caller, collection, into.clone(), move |s, c| {
        s.merge_persons(c, &person, &into)
    })
    .await
    .map(Json)
}

/// Split faces off this person into a new person: they are pinned there
/// and never join this person again.
#[utoipa::path(post, path = "/v1/collections/{collection}/persons/{person}/split", tag = "people",
    params(("collection" = String, Path), ("person" = String, Path)), request_body = SplitRequest,
    responses((status = 201, body = Corrected), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody), (status = 409, description = "`conflict`: a person with the new key exists", body = ErrorBody), (status = 422, description = "`invalid_argument`: no faces, a face that is not this person's, an empty key", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn split(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
    payload: Payload<SplitRequest>,
) -> Result<(StatusCode, Json<Corrected>), ApiError> {
    let body = payload.params;
    let mut info = PersonInfo::new(&body.key);
    if let Some(name) = body.name {
        info.name = name;
    }
    let done = correction(
        &state,
        &caller,
        collection,
        info.key.clone(),
        move |s, c| s.split_person(c, &person, &body.faces, &info),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// Move a face to a person, pinned there.
#[utoipa::path(post, path = "/v1/collections/{collection}/faces/{face_id}/move", tag = "people",
    params(("collection" = String, Path), ("face_id" = i64, Path)), request_body = FacePerson,
    responses((status = 200, body = Corrected), (status = 404, description = "`not_found`: no such collection, face or person", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn move_face(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, face_id)): PathOf<(String, i64)>,
    payload: Payload<FacePerson>,
) -> Result<Json<Corrected>, ApiError> {
    let person = payload.params.person;
    correction(&state, &caller, collection, person.clone(), move |s, c| {
        s.move_faces(c, &[face_id], &person)
    })
    .await
    .map(Json)
}

/// "Not this person": the face never joins the person again (and leaves
/// them if it is theirs now).
#[utoipa::path(post, path = "/v1/collections/{collection}/faces/{face_id}/not-person", tag = "people",
    params(("collection" = String, Path), ("face_id" = i64, Path)), request_body = FacePerson,
    responses((status = 200, body = Corrected), (status = 404, description = "`not_found`: no such collection, face or person", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn not_person(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, face_id)): PathOf<(String, i64)>,
    payload: Payload<FacePerson>,
) -> Result<Json<Corrected>, ApiError> {
    let person = payload.params.person;
    correction(&state, &caller, collection, person.clone(), move |s, c| {
        s.not_this_person(c, face_id, &person)
    })
    .await
    .map(Json)
}
