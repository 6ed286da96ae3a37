//! Who is calling: the API key of a `/v1` request (`Authorization: Bearer`
//! or `X-API-Key`), checked against the key store on every request, and
//! the role guards that handlers name in their signatures.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::keys::Role;

/// The authenticated caller, put in the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// What the caller may do.
    pub role: Role,
    /// Their key's id (`None` when authentication is off).
    pub key_id: Option<String>,
    /// The request's id (`x-request-id`).
    pub request_id: String,
}

impl Caller {
    /// Who the audit trail records: the key, or that there was none.
    pub fn actor(&self) -> facekit_audit::Actor {
        let who = match &self.key_id {
            Some(id) => format!("key:{id}"),
            None => "key:none (authentication off)".to_string(),
        };
        facekit_audit::Actor::new(&who, &self.request_id)
    }
}

fn token(parts: &axum::http::HeaderMap) -> Option<&str> {
    if let Some(v) = parts.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = parts.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Middleware: authenticates `/v1` requests (or lets everyone in as admin
/// when authentication is off).
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let caller = if !state.config.auth {
        Caller {
            role: Role::Admin,
            key_id: None,
            request_id,
        }
    } else {
        let key = match token(req.headers()) {
            Some(token) => {
                let token = token.to_string();
                state.with_keys(move |k| k.authenticate(&token)).await?
            }
            None => None,
        };
        let Some(key) = key else {
            let refused = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a valid API key is required: 'Authorization: Bearer <key>' or 'X-API-Key: <key>' (unknown or revoked keys are refused)",
            );
            // Decided from the headers; the body (up to the body limit) is
            // read and dropped frame by frame, never kept, so that a client
            // still sending sees the 401 rather than a reset.
            return Ok(crate::admission::answer_unread(
                req.into_body(),
                state.config.limits.max_body_bytes,
                std::time::Duration::from_secs_f64(state.config.limits.header_timeout_secs),
                refused.into_response(),
            ));
        };
        Caller {
            role: key.role,
            key_id: Some(key.id),
            request_id,
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

fn require(parts: &Parts, role: Role) -> Result<Caller, ApiError> {
    let caller = parts
        .extensions
        .get::<Caller>()
        .ok_or_else(|| ApiError::internal("route is not behind authentication"))?;
    if caller.role < role {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the {role} role; the key {} is a {}",
                caller.key_id.as_deref().unwrap_or("-"),
                caller.role
            ),
        ));
    }
    Ok(caller.clone())
}

/// Role guards: a handler taking one answers 403 to weaker keys, and
/// holds the caller (for the audit trail).
macro_rules! role_guard {
    ($($(#[$doc:meta])* $name:ident => $role:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
                require(parts, $role).map($name)
            }
        }
    )*};
}

role_guard! {
    /// Any valid key.
    Reader => Role::Reader;
    /// A writer or admin key.
    Writer => Role::Writer;
    /// An admin key.
    Admin => Role::Admin;
}
