//! The one error type of the HTTP APIs: a status per variant, a JSON body with a `message` for people.
//! Internal details are logged here and never returned.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input, or a room / peer that does not exist (the documented health check relies on
    /// 400 for an unknown room).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials.
    #[error("Access denied: send Authorization: Bearer <token> or APIKey <token>")]
    Unauthorized,
    /// A login or refresh with wrong credentials.
    #[error("{0}")]
    LoginFailed(&'static str),
    /// Credentials that are not valid (or not allowed here).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("The request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("Too many requests: at most {per_second} per second per credential")]
    TooManyRequests { per_second: u32, retry_after_secs: u64 },
    /// A bounded resource is in use (password checks): refused at once rather than queued.
    #[error("{what}; retry in {retry_after_secs} s")]
    Busy { what: &'static str, retry_after_secs: u64 },
    /// A real server fault; the detail is logged, the client sees a generic message.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::LoginFailed(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        ApiError::Internal(format!("{context}: {e}"))
    }

    /// Headers that go with the status.
    fn decorate(&self, response: &mut Response) {
        match self {
            ApiError::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer, APIKey"));
            }
            ApiError::TooManyRequests { retry_after_secs, .. } | ApiError::Busy { retry_after_secs, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Internal(detail) => tracing::error!(error = %detail, "API request failed"),
            _ => {}
        }
    }

    /// The statistics API's shape: `{"data": null, "errors": [message], "message": message}`.
    pub fn into_envelope_response(self) -> Response {
        let message = self.to_string();
        let mut response =
            (self.status(), Json(json!({"data": null, "errors": [message.clone()], "message": message})))
                .into_response();
        self.decorate(&mut response);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(json!({"message": self.to_string()}))).into_response();
        self.decorate(&mut response);
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal("storage", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_stay_inside() {
        let e = ApiError::internal("storage", "disk I/O error at /var/lib/meet");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.to_string(), "Internal server error");
    }

    #[test]
    fn rate_limit_says_when_to_retry() {
        let r = ApiError::TooManyRequests { per_second: 4, retry_after_secs: 1 }.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
