//! Stateless analysis: detect, embed, compare.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use facekit_core::cosine_similarity;
use facekit_pipeline::{FaceRecord, ImageFaces};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::input::Payload;

/// Detect parameters (JSON body with a base64 `image`, multipart fields,
/// or query parameters with a raw image body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"image": "/9j/4AAQSkZJRgABAQ…", "embeddings": false}))]
pub struct DetectRequest {
    /// The image, base64 (JSON bodies only).
    pub image: Option<String>,
    /// Include each face's embedding (default false).
    pub embeddings: bool,
    /// Run the landmark, gender/age and pose models the pack has (default true).
    #[schema(default = true)]
    pub attributes: Option<bool>,
    /// Add each face's quality: a score in [0, 1] and its components
    /// (default false).
    pub quality: bool,
}

/// Embed parameters.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedRequest {
    /// The image, base64 (JSON bodies only).
    pub image: Option<String>,
}

/// The faces of one image.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacesResponse {
    /// Decoded width (after EXIF orientation).
    pub width: u32,
    /// Decoded height.
    pub height: u32,
    /// Faces, best first.
    pub faces: Vec<FaceRecord>,
}

/// Compare parameters: two images.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"image1": "/9j/4AAQSkZJRgABAQ…", "image2": "/9j/4AAQSkZJRgABAQ…"}))]
pub struct CompareRequest {
    /// First image, base64 (JSON bodies only).
    pub image1: Option<String>,
    /// Second image, base64 (JSON bodies only).
    pub image2: Option<String>,
    /// Cosine similarity at or above which the faces are the same person
    /// (default: the server's).
    pub threshold: Option<f32>,
}

/// The largest face of each image and their similarity.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompareResponse {
    /// Cosine similarity of the two embeddings.
    pub score: f32,
    /// Whether it reaches the threshold.
    pub same: bool,
    /// The threshold used.
    pub threshold: f32,
    /// The face compared in the first image.
    pub face1: FaceRecord,
    /// The face compared in the second image.
    pub face2: FaceRecord,
}

fn faces_response(decoded: ImageFaces, embeddings: bool) -> FacesResponse {
    FacesResponse {
        width: decoded.width,
        height: decoded.height,
        faces: decoded
            .faces
            .iter()
            .map(|f| FaceRecord::new(f, embeddings))
            .collect(),
    }
}

/// Detect faces: boxes, landmarks, scores and the attributes the pack's
/// models give; embeddings on request.
#[utoipa::path(post, path = "/v1/detect", tag = "analysis",
    request_body(content = DetectRequest, description = "JSON with a base64 `image`, multipart/form-data with an `image` file, or a raw image/* body"),
    responses((status = 200, body = FacesResponse), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `no_face`: no usable face where one is needed", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn detect(
    _: Reader,
    State(state): State<Arc<AppState>>,
    payload: Payload<DetectRequest>,
) -> Result<Json<FacesResponse>, ApiError> {
    let image = payload.image("image")?;
    let embeddings = payload.params.embeddings;
    let attributes = payload.params.attributes.unwrap_or(true);
    let quality = payload.params.quality;
    let analyzer = state.clone();
    let decoded = state
        .pool
        .run("detect", move || {
            analyzer.analyze(&image, attributes, quality)
        })
        .await?;
    Ok(Json(faces_response(decoded, embeddings)))
}

/// Detect and embed every face (no attribute models).
#[utoipa::path(post, path = "/v1/embed", tag = "analysis",
    request_body(content = EmbedRequest, description = "JSON with a base64 `image`, multipart/form-data with an `image` file, or a raw image/* body"),
    responses((status = 200, body = FacesResponse), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `no_face`: no usable face where one is needed", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn embed(
    _: Reader,
    State(state): State<Arc<AppState>>,
    payload: Payload<EmbedRequest>,
) -> Result<Json<FacesResponse>, ApiError> {
    let image = payload.image("image")?;
    state.require_recognizer()?;
    let analyzer = state.clone();
    let decoded = state
        .pool
        .run("embed", move || analyzer.analyze(&image, false, false))
        .await?;
    Ok(Json(faces_response(decoded, true)))
}

/// Compare the largest faces of two images.
#[utoipa::path(post, path = "/v1/compare", tag = "analysis",
    request_body(content = CompareRequest, description = "JSON with base64 `image1` and `image2`, or multipart/form-data with `image1` and `image2` files"),
    responses((status = 200, body = CompareResponse), (status = 413, description = "`payload_too_large`: the body is over the limit; `image_too_large`: the image has more pixels than the limit", body = ErrorBody), (status = 422, description = "`invalid_image`, `empty_image`: the image cannot be decoded; `no_face`: no usable face where one is needed", body = ErrorBody), (status = 501, description = "`no_recognizer`: the server's pack has no recognition model", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn compare(
    _: Reader,
    State(state): State<Arc<AppState>>,
    payload: Payload<CompareRequest>,
) -> Result<Json<CompareResponse>, ApiError> {
    let (image1, image2) = (payload.image("image1")?, payload.image("image2")?);
    state.require_recognizer()?;
    let threshold = payload.params.threshold.unwrap_or(state.config.threshold);
    let analyzer = state.clone();
    let (face1, face2) = state
        .pool
        .run("compare", move || {
            let face = |field: &str, bytes| {
                analyzer
                    .analyze(bytes, false, false)?
                    .largest()
                    .ok_or_else(|| ApiError::no_face(field))
            };
            Ok((face("image1", &image1)?, face("image2", &image2)?))
        })
        .await?;
    let score = match (&face1.embedding, &face2.embedding) {
        (Some(a), Some(b)) => cosine_similarity(a, b),
        _ => {
            return Err(ApiError::no_face(
                "a form the recognizer can use (no landmarks)",
            ));
        }
    };
    Ok(Json(CompareResponse {
        score,
        same: score >= threshold,
        threshold,
        face1: FaceRecord::new(&face1, false),
        face2: FaceRecord::new(&face2, false),
    }))
}
