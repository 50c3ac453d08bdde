//! Anonymous pages from the shared cache, as browsers ask for them: compressed once per
//! encoding, validated with ETag / 304, a policy of script hashes instead of a shared nonce;
//! signed-in pages rendered per request. One test in this binary: a page render per test
//! runtime (see docs/benchmarks.md on renders in several runtimes of one process).

mod common;

use app::api::auth::Role;
use common::{client, TestServer};

const PASSWORD: &str = "correct horse battery staple";
const BROWSER_ENCODINGS: &str = "gzip, deflate, br, zstd";

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The raw (still compressed) answer to a GET with a browser's headers.
async fn get(server: &TestServer, path: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    // No automatic decompression: the test checks what goes over the wire.
    // (reqwest is built here without its decompression features.)
    let http = client();
    let mut request = http
        .get(server.url(path))
        .header("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
        .header("accept-encoding", BROWSER_ENCODINGS);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pages_come_from_the_cache_and_signed_in_pages_do_not() {
    let grid = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/grids/mv_oberrhein");
    let server = TestServer::start(&[("GRIDSCOPE_DEMO_GRID", grid)]).await;

    let first = get(&server, "/n1", &[]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "content-encoding"), "br");
    assert_eq!(header(&first, "cache-control"), "no-cache");
    let etag = header(&first, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let policy = header(&first, "content-security-policy");
    assert!(policy.contains("'sha256-") && !policy.contains("nonce"), "{policy}");
    let compressed = first.bytes().await.unwrap();
    let mut html = Vec::new();
    brotli::BrotliDecompress(&mut &compressed[..], &mut html).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("N-1 screening"), "not the N-1 page");
    assert!(!html.contains(" nonce=\""), "a shared page must carry no nonce");

    // The same bytes to the next visitor, and 304 to one that has them.
    let second = get(&server, "/n1", &[]).await;
    assert_eq!(header(&second, "etag"), etag);
    assert_eq!(second.bytes().await.unwrap(), compressed);
    let revalidated = get(&server, "/n1", &[("if-none-match", &etag)]).await;
    assert_eq!(revalidated.status(), 304);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    // gzip for a client without brotli; the plain page for one that takes neither.
    let gzip = client().get(server.url("/n1")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gzip.status(), 200);
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&gzip.bytes().await.unwrap()[..]),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, html, "gzip and brotli carry the same page");
    let plain = client().get(server.url("/n1")).send().await.unwrap();
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(plain.text().await.unwrap(), html);
    // Another theme is another page.
    let dark = get(&server, "/n1", &[("cookie", "gridscope_theme=dark")]).await;
    assert_ne!(header(&dark, "etag"), etag);
    // A theme the app does not know is the page without a theme (the same bytes).
    let bogus = get(&server, "/n1", &[("cookie", "gridscope_theme=x1; other=1")]).await;
    assert_eq!(header(&bogus, "etag"), etag);

    // Signed in: rendered for this request, never shared, never stored by the browser.
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    let personal = get(&server, "/n1", &[("cookie", &cookie)]).await;
    assert_eq!(personal.status(), 200);
    assert_eq!(header(&personal, "etag"), "");
    assert_eq!(header(&personal, "cache-control"), "no-store");
    assert!(header(&personal, "content-security-policy").contains("'nonce-"));

    // A page that is not 200 is not kept: an unknown path stays a 404 each time.
    for _ in 0..2 {
        assert_eq!(get(&server, "/no/such/page", &[]).await.status(), 404);
    }
}
