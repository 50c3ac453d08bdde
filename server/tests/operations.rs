//! Operations: Prometheus metrics on the admin listener only (token-protected), request ids,
//! the operators' status page, and the real binary's logs: a request id on every request line
//! and no configured secret anywhere, graceful shutdown draining an in-flight request.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app::api::auth::Role;
use common::{anthropic_stream, client, small_grid as grid, sse, TestServer};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const TOKEN: &str = "metrics-token-3c9f0e11aa";
const PASSWORD: &str = "operator passphrase for ops";

/// The value of the first sample line of `name` whose labels include all of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_are_on_the_admin_listener_only_behind_the_token_with_every_series() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(sse(anthropic_stream(&["Line ", "line-1 feeds load-3."], 50, 8, true)))
        .mount(&upstream)
        .await;
    let server = TestServer::start(&[
        ("GRIDSCOPE_METRICS_ADDR", "127.0.0.1:0"),
        ("GRIDSCOPE_METRICS_TOKEN", TOKEN),
        ("GRIDSCOPE_LLM_PROVIDER", "anthropic"),
        ("GRIDSCOPE_LLM_API_KEY", "sk-ant-ops-test"),
        ("GRIDSCOPE_LLM_BASE_URL", &upstream.uri()),
        ("GRIDSCOPE_COOKIE_SECURE", "false"),
    ])
    .await;
    let admin = server.admin_base.clone().unwrap();
    // Another handle onto the same store writes the grid: the server's cache misses once.
    let config = server::config::Config {
        data_dir: server.dir.path().join("data"),
        ..server::config::Config::default()
    };
    server::commands::open_store(&config).unwrap().replace_grid("ops", grid()).await.unwrap();
    server.add_user("ops-operator", Role::Operator, PASSWORD).await;

    for _ in 0..3 {
        let response = server.post("/api/grid_summary", &[], None).await;
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    // No trusted proxy here: a client's own id is replaced, however plain (a trusted proxy's
    // is kept: server/tests/probe.rs).
    let chosen =
        client().get(server.url("/healthz")).header("x-request-id", "lb-7f3a.1").send().await.unwrap();
    assert_ne!(chosen.headers()["x-request-id"], "lb-7f3a.1");
    let replaced =
        client().get(server.url("/healthz")).header("x-request-id", "evil\"} {\"x").send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "evil\"} {\"x");
    // Errors with public codes.
    let refused = server.post("/api/users", &[], None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-error-code"], "unauthorized");
    assert_eq!(client().get(server.url("/no/such/page")).send().await.unwrap().status(), 404);
    // An analyst answer: one upstream call, one analyst cache miss.
    let cookie = server.sign_in("ops-operator", PASSWORD).await;
    let answer =
        server.post("/api/analyst_ask", &[("question", "What does line-1 feed?")], Some(&cookie)).await;
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(text.contains("load-3"), "{text}");

    // Never on the public address.
    assert_eq!(client().get(server.url("/metrics")).send().await.unwrap().status(), 404);
    // The admin listener wants the token.
    let url = format!("{admin}/metrics");
    assert_eq!(client().get(&url).send().await.unwrap().status(), 401);
    let wrong = client().get(&url).bearer_auth("metrics-token-3c9f0e11ab").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let response = client().get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let m = response.text().await.unwrap();

    let requests = |labels: &[&str]| sample(&m, "gridscope_http_requests_total", labels);
    assert!(
        requests(&["route=\"/api/grid_summary\"", "method=\"POST\"", "status=\"200\""]) >= Some(3.0),
        "requests by route and status:\n{m}"
    );
    assert!(requests(&["route=\"/api/users\"", "status=\"401\""]) >= Some(1.0), "{m}");
    assert!(requests(&["route=\"unmatched\"", "status=\"404\""]) >= Some(1.0), "{m}");
    // Paths behind the tighter limits (sign-in, costly) keep their plain route label: the
    // outside probe found them doubled (`/api/analyst_ask/api/analyst_ask`) when the limits
    // were nested routers.
    assert!(requests(&["route=\"/api/analyst_ask\"", "status=\"200\""]) >= Some(1.0), "{m}");
    assert!(requests(&["route=\"/api/login\"", "status=\"200\""]) >= Some(1.0), "{m}");
    for label in m.lines().filter_map(|l| l.split("route=\"").nth(1)?.split('"').next()) {
        assert!(
            label.len() < 2 || !label[1..].contains(&label[..label.len() / 2]),
            "doubled route label {label}"
        );
    }
    assert!(
        sample(
            &m,
            "gridscope_http_request_duration_seconds_bucket",
            &["route=\"/api/grid_summary\"", "le=\"+Inf\""]
        ) >= Some(3.0),
        "latency histogram:\n{m}"
    );
    assert!(sample(&m, "gridscope_http_errors_total", &["code=\"unauthorized\""]) >= Some(1.0), "{m}");
    assert!(sample(&m, "gridscope_http_errors_total", &["code=\"not_found\""]) >= Some(1.0), "{m}");
    assert!(
        sample(&m, "gridscope_cache_requests_total", &["cache=\"grid\"", "result=\"miss\""]) >= Some(1.0),
        "{m}"
    );
    assert!(
        sample(&m, "gridscope_cache_requests_total", &["cache=\"grid\"", "result=\"hit\""]) >= Some(2.0),
        "{m}"
    );
    assert!(
        sample(&m, "gridscope_cache_requests_total", &["cache=\"analyst\"", "result=\"miss\""]) >= Some(1.0)
    );
    assert_eq!(
        sample(&m, "gridscope_upstream_calls_total", &["upstream=\"llm\"", "outcome=\"ok\""]),
        Some(1.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "gridscope_store_operation_duration_seconds_count",
            &["backend=\"embedded\"", "operation=\"load\"", "outcome=\"ok\""]
        ) >= Some(1.0),
        "store latency:\n{m}"
    );
    assert!(sample(&m, "gridscope_sessions_active", &[]) >= Some(1.0), "active sessions:\n{m}");
    assert!(sample(&m, "gridscope_live_quota_remaining", &[]).is_some(), "{m}");
    assert!(sample(&m, "gridscope_uptime_seconds", &[]).is_some(), "{m}");
    assert_eq!(
        sample(&m, "gridscope_build_info", &[&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))]),
        Some(1.0)
    );
    // Health on the admin listener too (for a load balancer on the private network).
    assert_eq!(
        client().get(format!("{admin}/readyz")).send().await.unwrap().status(),
        503,
        "no site in this test"
    );
    assert_eq!(client().get(format!("{admin}/healthz")).send().await.unwrap().status(), 200);

    // The status page's data: operators only.
    assert_eq!(server.post("/api/ops_status", &[], None).await.status(), 401);
    let status: app::api::ops::OpsReport =
        server.post("/api/ops_status", &[], Some(&cookie)).await.json().await.unwrap();
    assert!(status.totals.requests >= 8, "{status:?}");
    assert!(status.totals.client_errors >= 6, "{status:?}");
    // The one server error: /readyz without a site.
    assert_eq!(status.totals.server_errors, 1, "{status:?}");
    let expected = 1.0 - 1.0 / status.totals.requests as f64;
    assert!((status.success_rate().unwrap() - expected).abs() < 1e-9, "{status:?}");
    assert!(status.totals.recent_errors.iter().any(|e| e.route == "/readyz" && e.status == 503));
    assert!(status.totals.errors_by_code.iter().any(|(c, n)| c == "unauthorized" && *n >= 2), "{status:?}");
    let recent = &status.totals.recent_errors[0];
    assert_eq!(
        (recent.route.as_str(), recent.status, recent.code.as_str()),
        ("/api/ops_status", 401, "unauthorized")
    );
    let grid_cache = status.totals.caches.iter().find(|c| c.name == "grid").unwrap();
    assert!(grid_cache.hits >= 2 && grid_cache.misses >= 1, "{grid_cache:?}");
    assert_eq!(status.store_backend, "embedded");
    assert!(status.store_problem.is_none());
    assert!(status.analyst.as_deref().unwrap().contains("claude"), "{status:?}");
    assert!(status.totals.sessions_active >= Some(1));
}

