//! Request bodies: images as a multipart upload, as base64 strings in a
//! JSON body, or as the raw body (`Content-Type: image/*`), and parameters
//! from the JSON body, the multipart text fields or the query string, all
//! deserialised into one typed struct.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request};
use axum::http::{StatusCode, header};
use base64::Engine;
#[cfg(test)]
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::params::{self, Param};

/// Fields that carry an image (base64 in JSON, a file in multipart); the
/// OpenAPI document derives each request's forms from the same list.
pub(crate) const IMAGE_FIELDS: [&str; 3] = ["image", "image1", "image2"];

/// A request's images by field name and its parameters.
#[derive(Debug)]
pub struct Payload<P> {
    /// Encoded image bytes, by field (`image`, or `image1`/`image2`).
    pub images: BTreeMap<String, Bytes>,
    /// The parameters.
    pub params: P,
}

impl<P> Payload<P> {
    /// The image of `field`, or a 400 naming the field.
    pub fn image(&self, field: &str) -> Result<Bytes, ApiError> {
        self.images.get(field).cloned().ok_or_else(|| {
            ApiError::bad_request(format!(
                "missing image field '{field}' (multipart file, base64 JSON string, or raw image body)"
            ))
        })
    }
}

fn base64_image(field: &str, text: &str) -> Result<Bytes, ApiError> {
    // Accept data URLs as browsers produce them.
    let data = match text.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => text,
    };
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map(Bytes::from)
        .map_err(|e| ApiError::bad_request(format!("field '{field}' is not valid base64: {e}")))
}

impl<S, P> FromRequest<S> for Payload<P>
where
    S: Send + Sync,
    P: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = Vec::new();
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(req.uri())?;
        for (k, v) in pairs {
            params.push((k, Param::text(&v)));
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut images = BTreeMap::new();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        match essence.as_str() {
            "multipart/form-data" => {
                let mut multipart = Multipart::from_request(req, state).await?;
                while let Some(field) = multipart.next_field().await? {
                    let name = field.name().unwrap_or("").to_string();
                    let is_file =
                        field.file_name().is_some() || IMAGE_FIELDS.contains(&name.as_str());
                    let data = field.bytes().await?;
                    if is_file {
                        images.insert(name, data);
                    } else {
                        let text = std::str::from_utf8(&data).map_err(|_| {
                            ApiError::bad_request(format!(
                                "multipart field '{name}' is not UTF-8 text"
                            ))
                        })?;
                        params.push((name, Param::text(text)));
                    }
                }
            }
            "application/json" => {
                let body = Bytes::from_request(req, state).await?;
                let value: Value = serde_json::from_slice(&body).map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_json",
                        format!("malformed JSON body: {e}"),
                    )
                })?;
                let Value::Object(fields) = value else {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_json",
                        "the JSON body must be an object",
                    ));
                };
                for (name, value) in fields {
                    match value {
                        Value::String(text) if IMAGE_FIELDS.contains(&name.as_str()) => {
                            images.insert(name.clone(), base64_image(&name, &text)?);
                        }
                        other => params.push((name, Param::json(other))),
                    }
                }
            }
            t if t.starts_with("image/") || t == "application/octet-stream" => {
                images.insert("image".into(), Bytes::from_request(req, state).await?);
            }
            // A request with no body (parameters in the query string only).
            "" if body_is_empty(&req) => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "Content-Type '{content_type}' is not accepted: use application/json, multipart/form-data or image/*"
                    ),
                ));
            }
        }
        let params = params::deserialize(params)
            .map_err(|e| ApiError::bad_request(format!("invalid parameters: {e}")))?;
        Ok(Self { images, params })
    }
}

fn body_is_empty(req: &Request) -> bool {
    use axum::body::HttpBody;
    req.body().size_hint().exact() == Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Params {
        all_faces: bool,
        min_size: f32,
        name: String,
    }

    #[tokio::test]
    async fn query_parameters_keep_their_types() {
        let req = Request::builder()
            .method("POST")
            .uri("/x?all_faces=true&min_size=1.5&name=a%20b")
            .header("content-type", "image/jpeg")
            .body(Body::from(vec![1u8, 2, 3]))
            .unwrap();
        let payload = Payload::<Params>::from_request(req, &()).await.unwrap();
        assert_eq!(
            payload.params,
            Params {
                all_faces: true,
                min_size: 1.5,
                name: "a b".into()
            }
        );
        assert_eq!(payload.images["image"].len(), 3);
    }
}
