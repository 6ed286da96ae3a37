//! API key management (admin).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::input::Payload;
use crate::keys::{ApiKey, Role};
use crate::routes::gallery::PathOf;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "front desk", "role": "reader"}))]
pub struct CreateKey {
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// A new key and its secret token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key.
    pub key: ApiKey,
    /// Send as `Authorization: Bearer <token>`; it is stored only as a hash.
    pub token: String,
}

/// Every key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first, revoked ones included.
    pub keys: Vec<ApiKey>,
}

/// Create an API key.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 422, description = "`invalid_argument`: a value out of range (a wrong embedding dimension, a NaN, an empty key)", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn create_key(
    _: Admin,
    State(state): State<Arc<AppState>>,
    payload: Payload<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let CreateKey { name, role } = payload.params;
    let (key, token) = state.with_keys(move |k| k.create(&name, role)).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, token })))
}

/// List API keys (never their secrets).
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = KeyList)),
    security(("api_key" = ["admin"])))]
pub async fn list_keys(
    _: Admin,
    State(state): State<Arc<AppState>>,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.with_keys(|k| k.list()).await?;
    Ok(Json(KeyList { keys }))
}

/// Revoke an API key; it is refused from the next request on.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path)),
    responses((status = 200, body = ApiKey), (status = 404, description = "`not_found`: no such key", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn revoke_key(
    _: Admin,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.with_keys(move |k| k.revoke(&id)).await?))
}
