//! The app on Neo4j while the database goes away and comes back: requests fail fast with
//! `source_unavailable`, `/readyz` answers 503 naming the store, and everything recovers by
//! itself once Neo4j is back. Uses its own Neo4j launcher instance (scripts/neo4j), so it runs
//! wherever the contract suite's Neo4j does (skipped, loudly, without it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn neo4j(command: &str, home: &Path, port: u16, password: &str) {
    let status = Command::new(root().join("scripts/neo4j"))
        .args([command, home.to_str().unwrap(), &port.to_string()])
        .env("NEO4J_PASSWORD", password)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "scripts/neo4j {command} failed");
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn grid_summary(client: &reqwest::Client, base: &str) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let res = client
        .post(format!("{base}/api/grid_summary"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap();
    (status, body, started.elapsed())
}

async fn store_check(client: &reqwest::Client, base: &str) -> (u16, serde_json::Value) {
    let res = client.get(format!("{base}/readyz")).send().await.unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    let store = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "store").unwrap().clone();
    (status, store)
}

#[tokio::test]
async fn requests_fail_fast_while_neo4j_is_down_and_recover_when_it_returns() {
    if std::env::var("GRIDSCOPE_TEST_NEO4J_URI").map_or(true, |u| u.is_empty()) {
        assert!(std::env::var("GRIDSCOPE_TEST_REQUIRE_NEO4J").as_deref() != Ok("1"), "Neo4j required");
        eprintln!("SKIPPED: the Neo4j outage test (needs the launcher; scripts/test provides it)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("neo4j");
    let (bolt, http) = (free_port(), free_port());
    let password = "outage-test-password";
    neo4j("start", &home, bolt, password);

    // A site root with the bundle files, so readiness depends on the store alone.
    let site = work.path().join("site");
    common::write_bundle_for_binary(&site.join("pkg"));
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_gridscope"))
            .arg("serve")
            .env("GRIDSCOPE_ADDR", format!("127.0.0.1:{http}"))
            .env("GRIDSCOPE_SITE_ROOT", &site)
            .env("GRIDSCOPE_NEO4J_URI", format!("bolt://127.0.0.1:{bolt}"))
            .env("GRIDSCOPE_NEO4J_PASSWORD", password)
            .env("GRIDSCOPE_DEMO_GRID", root().join("data/grids/case118"))
            .env("GRIDSCOPE_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{http}");
    // No pooled connections: this test blocks its runtime while Neo4j stops, so a pooled
    // connection the server closed as idle meanwhile (after the header timeout) would be
    // reused before the client noticed.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let wait_until = |what: &'static str, limit: Duration| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let started = Instant::now();
            loop {
                if let Ok(res) = client.get(format!("{base}/readyz")).send().await {
                    if res.status() == 200 {
                        return started.elapsed();
                    }
                }
                assert!(started.elapsed() < limit, "{what}: not ready after {limit:?}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    wait_until("first start", Duration::from_secs(60)).await;
    let (status, summary, _) = grid_summary(&client, &base).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["name"], "case118", "the demo grid was loaded into the empty Neo4j");
    assert_eq!(summary["buses_total"], 118);

    // Neo4j goes away.
    neo4j("stop", &home, bolt, password);
    let (status, body, took) = grid_summary(&client, &base).await;
    assert_ne!(status, 200);
    assert_eq!(body["code"], "source_unavailable", "{body}");
    assert!(body["retry_after_seconds"].as_u64().is_some(), "{body}");
    assert!(took < Duration::from_secs(5), "failed in {took:?}, not fast");
    let (status, store) = store_check(&client, &base).await;
    assert_eq!(status, 503);
    assert_eq!(store["ok"], false);
    assert!(store["detail"].as_str().unwrap().starts_with("neo4j store"), "{store}");

    // It comes back: no restart of the app, no operator action.
    neo4j("start", &home, bolt, password);
    let recovered_in = wait_until("after Neo4j returned", Duration::from_secs(60)).await;
    let (status, summary, _) = grid_summary(&client, &base).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["name"], "case118", "the grid survived the restart");
    eprintln!("recovered {recovered_in:?} after Neo4j was ready again");
    neo4j("stop", &home, bolt, password);
}
