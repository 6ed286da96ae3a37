//! Biometric privacy over REST (admin only): the audit trail and its
//! verification, a collection's retention and the purge, and a data
//! subject's export and erasure.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use facekit_audit::{AuditLog, Entry, Filter, Verified};
use facekit_gallery::Collection;
use facekit_service::{ErasureReceipt, PersonExport, PurgeReport};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::gallery::PathOf;
use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::input::Payload;

/// Which audit entries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries after this position (default 0: from the first).
    #[param(minimum = 0, example = 0)]
    pub after: i64,
    /// Most entries returned (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: usize,
    /// Only this collection.
    pub collection: Option<String>,
    /// Only entries naming this person key.
    pub person: Option<String>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            after: 0,
            limit: 100,
            collection: None,
            person: None,
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Entries in chain order; ask again with `after` = the last `seq`.
    pub entries: Vec<Entry>,
}

/// A collection's retention.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"days": 365}))]
pub struct RetentionBody {
    /// Days samples are kept; null: until deleted.
    pub days: Option<u32>,
}

/// What a purge erased.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurgeResponse {
    /// One report per collection that has a retention.
    pub collections: Vec<PurgeReport>,
}

/// The trail, or 501 when the server keeps none.
fn trail(state: &AppState) -> Result<&AuditLog, ApiError> {
    state.service.audit_trail().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_audit_trail",
            "this server keeps no audit trail",
        )
    })
}

/// Runs a read of the trail off the async threads.
async fn read_trail<T: Send + 'static>(
    state: &Arc<AppState>,
    op: impl FnOnce(&AuditLog) -> Result<T, facekit_audit::AuditError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        op(trail(&state)?).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the audit trail failed: {e}")))?
}

/// The audit trail: who enrolled, searched, listed or exported embeddings,
/// deleted or erased what, oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "privacy",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 501, description = "`no_audit_trail`: the server keeps no audit trail", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn list_audit(
    _: Admin,
    State(state): State<Arc<AppState>>,
    payload: Payload<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let q = payload.params;
    if q.limit == 0 || q.limit > 1000 {
        return Err(ApiError::bad_request("limit must be 1 to 1000"));
    }
    let filter = Filter {
        after: q.after,
        limit: q.limit,
        collection: q.collection,
        person: q.person,
        operation: None,
    };
    let entries = read_trail(&state, move |t| t.entries(&filter)).await?;
    Ok(Json(AuditPage { entries }))
}

/// Walks the audit trail's hash chain: `broken` names the first entry
/// edited, removed or moved (null when the chain holds).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "privacy",
    responses((status = 200, body = Verified), (status = 501, description = "`no_audit_trail`: the server keeps no audit trail", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn verify_audit(
    _: Admin,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Verified>, ApiError> {
    Ok(Json(read_trail(&state, AuditLog::verify).await?))
}

/// Set how many days a collection keeps samples (null: until deleted);
/// older samples are erased by the next purge.
#[utoipa::path(put, path = "/v1/collections/{collection}/retention", tag = "privacy",
    params(("collection" = String, Path)), request_body = RetentionBody,
    responses((status = 200, body = Collection), (status = 404, description = "`not_found`: no such collection", body = ErrorBody), (status = 422, description = "`invalid_argument`: the gallery backend keeps no retention (Milvus)", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn set_retention(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    PathOf(collection): PathOf<String>,
    payload: Payload<RetentionBody>,
) -> Result<Json<Collection>, ApiError> {
    let days = payload.params.days;
    Ok(Json(
        state
            .gallery_as(&caller, move |s| s.set_retention(&collection, days))
            .await?,
    ))
}

/// Erase now the samples past their collection's retention (the server
/// also does it on its schedule).
#[utoipa::path(post, path = "/v1/purge", tag = "privacy",
    responses((status = 200, body = PurgeResponse)),
    security(("api_key" = ["admin"])))]
pub async fn purge(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
) -> Result<Json<PurgeResponse>, ApiError> {
    let collections = state.gallery_as(&caller, |s| s.purge(None)).await?;
    Ok(Json(PurgeResponse { collections }))
}

/// Everything held about one person: record, samples with embeddings,
/// and the audit entries naming them (a data subject's access request).
#[utoipa::path(get, path = "/v1/collections/{collection}/persons/{person}/export", tag = "privacy",
    params(("collection" = String, Path), ("person" = String, Path)),
    responses((status = 200, body = PersonExport), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn export_person(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
) -> Result<Json<PersonExport>, ApiError> {
    Ok(Json(
        state
            .gallery_as(&caller, move |s| s.export_person(&collection, &person))
            .await?,
    ))
}

/// Erase a person and every sample of theirs (a data subject's erasure
/// request), and the monitor events naming them; the receipt names the
/// audit entry that records it.
#[utoipa::path(post, path = "/v1/collections/{collection}/persons/{person}/erase", tag = "privacy",
    params(("collection" = String, Path), ("person" = String, Path)),
    responses((status = 200, body = ErasureReceipt), (status = 404, description = "`not_found`: no such collection or person", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn erase_person(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    PathOf((collection, person)): PathOf<(String, String)>,
) -> Result<Json<ErasureReceipt>, ApiError> {
    let key = person.clone();
    let receipt = state
        .gallery_as(&caller, move |s| s.erase_person(&collection, &person))
        .await?;
    if state.monitors.get().is_some() {
        super::monitors::with_hub(&state, move |hub| hub.erase_person(&key)).await?;
    }
    Ok(Json(receipt))
}
