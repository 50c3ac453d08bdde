//! Public error codes: the only failure vocabulary that crosses the wire.
//!
//! Every server function returns `Result<T, AppError>`. Internal errors are mapped to one of
//! these codes once, on the server; details that could leak internals stay in the server log.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Response header naming the public error code of an error response (for metrics and logs).
pub const ERROR_CODE_HEADER: &str = "x-error-code";

/// A stable, machine-readable code the UI and API clients can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    SourceUnavailable,
    StaleData,
    QuotaExceeded,
    RateLimited,
    InvalidInput,
    Unauthorized,
    /// Signed in, but the role does not allow it.
    Forbidden,
    NotFound,
    /// The request conflicts with the current state (an import under way, the grid changed).
    Conflict,
    InternalError,
}

impl ErrorCode {
    /// Every code, for label sets and tests that must cover them all.
    pub const ALL: [ErrorCode; 10] = [
        Self::SourceUnavailable,
        Self::StaleData,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::InvalidInput,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::InternalError,
    ];

    /// The HTTP status an answer carrying this code has. The one mapping: the server applies
    /// it to every server function's error answer and every endpoint's refusal.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidInput => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::RateLimited | Self::QuotaExceeded => 429,
            Self::SourceUnavailable | Self::StaleData => 503,
            Self::InternalError => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceUnavailable => "source_unavailable",
            Self::StaleData => "stale_data",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::InvalidInput => "invalid_input",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InternalError => "internal_error",
        }
    }
}

/// The error every server function returns: a code, a message safe to show to anyone, and
/// when it makes sense to try again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_seconds: None }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "Something went wrong on the server.")
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Transport and framework failures (request could not be sent, body not decodable, …).
    /// Their text can contain internals, so only the category is kept.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => {
                Self::new(ErrorCode::SourceUnavailable, "The server could not be reached.").retry_after(5)
            }
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::Deserialization(_) => {
                Self::invalid_input("The request was not understood.")
            }
            _ => Self::internal(),
        }
    }
}

/// How a store failure reaches the public: unavailability is retryable, anything else is an
/// internal error. The detail is logged on the server, never sent.
#[cfg(feature = "ssr")]
impl From<crate::ports::StoreError> for AppError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "grid store unavailable");
                Self::new(ErrorCode::SourceUnavailable, "The grid database is not reachable right now.")
                    .retry_after(10)
            }
            crate::ports::StoreError::Corrupt(detail) => {
                tracing::error!(error = %detail, "grid store data error");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_public_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn only_internal_errors_are_server_errors() {
        for code in ErrorCode::ALL {
            let status = code.http_status();
            let server_side = matches!(
                code,
                ErrorCode::InternalError | ErrorCode::SourceUnavailable | ErrorCode::StaleData
            );
            assert_eq!(status >= 500, server_side, "{code:?} -> {status}");
            assert!((400..600).contains(&status));
        }
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::Conflict.http_status(), 409);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
    }

    #[test]
    fn error_round_trips_through_the_wire_encoding() {
        let err = AppError::new(ErrorCode::RateLimited, "slow down").retry_after(7);
        let back = AppError::de(err.ser());
        assert_eq!(back, err);
        let json: serde_json::Value = serde_json::from_slice(&err.ser()).unwrap();
        assert_eq!(json["code"], "rate_limited");
        assert_eq!(json["retry_after_seconds"], 7);
    }

    #[test]
    fn transport_errors_do_not_leak_their_text() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::ServerError(
            "password=hunter2 at /srv/db".into(),
        ));
        assert_eq!(err.code, ErrorCode::InternalError);
        assert!(!err.message.contains("hunter2"));
    }

    #[test]
    fn undecodable_bodies_become_invalid_input() {
        let err = AppError::de(bytes_of("not json"));
        assert_eq!(err.code, ErrorCode::InvalidInput);
    }

    fn bytes_of(s: &str) -> leptos::server_fn::Bytes {
        leptos::server_fn::Bytes::from(s.to_owned())
    }
}
