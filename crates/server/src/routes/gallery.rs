//! The gallery over REST: collections, persons, faces, identify, verify.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use facekit_gallery::{
    Collection, EmbeddingContract, EnrollFilter, GalleryStats, IndexKind, NewSample, Person,
    PersonInfo, ReviewMode, Sample, check_contract, enrollment_samples,
};
use facekit_pipeline::{FaceQuality, FaceRecord, Liveness};
use facekit_service::{EnrollChecks, FaceMatches, RefusedFace, refuse_spoofs};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Admin, Reader, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::input::Payload;

/// Path parameters, with rejections in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathOf<T>(pub T);

/// A new collection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "staff", "index": "exact"}))]
pub struct CreateCollection {
    /// Unique name.
    pub name: String,
    /// `exact` (default), `int8` or `hnsw`.
    #[serde(default)]
    pub index: IndexKind,
    /// The model its vectors come from (default: the server's recognizer);
    /// give another to store embeddings computed elsewhere.
    pub contract: Option<EmbeddingContract>,
    /// How enrollment photos are reviewed unless a request says otherwise:
    /// `off` (default), `standard` or `strict`.
    #[serde(default)]
    pub review: ReviewMode,
    /// Days its samples are kept before a purge erases them (default:
    /// until deleted).
    pub retention_days: Option<u32>,
}

/// A collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionList {
    /// Every collection, by name.
    pub collections: Vec<Collection>,
}

/// Paging of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Items to skip (default 0).
    #[param(minimum = 0, example = 0)]
    pub offset: usize,
    /// Most items returned (default 100, at most 1000).
    #[param(minimum = 0, maximum = 1000, example = 100)]
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: 100,
        }
    }
}

/// Paging and search of the persons listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PersonListing {
    /// Persons to skip (default 0).
    #[param(minimum = 0, example = 0)]
    pub offset: usize,
    /// Most persons returned (default 100, at most 1000).
    #[param(minimum = 0, maximum = 1000, example = 100)]
    pub limit: usize,
    /// Only persons whose key or name contains this text, ignoring case.
    pub q: Option<String>,
}

impl Default for PersonListing {
    fn default() -> Self {
        let Page { offset, limit } = Page::default();
        Self {
            offset,
            limit,
            q: None,
        }
    }
}

/// A page of persons.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonList {
    /// Persons in the collection.
    pub total: usize,
    /// This page, by key.
    pub persons: Vec<Person>,
}

/// A new person, or changes to one (`key` is ignored when updating).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "alice", "name": "Alice Example", "metadata": {"team": "ops"}}))]
pub struct PersonBody {
    /// Identifier, unique in the collection (creation only).
    pub key: Option<String>,
    /// Display name (default: the key).
    pub name: Option<String>,
    /// Free JSON metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// A face to enroll: an image (largest face) or a precomputed embedding.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"image": "/9j/4AAQSkZJRgABAQ…", "min_size": 32}))]
pub struct EnrollRequest {
    /// The image, base64 (JSON bodies only).
    pub image: Option<String>,
    /// A raw embedding made under the collection's contract, instead of an image.
    pub embedding: Option<Vec<f32>>,
    /// Enroll every face of the image that passes the filters, not only the largest.
    pub all_faces: bool,
    /// Minimum shorter box side, pixels (default 32).
    pub min_size: Option<f32>,
    /// Minimum detection score (default 0.5).
    pub min_score: Option<f32>,
    /// Review of the photo: `off`, `standard` or `strict` (default: the
    /// collection's). Precomputed embeddings are not reviewed.
    pub review: Option<ReviewMode>,
}

/// Enrolled samples.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollResponse {
    /// The person.
    pub person: String,
    /// The review level applied (`off` for an embedding).
    pub review: ReviewMode,
    /// The new samples, committed, in order.
    pub faces: Vec<EnrolledFace>,
    /// Faces of the photo the review or liveness refused (with
    /// `all_faces`; when every face is refused the answer is a 422).
    pub refused: Vec<RefusedFace>,
}

/// One enrolled sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolledFace {
    /// Sample id (for deleting it).
    pub id: i64,
    /// Its box in the image (absent for an embedding).
    pub bbox: Option<[f32; 4]>,
    /// Its detection score (absent for an embedding).
    pub det_score: Option<f32>,
    /// Its quality (absent for an embedding).
    pub quality: Option<FaceQuality>,
    /// Its liveness, when the server checks it.
    pub liveness: Option<Liveness>,
}

