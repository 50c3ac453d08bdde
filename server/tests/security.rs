//! The request-level controls, against a real server on a loopback port: security headers
//! and CSP nonces, caching, CSRF refusal, body limits, slow clients, load shedding and rate
//! limits (including a spoofed `X-Forwarded-For`).

mod common;

use std::time::{Duration, Instant};

use app::api::auth::Role;
use common::{client, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

/// The `nonce="…"` values in an HTML page.
fn nonces(html: &str) -> Vec<String> {
    html.split("nonce=\"").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

#[tokio::test]
async fn signed_in_pages_carry_a_fresh_csp_nonce_that_matches_their_scripts() {
    // Pages rendered per request (signed in); anonymous pages shared from the cache carry
    // script hashes instead (server/tests/pages.rs).
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let response = client().get(server.url("/")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let csp = header(&response, "content-security-policy").to_owned();
        let html = response.text().await.unwrap();
        let page_nonces = nonces(&html);
        assert!(!page_nonces.is_empty(), "the hydration scripts carry a nonce");
        let nonce = &page_nonces[0];
        assert!(page_nonces.iter().all(|n| n == nonce), "one nonce per response");
        assert!(nonce.len() >= 16, "at least 128 bits: {nonce}");
        assert!(
            csp.contains(&format!("script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'")),
            "{csp}"
        );
        for directive in ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{directive} missing: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        seen.push(nonce.clone());
    }
    assert_ne!(seen[0], seen[1], "each response gets a new nonce");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start(&[]).await;
    let http = client();
    let responses = [
        http.get(server.url("/")).send().await.unwrap(),
        http.get(server.url("/healthz")).send().await.unwrap(),
        http.get(server.url("/no/such/page")).send().await.unwrap(),
        server.post("/api/whoami", &[], None).await,
    ];
    for response in &responses {
        let path = response.url().path().to_owned();
        assert_eq!(header(response, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(response, "x-xss-protection"), "0", "{path}");
        assert_eq!(
            header(response, "strict-transport-security"),
            "max-age=63072000; includeSubDomains",
            "{path}"
        );
        assert_eq!(header(response, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(response, "cross-origin-opener-policy"), "same-origin", "{path}");
        assert_eq!(header(response, "cross-origin-resource-policy"), "same-origin", "{path}");
        assert!(header(response, "permissions-policy").contains("camera=()"), "{path}");
        assert!(header(response, "content-security-policy").contains("frame-ancestors 'none'"), "{path}");
    }
    // Data responses get the policy that runs nothing.
    assert!(header(&responses[1], "content-security-policy").starts_with("default-src 'none'"));
    assert_eq!(header(&responses[3], "cache-control"), "no-store", "server functions are never stored");
    assert_eq!(header(&responses[0], "cache-control"), "no-cache", "public pages revalidate");
}

#[tokio::test]
async fn signed_in_pages_are_never_stored_and_hashed_files_are_cached_for_a_year() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    let page = client().get(server.url("/")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(header(&page, "cache-control"), "no-store");

    let pkg = server.dir.path().join("site/pkg");
    std::fs::write(pkg.join("gridscope.0123456789abcdef0123.js"), "export {}").unwrap();
    std::fs::write(pkg.join("gridscope.js"), "export {}").unwrap();
    let hashed = client().get(server.url("/pkg/gridscope.0123456789abcdef0123.js")).send().await.unwrap();
    assert_eq!(hashed.status(), 200);
    assert_eq!(header(&hashed, "cache-control"), "public, max-age=31536000, immutable");
    let plain = client().get(server.url("/pkg/gridscope.js")).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "cache-control"), "no-cache");
}

#[tokio::test]
async fn cross_site_state_changes_are_refused_before_they_are_processed() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let form = "username=olga&password=correct+horse+battery+staple";
    let attempts: [(&str, &str); 3] =
        [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site"), ("origin", "null")];
    for (name, value) in attempts {
        let response = client()
            .post(server.url("/api/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(name, value)
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{name}: {value}");
        assert!(response.headers().get("set-cookie").is_none(), "no session from a refused request");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "forbidden");
    }
    // Nothing reached the sign-in: the audit log has no attempt.
    let audit = server.accounts.store().audit(10).await.unwrap();
    assert!(audit.iter().all(|e| e.action != "sign_in"), "{audit:?}");

    // The same request from the site itself goes through.
    let same = client()
        .post(server.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", server.base.as_str())
        .header("sec-fetch-site", "same-origin")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
}

#[tokio::test]
async fn oversized_bodies_get_413_with_or_without_a_content_length() {
    let server = TestServer::start(&[("GRIDSCOPE_MAX_BODY_BYTES", "4096")]).await;
    let big = "username=".to_owned() + &"x".repeat(10_000);
    let declared = client()
        .post(server.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);

    // Chunked: no Content-Length, the limit is found while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.as_bytes().chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let chunked = client()
        .post(server.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert!(chunked.headers().get("content-length").is_none() || chunked.status() == 413);
    assert_eq!(chunked.status(), 413);
    let body: serde_json::Value = chunked.json().await.unwrap();
    assert_eq!(body["code"], "invalid_input");

    // Within the limit, the same route works.
    let small = server.post("/api/whoami", &[], None).await;
    assert_eq!(small.status(), 200);
}

/// Reads until the server closes the connection; what it sent, and how long that took.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buffer),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

#[tokio::test]
async fn a_client_sending_its_headers_slowly_is_disconnected() {
    let server = TestServer::start(&[("GRIDSCOPE_HEADER_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    // One more header line, then nothing: the request never completes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(b"X-Slow: 1\r\n").await.unwrap();
    let (received, took) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(!received.contains("200 OK"), "the incomplete request was not served: {received}");
    assert!(took < Duration::from_secs(3), "closed after the header timeout, took {took:?}");

    // A prompt client on the same server is served.
    let ok = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_client_sending_its_body_slowly_gets_408() {
    let server = TestServer::start(&[("GRIDSCOPE_BODY_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nabc",
        )
        .await
        .unwrap();
    let mut buffer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(4), stream.read(&mut buffer))
        .await
        .expect("a response")
        .unwrap();
    let response = String::from_utf8_lossy(&buffer[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_with_503() {
    let server = TestServer::start(&[
        ("GRIDSCOPE_MAX_CONCURRENT_REQUESTS", "1"),
        ("GRIDSCOPE_BODY_TIMEOUT_SECONDS", "3"),
    ])
    .await;
    // Holds the only slot: its body never finishes arriving.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shed = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(shed.status(), 503);
    assert!(shed.headers().get("retry-after").is_some());
    drop(slow);
    // Once the slot is free again, requests are served.
    let mut served = false;
    for _ in 0..40 {
        if client().get(server.url("/healthz")).send().await.unwrap().status() == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the slot was never freed");
}

async fn json_of(response: reqwest::Response) -> serde_json::Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_even_with_a_spoofed_forwarded_for() {
    let server =
        TestServer::start(&[("GRIDSCOPE_RATE_CLIENT_PER_SECOND", "1"), ("GRIDSCOPE_RATE_CLIENT_BURST", "5")])
            .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        // A new made-up client address on every request: not believed from an untrusted peer.
        let response = client()
            .post(server.url("/api/whoami"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry: u64 = header(&response, "retry-after").parse().unwrap();
            assert!((1..=2).contains(&retry), "retry after {retry}");
            let body = json_of(response).await;
            assert_eq!(body["code"], "rate_limited");
            assert_eq!(body["retry_after_seconds"], retry);
        }
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn a_trusted_proxy_s_forwarded_for_names_the_client() {
    let server = TestServer::start(&[
        ("GRIDSCOPE_RATE_CLIENT_PER_SECOND", "1"),
        ("GRIDSCOPE_RATE_CLIENT_BURST", "2"),
        ("GRIDSCOPE_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let send = |xff: &'static str| {
        let url = server.url("/api/whoami");
        async move { client().post(url).header("x-forwarded-for", xff).send().await.unwrap().status().as_u16() }
    };
    // Client A spends its allowance; client B behind the same proxy still has its own.
    assert_eq!(
        [send("203.0.113.1").await, send("203.0.113.1").await, send("203.0.113.1").await],
        [200, 200, 429]
    );
    assert_eq!(send("203.0.113.2").await, 200);
    // A client prepending a made-up hop is still keyed on what the proxy appended.
    assert_eq!(send("10.9.9.9, 203.0.113.1").await, 429);
}

#[tokio::test]
async fn static_files_and_health_checks_spend_no_client_allowance() {
    // A burst of 3 (the shipped default is far larger): a page's own files must never use it.
    let server =
        TestServer::start(&[("GRIDSCOPE_RATE_CLIENT_PER_SECOND", "1"), ("GRIDSCOPE_RATE_CLIENT_BURST", "3")])
            .await;
    for path in ["/healthz", "/readyz", "/pkg/gridscope.js", "/favicon.svg", "/manifest.webmanifest"] {
        for _ in 0..5 {
            let status = client().get(server.url(path)).send().await.unwrap().status();
            assert_ne!(status, 429, "{path} was limited");
        }
    }
    let whoami =
        |_| async { client().post(server.url("/api/whoami")).send().await.unwrap().status().as_u16() };
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(whoami(i).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "the allowance was spent by the files above");
}

#[tokio::test]
async fn signed_in_requests_count_per_account_not_per_address() {
    // Everyone comes from 127.0.0.1, as people behind one NAT do. A burst of 4 (the shipped
    // default is far larger) makes the test short.
    let server =
        TestServer::start(&[("GRIDSCOPE_RATE_CLIENT_PER_SECOND", "1"), ("GRIDSCOPE_RATE_CLIENT_BURST", "4")])
            .await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    server.add_user("ada", Role::Operator, PASSWORD).await;
    // Signing in is counted against the address (no account yet): two of its four.
    let olga = server.sign_in("olga", PASSWORD).await;
    let ada = server.sign_in("ada", PASSWORD).await;
    let mut olga_statuses = Vec::new();
    for _ in 0..5 {
        olga_statuses.push(server.post("/api/whoami", &[], Some(&olga)).await.status().as_u16());
    }
    assert_eq!(olga_statuses, [200, 200, 200, 200, 429], "olga has her own allowance of four");
    // Ada's allowance is her own, and the address still has what sign-in left of it.
    assert_eq!(server.post("/api/whoami", &[], Some(&ada)).await.status(), 200);
    assert_eq!(server.post("/api/whoami", &[], None).await.status(), 200);
}

#[tokio::test]
async fn sign_in_has_a_tighter_limit_than_other_routes() {
    let server = TestServer::start(&[("GRIDSCOPE_RATE_LOGIN_PER_MINUTE", "3")]).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response =
            server.post("/api/login", &[("username", "nobody"), ("password", "wrong password!")], None).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    // Other routes are not affected.
    assert_eq!(server.post("/api/whoami", &[], None).await.status(), 200);
}

#[tokio::test]
async fn the_global_cap_holds_across_clients() {
    let server = TestServer::start(&[
        ("GRIDSCOPE_RATE_GLOBAL_PER_SECOND", "3"),
        ("GRIDSCOPE_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let response = client()
            .get(server.url("/healthz"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200; 3], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn state_never_changes_through_get() {
    // Every server function is POST-only: a GET (a link, an <img>) cannot call one.
    let server = TestServer::start(&[]).await;
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        assert_eq!(method, axum::http::Method::POST, "{path} is not POST");
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_ne!(response.status(), 200, "GET {path} was served");
    }
}

#[tokio::test]
async fn a_response_that_does_not_start_in_time_is_a_503() {
    // The language model takes 5 s to answer; the request timeout is 1 s.
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&upstream)
        .await;
    let server = TestServer::start(&[
        ("GRIDSCOPE_REQUEST_TIMEOUT_SECONDS", "1"),
        ("GRIDSCOPE_LLM_PROVIDER", "anthropic"),
        ("GRIDSCOPE_LLM_API_KEY", "test-key-not-real"),
        ("GRIDSCOPE_LLM_BASE_URL", &upstream.uri()),
        ("GRIDSCOPE_LLM_MAX_RETRIES", "0"),
    ])
    .await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    let started = Instant::now();
    let response = server
        .post("/api/analyst_ask", &[("question", "Which assets are at highest risk?")], Some(&cookie))
        .await;
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(3), "cut off after {:?}", started.elapsed());
    assert_eq!(header(&response, "x-error-code"), "source_unavailable");
    assert_eq!(header(&response, "retry-after"), "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "source_unavailable");
    // Other requests are unaffected.
    assert_eq!(server.post("/api/whoami", &[], Some(&cookie)).await.status(), 200);
}
