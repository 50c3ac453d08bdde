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
    pub dir: tempfile::TempDir,
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
        let limits = server::http::serve::ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(config.header_timeout_seconds),
            grace: std::time::Duration::from_secs(1),
        };
        let store = server::commands::open_store(&config).unwrap();
        let model = server::upstream::llm::start(&config).unwrap();
        let state = server::http::AppState::new(config, store).unwrap().with_model(model);
        let accounts = state.accounts.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = server::http::router(state);
        tokio::spawn(server::http::serve::serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        TestServer { base: format!("http://{addr}"), addr, accounts, dir, stop: Some(stop) }
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
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = client()
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
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
