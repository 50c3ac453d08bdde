//! Pages that are the same for every anonymous visitor, rendered once and served from memory:
//! when something happens on the grid, everyone opens the same pages at once.
//!
//! A page is cached when the request carries no session cookie, is a `GET` of a page
//! route, and the render answered 200 with HTML and set no cookie. The key is the path and
//! query, the theme cookie, the grid's revision and the live conditions' revision, so an import
//! or a new reading gives new pages; entries also expire after [`TTL`], which bounds how old
//! the service figures on a page (uptime, last update) can be. Each page is compressed once per
//! encoding (brotli, gzip) and carries an `ETag`; a browser revalidating with `If-None-Match`
//! gets `304 Not Modified`.
//!
//! A rendered page's scripts carry the CSP nonce of the render that made it. A nonce served to
//! many is no secret, so cached pages drop it: their policy allows exactly the inline scripts
//! the render produced, by their SHA-256 hashes (and what those load, `strict-dynamic`).
//! Anything injected later matches no hash and does not run.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use app::ports::{GridStore, LiveFeed};

/// How long a cached page is served at most.
pub const TTL: Duration = Duration::from_secs(5);
/// Memory the cached pages may take, all encodings counted.
const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// A page larger than this is not cached (it is rendered per request as before).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// One rendered page, in each encoding.
pub struct CachedPage {
    /// The route that rendered it, for the request metrics.
    route: Option<super::observe::Route>,
    etag: HeaderValue,
    policy: HeaderValue,
    headers: HeaderMap,
    identity: Bytes,
    brotli: Bytes,
    gzip: Bytes,
}

impl CachedPage {
    fn weight(&self) -> u32 {
        (self.identity.len() + self.brotli.len() + self.gzip.len()).min(u32::MAX as usize) as u32
    }
}

/// The cache and what its keys are made of.
#[derive(Clone)]
pub struct PageCache {
    pages: moka::future::Cache<String, Arc<CachedPage>>,
    store: Arc<dyn GridStore>,
    live: Arc<dyn LiveFeed>,
    session_cookie: &'static str,
}

impl PageCache {
    pub fn new(
        store: Arc<dyn GridStore>,
        live: Arc<dyn LiveFeed>,
        session_cookie: &'static str,
    ) -> PageCache {
        PageCache {
            pages: moka::future::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|_, page: &Arc<CachedPage>| page.weight())
                .time_to_live(TTL)
                .build(),
            store,
            live,
            session_cookie,
        }
    }
}

/// Paths whose pages are never cached: everything that is not a page of the app.
fn is_page_path(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path.starts_with("/export/")
        || path.starts_with("/import/")
        || super::limits::is_free_path(path))
}

/// The encodings a client takes, best first among those cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

