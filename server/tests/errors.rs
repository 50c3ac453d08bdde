//! The one error boundary: every server function's refusals and failures answer with the
//! status their public code maps to, the `X-Error-Code` header naming the same code as the
//! body, and `Retry-After` exactly when the body has a retry hint. User mistakes are never
//! counted as server errors.
//!
//! One test in this binary on purpose: it reads the process's request totals (what `/status`
//! shows) before and after, which other tests running beside it would move.

mod common;

use app::api::auth::Role;
use app::error::ErrorCode;
use common::TestServer;

const PASSWORD: &str = "correct horse battery staple";

/// Checks one answer: status, header and body agree with each other and with `expected`.
async fn assert_refused(what: &str, response: reqwest::Response, expected: ErrorCode) {
    let status = response.status().as_u16();
    let header = response.headers().get("x-error-code").map(|v| v.to_str().unwrap().to_owned());
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let body: serde_json::Value = response.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    assert_eq!(body["code"], expected.as_str(), "{what}: body {body}");
    assert_eq!(status, expected.http_status(), "{what}: status for {body}");
    assert_eq!(header.as_deref(), Some(expected.as_str()), "{what}: header");
    assert_eq!(retry, body["retry_after_seconds"].as_u64(), "{what}: Retry-After vs body {body}");
}

#[tokio::test]
async fn every_server_function_error_has_the_status_header_and_body_of_its_code() {
    let grid = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/grids/mv_oberrhein");
    let server = TestServer::start(&[
        ("GRIDSCOPE_DEMO_GRID", grid),
        // Sign-in is limited tightly here so that the limit itself is one of the cases.
        ("GRIDSCOPE_RATE_LOGIN_PER_MINUTE", "6"),
    ])
    .await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    server.add_user("adam", Role::Admin, PASSWORD).await;
    let operator = server.sign_in("olga", PASSWORD).await;
    let admin = server.sign_in("adam", PASSWORD).await;
    // What the page sends when reached without a query (in-app navigation): every default.
    let defaults = server.post("/api/maintenance_plan", &[], None).await;
    assert_eq!(defaults.status(), 200, "an empty plan form is the default plan");
    let before = server::metrics::totals();

    use ErrorCode::*;
    let cases: Vec<(&str, Vec<(&str, &str)>, Option<&str>, ErrorCode)> = vec![
        // Unknown ids.
        ("/api/asset", vec![("id", "no-such-asset")], None, NotFound),
        ("/api/impact", vec![("assets[0]", "no-such-asset")], None, NotFound),
        // Invalid input, decoded or not.
        ("/api/asset", vec![("id", "<script>")], None, InvalidInput),
        ("/api/asset", vec![], None, InvalidInput),
        ("/api/assets", vec![("query[page]", "x")], None, InvalidInput),
        ("/api/impact", vec![], None, InvalidInput),
        ("/api/impact", vec![("assets[0]", "bad id!")], None, InvalidInput),
        ("/api/set_theme", vec![("theme", "purple")], None, InvalidInput),
        ("/api/set_theme", vec![], None, InvalidInput),
        ("/api/maintenance_plan", vec![("form[weeks]", "-3")], None, InvalidInput),
        ("/api/analyst_ask", vec![("question", "")], Some(&operator), InvalidInput),
        (
            "/api/set_user_enabled",
            vec![("username", "olga"), ("enabled", "maybe")],
            Some(&admin),
            InvalidInput,
        ),
        ("/api/login", vec![("username", "olga")], None, InvalidInput),
        // Not signed in, or not allowed.
        ("/api/analyst_ask", vec![("question", "What is at risk?")], None, Unauthorized),
        ("/api/ops_status", vec![], None, Unauthorized),
        ("/api/users", vec![], None, Unauthorized),
        ("/api/audit_log", vec![], None, Unauthorized),
        ("/api/end_sessions", vec![("username", "olga")], None, Unauthorized),
        ("/api/users", vec![], Some(&operator), Forbidden),
        (
            "/api/set_user_enabled",
            vec![("username", "olga"), ("enabled", "false")],
            Some(&operator),
            Forbidden,
        ),
        ("/api/login", vec![("username", "olga"), ("password", "not the password")], None, Unauthorized),
    ];
    for (path, form, cookie, expected) in &cases {
        let response = server.post(path, form, *cookie).await;
        assert_refused(&format!("{path} {form:?}"), response, *expected).await;
    }
    // Limited: the sign-in allowance (6 a minute, two spent above on signing in, two on bad
    // forms) runs out.
    let mut last = None;
    for _ in 0..6 {
        let response =
            server.post("/api/login", &[("username", "olga"), ("password", "nope, wrong")], None).await;
        if response.status() == 429 {
            last = Some(response);
            break;
        }
    }
    assert_refused("/api/login over its limit", last.expect("the sign-in limit was reached"), RateLimited)
        .await;

    // None of that was the server's fault: /status counts it all as client errors.
    let after = server::metrics::totals();
    assert_eq!(after.server_errors, before.server_errors, "user mistakes counted as server errors");
    assert!(after.client_errors >= before.client_errors + cases.len() as u64 + 1);
    for code in [NotFound, InvalidInput, Unauthorized, Forbidden, RateLimited] {
        let count = |t: &app::api::ops::OpsTotals| {
            t.errors_by_code.iter().find(|(c, _)| c == code.as_str()).map_or(0, |(_, n)| *n)
        };
        assert!(count(&after) > count(&before), "{code:?} not counted under its own label");
    }

    // Source unavailable: the grid's database out of reach (a Neo4j where nothing listens).
    let unreachable = TestServer::start(&[
        ("GRIDSCOPE_NEO4J_URI", "bolt://127.0.0.1:9"),
        ("GRIDSCOPE_NEO4J_PASSWORD", "not-a-real-password"),
        ("GRIDSCOPE_NEO4J_TIMEOUT_SECONDS", "2"),
    ])
    .await;
    for path in ["/api/grid_summary", "/api/n1", "/api/map"] {
        let response = unreachable.post(path, &[], None).await;
        assert_refused(path, response, SourceUnavailable).await;
    }
}
