//! Request-level defences, applied before any routing: who the client is (the TCP peer, or
//! what a trusted proxy reports), refusal of cross-site state changes (CSRF), bounded request
//! bodies, and the security headers on every response.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, ErrorCode};
use app::ports::ClientId;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use super::errors::{error_response, error_response_with};

/// Reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer itself unless the peer is a trusted proxy; then the
    /// right-most `X-Forwarded-For` hop that is not a trusted proxy (hops to its left were
    /// written by the client and prove nothing).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => client = ip,
                Ok(ip) => return ip,
                // A garbled hop: the last trustworthy address is as far as we can see.
                Err(_) => return client,
            }
        }
        client
    }
}

/// Marks the request with its client's address ([`ClientId`]), for limits and the audit log.
pub async fn identify_client(
    State(proxies): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| proxies.client_of(info.0.ip(), request.headers()).to_string())
        .unwrap_or_else(|| "local".to_owned());
    request.extensions_mut().insert(ClientId(client));
    next.run(request).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `host[:port]` of an `Origin` value (`null` and garbage give `None`).
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// Why a state-changing request looks cross-site, if it does. Browsers send `Sec-Fetch-Site`
/// and `Origin` on such requests; other clients (scripts, curl) send neither and are not
/// subject to CSRF.
pub fn cross_site_reason(
    method: &Method,
    headers: &HeaderMap,
    host: Option<&str>,
    session_cookie: &str,
) -> Option<&'static str> {
    if is_safe(method) {
        return None;
    }
    // Every browser able to run the app says where a POST comes from (Origin, and current ones
    // Sec-Fetch-Site too). A request that carries the session but says neither is a script
    // replaying someone's cookie or a browser too old to tell: the session is never taken as
    // ambient authority. Requests without the session (API scripts, sign-in) are unaffected.
    if headers.get("sec-fetch-site").is_none()
        && headers.get(header::ORIGIN).is_none()
        && carries_cookie(headers, session_cookie)
    {
        return Some("a signed-in request names neither Origin nor Sec-Fetch-Site");
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Some("Sec-Fetch-Site is not same-origin");
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        // `Origin: null` is what a browser sends with a form it posts itself from a page whose
        // referrer policy is `no-referrer` (ours): the sign-in form before the page's script
        // has hydrated, or without JavaScript. Sec-Fetch-Site, checked above, then says where
        // it comes from; a null Origin without it stays refused.
        if origin.as_bytes() == b"null" && headers.contains_key("sec-fetch-site") {
            return None;
        }
        let origin = origin.to_str().ok().and_then(origin_authority);
        match (origin, host) {
            (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => {}
            _ => return Some("Origin is another site"),
        }
    }
    None
}

/// The host names the site answers for (`None`: any).
#[derive(Clone, Debug)]
pub struct AllowedHosts(pub Option<Vec<String>>);

/// The host a request names, as sent: `Host`, or the authority of an HTTP/2 request.
fn host_of(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
}

/// The host name a request names, lower case, without its port.
fn requested_host(request: &Request) -> Option<String> {
    let host = host_of(request)?.to_ascii_lowercase();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(&host).to_owned()
    } else {
        host.rsplit_once(':').map_or(host.clone(), |(name, _)| name.to_owned())
    };
    Some(name)
}

/// Refuses (421) a request for a host name the site is not reached by: a DNS-rebinding page
/// (its own name pointed at this server) then gets nothing, however it names its `Origin`.
/// Health checks answer whatever the host (probes use the bare address).
pub async fn allowed_host(State(hosts): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    if let Some(allowed) = &hosts.0 {
        let path = request.uri().path();
        let health = path == "/healthz" || path == "/readyz";
        // A request naming no host at all (HTTP/1.0, in-process calls) is no browser's.
        let known = requested_host(&request).is_none_or(|host| allowed.contains(&host));
        if !known && !health {
            tracing::warn!(host = ?request.headers().get(header::HOST), "request for an unknown host refused");
            return error_response_with(
                StatusCode::MISDIRECTED_REQUEST,
                AppError::invalid_input(
                    "This server does not answer for that host name (GRIDSCOPE_PUBLIC_HOSTS lists the names it does).",
                ),
            );
        }
    }
    next.run(request).await
}

