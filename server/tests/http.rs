//! The router end to end, in process: pages, server functions and operational endpoints.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use server::config::Config;
use server::http::{router, AppState};
use tower::ServiceExt;

/// The app over a fresh embedded store inside `site_root` (one temporary folder per test).
fn app_with_site_root(site_root: &std::path::Path) -> axum::Router {
    let config =
        Config { site_root: site_root.to_path_buf(), data_dir: site_root.join("data"), ..Config::default() };
    let store = server::commands::open_store(&config).unwrap();
    router(AppState::new(config, store).unwrap())
}

async fn send(app: axum::Router, req: Request<Body>) -> (StatusCode, String, axum::http::HeaderMap) {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), headers)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn healthz_reports_ok_with_version() {
    let site = tempfile::tempdir().unwrap();
    let (status, body, headers) = send(app_with_site_root(site.path()), get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(json["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn readyz_is_503_and_names_what_is_missing_without_the_browser_bundle() {
    let site = tempfile::tempdir().unwrap();
    let (status, body, _) = send(app_with_site_root(site.path()), get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "not_ready");
    assert_eq!(json["checks"][0]["name"], "site");
    assert_eq!(json["checks"][0]["ok"], false);
    assert!(json["checks"][0]["detail"].as_str().unwrap().contains("gridscope.wasm"));
}

#[tokio::test]
async fn readyz_is_200_once_the_browser_bundle_is_present() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    for f in server::http::bundle::bundle_files() {
        std::fs::write(site.path().join("pkg").join(f), b"x").unwrap();
    }
    let (status, body, _) = send(app_with_site_root(site.path()), get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ready");
}

#[tokio::test]
async fn overview_is_server_rendered_with_hydration_scripts_and_data() {
    let site = tempfile::tempdir().unwrap();
    let (status, body, headers) = send(app_with_site_root(site.path()), get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(body.contains("/pkg/gridscope.js"), "no hydration script in {body}");
    assert!(body.contains("hydrate"), "no hydrate call in {body}");
    assert!(body.contains("<h1>Overview</h1>"), "{body}");
    // The server function ran during SSR and its result is in the HTML.
    assert!(body.contains(&format!(">{}</dd>", env!("CARGO_PKG_VERSION"))), "{body}");
    assert!(body.contains(r#"data-hydrated="false""#), "{body}");
}

#[tokio::test]
async fn unknown_paths_get_the_not_found_page_with_status_404() {
    let site = tempfile::tempdir().unwrap();
    let (status, body, _) = send(app_with_site_root(site.path()), get("/no/such/page")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Page not found"), "{body}");
}

#[tokio::test]
async fn the_status_server_function_answers_json_over_http() {
    let site = tempfile::tempdir().unwrap();
    let req = Request::post("/api/service_status")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(app_with_site_root(site.path()), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(json["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn pages_are_compressed_and_small_answers_are_not() {
    let site = tempfile::tempdir().unwrap();
    let app = app_with_site_root(site.path());
    let accepting = |req: axum::http::request::Builder| req.header(header::ACCEPT_ENCODING, "br, gzip");
    // A page (well over 1 KiB of HTML) goes out brotli-compressed when the client accepts it.
    let page = app.clone().oneshot(accepting(Request::get("/")).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers().get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()), Some("br"));
    // A small server-function answer goes out as it is.
    let req = accepting(Request::post("/api/whoami"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::empty())
        .unwrap();
    let (status, body, headers) = send(app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.len() < server::http::COMPRESS_ABOVE_BYTES as usize, "{body}");
    assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{headers:?}");
}

#[tokio::test]
async fn an_unknown_or_malformed_asset_answers_404_or_400() {
    let site = tempfile::tempdir().unwrap();
    let app = app_with_site_root(site.path());
    let ask = |id: &str| {
        Request::post("/api/asset")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("id={id}")))
            .unwrap()
    };
    let (status, body, _) = send(app.clone(), ask("no-such-asset")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("not_found"), "{body}");
    let (status, body, _) = send(app.clone(), ask("%3Cscript%3E")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Arguments that do not decode at all (a missing field, a wrong type) are bad input too.
    for form in ["", "query[page]=2", "query[sort]=Risk&query[page]=2&query[per_page]=25", "query[page]=x"] {
        let req = Request::post(if form.is_empty() { "/api/asset" } else { "/api/assets" })
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let (status, body, headers) = send(app.clone(), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {body}");
        assert!(body.contains("invalid_input"), "{form}: {body}");
        assert_eq!(headers.get("x-error-code").map(|v| v.to_str().unwrap()), Some("invalid_input"), "{form}");
    }
}

#[tokio::test]
async fn the_asset_list_names_each_region_of_the_grid_once_in_order() {
    let site = tempfile::tempdir().unwrap();
    let config = Config {
        site_root: site.path().to_path_buf(),
        data_dir: site.path().join("data"),
        ..Config::default()
    };
    let grid = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/grids/mv_oberrhein");
    server::commands::import(&config, &grid, None, false, false).await.unwrap();
    // What the grid's files hold, read apart from the store.
    let data = server::interchange::read_grid(&grid).unwrap();
    let mut expected: Vec<String> =
        data.assets.iter().filter_map(|a| a.region.as_deref().map(String::from)).collect();
    expected.sort();
    expected.dedup();
    assert!(expected.len() > 1, "the demo grid has several regions: {expected:?}");
    let store = server::commands::open_store(&config).unwrap();
    let app = router(AppState::new(config, store).unwrap());
    let req = Request::post("/api/assets")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("query[sort]=risk&query[page]=1&query[per_page]=25"))
        .unwrap();
    let (status, body, _) = send(app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let regions: Vec<String> = serde_json::from_value(json["regions"].clone()).unwrap();
    assert_eq!(regions, expected);
}
