//! The routes, the OpenAPI document generated from their annotations, and
//! the public endpoints (health, readiness, metrics, the document).

pub mod analysis;
pub mod gallery;
pub mod keys;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;
use crate::error::ApiError;

/// Liveness and readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready` or `shutting_down`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The models are loaded and the gallery is open; 503 once shutdown began.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status), (status = 503, body = Status)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Status>) {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, Json(Status { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Status {
                status: "shutting_down",
            }),
        )
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// An unknown path.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

/// A known path with a method it does not take.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not accepted on {}", uri.path()),
    )
}

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI 3 document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "facekit", description = "Face detection, recognition and a face gallery over HTTP. `/v1` needs an API key (`Authorization: Bearer <key>` or `X-API-Key`) whose role allows the call: reader (analysis, search, reading the gallery), writer (also persons and faces), admin (also collections and keys). Errors are `{\"error\": {\"code\", \"message\"}}`; every response has an `x-request-id` header."),
    paths(
        healthz, readyz, metrics, openapi,
        analysis::detect, analysis::embed, analysis::compare,
        gallery::create_collection, gallery::list_collections, gallery::get_collection, gallery::delete_collection,
        gallery::create_person, gallery::list_persons, gallery::get_person, gallery::update_person, gallery::delete_person,
        gallery::enroll, gallery::list_faces, gallery::delete_face,
        gallery::identify, gallery::verify,
        keys::create_key, keys::list_keys, keys::revoke_key,
    ),
    modifiers(&BearerKeys)
)]
pub struct ApiDoc;

/// The `/v1` routes (authenticated by the caller of this function).
pub fn v1() -> Router<Arc<AppState>> {
    use analysis::*;
    use gallery::*;
    use keys::*;
    Router::new()
        .route("/v1/detect", post(detect))
        .route("/v1/embed", post(embed))
        .route("/v1/compare", post(compare))
        .route(
            "/v1/collections",
            post(create_collection).get(list_collections),
        )
        .route(
            "/v1/collections/{collection}",
            get(get_collection).delete(delete_collection),
        )
        .route(
            "/v1/collections/{collection}/persons",
            post(create_person).get(list_persons),
        )
        .route(
            "/v1/collections/{collection}/persons/{person}",
            get(get_person).patch(update_person).delete(delete_person),
        )
        .route(
            "/v1/collections/{collection}/persons/{person}/faces",
            post(enroll).get(list_faces),
        )
        .route(
            "/v1/collections/{collection}/faces/{face_id}",
            delete(delete_face),
        )
        .route("/v1/collections/{collection}/identify", post(identify))
        .route(
            "/v1/collections/{collection}/persons/{person}/verify",
            post(verify),
        )
        .route("/v1/keys", post(create_key).get(list_keys))
        .route("/v1/keys/{id}", delete(revoke_key))
}

/// The routes anyone may call.
pub fn public() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}
