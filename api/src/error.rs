//! The API's one error type and its mapping to problem+json (RFC 9457): the only place where
//! failures become HTTP statuses and stable problem codes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every failure a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the resource changed since it was read (If-Match does not match the ETag)")]
    PreconditionFailed,
    #[error("this mutation needs an If-Match header with the resource's ETag")]
    PreconditionRequired,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// A transient backend fault (database, Kubernetes): retry later. Never a 4xx.
    #[error("{detail}")]
    Unavailable {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI naming the problem kind (`https://eddy.dev/problems/<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `validation`, `operation_in_progress`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// Shorthand for a 422 about one field.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Validation {
            detail: detail.into(),
            field: Some(field.to_string()),
        }
    }

    /// Shorthand for a 409 with a stable code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// Shorthand for a 503 caused by a backend fault.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable {
            detail: detail.into(),
            retry_after_secs: 5,
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::BadRequest(_) => (S::BAD_REQUEST, "bad_request", "Bad request"),
            Self::Validation { .. } => (S::UNPROCESSABLE_ENTITY, "validation", "Validation failed"),
            Self::Unauthenticated(_) => (S::UNAUTHORIZED, "unauthenticated", "Unauthenticated"),
            Self::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound(_) => (S::NOT_FOUND, "not_found", "Not found"),
            Self::Conflict { code, .. } => (S::CONFLICT, code, "Conflict"),
            Self::PreconditionFailed => (
                S::PRECONDITION_FAILED,
                "precondition_failed",
                "Precondition failed",
            ),
            Self::PreconditionRequired => (
                S::PRECONDITION_REQUIRED,
                "precondition_required",
                "Precondition required",
            ),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate_limited", "Too many requests"),
            Self::Unavailable { .. } => (
                S::SERVICE_UNAVAILABLE,
                "backend_unavailable",
                "Service unavailable",
            ),
            Self::Unsupported(_) => (S::NOT_IMPLEMENTED, "unsupported", "Not implemented"),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let detail = match &self {
            // Never leak internals; the log has them, keyed by the request id.
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                "internal error; the request id identifies it in the server log".to_string()
            }
            other => other.to_string(),
        };
        let field = match &self {
            Self::Validation { field, .. } => field.clone(),
            _ => None,
        };
        let body = Problem {
            kind: format!("https://eddy.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            detail,
            code,
            field,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let retry = match self {
            Self::RateLimited { retry_after_secs }
            | Self::Unavailable {
                retry_after_secs, ..
            } => Some(retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        crate::store::StoreError::from(e).into()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::Conflict(_) => Self::conflict("conflict", "a conflicting resource already exists"),
            S::Unavailable(_) => Self::unavailable(e.to_string()),
            S::Invalid(_) | S::Db(_) | S::Migrate(_) | S::Corrupt { .. } => {
                Self::Internal(e.to_string())
            }
        }
    }
}

impl From<crate::domain::plans::PlanError> for ApiError {
    fn from(e: crate::domain::plans::PlanError) -> Self {
        use crate::domain::plans::PlanError as P;
        match e {
            P::UnknownPlan(_) => Self::invalid("plan_id", e.to_string()),
            P::UnknownRegion(_) => Self::invalid("region", e.to_string()),
            P::UnknownVersion(_) | P::Downgrade { .. } => Self::invalid("version", e.to_string()),
            P::StorageShrink { .. } | P::StorageRange { .. } => {
                Self::invalid("storage_gb", e.to_string())
            }
            P::Transition { .. } => Self::invalid("plan_id", e.to_string()),
            P::Limit(_) => Self::invalid("topic", e.to_string()),
            P::Parse(_) | P::Invalid(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<crate::kube::BackendError> for ApiError {
    fn from(e: crate::kube::BackendError) -> Self {
        use crate::kube::BackendError as B;
        match e {
            B::Unavailable(_) => Self::unavailable(e.to_string()),
            B::Unsupported(_) => Self::Unsupported(e.to_string()),
            B::Rejected(_) => Self::invalid("spec", e.to_string()),
        }
    }
}

impl From<crate::domain::billing::BillingError> for ApiError {
    fn from(e: crate::domain::billing::BillingError) -> Self {
        Self::invalid("amount", e.to_string())
    }
}

impl From<crate::domain::security::FeatureError> for ApiError {
    fn from(e: crate::domain::security::FeatureError) -> Self {
        use crate::domain::security::FeatureError as F;
        match &e {
            F::NotInPlan { feature, .. } => {
                let field = if *feature == crate::domain::security::feature::ACLS {
                    "acls"
                } else {
                    "mechanism"
                };
                Self::invalid(field, e.to_string())
            }
            F::NoListenerFor { .. } => Self::invalid("mechanism", e.to_string()),
            F::NoListener(_) | F::MtlsWithoutTls(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<crate::domain::acls::AclError> for ApiError {
    fn from(e: crate::domain::acls::AclError) -> Self {
        Self::invalid("acls", e.to_string())
    }
}
