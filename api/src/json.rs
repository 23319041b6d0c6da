//! `ApiJson`: the JSON body extractor whose rejections are problem+json like every other error
//! (malformed JSON 400, wrong types 422, wrong content type 415, oversized bodies 413).

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON request body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(e) => Err(rejection(&e)),
        }
    }
}

fn rejection(e: &JsonRejection) -> ApiError {
    match e {
        JsonRejection::JsonDataError(d) => ApiError::Validation {
            detail: d.body_text(),
            field: None,
        },
        JsonRejection::JsonSyntaxError(s) => ApiError::BadRequest(s.body_text()),
        JsonRejection::MissingJsonContentType(m) => ApiError::UnsupportedMediaType(m.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}
