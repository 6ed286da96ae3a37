//! Every failure the API reports: an HTTP status, a stable machine-readable
//! code and a message naming the input and the problem, as
//! `{"error": {"code": …, "message": …}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facekit_gallery::GalleryError;
use facekit_image::DecodeError;
use facekit_pipeline::PipelineError;
use serde::Serialize;

use crate::keys::KeyError;

/// An API error.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The status answered.
    pub status: StatusCode,
    /// Stable code, e.g. `invalid_image`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds to wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
    /// Structured detail (the refused faces of a refused enrollment).
    pub details: Option<serde_json::Value>,
}

/// The JSON body of an error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `invalid_image`, `payload_too_large`, `overloaded`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// For `review_refused` and `spoof_detected` enrollments: each refused
    /// face with its quality, liveness and reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422: a photo without a usable face where one is needed.
    pub fn no_face(what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_face",
            format!("no face found in {what}"),
        )
    }

    /// 500: a fault of the server, not of the request. The cause goes to
    /// the server's log (it may name the server's files); the client is
    /// told only that it happened.
    pub fn internal(cause: impl Into<String>) -> Self {
        tracing::error!(cause = %cause.into(), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request; the cause is in its log",
        )
    }

    /// 503 with `Retry-After`: the inference queue is full.
    pub fn overloaded(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the inference queue is full; retry later",
            )
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        let (status, code) = match &e {
            DecodeError::FileTooLarge { .. } | DecodeError::TooManyPixels { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large")
            }
            DecodeError::Empty => (StatusCode::UNPROCESSABLE_ENTITY, "empty_image"),
            DecodeError::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            DecodeError::UnknownFormat | DecodeError::Corrupt { .. } | DecodeError::ZeroSized => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_image")
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Decode(e) => e.into(),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<GalleryError> for ApiError {
    fn from(e: GalleryError) -> Self {
        let message = e.to_string();
        match e {
            GalleryError::NoSuchCollection(_)
            | GalleryError::NoSuchPerson { .. }
            | GalleryError::NoSuchSample { .. } => Self::not_found(message),
            GalleryError::CollectionExists(_) | GalleryError::PersonExists { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            GalleryError::ContractMismatch { .. } => {
                Self::new(StatusCode::CONFLICT, "contract_mismatch", message)
            }
            GalleryError::WrongDimension { .. } | GalleryError::Invalid(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_argument",
                message,
            ),
            GalleryError::Pipeline(e) => e.into(),
            GalleryError::Damaged { .. } => {
                tracing::error!(cause = %message, "damaged gallery sample");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "damaged_sample", message)
            }
            // Keys fail at run time only when another process rotated them.
            GalleryError::Database { .. }
            | GalleryError::Io { .. }
            | GalleryError::KeyRequired { .. }
            | GalleryError::Audit(_)
            | GalleryError::Vault { .. } => Self::internal(message),
            GalleryError::Remote { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "backend_unavailable",
                message,
            ),
        }
    }
}

impl From<facekit_cluster::ClusterError> for ApiError {
    fn from(e: facekit_cluster::ClusterError) -> Self {
        match e {
            facekit_cluster::ClusterError::Gallery(e) => e.into(),
            other => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_argument",
                other.to_string(),
            ),
        }
    }
}

impl From<facekit_service::SpoofDetected> for ApiError {
    fn from(e: facekit_service::SpoofDetected) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "spoof_detected",
            format!(
                "{} of the {} faces look printed or replayed (lowest real score {:.3}); liveness is in normal mode",
                e.spoofed, e.faces, e.real_score
            ),
        )
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        let message = e.to_string();
        match e {
            KeyError::NoSuchKey(_) => Self::not_found(message),
            KeyError::Invalid(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_argument",
                message,
            ),
            KeyError::Store { .. } => Self::internal(message),
        }
    }
}

/// axum's own rejections (a path segment that is not a number, a bad query
/// string, a body over the limit) in the API's error shape.
macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(r: $rejection) -> Self {
                let status = r.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    // A body that ends before its declared length, or breaks
                    // off, is the client's doing, not the server's.
                    s if s.is_server_error() => {
                        return Self::bad_request(format!(
                            "the request body could not be read (it ended early or broke off): {}",
                            r.body_text()
                        ));
                    }
                    _ => "bad_request",
                };
                Self::new(status, code, r.body_text())
            }
        }
    )*};
}

from_rejection!(
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::BytesRejection,
    axum::extract::multipart::MultipartRejection,
    axum::extract::multipart::MultipartError
);