/// Whether a server function call's body is in the one encoding they take (URL-encoded form,
/// what the app's own calls send); a call without a content type has no body to misread.
fn server_fn_content_type(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_none_or(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        })
    })
}

/// Refuses cross-site state-changing requests with 403 before anything else sees them, and
/// server function calls in any other body encoding than a form's with 415 (a `text/plain`
/// body is what a cross-site form can send without asking first).
pub async fn refuse_cross_site(
    State(policy): State<Arc<HeaderPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST
        && request.uri().path().starts_with("/api/")
        && !server_fn_content_type(request.headers())
    {
        return error_response_with(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::invalid_input("Server functions take application/x-www-form-urlencoded bodies."),
        );
    }
    if let Some(reason) =
        cross_site_reason(request.method(), request.headers(), host_of(&request), policy.session_cookie)
    {
        tracing::warn!(method = %request.method(), path = request.uri().path(), reason, "cross-site request refused");
        return error_response(AppError::new(
            ErrorCode::Forbidden,
            "Requests that change something must come from this site.",
        ));
    }
    next.run(request).await
}

/// Body limits: size and the time to send it.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
}

/// The one path that takes large bodies (uploaded datasets), and its limit.
pub const UPLOAD_PATH: &str = super::limits::IMPORT_PREVIEW;
pub const UPLOAD_MAX_BYTES: usize = app::api::import::MAX_UPLOAD_BYTES + 64 * 1024;

/// A path that names a file: the bundle under `/pkg/`, or a name with an extension (the site's
/// own files, such as `/favicon.ico`). Exports (`/export/assets.csv`) are routes that only
/// read too.
fn names_a_file(path: &str) -> bool {
    path.starts_with("/pkg/") || path.rsplit('/').next().is_some_and(|name| name.contains('.'))
}

/// Build output that is not for browsers: TypeScript declarations beside the bundle.
fn not_for_browsers(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let name = name.trim_end_matches(".br").trim_end_matches(".gz");
    path.starts_with("/pkg/") && name.ends_with(".ts")
}

/// Files are only read: another method on a file's path is answered 405 (`Allow: GET, HEAD`),
/// and the build's TypeScript declarations are not served (404). The outside probe found
/// `PUT` and `DELETE` on the bundle answered 200 and the `.d.ts` files served.
pub async fn files_read_only(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if names_a_file(path) && !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if not_for_browsers(path) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    next.run(request).await
}

fn too_large(max: usize) -> Response {
    error_response_with(
        StatusCode::PAYLOAD_TOO_LARGE,
        AppError::invalid_input(format!("The request body is larger than {max} bytes.")),
    )
}

