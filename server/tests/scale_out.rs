//! Several instances sharing state through Redis: a real Redis (the Debian package's
//! `redis-server` on loopback, without persistence) and real server processes over one data
//! folder. Without `redis-server` the tests say loudly that they are skipped; with
//! GRIDSCOPE_TEST_REQUIRE_REDIS=1 (as scripts/test sets) a missing one fails instead.

mod common;

use common::{client, post_form, session_cookie};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "scale-out-password-1";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Redis server of our own on a free loopback port.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// `None` (and a loud note) when `redis-server` is not installed and not required.
    fn start() -> Option<RedisServer> {
        let installed =
            Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
        if !installed {
            assert!(
                std::env::var("GRIDSCOPE_TEST_REQUIRE_REDIS").as_deref() != Ok("1"),
                "redis-server is required (GRIDSCOPE_TEST_REQUIRE_REDIS=1) but not installed: run scripts/setup"
            );
            eprintln!("SKIPPED: redis-server is not installed (scripts/setup installs it)");
            return None;
        }
        let mut server = RedisServer { child: None, port: free_port(), dir: tempfile::tempdir().unwrap() };
        server.run();
        Some(server)
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `gridscope serve` process.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Instances that share only the Redis: each has a data folder of its own (as on separate
/// machines), prepared alike (the same grid imported, the same accounts added; Neo4j would
/// hold those once in production), so nothing they agree on can come from a shared file.
struct Deployment {
    dir: tempfile::TempDir,
    redis_url: String,
    vars: Vec<(&'static str, String)>,
    /// Grid (under `data/grids`) imported into each instance's folder.
    grid: Option<&'static str>,
    /// Operators added to each instance's folder.
    operators: Vec<&'static str>,
    started: std::cell::Cell<usize>,
}

impl Deployment {
    fn new(redis: &RedisServer) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("site/pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        for file in ["gridscope.js", "gridscope.wasm", "gridscope.css"] {
            std::fs::write(pkg.join(file), b"x").unwrap();
        }
        Deployment {
            dir,
            redis_url: redis.url(),
            vars: Vec::new(),
            grid: None,
            operators: Vec::new(),
            started: Default::default(),
        }
    }

    /// The data folder of instance `n`.
    fn data(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("instance-{n}"))
    }

    fn command(&self, data: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gridscope"));
        command
            .args(args)
            .env("GRIDSCOPE_DATA_DIR", data)
            .env("GRIDSCOPE_SITE_ROOT", self.dir.path().join("site"))
            .env("GRIDSCOPE_DEMO_GRID", "none")
            .env("GRIDSCOPE_LOG_LEVEL", "warn")
            .env("GRIDSCOPE_COOKIE_SECURE", "false")
            .env("GRIDSCOPE_REDIS_URL", &self.redis_url)
            .env("GRIDSCOPE_REDIS_TIMEOUT_MILLIS", "300")
            .envs(self.vars.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    async fn start(&self) -> Instance {
        let n = self.started.get();
        self.started.set(n + 1);
        let data = self.data(n);
        if let Some(grid) = self.grid {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/grids").join(grid);
            let out = self.command(&data, &["import", path.to_str().unwrap()]).output().unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        for name in &self.operators {
            common::add_user_by_cli(self.command(&data, &[]), name, "operator", PASSWORD);
        }
        let port = free_port();
        let child = self
            .command(&data, &["serve"])
            .env("GRIDSCOPE_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let instance = Instance { child, base: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        loop {
            if let Ok(r) = client().get(format!("{}/readyz", instance.base)).send().await {
                if r.status() == 200 {
                    return instance;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(60), "an instance did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Instance {
    async fn post(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
        post_form(&self.base, path, form, cookie).await
    }

    /// The session cookie of a sign-in, or the refusal.
    async fn sign_in(&self, name: &str) -> Result<String, reqwest::Response> {
        let response = self.post("/api/login", &[("username", name), ("password", PASSWORD)], None).await;
        if response.status() != 200 {
            return Err(response);
        }
        Ok(session_cookie(&response).expect("a session cookie"))
    }

    async fn role(&self, cookie: &str) -> String {
        let response = self.post("/api/whoami", &[], Some(cookie)).await;
        assert_eq!(response.status(), 200);
        let principal: serde_json::Value = response.json().await.unwrap();
        principal["role"].as_str().unwrap().to_owned()
    }
}

fn sessions_in_sqlite(data: &Path) -> bool {
    data.join(server::auth::sessions::FILE_NAME).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_instance_works_on_the_others() {
    let Some(redis) = RedisServer::start() else { return };
    let deployment = Deployment::new(&redis);
    let mut deployment = deployment;
    deployment.operators = vec!["ada"];
    let instances = [deployment.start().await, deployment.start().await, deployment.start().await];
    let [a, b, c] = &instances;

    let cookie = a.sign_in("ada").await.expect("sign-in on the first instance");
    for (name, instance) in [("first", a), ("second", b), ("third", c)] {
        assert_eq!(instance.role(&cookie).await, "operator", "the session on the {name} instance");
    }
    // The record lives in Redis under our prefix, not in the data folder.
    let keys = redis.keys(&format!("{}*", server::auth::sessions::REDIS_PREFIX)).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    for n in 0..3 {
        assert!(!sessions_in_sqlite(&deployment.data(n)), "no session database beside the data");
    }

    // Signing out on one instance ends the session on all.
    let out = c.post("/api/logout", &[], Some(&cookie)).await;
    assert!(out.status().is_success(), "{}", out.status());
    for instance in [a, b, c] {
        assert_eq!(instance.role(&cookie).await, "viewer");
    }
    assert!(redis.keys(&format!("{}*", server::auth::sessions::REDIS_PREFIX)).await.is_empty());
    // Every key Gridscope wrote carries its prefix.
    assert!(redis.keys("*").await.iter().all(|k| k.starts_with(server::shared::PREFIX)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_public_pages_stay_up_and_sign_in_recovers_by_itself() {
    let Some(mut redis) = RedisServer::start() else { return };
    let deployment = Deployment::new(&redis);
    let mut deployment = deployment;
    deployment.operators = vec!["bo"];
    let instance = deployment.start().await;
    let cookie = instance.sign_in("bo").await.expect("sign-in while Redis is up");

    redis.stop();
    // Read-only public answers need no shared state.
    let started = Instant::now();
    let summary = instance.post("/api/grid_summary", &[], None).await;
    assert_eq!(summary.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5), "answered without waiting on Redis");
    let page = client().get(format!("{}/", instance.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // A session cannot be read: the caller is a viewer, never an operator on a guess.
    assert_eq!(instance.role(&cookie).await, "viewer");
    // A sign-in needs the shared session: refused.
    let refused = instance.sign_in("bo").await.expect_err("no sign-in without Redis");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["x-error-code"], "source_unavailable");
    assert_eq!(refused.headers()["retry-after"], "5");

    // Redis back (empty: it keeps nothing on disk here): sign-in works again, no restart.
    redis.run();
    let started = Instant::now();
    let cookie = loop {
        match instance.sign_in("bo").await {
            Ok(cookie) => break cookie,
            Err(_) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(r) => panic!("sign-in did not recover: {}", r.status()),
        }
    };
    assert_eq!(instance.role(&cookie).await, "operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_quota_holds_across_three_instances() {
    const QUOTA: usize = 5;
    let Some(redis) = RedisServer::start() else { return };
    let upstream = wiremock::MockServer::start().await;
    common::serve_weather(&upstream).await;
    let mut deployment = Deployment::new(&redis);
    // Each instance alone would spend the quota within a second: readings are due again
    // after 1 s, and its pace allows 10 calls a second.
    deployment.vars = vec![
        ("GRIDSCOPE_LIVE_PROVIDER", "openweathermap".into()),
        ("GRIDSCOPE_LIVE_API_KEY", "scale-out-key".into()),
        ("GRIDSCOPE_LIVE_BASE_URL", upstream.uri()),
        ("GRIDSCOPE_LIVE_HOURLY_QUOTA", QUOTA.to_string()),
        ("GRIDSCOPE_LIVE_CALLS_PER_MINUTE", "600".into()),
        ("GRIDSCOPE_LIVE_TTL_SECONDS", "1".into()),
    ];
    deployment.grid = Some("mv_oberrhein");
    let instances = [deployment.start().await, deployment.start().await, deployment.start().await];

    let calls = || async { upstream.received_requests().await.unwrap().len() };
    let started = Instant::now();
    while calls().await < QUOTA {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the quota was not used: {} calls",
            calls().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more turns of every poller: still no call beyond the quota.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(calls().await, QUOTA, "three instances share one hourly quota");
    // Every instance knows the quota is used up (its own calls or not).
    for instance in &instances {
        let ready: serde_json::Value =
            client().get(format!("{}/readyz", instance.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["live"]["calls_last_hour"], QUOTA, "{ready}");
    }
}

/// The quota script under contention: many callers at once, exactly the quota admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_exactly_the_shared_quota() {
    let Some(redis_server) = RedisServer::start() else { return };
    let config =
        server::config::Config::from_vars([("GRIDSCOPE_REDIS_URL".to_owned(), redis_server.url())]).unwrap();
    let redis = server::shared::Redis::from_config(&config).unwrap().unwrap();
    let window = Duration::from_secs(3600);
    let tries = (0..60).map(|_| {
        let redis = redis.clone();
        tokio::spawn(async move { redis.admit_call("gridscope:test:calls", window, 7).await.unwrap() })
    });
    let mut admitted = Vec::new();
    for outcome in futures_util::future::join_all(tries).await {
        match outcome.unwrap() {
            Ok(used) => admitted.push(used),
            Err((used, retry_after)) => {
                assert_eq!(used, 7);
                assert!((3590..=3600).contains(&retry_after), "{retry_after}");
            }
        }
    }
    admitted.sort();
    assert_eq!(admitted, (1..=7).collect::<Vec<_>>(), "each admitted call saw its own count");
    // The pace: one turn per interval for all callers.
    let turns = futures_util::future::join_all((0..20).map(|_| {
        let redis = redis.clone();
        async move { redis.pace("gridscope:test:pace", Duration::from_secs(10)).await.unwrap() }
    }))
    .await;
    assert_eq!(turns.iter().filter(|t| t.is_ok()).count(), 1);
    for wait in turns.iter().filter_map(|t| t.err()) {
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9), "{wait:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_s_rate_limit_holds_across_instances() {
    let Some(redis) = RedisServer::start() else { return };
    let mut deployment = Deployment::new(&redis);
    // 5 requests at once per client, then one a second; the test's client comes through the
    // loopback proxy as 10.9.9.9, so the instances' readiness probes do not count for it.
    deployment.vars = vec![
        ("GRIDSCOPE_RATE_CLIENT_PER_SECOND", "1".into()),
        ("GRIDSCOPE_RATE_CLIENT_BURST", "5".into()),
        ("GRIDSCOPE_TRUSTED_PROXIES", "127.0.0.1".into()),
    ];
    let instances = [deployment.start().await, deployment.start().await];
    let started = Instant::now();
    let mut answered = Vec::new();
    for i in 0..10 {
        let response = client()
            .post(format!("{}/api/grid_summary", instances[i % 2].base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", "10.9.9.9")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            assert_eq!(response.headers()["x-error-code"], "rate_limited");
            assert!(response.headers().contains_key("retry-after"));
        } else {
            assert_eq!(response.status(), 200);
        }
        answered.push(response.status().as_u16());
    }
    // Each instance alone would allow 5 (10 in all); together they allow the one burst, plus
    // one a second of refill.
    let refill = started.elapsed().as_secs() as usize;
    let allowed = answered.iter().filter(|s| **s == 200).count();
    assert!((5..=5 + refill).contains(&allowed), "{answered:?} in {:?}", started.elapsed());
    assert_eq!(&answered[..5], &[200; 5], "{answered:?}");
    // Another client is not held back by this one.
    let other = client()
        .post(format!("{}/api/grid_summary", instances[0].base))
        .header("x-forwarded-for", "10.9.9.10")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}
