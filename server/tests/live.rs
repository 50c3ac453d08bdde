//! Live conditions against a stubbed OpenWeatherMap (wiremock, bodies in the documented
//! format): success, 429 with Retry-After, 5xx, timeout, malformed and oversized bodies,
//! quota exhaustion (also across a restart), pacing, the circuit opening and closing, and
//! staleness — each checked for what the user is shown and for how many calls were made.

mod common;

use common::weather;

use std::sync::Arc;
use std::time::Duration;

use app::domain::{Asset, AssetKind, GeoPoint, GridData};
use app::error::ErrorCode;
use app::ports::{GridStore, LiveFeed};
use server::config::{Config, Secret};
use server::upstream::live::{LiveService, Poll, Provider, Settings};
use server::upstream::UpstreamError;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "owm-test-key-5f1c";

/// A grid with two regions (North, South) with coordinates and a line in North.
fn grid() -> GridData {
    let bus = |id: &str, region: &str, lat: f64| Asset {
        region: Some(region.into()),
        location: GeoPoint { lat, lon: 8.0 }.into(),
        ..Asset::new(id, AssetKind::Bus)
    };
    GridData {
        assets: vec![
            bus("n1", "North", 50.0),
            bus("n2", "North", 50.2),
            bus("s1", "South", 48.0),
            Asset {
                bus: Some("n1".into()),
                source: true,
                region: Some("North".into()),
                ..Asset::new("g", AssetKind::Generator)
            },
            Asset {
                from_bus: Some("n1".into()),
                to_bus: Some("n2".into()),
                region: Some("North".into()),
                condition: Some(50),
                ..Asset::new("line-n", AssetKind::Line)
            },
            Asset {
                from_bus: Some("n1".into()),
                to_bus: Some("s1".into()),
                region: Some("South".into()),
                ..Asset::new("line-s", AssetKind::Line)
            },
        ],
        ..Default::default()
    }
}

struct Harness {
    dir: tempfile::TempDir,
    store: Arc<dyn GridStore>,
    upstream: MockServer,
}

impl Harness {
    async fn new() -> Harness {
        let (dir, store) = common::store_with(grid()).await;
        Harness { dir, store, upstream: MockServer::start().await }
    }

    fn settings(&self) -> Settings {
        Settings {
            provider: Provider::OpenWeatherMap { base_url: self.upstream.uri(), key: Secret::new(KEY) },
            calls_per_minute: 6_000_000, // no pacing unless a test sets it
            hourly_quota: 50,
            ttl: Duration::from_secs(300),
            stale_after: Duration::from_secs(1800),
            timeout: Duration::from_secs(2),
            history: Duration::from_secs(86_400),
            breaker_cooldown: Duration::from_secs(300),
        }
    }

    fn service(&self, settings: Settings) -> LiveService {
        LiveService::open(settings, self.store.clone(), &self.dir.path().join("data")).unwrap()
    }

    async fn answer(&self, response: ResponseTemplate) {
        self.upstream.reset().await;
        Mock::given(method("GET"))
            .and(path("/data/2.5/weather"))
            .respond_with(response)
            .mount(&self.upstream)
            .await;
    }

    async fn calls(&self) -> usize {
        self.upstream.received_requests().await.unwrap_or_default().len()
    }
}