/// Options of a face listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FaceListing {
    /// Include the stored embeddings (default false).
    pub embeddings: bool,
}

/// A stored face sample (embedding only when asked).
#[derive(Debug, Serialize, ToSchema)]
pub struct FaceList {
    /// The person's samples, oldest first.
    pub faces: Vec<Sample>,
}

/// A search: an image (every face) or an embedding.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"image": "/9j/4AAQSkZJRgABAQ…", "top_k": 3, "threshold": 0.3}))]
pub struct SearchRequest {
    /// The image, base64 (JSON bodies only).
    pub image: Option<String>,
    /// A raw embedding made under the collection's contract, instead of an image.
    pub embedding: Option<Vec<f32>>,
    /// Persons per face (identify; default 5).
    pub top_k: Option<usize>,
    /// Cosine similarity for a match (default: the server's).
    pub threshold: Option<f32>,
}

/// Who the faces are.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifyResponse {
    /// The threshold used.
    pub threshold: f32,
    /// Every face of the image (largest first), or the one embedding.
    pub faces: Vec<FaceMatches>,
}

/// Whether the face is the person.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    /// Cosine similarity to the person's best sample.
    pub score: f32,
    /// Whether it reaches the threshold.
    pub same: bool,
    /// The threshold used.
    pub threshold: f32,
    /// The face compared (absent when verifying an embedding).
    pub face: Option<FaceRecord>,
}

/// What was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// Face samples erased.
    pub faces_deleted: usize,
}

/// One embedding to search with: the request's, or those of the image's faces.
pub(crate) enum Probe {
    Embedding(Vec<f32>),
    Image(axum::body::Bytes),
}

pub(crate) fn probe(
    payload: &Payload<impl Sized>,
    embedding: &Option<Vec<f32>>,
) -> Result<Probe, ApiError> {
    match (embedding, payload.images.get("image")) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give an image or an embedding, not both",
        )),
        (Some(e), None) => Ok(Probe::Embedding(e.clone())),
        (None, Some(image)) => Ok(Probe::Image(image.clone())),
        (None, None) => Err(ApiError::bad_request(
            "give an 'image' (multipart file, base64 JSON string or raw body) or an 'embedding'",
        )),
    }
}

/// The contract a probe is searched or enrolled under: the collection's
/// own for a precomputed embedding; the server's recognizer for an image,
/// refused (409) before any model runs when it is not the collection's.
pub(crate) async fn probe_contract(
    state: &Arc<AppState>,
    collection: &str,
    probe: &Probe,
) -> Result<EmbeddingContract, ApiError> {
    let name = collection.to_string();
    let c = state
        .gallery(move |s| s.gallery().collection(&name))
        .await?;
    if matches!(probe, Probe::Image(_)) {
        check_contract(&c, state.require_recognizer()?)?;
    }
    Ok(c.contract)
}

const COLLECTION: &str = "/v1/collections/{collection}";