/// Refuses bodies over the limit (413, whether or not they declare a `Content-Length`) and
/// bodies sent too slowly (408). Bodies here are small, so they are read in full and handed
/// on as bytes; nothing downstream then waits on a slow client.
///
/// The import paths' caller is already known to be an operator here (`import::gate`, outside
/// this layer). The upload path is the exception to reading in full: its body streams on to
/// the handler, which spools it to disk within the limit; a body that stalls longer than the
/// read timeout between two pieces ends with 408.
pub async fn bound_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == UPLOAD_PATH {
        if declared_length(&request).is_some_and(|len| len > UPLOAD_MAX_BYTES as u64) {
            return too_large(UPLOAD_MAX_BYTES);
        }
        let (parts, body) = request.into_parts();
        let body = tower_http::timeout::TimeoutBody::new(
            limits.read_timeout,
            http_body_util::Limited::new(body, UPLOAD_MAX_BYTES),
        );
        return next.run(Request::from_parts(parts, Body::new(body))).await;
    }
    if declared_length(&request).is_some_and(|len| len > limits.max_bytes as u64) {
        return too_large(limits.max_bytes);
    }
    let (parts, body) = request.into_parts();
    let read = http_body_util::Limited::new(body, limits.max_bytes).collect();
    let bytes = match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => {
            return body_refusal(e.as_ref(), limits.max_bytes).unwrap_or_else(|| {
                error_response(AppError::invalid_input("The request body was broken off."))
            })
        }
        Err(_) => return too_slow(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn declared_length(request: &Request) -> Option<u64> {
    request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

fn too_slow() -> Response {
    error_response_with(
        StatusCode::REQUEST_TIMEOUT,
        AppError::invalid_input("The request body arrived too slowly.").retry_after(1),
    )
}

/// The answer to a request body that went over its limit (413) or stalled (408); `None` for
/// any other error. `error` is the body's error or one that wraps it (a multipart reader's).
pub fn body_refusal(error: &(dyn std::error::Error + 'static), max_bytes: usize) -> Option<Response> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return Some(too_large(max_bytes));
        }
        if e.is::<tower_http::timeout::TimeoutError>() {
            return Some(too_slow());
        }
        cause = e.source();
    }
    None
}

/// How long a response may take to start.
#[derive(Clone, Copy, Debug)]
pub struct TimeLimit {
    pub limit: Duration,
    /// Not for the upload path (its body streams to the handler: an outer limit covers it).
    pub except_upload: bool,
}

/// Answers 503 in the public error format (code `source_unavailable`, retry in a second) when
/// the response has not started within the limit.
pub async fn time_limit(State(limit): State<TimeLimit>, request: Request, next: Next) -> Response {
    if limit.except_upload && request.uri().path() == UPLOAD_PATH {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit.limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error_response(
            AppError::new(ErrorCode::SourceUnavailable, "The server took too long to answer.").retry_after(1),
        ),
    }
}

/// What the header middleware needs to know.
#[derive(Clone, Debug)]
pub struct HeaderPolicy {
    /// Send HSTS (the site is served over HTTPS).
    pub hsts: bool,
    /// The session cookie's name: requests carrying it get `no-store` responses.
    pub session_cookie: &'static str,
}

const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), display-capture=(), geolocation=(), \
     gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

/// Whether a file under `/pkg/` has a content hash in its name, so it can be cached for a
/// year: a new build gets a new name. cargo-leptos names them `name.<hash>.ext`, the hash an
/// MD5 in unpadded base64url (22 characters); a hex digest of 16 or more is taken too.
pub fn is_hashed_asset(path: &str) -> bool {
    let Some(file) = path.strip_prefix("/pkg/") else { return false };
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    file.split('.').any(|part| {
        (part.len() == 22 && part.chars().all(base64url))
            || (part.len() >= 16 && part.chars().all(|c| c.is_ascii_hexdigit()))
    })
}

/// Whether the request carries a cookie of this name (whatever its value).
pub(crate) fn carries_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|pair| pair.trim().split_once('=').is_some_and(|(n, _)| n == name)))
}

