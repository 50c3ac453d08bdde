//! Request ids, the request span every log line of a request carries, and request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in the request's extensions for handlers that want it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The matched route, carried from the inner router out to [`observe`] on the response.
#[derive(Clone, Debug)]
pub(crate) struct Route(String);

/// A route layer of the inner router: tells [`observe`] which route answered.
pub async fn tag_route(path: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(path) = path {
        response.extensions_mut().insert(Route(path.as_str().to_owned()));
    }
    response
}

/// An id a proxy in front already gave the request is kept when it is short and plain;
/// anything else is replaced, so a client cannot write arbitrary text into the logs.
fn usable(id: &HeaderValue) -> Option<&str> {
    let id = id.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (!id.is_empty() && id.len() <= 64 && id.chars().all(plain)).then_some(id)
}

/// Outermost layer: gives the request an id (`X-Request-Id`, also on the response; a usable
/// id is kept only from a trusted proxy, so that clients cannot choose the ids in the logs), runs it
/// inside a span with that id so every log line says which request it belongs to, logs the
/// outcome, and records the request metrics.
pub async fn observe(
    axum::extract::State(proxies): axum::extract::State<std::sync::Arc<super::security::TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let from_proxy = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|peer| proxies.trusts(peer.0.ip()));
    let id = match request.headers().get(&REQUEST_ID).filter(|_| from_proxy).and_then(usable) {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let header = HeaderValue::from_str(&id).expect("plain ASCII");
    request.headers_mut().insert(REQUEST_ID, header.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response.extensions().get::<Route>().map_or(metrics::UNMATCHED, |r| r.0.as_str()).to_owned();
    let code = response.headers().get(app::error::ERROR_CODE_HEADER).and_then(|v| v.to_str().ok());
    metrics::request(&route, method.as_str(), status, elapsed, code);
    let millis = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| match status {
        500.. => tracing::warn!(status, millis, route, code, "request failed"),
        400..=499 => tracing::info!(status, millis, route, code, "request refused"),
        _ => tracing::debug!(status, millis, route, "request done"),
    });
    response.headers_mut().insert(REQUEST_ID, header);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert_eq!(usable(&HeaderValue::from_static("abc-123_x.y")), Some("abc-123_x.y"));
        assert_eq!(usable(&HeaderValue::from_static("")), None);
        assert_eq!(usable(&HeaderValue::from_static("a b")), None);
        assert_eq!(usable(&HeaderValue::from_static("a\"}{")), None);
        assert_eq!(usable(&HeaderValue::from_str(&"a".repeat(65)).unwrap()), None);
    }
}