fn encoding_for(headers: &HeaderMap) -> Encoding {
    let accepted: Vec<(String, f32)> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name, q)
        })
        .collect();
    let takes = |name: &str| accepted.iter().any(|(n, q)| n == name && *q > 0.0);
    if takes("br") {
        Encoding::Brotli
    } else if takes("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Serves anonymous page views from the cache, filling it on a miss (one render per key at a
/// time: concurrent misses wait for the same render).
pub async fn cached_pages(State(cache): State<PageCache>, request: Request, next: Next) -> Response {
    // GET only: a HEAD's render may come back without its body, which must not be kept.
    let eligible = request.method() == Method::GET
        && is_page_path(request.uri().path())
        && !super::security::carries_cookie(request.headers(), cache.session_cookie);
    if !eligible {
        return next.run(request).await;
    }
    let revision = match cache.store.snapshot().await {
        Ok(snapshot) => snapshot.meta.revision,
        // The render will say what is wrong, uncached.
        Err(_) => return next.run(request).await,
    };
    let key = format!(
        "{}\u{0}{}\u{0}{revision}\u{0}{}",
        request.uri().path_and_query().map_or("/", |p| p.as_str()),
        // Only a theme the render would use: other cookie values cannot make new entries.
        app::api::prefs::theme_from_headers(request.headers()).unwrap_or(""),
        cache.live.conditions().revision,
    );
    let encoding = encoding_for(request.headers());
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();

    // The render is kept out of the closure's way until a miss needs it.
    let pending = std::sync::Mutex::new(Some((request, next)));
    let filled = cache
        .pages
        .try_get_with(key, async {
            let taken = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            let (request, next) = taken.expect("the fill runs once, with this request");
            render(request, next).await.map(Arc::new)
        })
        .await;
    let page = match filled {
        Ok(page) => page,
        Err(uncacheable) => {
            let unused = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            return match unused {
                // Another request's render could not be cached: this one renders on its own.
                Some((request, next)) => next.run(request).await,
                // This request made the render: its answer goes out as it came.
                None => {
                    uncacheable.0.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(internal)
                }
            };
        }
    };
    respond(&page, encoding, if_none_match.as_ref())
}

fn internal() -> Response {
    super::errors::error_response(app::error::AppError::internal())
}

/// A render that cannot be cached, with its response (for the request that made it).
struct Uncacheable(std::sync::Mutex<Option<Response>>);

impl Uncacheable {
    fn answer(response: Response) -> Uncacheable {
        Uncacheable(std::sync::Mutex::new(Some(response)))
    }
}

/// Renders the page uncompressed and prepares it for the cache, or hands back the response
/// when it is not cacheable (not 200, not HTML, sets a cookie, too large).
async fn render(mut request: Request, next: Next) -> Result<CachedPage, Uncacheable> {
    // Rendered uncompressed (the cache compresses once per encoding); an answer that is not
    // cached is compressed by the compression layer outside, which read the request's own
    // Accept-Encoding before this.
    request.headers_mut().remove(header::ACCEPT_ENCODING);
    let response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if response.status() != StatusCode::OK || !html || response.headers().contains_key(header::SET_COOKIE) {
        return Err(Uncacheable::answer(response));
    }
    let (parts, body) = response.into_parts();
    let bytes = match collect_up_to(body, MAX_PAGE_BYTES).await {
        Ok(bytes) => bytes,
        // Too large to keep: this answer goes out whole, as rendered.
        Err(Some(whole)) => return Err(Uncacheable::answer(Response::from_parts(parts, whole))),
        Err(None) => return Err(Uncacheable::answer(internal())),
    };
    let text = String::from_utf8_lossy(&bytes);
    let nonce = parts
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .and_then(app::ui::csp::nonce_in);
    let (page, hashes) = without_nonce(&text, nonce);
    let policy = HeaderValue::from_str(&app::ui::csp::hashed_page_policy(&hashes))
        .map_err(|_| Uncacheable::answer(internal()))?;
    let identity = Bytes::from(page);
    let etag = HeaderValue::from_str(&format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(&identity)[..16])
    ))
    .expect("base64 is a valid header value");
    let compressed = tokio::task::spawn_blocking({
        let identity = identity.clone();
        move || Ok::<_, std::io::Error>((compress_brotli(&identity)?, compress_gzip(&identity)?))
    })
    .await;
    let Ok(Ok((brotli, gzip))) = compressed else {
        tracing::error!("a page could not be compressed for the page cache");
        return Err(Uncacheable::answer(internal()));
    };
    let mut headers = parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_SECURITY_POLICY);
    let route = parts.extensions.get::<super::observe::Route>().cloned();
    Ok(CachedPage { route, etag, policy, headers, identity, brotli: brotli.into(), gzip: gzip.into() })
}

