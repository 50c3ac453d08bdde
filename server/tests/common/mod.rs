//! What several test files share.

use std::sync::Arc;

use app::domain::GridData;
use app::ports::GridStore;
use server::config::Config;

#[allow(dead_code)]
/// A fresh embedded store in a temporary folder, holding `grid` (the folder's `data/` is the
/// data dir, for the upstream services' databases too).
pub async fn store_with(grid: GridData) -> (tempfile::TempDir, Arc<dyn GridStore>) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
    let store = server::commands::open_store(&config).unwrap();
    store.replace_grid("test", grid).await.unwrap();
    (dir, store)
}

/// A real server on a loopback port (real TCP, so client addresses and connection timeouts
/// are real), over a fresh embedded store; stopped when dropped.
#[allow(dead_code)]
pub struct TestServer {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub accounts: Arc<server::auth::Accounts>,
    /// The server's grid store (to load a grid, as an import would).
    pub store: Arc<dyn GridStore>,
    pub dir: tempfile::TempDir,
    /// The admin listener (`/metrics`) when `GRIDSCOPE_METRICS_ADDR` is set (on a free port).
    pub admin_base: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[allow(dead_code)]
impl TestServer {
    /// Starts with these `GRIDSCOPE_*` variables on top of test defaults.
    pub async fn start(vars: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").to_string_lossy().into_owned();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("pkg")).unwrap();
        let mut all: Vec<(String, String)> = vec![
            ("GRIDSCOPE_DATA_DIR".into(), data),
            ("GRIDSCOPE_SITE_ROOT".into(), site.to_string_lossy().into_owned()),
            ("GRIDSCOPE_DEMO_GRID".into(), "none".into()),
        ];
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_vars(all).unwrap();
        let wants_admin = config.metrics_address().unwrap().is_some();
        let limits = server::http::serve::ConnectionLimits {
            grace: std::time::Duration::from_secs(1),
            ..server::http::serve::ConnectionLimits::from_config(&config)
        };
        let store = server::commands::open_store(&config).unwrap();
        let model = server::upstream::llm::start(&config, None).unwrap();
        let state = server::http::AppState::new(config, store).unwrap().with_model(model);
        let accounts = state.accounts.clone();
        let grid_store = state.store.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (admin_stop, admin_stopped) = tokio::sync::watch::channel(false);
        let mut admin_base = None;
        if wants_admin {
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            admin_base = Some(format!("http://{}", admin.local_addr().unwrap()));
            let app = server::http::admin_router(state.clone());
            let mut stopped = admin_stopped.clone();
            tokio::spawn(server::http::serve::serve(admin, app, limits.clone(), async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
        }
        let app = server::http::router(state);
        tokio::spawn(server::http::serve::serve(listener, app, limits, async move {
            let _ = stopped.await;
            let _ = admin_stop.send(true);
        }));
        TestServer {
            base: format!("http://{addr}"),
            addr,
            accounts,
            store: grid_store,
            dir,
            admin_base,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds an account directly (as `gridscope user add` does).
    pub async fn add_user(&self, name: &str, role: app::api::auth::Role, password: &str) {
        self.accounts.add(name, role, password, "test").await.unwrap();
    }

    /// POSTs a form to a server function, with a session cookie if given.
    pub async fn post(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
        post_form(&self.base, path, form, cookie).await
    }

    /// Signs in and returns the session cookie (`name=value`).
    pub async fn sign_in(&self, name: &str, password: &str) -> String {
        let response = self.post("/api/login", &[("username", name), ("password", password)], None).await;
        assert_eq!(response.status(), 200, "sign-in of {name} failed");
        session_cookie(&response).expect("a session cookie")
    }

    /// Who the server thinks the holder of `cookie` is.
    pub async fn whoami(&self, cookie: Option<&str>) -> app::api::auth::Principal {
        let response = self.post("/api/whoami", &[], cookie).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// POSTs a form to the server function at `base` + `path`, with a session cookie if given,
/// saying where it comes from (`Origin`) as every browser does.
#[allow(dead_code)]
pub async fn post_form(
    base: &str,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request = client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("origin", base)
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Runs `gridscope user add` (as prepared in `command`: binary, variables) for an account
/// with `password` typed on standard input.
#[allow(dead_code)]
pub fn add_user_by_cli(mut command: std::process::Command, name: &str, role: &str, password: &str) {
    use std::io::Write;
    use std::process::Stdio;
    let mut add = command
        .args(["user", "add", name, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    assert!(add.wait().unwrap().success(), "gridscope user add {name}");
}

/// A client that keeps no cookies and follows no redirects (tests handle both themselves).
#[allow(dead_code)]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The session cookie a response sets, as `name=value` (ready for a `Cookie` header).
#[allow(dead_code)]
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-gridscope=") || v.starts_with("gridscope_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[allow(dead_code)]
/// An Anthropic Messages stream writing `pieces`, reporting the given usage.
pub fn anthropic_stream(pieces: &[&str], input_tokens: u64, output_tokens: u64, stop: bool) -> String {
    let mut s = format!(
        "event: message_start\ndata: {}\n\n",
        serde_json::json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
            "content": [], "model": "claude-test", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})
    );
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    s.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
    for piece in pieces {
        s.push_str(&format!(
            "event: content_block_delta\ndata: {}\n\n",
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
        ));
    }
    if stop {
        s.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
        s.push_str(&format!(
            "event: message_delta\ndata: {}\n\n",
            serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}})
        ));
        s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }
    s
}

#[allow(dead_code)]
pub fn sse(body: String) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream; charset=utf-8")
}

/// A current-weather answer in OpenWeatherMap's documented format.
#[allow(dead_code)]
pub fn weather(temp: f64, wind: f64, gust: f64) -> serde_json::Value {
    serde_json::json!({
        "coord": {"lon": 7.76, "lat": 48.41},
        "weather": [{"id": 803, "main": "Clouds", "description": "broken clouds", "icon": "04d"}],
        "base": "stations",
        "main": {"temp": temp, "feels_like": temp - 2.0, "temp_min": temp - 1.0, "temp_max": temp + 1.0,
                 "pressure": 1012, "humidity": 71},
        "visibility": 10000,
        "wind": {"speed": wind, "deg": 240, "gust": gust},
        "clouds": {"all": 75},
        "dt": 1763971200,
        "sys": {"type": 2, "id": 2011, "country": "DE", "sunrise": 1763966000, "sunset": 1763998000},
        "timezone": 3600, "id": 2891802, "name": "Kehl", "cod": 200
    })
}

/// An OpenWeatherMap stub on `upstream`: every current-weather call answers 200 with
/// [`weather`].
#[allow(dead_code)]
pub async fn serve_weather(upstream: &wiremock::MockServer) {
    use wiremock::matchers::{method, path};
    wiremock::Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(weather(4.0, 6.0, 9.0)))
        .mount(upstream)
        .await;
}

/// Three buses in a row fed at b1 (line-1 b1–b2, line-2 b2–b3), 120 customers at b3.
#[allow(dead_code)]
pub fn small_grid() -> app::domain::GridData {
    let bus = |id: &str| app::domain::Asset::new(id, app::domain::AssetKind::Bus);
    app::domain::GridData {
        assets: vec![
            bus("b1"),
            bus("b2"),
            bus("b3"),
            app::domain::Asset {
                bus: Some("b1".into()),
                source: true,
                ..app::domain::Asset::new("g1", app::domain::AssetKind::Generator)
            },
            app::domain::Asset {
                from_bus: Some("b1".into()),
                to_bus: Some("b2".into()),
                condition: Some(30),
                ..app::domain::Asset::new("line-1", app::domain::AssetKind::Line)
            },
            app::domain::Asset {
                from_bus: Some("b2".into()),
                to_bus: Some("b3".into()),
                ..app::domain::Asset::new("line-2", app::domain::AssetKind::Line)
            },
            app::domain::Asset {
                bus: Some("b3".into()),
                customers: Some(120),
                ..app::domain::Asset::new("load-3", app::domain::AssetKind::Load)
            },
        ],
        ..Default::default()
    }
}

/// Writes stand-ins for the browser bundle into `pkg`, under the names the built `gridscope`
/// binary looks for (content-hashed when a release build left `hash.txt` beside it), so that
/// its readiness depends on the store alone.
#[allow(dead_code)]
pub fn write_bundle_for_binary(pkg: &std::path::Path) {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_gridscope"));
    std::fs::create_dir_all(pkg).unwrap();
    for file in server::http::bundle::bundle_files_for(binary.parent().unwrap()) {
        std::fs::write(pkg.join(file), b"x").unwrap();
    }
}