/// Create a collection pinned to an embedding contract.
#[utoipa::path(post, path = "/v1/collections", tag = "collections", request_body = CreateCollection,
    responses((status = 201, body = Collection), (status = 409, description = "`conflict`: a collection of that name exists", body = ErrorBody), (status = 422, description = "`invalid_argument`: a value out of range (a wrong embedding dimension, a NaN, an empty key)", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn create_collection(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    payload: Payload<CreateCollection>,
) -> Result<(StatusCode, Json<Collection>), ApiError> {
    let CreateCollection {
        name,
        index,
        contract,
        review,
        retention_days,
    } = payload.params;
    let contract = match contract {
        Some(c) => c,
        None => state.require_recognizer()?.clone(),
    };
    let created = state
        .gallery_as(&caller, move |s| {
            let created = s.create_collection(&name, &contract, index, review)?;
            match retention_days {
                Some(_) => s.set_retention(&name, retention_days),
                None => Ok(created),
            }
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List collections.
#[utoipa::path(get, path = "/v1/collections", tag = "collections",
    responses((status = 200, body = CollectionList)),
    security(("api_key" = ["reader"])))]
pub async fn list_collections(
    _: Reader,
    State(state): State<Arc<AppState>>,
) -> Result<Json<CollectionList>, ApiError> {
    let collections = state.gallery(|s| s.gallery().collections()).await?;
    Ok(Json(CollectionList { collections }))
}

/// A collection with its counts.
#[utoipa::path(get, path = COLLECTION, tag = "collections",
    params(("collection" = String, Path)),
    responses((status = 200, body = GalleryStats), (status = 404, description = "`not_found`: no such collection", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn get_collection(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
) -> Result<Json<GalleryStats>, ApiError> {
    Ok(Json(
        state
            .gallery(move |s| s.gallery().stats(&collection))
            .await?,
    ))
}

/// Delete a collection and erase everything in it.
#[utoipa::path(delete, path = COLLECTION, tag = "collections",
    params(("collection" = String, Path)),
    responses((status = 204), (status = 404, description = "`not_found`: no such collection", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn delete_collection(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
) -> Result<StatusCode, ApiError> {
    state
        .gallery_as(&caller, move |s| s.delete_collection(&collection))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a person (without faces).
#[utoipa::path(post, path = "/v1/collections/{collection}/persons", tag = "persons",
    params(("collection" = String, Path)), request_body = PersonBody,
    responses((status = 201, body = Person), (status = 404, description = "`not_found`: no such collection", body = ErrorBody), (status = 409, description = "`conflict`: a person with that key exists", body = ErrorBody), (status = 422, description = "`invalid_argument`: a value out of range (a wrong embedding dimension, a NaN, an empty key)", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn create_person(
    _: Writer,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<PersonBody>,
) -> Result<(StatusCode, Json<Person>), ApiError> {
    let body = payload.params;
    let key = body
        .key
        .ok_or_else(|| ApiError::bad_request("a person needs a 'key'"))?;
    let mut info = PersonInfo::new(&key);
    if let Some(name) = body.name {
        info.name = name;
    }
    if let Some(metadata) = body.metadata {
        info.metadata = metadata;
    }
    let person = state
        .gallery(move |s| s.create_person(&collection, &info))
        .await?;
    Ok((StatusCode::CREATED, Json(person)))
}

/// List persons, by key; `q` searches keys and names.
#[utoipa::path(get, path = "/v1/collections/{collection}/persons", tag = "persons",
    params(("collection" = String, Path), PersonListing),
    responses((status = 200, body = PersonList), (status = 404, description = "`not_found`: no such collection", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn list_persons(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<PersonListing>,
) -> Result<Json<PersonList>, ApiError> {
    let page = payload.params;
    let limit = page.limit.min(1000);
    let mut persons = state
        .gallery(move |s| s.gallery().persons(&collection))
        .await?;
    if let Some(q) = page
        .q
        .as_deref()
        .map(str::to_lowercase)
        .filter(|q| !q.is_empty())
    {
        persons.retain(|p| p.key.to_lowercase().contains(&q) || p.name.to_lowercase().contains(&q));
    }
    Ok(Json(PersonList {
        total: persons.len(),
        persons: persons.into_iter().skip(page.offset).take(limit).collect(),
    }))
}

/// A person.
#[utoipa::path(get, path = "/v1/collections/{collection}/persons/{person}", tag = "persons",
    params(("collection" = String, Path), ("person" = String, Path)),
    responses((status = 200, body = Person), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn get_person(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
) -> Result<Json<Person>, ApiError> {
    Ok(Json(
        state
            .gallery(move |s| s.gallery().person(&collection, &person))
            .await?,
    ))
}

/// Change a person's name and/or metadata.
#[utoipa::path(patch, path = "/v1/collections/{collection}/persons/{person}", tag = "persons",
    params(("collection" = String, Path), ("person" = String, Path)), request_body = PersonBody,
    responses((status = 200, body = Person), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody), (status = 422, description = "`invalid_argument`: a value out of range (a wrong embedding dimension, a NaN, an empty key)", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn update_person(
    _: Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
    payload: Payload<PersonBody>,
) -> Result<Json<Person>, ApiError> {
    let body = payload.params;
    Ok(Json(
        state
            .gallery(move |s| {
                s.update_person(
                    &collection,
                    &person,
                    body.name.as_deref(),
                    body.metadata.as_ref(),
                )
            })
            .await?,
    ))
}

/// Delete a person and erase their faces.
#[utoipa::path(delete, path = "/v1/collections/{collection}/persons/{person}", tag = "persons",
    params(("collection" = String, Path), ("person" = String, Path)),
    responses((status = 200, body = Deleted), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn delete_person(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
) -> Result<Json<Deleted>, ApiError> {
    let faces_deleted = state
        .gallery_as(&caller, move |s| s.delete_person(&collection, &person))
        .await?;
    Ok(Json(Deleted { faces_deleted }))
}

/// Enroll a face of a person from an image (largest face) or an embedding;
/// answered once committed.
#[utoipa::path(post, path = "/v1/collections/{collection}/persons/{person}/faces", tag = "faces",
    params(("collection" = String, Path), ("person" = String, Path)),
    request_body(content = EnrollRequest, description = "JSON with a base64 `image` or an `embedding`, multipart/form-data with an `image` file, or a raw image/* body"),
    responses((status = 201, body = EnrollResponse), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody), (status = 409, description = "`contract_mismatch`: the collection's embedding contract is not the server's recognizer", body = ErrorBody), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `no_face`: no face passes the size and score filters; `review_refused`: the review refused every face (`details` lists each with its reasons); `spoof_detected`: liveness in normal mode refused them; `invalid_argument`: an embedding of the wrong dimension or with a NaN", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn enroll(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
    payload: Payload<EnrollRequest>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let probe = probe(&payload, &payload.params.embedding)?;
    let contract = probe_contract(&state, &collection, &probe).await?;
    let (c, p) = (collection.clone(), person.clone());
    let existing = state.gallery(move |s| s.gallery().person(&c, &p)).await?;
    let info = PersonInfo {
        key: existing.key,
        name: existing.name,
        metadata: existing.metadata,
    };
    let person = info.key.clone();
    let image = match probe {
        Probe::Embedding(e) => {
            let ids = state
                .gallery_as(&caller, move |s| {
                    s.enroll(&collection, &contract, &info, &[NewSample::embedding(e)])
                })
                .await?;
            let faces = ids
                .into_iter()
                .map(|id| EnrolledFace {
                    id,
                    bbox: None,
                    det_score: None,
                    quality: None,
                    liveness: None,
                })
                .collect();
            let response = EnrollResponse {
                person,
                review: ReviewMode::Off,
                faces,
                refused: Vec::new(),
            };
            return Ok((StatusCode::CREATED, Json(response)));
        }
        Probe::Image(image) => image,
    };
    let defaults = EnrollFilter::default();
    let filter = EnrollFilter {
        all_faces: payload.params.all_faces,
        min_size: payload.params.min_size.unwrap_or(defaults.min_size),
        min_score: payload.params.min_score.unwrap_or(defaults.min_score),
    };
    let worker = state.clone();
    let candidates = state
        .pool
        .run("enroll", move || {
            Ok(enrollment_samples(&worker.analyzer, &image, &filter)?)
        })
        .await?;
    if candidates.is_empty() {
        return Err(ApiError::no_face(
            "the image (no face passes the size and score filters)",
        ));
    }
    let checks = EnrollChecks {
        review: payload.params.review,
        liveness: state.liveness,
        threshold: state.config.threshold,
    };
    let report = state
        .gallery_as(&caller, move |s| {
            s.enroll_candidates(&collection, &contract, &info, candidates, &checks)
        })
        .await?;
    if report.enrolled.is_empty() {
        let code = if report.spoof_refused() {
            "spoof_detected"
        } else {
            "review_refused"
        };
        let mut refused = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!(
                "not enrolled ({} review, liveness {:?}): {}",
                report.review,
                checks.liveness,
                report.refusal_summary()
            ),
        );
        refused.details = Some(
            serde_json::to_value(&report.refused).map_err(|e| ApiError::internal(e.to_string()))?,
        );
        return Err(refused);
    }
    let faces = report
        .enrolled
        .into_iter()
        .map(|s| EnrolledFace {
            id: s.id,
            bbox: Some(s.face.bbox),
            det_score: Some(s.face.det_score),
            quality: s.face.quality,
            liveness: s.face.liveness,
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            person,
            review: report.review,
            faces,
            refused: report.refused,
        }),
    ))
}

/// List a person's faces.
#[utoipa::path(get, path = "/v1/collections/{collection}/persons/{person}/faces", tag = "faces",
    params(("collection" = String, Path), ("person" = String, Path), FaceListing),
    responses((status = 200, body = FaceList), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn list_faces(
    Reader(caller): Reader,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
    payload: Payload<FaceListing>,
) -> Result<Json<FaceList>, ApiError> {
    let embeddings = payload.params.embeddings;
    let faces = state
        .gallery_as(&caller, move |s| {
            s.faces(&collection, Some(&person), embeddings)
        })
        .await?;
    Ok(Json(FaceList { faces }))
}

/// Delete one face sample, erasing it.
#[utoipa::path(delete, path = "/v1/collections/{collection}/faces/{face_id}", tag = "faces",
    params(("collection" = String, Path), ("face_id" = i64, Path)),
    responses((status = 204), (status = 404, description = "`not_found`: no such collection or face", body = ErrorBody)),
    security(("api_key" = ["writer"])))]
pub async fn delete_face(
    Writer(caller): Writer,
    State(state): State<Arc<AppState>>,
    PathOf((collection, face_id)): PathOf<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    state
        .gallery_as(&caller, move |s| s.delete_sample(&collection, face_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is this? The top-k persons for every face of an image (or for one embedding).
#[utoipa::path(post, path = "/v1/collections/{collection}/identify", tag = "search",
    params(("collection" = String, Path)),
    request_body(content = SearchRequest, description = "JSON with a base64 `image` or an `embedding`, multipart/form-data with an `image` file, or a raw image/* body"),
    responses((status = 200, body = IdentifyResponse), (status = 404, description = "`not_found`: no such collection", body = ErrorBody), (status = 409, description = "`contract_mismatch`: the collection's embedding contract is not the server's recognizer", body = ErrorBody), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `spoof_detected`: a face looks printed or replayed (liveness in normal mode); `invalid_argument`: an embedding of the wrong dimension or with a NaN", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn identify(
    Reader(caller): Reader,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<SearchRequest>,
) -> Result<Json<IdentifyResponse>, ApiError> {
    let probe = probe(&payload, &payload.params.embedding)?;
    let top_k = payload.params.top_k.unwrap_or(5);
    if top_k == 0 || top_k > state.config.limits.max_top_k {
        return Err(ApiError::bad_request(format!(
            "top_k must be 1 to {}",
            state.config.limits.max_top_k
        )));
    }
    let threshold = payload.params.threshold.unwrap_or(state.config.threshold);
    let contract = probe_contract(&state, &collection, &probe).await?;
    let worker = state.clone();
    let service = state.service.acting_as(caller.actor());
    let faces = state
        .pool
        .run("identify", move || {
            Ok(match probe {
                Probe::Embedding(e) => vec![service.identify_embedding(
                    &collection,
                    &contract,
                    &e,
                    top_k,
                    threshold,
                )?],
                Probe::Image(image) => {
                    let photo = worker.analyze(&image, false, false)?;
                    refuse_spoofs(&photo.faces, worker.liveness)?;
                    service.identify_faces(
                        &collection,
                        &contract,
                        &photo.faces,
                        top_k,
                        threshold,
                    )?
                }
            })
        })
        .await?;
    Ok(Json(IdentifyResponse { threshold, faces }))
}

/// Is this that person? The largest face of an image (or an embedding)
/// against the person's best sample.
#[utoipa::path(post, path = "/v1/collections/{collection}/persons/{person}/verify", tag = "search",
    params(("collection" = String, Path), ("person" = String, Path)),
    request_body(content = SearchRequest, description = "JSON with a base64 `image` or an `embedding`, multipart/form-data with an `image` file, or a raw image/* body"),
    responses((status = 200, body = VerifyResponse), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody), (status = 409, description = "`contract_mismatch`: the collection's embedding contract is not the server's recognizer", body = ErrorBody), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `no_face`: no face in the image; `spoof_detected`: the face looks printed or replayed (liveness in normal mode); `invalid_argument`: an embedding of the wrong dimension or with a NaN", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn verify(
    Reader(caller): Reader,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
    payload: Payload<SearchRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let probe = probe(&payload, &payload.params.embedding)?;
    let threshold = payload.params.threshold.unwrap_or(state.config.threshold);
    let contract = probe_contract(&state, &collection, &probe).await?;
    let worker = state.clone();
    let service = state.service.acting_as(caller.actor());
    let (face, verification) = state
        .pool
        .run("verify", move || {
            Ok(match probe {
                Probe::Embedding(e) => (
                    None,
                    service.verify_embedding(&collection, &contract, &person, &e, threshold)?,
                ),
                Probe::Image(image) => {
                    let photo = worker.analyze(&image, false, false)?;
                    refuse_spoofs(&photo.faces, worker.liveness)?;
                    let found = service
                        .verify_largest(&collection, &contract, &person, photo, threshold)?
                        .ok_or_else(|| ApiError::no_face("the image"))?;
                    (Some(found.face), found.verification)
                }
            })
        })
        .await?;
    Ok(Json(VerifyResponse {
        score: verification.score,
        same: verification.same,
        threshold,
        face,
    }))
}
