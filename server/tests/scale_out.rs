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

/// What every instance of one deployment shares: the data folder (the embedded store here;
/// Neo4j in production) and the Redis.
struct Deployment {
    dir: tempfile::TempDir,
    redis_url: String,
}

impl Deployment {
    fn new(redis: &RedisServer) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("site/pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        for file in ["gridscope.js", "gridscope.wasm", "gridscope.css"] {
            std::fs::write(pkg.join(file), b"x").unwrap();
        }
        Deployment { dir, redis_url: redis.url() }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gridscope"));
        command
            .args(args)
            .env("GRIDSCOPE_DATA_DIR", self.data())
            .env("GRIDSCOPE_SITE_ROOT", self.dir.path().join("site"))
            .env("GRIDSCOPE_DEMO_GRID", "none")
            .env("GRIDSCOPE_LOG_LEVEL", "warn")
            .env("GRIDSCOPE_COOKIE_SECURE", "false")
            .env("GRIDSCOPE_REDIS_URL", &self.redis_url)
            .env("GRIDSCOPE_REDIS_TIMEOUT_MILLIS", "300");
        command
    }

    fn add_operator(&self, name: &str) {
        common::add_user_by_cli(self.command(&[]), name, "operator", PASSWORD);
    }

    async fn start(&self) -> Instance {
        let port = free_port();
        let child = self
            .command(&["serve"])
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
    deployment.add_operator("ada");
    let instances = [deployment.start().await, deployment.start().await, deployment.start().await];
    let [a, b, c] = &instances;

    let cookie = a.sign_in("ada").await.expect("sign-in on the first instance");
    for (name, instance) in [("first", a), ("second", b), ("third", c)] {
        assert_eq!(instance.role(&cookie).await, "operator", "the session on the {name} instance");
    }
    // The record lives in Redis under our prefix, not in the data folder.
    let keys = redis.keys("*").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(server::auth::sessions::REDIS_PREFIX), "{keys:?}");
    assert!(!sessions_in_sqlite(&deployment.data()), "no session database beside the data");

    // Signing out on one instance ends the session on all.
    let out = c.post("/api/logout", &[], Some(&cookie)).await;
    assert!(out.status().is_success(), "{}", out.status());
    for instance in [a, b, c] {
        assert_eq!(instance.role(&cookie).await, "viewer");
    }
    assert!(redis.keys("*").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_public_pages_stay_up_and_sign_in_recovers_by_itself() {
    let Some(mut redis) = RedisServer::start() else { return };
    let deployment = Deployment::new(&redis);
    deployment.add_operator("bo");
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