#[test]
fn a_metrics_address_off_loopback_needs_a_token() {
    let vars = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let err =
        server::config::Config::from_vars(vars(&[("GRIDSCOPE_METRICS_ADDR", "0.0.0.0:9464")])).unwrap_err();
    assert!(err.to_string().contains("GRIDSCOPE_METRICS_TOKEN"), "{err}");
    let err = server::config::Config::from_vars(vars(&[
        ("GRIDSCOPE_METRICS_ADDR", "0.0.0.0:9464"),
        ("GRIDSCOPE_METRICS_TOKEN", "short"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("at least 16"), "{err}");
    server::config::Config::from_vars(vars(&[
        ("GRIDSCOPE_METRICS_ADDR", "0.0.0.0:9464"),
        ("GRIDSCOPE_METRICS_TOKEN", TOKEN),
    ]))
    .unwrap();
    let err =
        server::config::Config::from_vars(vars(&[("GRIDSCOPE_METRICS_ADDR", "127.0.0.1:3000")])).unwrap_err();
    assert!(err.to_string().contains("must differ"), "{err}");
    let err = server::config::Config::from_vars(vars(&[("GRIDSCOPE_METRICS_ADDR", "nine")])).unwrap_err();
    assert!(err.to_string().contains("GRIDSCOPE_METRICS_ADDR"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real binary, with secrets configured, JSON logs at debug level, live conditions and the
/// analyst at stubs; every request is logged with its id; no secret appears in any log line;
/// SIGTERM lets an in-flight request finish and the process exits cleanly.
#[tokio::test]
async fn the_binary_logs_request_ids_never_secrets_and_drains_on_sigterm() {
    const LIVE_KEY: &str = "owm-canary-key-71d0c2";
    const LLM_KEY: &str = "sk-ant-canary-key-55e9";
    let upstream = MockServer::start().await;
    common::serve_weather(&upstream).await;
    // The answer takes a while: shutdown is signalled while it is in flight.
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            sse(anthropic_stream(&["Bus b2 is fed by line-1."], 40, 9, true))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&upstream)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    common::write_bundle_for_binary(&site.join("pkg"));
    let token_file = dir.path().join("metrics_token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let grid = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/grids/mv_oberrhein");
    let envs: Vec<(&str, String)> = vec![
        ("GRIDSCOPE_ADDR", format!("127.0.0.1:{port}")),
        ("GRIDSCOPE_METRICS_ADDR", format!("127.0.0.1:{admin_port}")),
        ("GRIDSCOPE_METRICS_TOKEN_FILE", token_file.to_string_lossy().into_owned()),
        ("GRIDSCOPE_SITE_ROOT", site.to_string_lossy().into_owned()),
        ("GRIDSCOPE_DATA_DIR", dir.path().join("data").to_string_lossy().into_owned()),
        ("GRIDSCOPE_DEMO_GRID", grid.to_string_lossy().into_owned()),
        ("GRIDSCOPE_LOG_FORMAT", "json".into()),
        ("GRIDSCOPE_LOG_LEVEL", "debug".into()),
        ("GRIDSCOPE_COOKIE_SECURE", "false".into()),
        ("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS", "10".into()),
        ("GRIDSCOPE_BACKUP_INTERVAL_SECONDS", "1".into()),
        ("GRIDSCOPE_BACKUP_KEEP", "2".into()),
        ("GRIDSCOPE_LIVE_PROVIDER", "openweathermap".into()),
        ("GRIDSCOPE_LIVE_API_KEY", LIVE_KEY.into()),
        ("GRIDSCOPE_LIVE_BASE_URL", upstream.uri()),
        ("GRIDSCOPE_LLM_PROVIDER", "anthropic".into()),
        ("GRIDSCOPE_LLM_API_KEY", LLM_KEY.into()),
        ("GRIDSCOPE_LLM_BASE_URL", upstream.uri()),
    ];
    let binary = env!("CARGO_BIN_EXE_gridscope");
    let mut add = Command::new(binary);
    add.envs(envs.iter().map(|(k, v)| (*k, v.as_str())));
    common::add_user_by_cli(add, "ops-op", "operator", PASSWORD);
    let mut child = Command::new(binary)
        .arg("serve")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        std::io::BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>()
    });
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = client().get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready: serde_json::Value =
        client().get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["analyst"]["state"], "configured", "{ready}");
    assert!(ready["analyst"]["model"].as_str().unwrap().contains("claude"), "{ready}");
    let store_check = ready["checks"].as_array().unwrap().iter().find(|c| c["name"] == "store").unwrap();
    assert!(store_check["latency_ms"].is_u64(), "{ready}");
    // Wait for live readings (calls with the key in the query).
    while upstream.received_requests().await.unwrap().iter().all(|r| r.url.path() != "/data/2.5/weather") {
        assert!(started.elapsed() < Duration::from_secs(60), "no live call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let post = |path: &'static str, form: Vec<(&'static str, &'static str)>, cookie: Option<String>| {
        let base = base.clone();
        async move { common::post_form(&base, path, &form, cookie.as_deref()).await }
    };
    let bad =
        post("/api/login", vec![("username", "ops-op"), ("password", "a wrong passphrase")], None).await;
    assert_eq!(bad.status(), 401);
    let good = post("/api/login", vec![("username", "ops-op"), ("password", PASSWORD)], None).await;
    assert_eq!(good.status(), 200);
    let cookie = common::session_cookie(&good).unwrap();
    let summary = post("/api/grid_summary", vec![], None).await;
    let summary_id = summary.headers()["x-request-id"].to_str().unwrap().to_owned();
    let metrics = client()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        sample(&metrics, "gridscope_upstream_calls_total", &["upstream=\"live\"", "outcome=\"ok\""])
            >= Some(1.0),
        "{metrics}"
    );
    let remaining = sample(&metrics, "gridscope_live_quota_remaining", &[]).unwrap();
    let limit = sample(&metrics, "gridscope_live_quota_limit", &[]).unwrap();
    assert!(remaining < limit, "quota remaining {remaining} of {limit}");

    // Scheduled backups (every second here): several made, two kept.
    let backups = dir.path().join("data/backups");
    let listed = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> =
            std::fs::read_dir(dir).map_or_else(|_| Vec::new(), |d| d.map(|e| e.unwrap().path()).collect());
        files.sort();
        files
    };
    while sample(
        &client()
            .get(format!("http://127.0.0.1:{admin_port}/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "gridscope_backups_total",
        &["trigger=\"scheduled\"", "outcome=\"ok\""],
    ) < Some(3.0)
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no scheduled backups: {:?}", listed(&backups));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The container health check.
    let check = Command::new(binary)
        .arg("healthcheck")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // A slow answer in flight, then SIGTERM: it still completes.
    let asking =
        tokio::spawn(post("/api/analyst_ask", vec![("question", "What feeds bus b2?")], Some(cookie)));
    while upstream.received_requests().await.unwrap().iter().all(|r| r.url.path() != "/v1/messages") {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let answer = asking.await.unwrap();
    assert_eq!(answer.status(), 200);
    let answer = answer.text().await.unwrap();
    assert!(answer.contains("line-1"), "the in-flight answer was cut off: {answer}");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    let check = Command::new(binary)
        .arg("healthcheck")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(!check.status.success(), "healthy after exit? {check:?}");
    let lines = log_reader.join().unwrap();
    let kept = listed(&backups);
    assert!(!kept.is_empty() && kept.len() <= 2, "retention: {kept:?}");
    for file in &kept {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with("gridscope-") && name.ends_with(".gsbackup"), "a leftover: {name}");
        let (manifest, _) = server::backup::read(file).unwrap();
        assert_eq!(manifest.source_store, "embedded");
    }

    assert!(lines.len() > 20, "{lines:?}");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        for secret in [LIVE_KEY, LLM_KEY, TOKEN, PASSWORD] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
        let message = value["message"].as_str().unwrap_or_default();
        if message.starts_with("request ") {
            assert!(value["span"]["request_id"].is_string(), "a request line without its id: {line}");
        }
    }
    // The request's own lines carry the id the client saw.
    assert!(
        lines.iter().any(|l| l.contains(&summary_id) && l.contains("request done")),
        "no log line for request {summary_id}"
    );
    assert!(lines.iter().any(|l| l.contains("sign-in failed: wrong password")));
    assert!(lines.iter().any(|l| l.contains("gridscope stopped")));
}

/// `gridscope backup` and `gridscope restore` as an operator runs them: a restore keeps a copy
/// of what it replaces; a corrupt file fails with a clear message, exit code 1 and no change.
#[test]
fn backup_and_restore_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gridscope"))
            .args(args)
            .env("GRIDSCOPE_DATA_DIR", &data)
            .env("GRIDSCOPE_LOG_LEVEL", "warn")
            .output()
            .unwrap()
    };
    let grids = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/grids");
    let first = run(&["import", grids.join("case118").to_str().unwrap()]);
    assert!(first.status.success(), "{first:?}");
    let file = dir.path().join("case118.gsbackup");
    let made = run(&["backup", file.to_str().unwrap()]);
    assert!(made.status.success(), "{made:?}");
    assert!(String::from_utf8_lossy(&made.stdout).contains("backed up 'case118'"), "{made:?}");
    let second = run(&["import", grids.join("mv_oberrhein").to_str().unwrap()]);
    assert!(second.status.success(), "{second:?}");

    let corrupt = dir.path().join("corrupt.gsbackup");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    std::fs::write(&corrupt, bytes).unwrap();
    let refused = run(&["restore", corrupt.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("checksum") && message.contains("nothing was restored"), "{message}");
    let summary = |out: std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let islands = summary(run(&["analyze", "islands"]));

    let restored = run(&["restore", file.to_str().unwrap()]);
    assert!(restored.status.success(), "{restored:?}");
    let said = String::from_utf8_lossy(&restored.stdout);
    assert!(said.contains("restored 'case118'") && said.contains("the data it replaced is in"), "{said}");
    assert_ne!(summary(run(&["analyze", "islands"])), islands, "the grid changed back");
    let copies: Vec<_> =
        std::fs::read_dir(data.join("backups")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0].to_string_lossy().starts_with("gridscope-pre-restore-"));
}
