//! The API's one error type: every refusal is a status and `{"error": "..."}` that says
//! what to do. Domain errors map to statuses here, and only here.
use crate::auth::{Denied, TokenError};
use crate::recording::shares::{AddShareError, ShareStoreError};
use crate::recording::layout_pace::LayoutRefused;
use crate::recording::listing::ListQueryError;
use crate::recording::{LayoutAgeError, RecordError, RecordingSize, SetLayoutError, SizeError, StoreError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or bad, tampered or expired ones.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without the grant.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// A share link that expired or was revoked.
    #[error("{0}")]
    Gone(String),
    /// A conditional request whose condition does not hold (`If-Match`,
    /// `If-Unmodified-Since`).
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A `Range` that is not in a file of `size` bytes.
    #[error("the range asked for is not in this file of {size} bytes (one range at a time: bytes=START-END, START- or -LENGTH)")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    /// A recording refused at the server's capacity, with a smaller size that would be
    /// admitted now (`smaller_size` in the body), if one would.
    #[error("{message}")]
    RecordingCapacity { message: String, smaller_size: Option<RecordingSize> },
    #[error("{0}")]
    Internal(String),
}

#[derive(Serialize)]
pub struct ErrorBody {
    pub error: String,
    /// `WIDTHxHEIGHT` a refused recording could start at now (503 at capacity only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smaller_size: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::RecordingCapacity { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            tracing::warn!("internal error answered: {message}");
        }
        let smaller_size = match &self {
            ApiError::RecordingCapacity { smaller_size, .. } => smaller_size.map(|size| size.to_string()),
            _ => None,
        };
        let mut response = (self.status(), Json(ErrorBody { error: self.to_string(), smaller_size })).into_response();
        if let ApiError::RangeNotSatisfiable { size } = self {
            // RFC 9110 14.4: the size, so that a client can ask again within it.
            if let Ok(value) = format!("bytes */{size}").parse() {
                response.headers_mut().insert(axum::http::header::CONTENT_RANGE, value);
            }
        }
        response
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        let message = e.to_string();
        match e {
            RecordError::NoMeeting(_) | RecordError::NotRecording(_) | RecordError::Store(StoreError::NotFound(_)) => ApiError::NotFound(message),
            RecordError::AlreadyRecording { .. } | RecordError::StillRecording(_) | RecordError::ReelBuilding(_) => ApiError::Conflict(message),
            RecordError::ShuttingDown | RecordError::AtCapacity { .. } | RecordError::DiskLow(_) => ApiError::Unavailable(message),
            RecordError::NoHeadroom { smaller, .. } => ApiError::RecordingCapacity { message, smaller_size: smaller },
            RecordError::NoVideo(_) => ApiError::NotFound(message),
            RecordError::PastRetention(_) => ApiError::Gone(message),
            RecordError::LargerThanServer { .. } => ApiError::BadRequest(message),
            RecordError::StartingTooOften(_) => ApiError::TooManyRequests(message),
            RecordError::Start(_) | RecordError::Store(StoreError::Unreadable { .. }) => ApiError::Internal(message),
        }
    }
}

impl From<SizeError> for ApiError {
    fn from(e: SizeError) -> Self {
        ApiError::BadRequest(format!("size: {e}"))
    }
}

impl From<LayoutAgeError> for ApiError {
    fn from(e: LayoutAgeError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<ListQueryError> for ApiError {
    fn from(e: ListQueryError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<SetLayoutError> for ApiError {
    fn from(e: SetLayoutError) -> Self {
        let message = e.to_string();
        match e {
            SetLayoutError::NotRecording(_) => ApiError::NotFound(message),
            SetLayoutError::Refused(LayoutRefused::TooFast { .. }) => ApiError::TooManyRequests(message),
            SetLayoutError::Refused(LayoutRefused::TooMany) => ApiError::Conflict(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        RecordError::Store(e).into()
    }
}

impl From<ShareStoreError> for ApiError {
    fn from(e: ShareStoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<AddShareError> for ApiError {
    fn from(e: AddShareError) -> Self {
        match e {
            AddShareError::TooMany { .. } => ApiError::Conflict(e.to_string()),
            AddShareError::Gone { .. } => ApiError::NotFound(e.to_string()),
            AddShareError::Store(e) => e.into(),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        ApiError::Forbidden(e.0)
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired { share: true } => ApiError::Gone("this share link has expired: ask whoever shared it for a new one".into()),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}
