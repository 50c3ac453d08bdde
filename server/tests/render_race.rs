//! Two renders at once in one process, each on its own runtime, as two `#[tokio::test]`s or
//! two instances of a scale-out check run them: each builds its own router, then renders a
//! page that waits on a resource.
//!
//! Before the route list was generated once per process, building a router rendered the app
//! with every resource held back by a process-wide flag (`leptos_server`'s
//! `SuppressResourceLoad`); a resource first polled on the other thread during that window
//! never resolved, and its page never finished (2 of 100 rounds here, leptos-rs/leptos#4773).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use server::config::Config;
use server::http::{router, AppState};
use std::time::Duration;
use tower::ServiceExt;

/// Rounds of two concurrent renders: 500, the bar (about 10 s on two cores).
const ROUNDS: usize = 500;

/// Builds a router over a fresh store and renders `path` on a runtime of its own, as a test does.
fn build_and_render(path: &'static str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let site = tempfile::tempdir().unwrap();
        let config = Config {
            site_root: site.path().to_path_buf(),
            data_dir: site.path().join("data"),
            ..Config::default()
        };
        let store = server::commands::open_store(&config).unwrap();
        let app = router(AppState::new(config, store).unwrap());
        let render = async {
            let res = app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        match tokio::time::timeout(Duration::from_secs(10), render).await {
            Err(_) => Err(format!("{path}: the render never finished")),
            Ok((status, _)) if status != StatusCode::OK => Err(format!("{path}: status {status}")),
            // A streamed page is whole once its resources are resolved and the trailer says that
            // no chunk is left pending.
            Ok((_, body)) if !body.trim_end().ends_with("__INCOMPLETE_CHUNKS=[];</script>") => {
                Err(format!("{path}: cut short"))
            }
            Ok(_) => Ok(()),
        }
    })
}

#[test]
fn two_renders_in_one_process_always_finish() {
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        // Assets and Overview both wait on resources; either thread may build its router while
        // the other renders.
        let assets = std::thread::spawn(|| build_and_render("/assets"));
        let overview = std::thread::spawn(|| build_and_render("/"));
        for outcome in [assets.join().unwrap(), overview.join().unwrap()] {
            if let Err(failure) = outcome {
                failures.push(format!("round {round}: {failure}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {ROUNDS} rounds failed: {failures:#?}", failures.len());
}
