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
        common::write_bundle_for_binary(&dir.path().join("site/pkg"));
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
        ("GRIDSCOPE_LEASE_SECONDS", "2".into()),
        // The visitors below all come from 127.0.0.1.
        ("GRIDSCOPE_RATE_CLIENT_BURST", "1000".into()),
    ];
    deployment.grid = Some("mv_oberrhein");
    let mut instances =
        vec![Some(deployment.start().await), Some(deployment.start().await), Some(deployment.start().await)];

    let calls = || async { upstream.received_requests().await.unwrap().len() };
    // Visitors load the live conditions on every instance meanwhile (300 requests, 30 at a
    // time): page views read what the pollers hold and never call the upstream themselves.
    let bases: Vec<String> = instances.iter().flatten().map(|i| i.base.clone()).collect();
    let visitors = tokio::spawn(async move {
        use futures_util::StreamExt;
        futures_util::stream::iter(0..300)
            .map(|n| {
                let base = bases[n % bases.len()].clone();
                async move { post_form(&base, "/api/live_conditions", &[], None).await.status() }
            })
            .buffer_unordered(30)
            .collect::<Vec<_>>()
            .await
    });
    let started = Instant::now();
    while calls().await < QUOTA {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the quota was not used: {} calls",
            calls().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answered = visitors.await.unwrap();
    assert!(answered.iter().all(|s| *s == 200), "{answered:?}");
    // Several more turns of every poller: still no call beyond the quota.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(calls().await, QUOTA, "three instances share one hourly quota");
    // The poller dies; the one that takes over knows the quota is spent.
    let first = poller(&instances, Duration::ZERO).await;
    instances[first] = None;
    poller(&instances, Duration::from_secs(6)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(calls().await, QUOTA, "a new poller shares the quota of the last");
    // Every instance knows the quota is used up (its own calls or not).
    for instance in instances.iter().flatten() {
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
    // The lease: of ten contenders exactly one holds it; it renews, the others stay out;
    // released, the next try of another takes it.
    use server::shared::{Lease, LeaseState};
    let leases: Vec<Lease> =
        (0..10).map(|_| Lease::shared(redis.clone(), "test", Duration::from_secs(30))).collect();
    let taken = futures_util::future::join_all(leases.iter().map(|l| l.renew())).await;
    let holders: Vec<usize> =
        taken.iter().enumerate().filter(|(_, t)| *t.as_ref().unwrap()).map(|(n, _)| n).collect();
    assert_eq!(holders.len(), 1, "{taken:?}");
    let holder = holders[0];
    assert_eq!(leases[holder].state(), LeaseState::Here);
    assert!(leases[holder].renew().await.unwrap(), "the holder renews");
    let other = (holder + 1) % 10;
    assert!(!leases[other].renew().await.unwrap());
    assert_eq!(leases[other].state(), LeaseState::Elsewhere);
    assert!(!leases[other].held());
    // Another's release does not free it.
    leases[other].release().await;
    assert!(!leases[(holder + 2) % 10].renew().await.unwrap());
    leases[holder].release().await;
    assert!(!leases[holder].held(), "released at once, locally too");
    assert!(leases[other].renew().await.unwrap(), "free after the hand-over");
    assert!(Lease::single().held());
    assert_eq!(Lease::single().state(), LeaseState::Single);
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

/// What `/readyz` of `instance` says about the background work.
async fn background(instance: &Instance) -> String {
    let ready: serde_json::Value =
        client().get(format!("{}/readyz", instance.base)).send().await.unwrap().json().await.unwrap();
    ready["background"].as_str().unwrap().to_owned()
}

/// The scheduled backups in instance `n`'s folder.
fn backups(deployment: &Deployment, n: usize) -> usize {
    std::fs::read_dir(deployment.data(n).join("backups"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".gsbackup"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until exactly one live instance holds the lease and returns its index.
async fn poller(instances: &[Option<Instance>], within: Duration) -> usize {
    let started = Instant::now();
    loop {
        let mut holders = Vec::new();
        let mut states = Vec::new();
        for (n, instance) in instances.iter().enumerate() {
            if let Some(instance) = instance {
                let state = background(instance).await;
                if state == "this_instance" {
                    holders.push(n);
                }
                states.push(state);
            }
        }
        assert!(holders.len() <= 1, "two instances hold the lease at once: {states:?}");
        if let [n] = holders[..] {
            return n;
        }
        assert!(started.elapsed() < within, "no instance took the lease: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live poller and scheduled backups run on one instance at a time; the others show its
/// readings from the shared cache; killing it moves the work within the lease time, and
/// stopping one hands it over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_work_runs_on_one_instance_and_moves_when_it_dies() {
    const LEASE: Duration = Duration::from_secs(3);
    let Some(redis) = RedisServer::start() else { return };
    // One stub upstream per instance: which one is called tells which instance polled.
    let upstreams = [
        wiremock::MockServer::start().await,
        wiremock::MockServer::start().await,
        wiremock::MockServer::start().await,
    ];
    for upstream in &upstreams {
        common::serve_weather(upstream).await;
    }
    let mut deployment = Deployment::new(&redis);
    deployment.grid = Some("mv_oberrhein");
    let mut instances: Vec<Option<Instance>> = Vec::new();
    for upstream in &upstreams {
        deployment.vars = vec![
            ("GRIDSCOPE_LIVE_PROVIDER", "openweathermap".into()),
            ("GRIDSCOPE_LIVE_API_KEY", "scale-out-key".into()),
            ("GRIDSCOPE_LIVE_BASE_URL", upstream.uri()),
            ("GRIDSCOPE_LIVE_CALLS_PER_MINUTE", "600".into()),
            ("GRIDSCOPE_LIVE_TTL_SECONDS", "1".into()),
            ("GRIDSCOPE_LEASE_SECONDS", LEASE.as_secs().to_string()),
            ("GRIDSCOPE_BACKUP_INTERVAL_SECONDS", "1".into()),
            ("GRIDSCOPE_BACKUP_KEEP", "1000".into()),
        ];
        instances.push(Some(deployment.start().await));
    }
    let calls = |n: usize| {
        let upstream = &upstreams[n];
        async move { upstream.received_requests().await.unwrap().len() }
    };

    let first = poller(&instances, Duration::from_secs(10)).await;
    // Let it work for a while: only its upstream is called, only it makes backups.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(poller(&instances, Duration::ZERO).await, first, "the lease stays put while its holder runs");
    assert!(calls(first).await >= 2, "the poller calls its upstream: {}", calls(first).await);
    assert!(backups(&deployment, first) >= 2, "the poller makes the scheduled backups");
    for other in (0..3).filter(|n| *n != first) {
        assert_eq!(calls(other).await, 0, "instance {other} does not hold the lease and must not call");
        assert_eq!(backups(&deployment, other), 0, "instance {other} must not make scheduled backups");
        // Its readings come from the shared cache.
        let ready: serde_json::Value = client()
            .get(format!("{}/readyz", instances[other].as_ref().unwrap().base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(ready["live"]["locations"].as_u64().unwrap() > 0, "{ready}");
        assert!(ready["live"]["newest_reading_age_seconds"].as_u64().is_some_and(|age| age <= 3), "{ready}");
        assert_eq!(ready["live"]["state"], "healthy", "{ready}");
        assert_eq!(ready["background"], "another_instance", "{ready}");
    }

    // Killed (no hand-over): another instance takes the work within the lease time.
    instances[first] = None;
    let killed = Instant::now();
    let second = poller(&instances, LEASE + Duration::from_secs(3)).await;
    assert_ne!(second, first);
    let before = calls(second).await;
    while calls(second).await == before {
        assert!(killed.elapsed() < LEASE + Duration::from_secs(4), "the new poller does not call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = killed.elapsed();
    assert!(took <= LEASE + Duration::from_secs(3), "hand-over took {took:?}");

    // Stopped (SIGTERM): it hands the lease over at once, well within the lease time.
    let pid = instances[second].as_ref().unwrap().child.id();
    let stopped = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let third = (0..3).find(|n| *n != first && *n != second).unwrap();
    while background(instances[third].as_ref().unwrap()).await != "this_instance" {
        assert!(stopped.elapsed() < LEASE, "a stopping instance did not hand the lease over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backups_then = backups(&deployment, third);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(backups(&deployment, third) > backups_then, "the new holder makes the scheduled backups");
    assert!(calls(third).await > 0, "the new holder polls");
}

/// The analyst on two instances (two services with their own data folders, one Redis): a
/// finished answer is served from Redis on the other instance without a call, and the
/// daily token budget is one for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_answers_and_the_token_budget_are_shared() {
    use app::ports::{AnswerModel, ClientId, ModelRequest};
    use futures_util::StreamExt;
    use server::upstream::llm::{Api, LlmService, Settings};
    let Some(redis_server) = RedisServer::start() else { return };
    let config =
        server::config::Config::from_vars([("GRIDSCOPE_REDIS_URL".to_owned(), redis_server.url())]).unwrap();
    let redis = server::shared::Redis::from_config(&config).unwrap().unwrap();
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/messages"))
        .respond_with(common::sse(common::anthropic_stream(&["Shared ", "answer."], 3000, 1500, true)))
        .mount(&upstream)
        .await;
    let settings = Settings {
        api: Api::Anthropic,
        base_url: upstream.uri(),
        model: "claude-test".into(),
        key: server::config::Secret::new("scale-out-llm-key"),
        max_answer_tokens: 300,
        timeout: Duration::from_secs(2),
        answer_timeout: Duration::from_secs(8),
        max_retries: 0,
        retry_delay: Duration::from_millis(10),
        daily_token_budget: 5000,
        requests_per_minute: 1000,
        client_requests_per_hour: 1000,
        cache_ttl: Duration::from_secs(60),
        breaker_cooldown: Duration::from_secs(60),
    };
    let dir = tempfile::tempdir().unwrap();
    let one = LlmService::open(settings.clone(), &dir.path().join("one"), Some(redis.clone())).unwrap();
    let two = LlmService::open(settings, &dir.path().join("two"), Some(redis.clone())).unwrap();
    let request = |question: &str| ModelRequest {
        client: ClientId("192.0.2.7".into()),
        question: question.into(),
        facts: app::domain::analyst::Facts {
            grid: "shared-grid".into(),
            assets: 3,
            customers_total: 120,
            top_risks: Vec::new(),
            asked: Vec::new(),
            impact: None,
            maintain_first: Vec::new(),
            single_points: Vec::new(),
        },
        provenance: "r1-c1-2026-11-26".into(),
    };
    let text = |answer: app::ports::ModelAnswer| async move {
        let pieces: Vec<String> = answer.pieces.map(|p| p.unwrap()).collect().await;
        pieces.concat()
    };
    let calls = || async { upstream.received_requests().await.unwrap().len() };

    let first = one.answer(request("Which line is riskiest?")).await.unwrap();
    assert!(!first.cached);
    assert_eq!(text(first).await, "Shared answer.");
    assert_eq!(calls().await, 1);
    // The same question on the other instance: from Redis, no call.
    let again = two.answer(request("which LINE  is riskiest?")).await.unwrap();
    assert!(again.cached, "answered from the shared cache");
    assert_eq!(text(again).await, "Shared answer.");
    assert_eq!(calls().await, 1, "the other instance did not call the provider");
    // One budget: 4500 of 5000 tokens used on instance one leaves instance two no room.
    assert_eq!(two.tokens_used_today().await, 4500);
    let refused = two.answer(request("What should we maintain first?")).await.err().expect("over budget");
    assert_eq!(refused.code, app::error::ErrorCode::QuotaExceeded, "{refused:?}");
    assert_eq!(calls().await, 1);
    let keys = redis_server.keys("gridscope:analyst:*").await;
    assert!(keys.iter().any(|k| k.starts_with("gridscope:analyst:answer:")), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.to_lowercase().contains("riskiest")),
        "the question is not a key name: {keys:?}"
    );
}

/// A client's failed sign-ins count on every instance: failures spread over two instances
/// reach the limit that neither would reach alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_of_a_client_count_on_every_instance() {
    let Some(redis) = RedisServer::start() else { return };
    let mut deployment = Deployment::new(&redis);
    deployment.vars = vec![
        ("GRIDSCOPE_LOGIN_CLIENT_MAX_FAILURES", "3".into()),
        ("GRIDSCOPE_RATE_LOGIN_PER_MINUTE", "1000".into()),
    ];
    deployment.operators = vec!["olga"];
    let (one, two) = (deployment.start().await, deployment.start().await);
    let wrong = |instance: &Instance| {
        let base = instance.base.clone();
        async move {
            let form = [("username", "nobody-here"), ("password", "wrong-password-1")];
            post_form(&base, "/api/login", &form, None).await.status()
        }
    };
    assert_eq!(wrong(&one).await, 401);
    assert_eq!(wrong(&two).await, 401);
    assert_eq!(wrong(&one).await, 401);
    // Three failures in all (two here, one there): the right password is refused on both.
    for instance in [&two, &one] {
        let refused = instance.sign_in("olga").await.expect_err("the client is locked out");
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
    }
    let keys = redis.keys("gridscope:sign-in-failures:*").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
}

/// A Redis that accepts connections and never answers (a hung server, a black-holed
/// network): the first request waits out the command time limit, the next ones do not wait
/// while Redis rests, and they are still served (as a viewer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_one_timeout_not_one_per_request() {
    let Some(mut redis) = RedisServer::start() else { return };
    let mut deployment = Deployment::new(&redis);
    deployment.operators = vec!["hana"];
    let instance = deployment.start().await;
    let cookie = instance.sign_in("hana").await.expect("sign-in while Redis is up");
    assert_eq!(instance.role(&cookie).await, "operator");

    redis.stop();
    let hung = std::net::TcpListener::bind(("127.0.0.1", redis.port)).expect("the port is free again");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
        }
    });
    // The first request finds out (each command waits at most 300 ms here).
    assert_eq!(instance.role(&cookie).await, "viewer");
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(instance.role(&cookie).await, "viewer");
    }
    let took = started.elapsed();
    // Without the rest each would wait 300 ms at least (3 s in all).
    assert!(took < Duration::from_millis(1500), "10 requests took {took:?}");
}