/// The page with `nonce="…"` removed from its tags, and the SHA-256 (base64) of each inline
/// script's text, in order.
fn without_nonce(html: &str, nonce: Option<&str>) -> (String, Vec<String>) {
    let page = match nonce {
        Some(nonce) if !nonce.is_empty() => html.replace(&format!(" nonce=\"{nonce}\""), ""),
        _ => html.to_owned(),
    };
    let mut hashes = Vec::new();
    let mut rest = page.as_str();
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else { break };
        let attributes = &after[..open_end];
        let content = &body[..close];
        if !attributes.contains(" src=") {
            hashes.push(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(content.as_bytes())));
        }
        rest = &body[close + "</script>".len()..];
    }
    (page, hashes)
}

/// The body's bytes if it ends within `max`; else the whole body again (what was read, then
/// the rest), so the answer can still go out; `None` when the body broke off.
async fn collect_up_to(mut body: Body, max: usize) -> Result<Bytes, Option<Body>> {
    let mut read: Vec<Bytes> = Vec::new();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Err(None) };
        let Ok(data) = frame.into_data() else { continue };
        total += data.len();
        read.push(data);
        if total > max {
            let rest = body.into_data_stream();
            let read = futures_util::stream::iter(read.into_iter().map(Ok::<_, axum::Error>));
            return Err(Some(Body::from_stream(futures_util::StreamExt::chain(read, rest))));
        }
    }
    Ok(read.concat().into())
}

fn compress_brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 4);
    let params = brotli::enc::BrotliEncoderParams { quality: 9, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

fn compress_gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn respond(page: &CachedPage, encoding: Encoding, if_none_match: Option<&HeaderValue>) -> Response {
    let not_modified = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == page.etag.to_str().unwrap_or("")));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        let body = match encoding {
            Encoding::Brotli => page.brotli.clone(),
            Encoding::Gzip => page.gzip.clone(),
            Encoding::Identity => page.identity.clone(),
        };
        (StatusCode::OK, body)
    };
    let length = body.len();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Some(route) = &page.route {
        response.extensions_mut().insert(route.clone());
    }
    let headers = response.headers_mut();
    headers.clone_from(&page.headers);
    headers.insert(header::ETAG, page.etag.clone());
    headers.insert(header::CONTENT_SECURITY_POLICY, page.policy.clone());
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding, cookie"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !not_modified {
        match encoding {
            Encoding::Brotli => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
            Encoding::Gzip => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Encoding::Identity => {}
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_brotli_then_gzip() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            encoding_for(&h)
        };
        assert_eq!(with("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(with("gzip, deflate"), Encoding::Gzip);
        assert_eq!(with("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(with("identity"), Encoding::Identity);
        assert_eq!(encoding_for(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn the_nonce_is_removed_and_each_inline_script_is_hashed() {
        let html = r#"<head><script type="module" nonce="abc">init()</script><script src="/pkg/x.js" nonce="abc"></script></head><body><script nonce="abc">__RESOLVED=1</script></body>"#;
        let (page, hashes) = without_nonce(html, Some("abc"));
        assert!(!page.contains("abc"), "{page}");
        let hash = |s: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()));
        assert_eq!(hashes, [hash("init()"), hash("__RESOLVED=1")]);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_comes_back_whole() {
        let page = "0123456789".repeat(10);
        assert_eq!(collect_up_to(Body::from(page.clone()), 1000).await.unwrap(), page.as_bytes());
        let chunks = futures_util::stream::iter(
            ["0123456789"; 10].map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes()))),
        );
        let Err(Some(whole)) = collect_up_to(Body::from_stream(chunks), 25).await else {
            panic!("a body over the limit must come back");
        };
        assert_eq!(whole.collect().await.unwrap().to_bytes(), page.as_bytes());
    }

    #[test]
    fn api_static_and_export_paths_are_not_pages() {
        for path in ["/api/n1", "/pkg/a.js", "/export/assets.csv", "/import/preview", "/healthz"] {
            assert!(!is_page_path(path), "{path}");
        }
        for path in ["/", "/n1", "/assets/line-1", "/map"] {
            assert!(is_page_path(path), "{path}");
        }
    }
}
