//! The routes and the OpenAPI document, both built from the handlers'
//! annotations, and the public endpoints (health, readiness, metrics, the
//! document).

pub mod analysis;
mod document;
pub mod gallery;
pub mod info;
pub mod keys;
pub mod monitors;
pub mod people;
pub mod privacy;

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
        with_monitor_metrics(state.metrics.render(), &state),
    )
}

/// A monitor metric: name, type, help, and how to read it from a status.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&facekit_monitor::MonitorStatus) -> f64,
);

/// `rendered` with each monitor's counters, labelled by monitor, added
/// before its `# EOF` line.
fn with_monitor_metrics(rendered: String, state: &AppState) -> String {
    use std::fmt::Write;
    let Some(hub) = state.monitors.get() else {
        return rendered;
    };
    let monitors = hub.list();
    let eof = rendered.ends_with("# EOF\n");
    let mut out = rendered;
    if eof {
        out.truncate(out.len() - "# EOF\n".len());
    }
    let series: [Series; 7] = [
        (
            "facekit_monitor_frames_read_total",
            "counter",
            "Frames decoded from the source.",
            |s| s.frames_read as f64,
        ),
        (
            "facekit_monitor_frames_analysed_total",
            "counter",
            "Frames analysed.",
            |s| s.frames_analysed as f64,
        ),
        (
            "facekit_monitor_frames_dropped_total",
            "counter",
            "Frames replaced by a newer one before analysis.",
            |s| s.frames_dropped as f64,
        ),
        (
            "facekit_monitor_reconnects_total",
            "counter",
            "Connections to the source lost and tried again.",
            |s| s.reconnects as f64,
        ),
        (
            "facekit_monitor_events_total",
            "counter",
            "Events sent.",
            |s| s.events as f64,
        ),
        (
            "facekit_monitor_lag_seconds",
            "gauge",
            "From the last analysed frame's arrival to the end of its analysis.",
            |s| s.lag_seconds,
        ),
        (
            "facekit_monitor_live",
            "gauge",
            "1 while frames arrive and are analysed.",
            |s| f64::from(u8::from(s.state == facekit_monitor::MonitorState::Live)),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for m in &monitors {
            let _ = writeln!(out, "{name}{{monitor=\"{}\"}} {}", m.id, value(&m.status));
        }
    }
    if eof {
        out.push_str("# EOF\n");
    }
    out
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
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

/// What the document says of the whole API (its paths come from the routers).
#[derive(OpenApi)]
#[openapi(
    info(title = "facekit", description = "Face detection, recognition and a face gallery over HTTP. `/v1` needs an API key (`Authorization: Bearer <key>` or `X-API-Key`) whose role allows the call: reader (analysis, search, reading the gallery), writer (also persons and faces), admin (also collections and keys); each operation names its role. Images come as a multipart/form-data file, a base64 string in a JSON body, or the raw body (`Content-Type: image/*`, parameters in the query string). Errors are `{\"error\": {\"code\", \"message\"}}`; every response has an `x-request-id` header."),
    modifiers(&BearerKeys)
)]
struct ApiDoc;

/// The routers and the document, built together from the handlers'
/// annotations (utoipa-axum), so that no route is served undocumented and
/// no documented route is missing: the public routes, the `/v1` routes
/// (authenticated by the caller of this function), and the document.
pub fn routers() -> (Router<Arc<AppState>>, Router<Arc<AppState>>, Value) {
    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .split_for_parts();
    let (v1, v1_doc) = OpenApiRouter::new()
        .routes(routes!(info::info))
        .routes(routes!(analysis::detect))
        .routes(routes!(analysis::embed))
        .routes(routes!(analysis::compare))
        .routes(routes!(
            gallery::create_collection,
            gallery::list_collections
        ))
        .routes(routes!(gallery::get_collection, gallery::delete_collection))
        .routes(routes!(gallery::create_person, gallery::list_persons))
        .routes(routes!(
            gallery::get_person,
            gallery::update_person,
            gallery::delete_person
        ))
        .routes(routes!(gallery::enroll, gallery::list_faces))
        .routes(routes!(gallery::delete_face))
        .routes(routes!(people::add_faces, people::list_collection_faces))
        .routes(routes!(people::cluster))
        .routes(routes!(privacy::list_audit))
        .routes(routes!(privacy::verify_audit))
        .routes(routes!(privacy::set_retention))
        .routes(routes!(privacy::purge))
        .routes(routes!(privacy::export_person))
        .routes(routes!(privacy::erase_person))
        .routes(routes!(people::merge))
        .routes(routes!(people::split))
        .routes(routes!(people::move_face))
        .routes(routes!(people::not_person))
        .routes(routes!(gallery::identify))
        .routes(routes!(gallery::verify))
        .routes(routes!(monitors::create_monitor, monitors::list_monitors))
        .routes(routes!(
            monitors::get_monitor,
            monitors::update_monitor,
            monitors::delete_monitor
        ))
        .routes(routes!(monitors::list_events))
        .routes(routes!(monitors::stream_events))
        .routes(routes!(monitors::preview))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(public_doc);
    doc.merge(v1_doc);
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    document::complete(&mut doc);
    (public, v1, doc)
}

/// The OpenAPI 3.1 document `/openapi.json` serves.
///
/// ```
/// let doc = facekit_server::document();
/// assert!(doc["paths"]["/v1/detect"]["post"].is_object());
/// ```
pub fn document() -> Value {
    routers().2
}
