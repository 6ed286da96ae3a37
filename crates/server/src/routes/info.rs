//! What the server runs and who is asking: the console's first call, and a
//! quick check for scripts that a key works.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use facekit_gallery::EmbeddingContract;
use facekit_service::LivenessPolicy;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, Reader};
use crate::keys::Role;

/// One file of the model pack.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    /// File name in the pack folder.
    pub file: String,
    /// The task it was routed to (`detection`, `recognition`, …), if any.
    pub task: Option<String>,
    /// `used`, or why it is not.
    pub status: String,
}

/// The server and the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerInfo {
    /// facekit's version.
    pub version: &'static str,
    /// The calling key's role.
    pub role: Role,
    /// The calling key's id (absent when authentication is off).
    pub key_id: Option<String>,
    /// Whether `/v1` needs a key.
    pub auth: bool,
    /// The model pack's folder name.
    pub pack: String,
    /// Every `.onnx` file of the pack and its routing.
    pub models: Vec<ModelInfo>,
    /// The recognizer's embedding contract (absent without a recognizer).
    pub contract: Option<EmbeddingContract>,
    /// Default cosine threshold of compare, identify and verify.
    pub threshold: f32,
    /// What spoofed faces do.
    pub liveness: LivenessPolicy,
}

/// The server's version, models and defaults, and the calling key's role.
#[utoipa::path(get, path = "/v1/info", tag = "operations",
    responses((status = 200, body = ServerInfo)),
    security(("api_key" = ["reader"])))]
pub async fn info(
    _: Reader,
    Extension(caller): Extension<Caller>,
    State(state): State<Arc<AppState>>,
) -> Json<ServerInfo> {
    let pack = state.analyzer.pack();
    let name = |p: &std::path::Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    Json(ServerInfo {
        version: env!("CARGO_PKG_VERSION"),
        role: caller.role,
        key_id: caller.key_id,
        auth: state.config.auth,
        pack: name(pack.dir()),
        models: pack
            .entries()
            .iter()
            .map(|e| ModelInfo {
                file: name(&e.file),
                task: e.route.as_ref().map(|r| r.kind.task()),
                status: e.status.to_string(),
            })
            .collect(),
        contract: state.contract.clone(),
        threshold: state.config.threshold,
        liveness: state.liveness,
    })
}
