//! The one error boundary: every refusal or failure the HTTP surface answers carries the
//! public JSON error ([`AppError`]), the status its code maps to ([`ErrorCode::http_status`]),
//! the `X-Error-Code` header and, where the error has one, `Retry-After`. Server functions
//! only return their `AppError`; [`server_fn_status`] gives their answers the status here, so
//! no function has to opt in.

use app::error::{AppError, ErrorCode, ERROR_CODE_HEADER};
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

/// The status that goes with a public code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A public error as a JSON response with the status its code maps to.
pub fn error_response(error: AppError) -> Response {
    let status = status_of(error.code);
    error_response_with(status, error)
}

/// A public error with a more precise status of the same class than its code's own (413 for a
/// body too large, 408 for one sent too slowly: both `invalid_input`).
pub fn error_response_with(status: StatusCode, error: AppError) -> Response {
    let body = serde_json::to_vec(&error).unwrap_or_default();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    mark(&mut response, &error);
    response
}

fn mark(response: &mut Response, error: &AppError) {
    let headers = response.headers_mut();
    headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(error.code.as_str()));
    match error.retry_after_seconds {
        Some(seconds) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        None => {
            headers.remove(header::RETRY_AFTER);
        }
    }
}

/// The header server functions set on an error answer (server_fn's `SERVER_FN_ERROR_HEADER`).
const SERVER_FN_ERROR: &str = "serverfnerror";
/// Server function error bodies are a code, a sentence and a number; anything longer is not one.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Gives every server function's error answer the status, code header and `Retry-After` of
/// the [`AppError`] in its body. A body that is not a public error (it cannot happen with
/// our functions, whose error type is `AppError`) becomes `internal_error`.
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !response.headers().contains_key(SERVER_FN_ERROR) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match http_body_util::Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(collected) => serde_json::from_slice::<AppError>(&collected.to_bytes()).ok(),
        Err(_) => None,
    };
    let error = error.unwrap_or_else(|| {
        tracing::error!("a server function answered an error that is not a public error");
        AppError::internal()
    });
    parts.status = status_of(error.code);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&error).unwrap_or_default();
    let mut response = Response::from_parts(parts, Body::from(body));
    mark(&mut response, &error);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_gets_its_own_status_and_header() {
        for code in ErrorCode::ALL {
            let response = error_response(AppError::new(code, "x"));
            assert_eq!(response.status().as_u16(), code.http_status());
            assert_eq!(response.headers()[ERROR_CODE_HEADER], code.as_str());
            assert!(!response.headers().contains_key(header::RETRY_AFTER));
        }
        let limited = error_response(AppError::new(ErrorCode::RateLimited, "x").retry_after(7));
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
    }
}

/// The rest of the boundary: an error answer the framework made itself (a method not allowed,
/// a form that does not decode, an unsupported content type: plain text or nothing) is given
/// the public JSON error of its status, keeping that status and its headers (`Allow`). Answers
/// that already carry a public code, and pages (HTML, such as the not-found page), pass as
/// they are.
pub async fn public_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(ERROR_CODE_HEADER)
    {
        return response;
    }
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/plain"));
    if !plain {
        return response;
    }
    let (code, message) = match status.as_u16() {
        401 => (ErrorCode::Unauthorized, "Sign in first."),
        403 => (ErrorCode::Forbidden, "This is not allowed."),
        404 => (ErrorCode::NotFound, "Nothing is here."),
        405 => (ErrorCode::InvalidInput, "This method is not allowed here."),
        409 => (ErrorCode::Conflict, "This conflicts with the current state."),
        413 => (ErrorCode::InvalidInput, "The request body is too large."),
        415 => (ErrorCode::InvalidInput, "This content type is not accepted here."),
        429 => (ErrorCode::RateLimited, "Too many requests: slow down."),
        502..=504 => (ErrorCode::SourceUnavailable, "The server cannot answer right now."),
        500.. => (ErrorCode::InternalError, "Something went wrong on the server."),
        _ => (ErrorCode::InvalidInput, "The request could not be read."),
    };
    let mut error = AppError::new(code, message);
    if let Some(seconds) = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        error = error.retry_after(seconds);
    }
    let (mut parts, _) = response.into_parts();
    let public = error_response_with(status, error);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(public.headers().clone());
    Response::from_parts(parts, public.into_body())
}