/// The session layer removes its cookie (at sign-out) with a bare `name=; Path=/; Max-Age=0`;
/// browsers ignore that for a `__Host-` cookie, which must be set with `Secure`. This adds the
/// attributes, so the browser really forgets the cookie.
fn secure_removal_cookies(headers: &mut HeaderMap, name: &str) {
    let prefix = format!("{name}=");
    let fixed: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| match value.to_str() {
            Ok(text) if text.starts_with(&prefix) && !text.contains("; Secure") => {
                HeaderValue::from_str(&format!("{text}; Secure; HttpOnly; SameSite=Strict"))
                    .unwrap_or_else(|_| value.clone())
            }
            _ => value.clone(),
        })
        .collect();
    if !fixed.is_empty() {
        headers.remove(header::SET_COOKIE);
        for value in fixed {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// Security headers on every response, and caching that never keeps a signed-in page.
pub async fn security_headers(
    State(policy): State<Arc<HeaderPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let personal = carries_cookie(request.headers(), policy.session_cookie) || path.starts_with("/api/");
    let mut response = next.run(request).await;
    if policy.hsts {
        secure_removal_cookies(response.headers_mut(), policy.session_cookie);
    }
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(app::ui::csp::OTHER_POLICY));
    }
    // X-XSS-Protection: 0, as OWASP advises: the browsers' old XSS filters could themselves be
    // abused, and the CSP is the protection.
    let fixed: [(HeaderName, &'static str); 7] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_XSS_PROTECTION, "0"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    let cache = if personal {
        Some("no-store")
    } else if is_hashed_asset(&path) && response.status().is_success() {
        Some("public, max-age=31536000, immutable")
    } else if !response.headers().contains_key(header::CACHE_CONTROL) {
        Some("no-cache")
    } else {
        None
    };
    if let Some(cache) = cache {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let proxies = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(proxies.client_of(stranger, &spoofed), stranger);
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        // The client wrote "1.2.3.4"; the proxy appended the real peer 198.51.100.7.
        let forwarded = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(proxies.client_of(proxy, &forwarded), "198.51.100.7".parse::<IpAddr>().unwrap());
        let chained = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-for", "10.2.2.2")]);
        assert_eq!(proxies.client_of(proxy, &chained), "198.51.100.7".parse::<IpAddr>().unwrap());
        let garbled = headers(&[("x-forwarded-for", "nonsense")]);
        assert_eq!(proxies.client_of(proxy, &garbled), proxy);
    }

    #[test]
    fn cross_site_state_changes_are_recognised() {
        let post = Method::POST;
        let host = Some("grid.example:8443");
        assert_eq!(cross_site_reason(&post, &headers(&[]), host, "gridscope"), None, "non-browser clients");
        let signed_in = headers(&[("cookie", "theme=dark; gridscope=abc")]);
        assert!(cross_site_reason(&post, &signed_in, host, "gridscope").is_some(), "a session but no Origin");
        let other_cookie = headers(&[("cookie", "theme=dark")]);
        assert_eq!(cross_site_reason(&post, &other_cookie, host, "gridscope"), None, "no session");
        assert_eq!(
            cross_site_reason(&post, &headers(&[("sec-fetch-site", "same-origin")]), host, "gridscope"),
            None
        );
        assert!(cross_site_reason(&post, &headers(&[("sec-fetch-site", "cross-site")]), host, "gridscope")
            .is_some());
        assert!(cross_site_reason(&post, &headers(&[("sec-fetch-site", "same-site")]), host, "gridscope")
            .is_some());
        assert_eq!(
            cross_site_reason(&post, &headers(&[("origin", "https://grid.example:8443")]), host, "gridscope"),
            None
        );
        assert!(cross_site_reason(&post, &headers(&[("origin", "https://evil.example")]), host, "gridscope")
            .is_some());
        assert!(cross_site_reason(&post, &headers(&[("origin", "null")]), host, "gridscope").is_some());
        // A form the browser posts itself from a no-referrer page (before hydration): its
        // Origin is null, its Sec-Fetch-Site says same-origin.
        let form = headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert_eq!(cross_site_reason(&post, &form, host, "gridscope"), None);
        let elsewhere = headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site_reason(&post, &elsewhere, host, "gridscope").is_some());
        assert_eq!(
            cross_site_reason(
                &Method::GET,
                &headers(&[("origin", "https://evil.example")]),
                host,
                "gridscope"
            ),
            None
        );
    }

    #[test]
    fn only_hashed_package_files_are_immutable() {
        assert!(is_hashed_asset("/pkg/gridscope.4f9c2a1b7d3e5f60.js"));
        assert!(is_hashed_asset("/pkg/gridscope.kqL1cZ-3x_Q9aB7fH2mN0w.wasm"));
        assert!(is_hashed_asset("/pkg/chunk_12.AAAAAAAAAAAAAAAAAAAAAA.wasm"));
        assert!(is_hashed_asset("/pkg/__wasm_split.kqL1cZ-3x_Q9aB7fH2mN0w.js"));
        assert!(!is_hashed_asset("/pkg/__wasm_split_manifest.json"));
        assert!(!is_hashed_asset("/pkg/chunk_12.wasm"));
        assert!(!is_hashed_asset("/pkg/gridscope.js"));
        assert!(!is_hashed_asset("/favicon.svg"));
    }
}