#[tokio::test]
async fn readings_arrive_per_region_and_raise_the_risk_of_exposed_lines() {
    let h = Harness::new().await;
    h.upstream.reset().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .and(query_param("appid", KEY))
        .and(query_param("units", "metric"))
        .and(query_param("lat", "50.1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(weather(8.0, 18.0, 27.0)))
        .mount(&h.upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .and(query_param("lat", "48.0000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(weather(9.0, 3.0, 5.0)))
        .mount(&h.upstream)
        .await;
    let live = h.service(h.settings());
    assert_eq!(live.poll_once().await, Poll::Fetched("North".into()), "the larger region first");
    let status = live.status();
    assert_eq!(status.state.as_str(), "degraded", "South not read yet");
    assert_eq!(live.poll_once().await, Poll::Fetched("South".into()));
    let status = live.status();
    assert_eq!(status.state.as_str(), "healthy");
    assert_eq!(status.calls_last_hour, 2);
    assert!(status.last_error.is_none());
    assert!(matches!(live.poll_once().await, Poll::NothingDue(wait) if wait > Duration::from_secs(290)));
    assert_eq!(h.calls().await, 2, "fresh readings are not fetched again within the TTL");

    // Gusts of 27 m/s in North add (27 − 15) / 15 × 15 = 12 points to the northern line only.
    let snapshot = h.store.snapshot().await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let conditions = live.conditions();
    let calm = snapshot.risk_scores(today, &Default::default());
    let windy = snapshot.risk_scores(today, &conditions);
    let i = snapshot.index_of("line-n").unwrap();
    let explained = snapshot.risk_explained(i, today, &conditions);
    let wind = explained.factors.iter().find(|f| f.name == "wind").unwrap();
    assert!((wind.contribution - 12.0).abs() < 1e-9, "{wind:?}");
    assert_eq!(explained.score, windy.scores()[i], "the explanation adds up to the listed score");
    assert!((windy.scores()[i] - calm.scores()[i] - 12.0).abs() < 1e-9);
    let j = snapshot.index_of("line-s").unwrap();
    assert_eq!(windy.scores()[j], calm.scores()[j], "5 m/s in South adds nothing");
    assert_eq!(live.history(chrono::Utc::now() - chrono::TimeDelta::hours(1)).await.len(), 2);
}

#[tokio::test]
async fn a_429_is_honoured_with_its_retry_after_and_shown_as_rate_limited() {
    let h = Harness::new().await;
    h.answer(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "120")
            .set_body_json(serde_json::json!({"cod": 429, "message": "Your account is temporary blocked due to exceeding of requests limitation of your subscription type."})),
    )
    .await;
    let live = h.service(h.settings());
    assert_eq!(live.poll_once().await, Poll::Failed(UpstreamError::RateLimited { retry_after: Some(120) }));
    let held = live.poll_once().await;
    assert!(
        matches!(held, Poll::Held { reason: UpstreamError::RateLimited { .. }, wait } if wait > Duration::from_secs(115)),
        "{held:?}"
    );
    assert_eq!(h.calls().await, 1, "no call before Retry-After has passed");
    let error = live.status().last_error.unwrap();
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(error.retry_after_seconds, Some(120));
    assert_eq!(live.status().state.as_str(), "down", "no reading at all yet");
}

#[tokio::test]
async fn server_errors_open_the_circuit_and_a_successful_trial_closes_it() {
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(503).set_body_string("upstream overloaded")).await;
    let live = h.service(Settings { breaker_cooldown: Duration::from_secs(1), ..h.settings() });
    for _ in 0..3 {
        assert_eq!(live.poll_once().await, Poll::Failed(UpstreamError::Status(503)));
    }
    let held = live.poll_once().await;
    assert!(matches!(held, Poll::Held { reason: UpstreamError::CircuitOpen { .. }, .. }), "{held:?}");
    assert_eq!(h.calls().await, 3, "an open circuit makes no call");
    let error = live.status().last_error.unwrap();
    assert_eq!(error.code, ErrorCode::SourceUnavailable);
    assert!(error.message.contains("paused"), "{}", error.message);
    assert_eq!(error.retry_after_seconds, Some(1));

    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.answer(ResponseTemplate::new(200).set_body_json(weather(10.0, 4.0, 6.0))).await;
    assert_eq!(live.poll_once().await, Poll::Fetched("North".into()), "the trial call goes out");
    assert_eq!(live.poll_once().await, Poll::Fetched("South".into()), "and the circuit is closed again");
    assert_eq!(live.status().state.as_str(), "healthy");
    assert!(live.status().last_error.is_none());
}

#[tokio::test]
async fn a_slow_upstream_times_out_and_is_reported_unavailable() {
    let h = Harness::new().await;
    h.answer(
        ResponseTemplate::new(200).set_body_json(weather(10.0, 4.0, 6.0)).set_delay(Duration::from_secs(5)),
    )
    .await;
    let live = h.service(Settings { timeout: Duration::from_secs(1), ..h.settings() });
    let started = std::time::Instant::now();
    assert_eq!(live.poll_once().await, Poll::Failed(UpstreamError::Timeout(1)));
    assert!(started.elapsed() < Duration::from_secs(3), "the call is cut off at the timeout");
    let error = live.status().last_error.unwrap();
    assert_eq!(error.code, ErrorCode::SourceUnavailable);
    assert_eq!(error.retry_after_seconds, Some(60));
    assert!(live.conditions().readings.is_empty());
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_and_nothing_is_stored() {
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(200).set_body_string("{\"cod\":200, \"main\": {\"temp\": ")).await;
    let live = h.service(h.settings());
    let result = live.poll_once().await;
    assert!(matches!(result, Poll::Failed(UpstreamError::Malformed(_))), "{result:?}");
    let error = live.status().last_error.unwrap();
    assert_eq!(error.code, ErrorCode::SourceUnavailable);
    assert!(error.message.contains("could not be used"), "{}", error.message);
    assert_eq!(h.calls().await, 1);

    let mut huge = weather(10.0, 4.0, 6.0);
    huge["padding"] = serde_json::Value::String("x".repeat(200_000));
    h.answer(ResponseTemplate::new(200).set_body_json(huge)).await;
    assert_eq!(live.poll_once().await, Poll::Failed(UpstreamError::TooLarge(64 * 1024)));
    assert!(live.conditions().readings.is_empty());
    assert!(live.history(chrono::Utc::now() - chrono::TimeDelta::hours(1)).await.is_empty());
    assert_eq!(h.calls().await, 1, "one call since the stub changed");
}

#[tokio::test]
async fn the_hourly_quota_holds_calls_and_survives_a_restart() {
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(500)).await;
    let settings = Settings { hourly_quota: 2, breaker_cooldown: Duration::from_secs(1), ..h.settings() };
    let live = h.service(settings.clone());
    assert!(matches!(live.poll_once().await, Poll::Failed(_)));
    assert!(matches!(live.poll_once().await, Poll::Failed(_)));
    let held = live.poll_once().await;
    assert!(
        matches!(held, Poll::Held { reason: UpstreamError::QuotaExceeded { retry_after }, .. } if retry_after > 3500),
        "{held:?}"
    );
    let status = live.status();
    assert_eq!((status.calls_last_hour, status.hourly_quota), (2, 2));
    let error = status.last_error.unwrap();
    assert_eq!(error.code, ErrorCode::QuotaExceeded);
    assert!(error.retry_after_seconds.is_some_and(|s| s > 3500));
    drop(live);

    // A restart does not reset the count.
    let live = h.service(settings);
    assert_eq!(live.status().calls_last_hour, 2);
    let held = live.poll_once().await;
    assert!(matches!(held, Poll::Held { reason: UpstreamError::QuotaExceeded { .. }, .. }), "{held:?}");
    assert_eq!(h.calls().await, 2, "never more calls than the quota");
}

#[tokio::test]
async fn calls_are_paced_globally() {
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(200).set_body_json(weather(10.0, 4.0, 6.0))).await;
    let live = h.service(Settings { calls_per_minute: 1, ..h.settings() });
    assert_eq!(live.poll_once().await, Poll::Fetched("North".into()));
    let held = live.poll_once().await;
    assert!(matches!(held, Poll::Held { wait, .. } if wait > Duration::from_secs(50)), "{held:?}");
    assert_eq!(h.calls().await, 1, "one call a minute although South is due");
}

#[tokio::test]
async fn old_readings_turn_stale_and_stop_counting_for_risk() {
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(200).set_body_json(weather(10.0, 20.0, 30.0))).await;
    let live = h.service(Settings {
        ttl: Duration::from_secs(1),
        stale_after: Duration::from_secs(1),
        ..h.settings()
    });
    live.poll_once().await;
    live.poll_once().await;
    assert_eq!(live.status().state.as_str(), "healthy");
    assert_eq!(live.conditions().readings.len(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(live.status().state.as_str(), "stale");
    assert!(live.conditions().readings.is_empty(), "stale readings do not change risk scores");
    assert!(live.status().locations.iter().all(|l| l.reading.is_some()), "but they are still shown");
}

#[tokio::test]
async fn a_rejected_key_is_reported_without_the_key() {
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(401).set_body_json(serde_json::json!({
        "cod": 401, "message": "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."
    })))
    .await;
    let live = h.service(h.settings());
    assert_eq!(live.poll_once().await, Poll::Failed(UpstreamError::Rejected(401)));
    let status = live.status();
    let json = serde_json::to_string(&status).unwrap();
    assert!(json.contains("refused this server's key"), "{json}");
    assert!(!json.contains(KEY), "the key never appears in what the browser gets");
}

#[tokio::test]
async fn sample_mode_is_labelled_and_makes_no_network_call() {
    let h = Harness::new().await;
    let live = h.service(Settings { provider: Provider::Sample, ..h.settings() });
    assert_eq!(live.poll_once().await, Poll::Fetched("North".into()));
    let status = live.status();
    assert!(status.sample);
    assert_eq!(status.provider, "sample");
    assert!(status.locations[0].reading.as_ref().unwrap().sample);
    assert_eq!(h.calls().await, 0);
    let snapshot = h.store.snapshot().await.unwrap();
    let line = snapshot.risk_explained(
        snapshot.index_of("line-n").unwrap(),
        chrono::Utc::now().date_naive(),
        &live.conditions(),
    );
    let weather_factors: Vec<_> =
        line.factors.iter().filter(|f| ["wind", "heat", "ice"].contains(&f.name.as_str())).collect();
    assert_eq!(weather_factors.len(), 3);
    assert!(weather_factors.iter().all(|f| f.synthetic && f.explanation.contains("sample")));
}

#[tokio::test]
async fn the_server_function_and_readyz_report_the_state_end_to_end() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let h = Harness::new().await;
    h.answer(ResponseTemplate::new(200).set_body_json(weather(31.0, 4.0, 6.0))).await;
    let live = Arc::new(h.service(h.settings()));
    live.poll_once().await;
    let config =
        Config { data_dir: h.dir.path().join("data"), site_root: h.dir.path().into(), ..Config::default() };
    let app = server::http::router(server::http::AppState::with_live(config, h.store.clone(), live).unwrap());
    let request = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
        }
    };
    let body = request(
        Request::post("/api/live_conditions")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["state"], "degraded", "{json}");
    assert_eq!(json["locations"][0]["reading"]["temperature_c"], 31.0);
    assert_eq!(json["trend"].as_array().unwrap().len(), 1);
    let ready: serde_json::Value =
        serde_json::from_str(&request(Request::get("/readyz").body(Body::empty()).unwrap()).await).unwrap();
    assert_eq!(ready["live"]["state"], "degraded");
    assert_eq!(ready["live"]["calls_last_hour"], 1);
    assert!(ready["live"]["oldest_reading_age_seconds"].is_u64());
    assert!(!body.contains(KEY) && !ready.to_string().contains(KEY));
}
