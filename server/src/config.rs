//! Typed configuration, read from `GRIDSCOPE_*` environment variables and validated once at
//! start, so a bad value stops the process with a message naming the variable instead of
//! failing later at the first request.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::Serialized;
use figment::value::Value;
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The prefix of every variable the server reads.
pub const ENV_PREFIX: &str = "GRIDSCOPE_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Which `GridStore` the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreChoice {
    /// Neo4j when `GRIDSCOPE_NEO4J_URI` is set, the embedded store otherwise.
    Auto,
    Embedded,
    Neo4j,
}

/// Which live-conditions provider the server polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveProviderChoice {
    /// OpenWeatherMap when `GRIDSCOPE_LIVE_API_KEY` is set, none otherwise.
    Auto,
    Off,
    Openweathermap,
    /// Made-up readings, labelled "sample" wherever shown. Never chosen implicitly.
    Sample,
}

/// Which language model answers the analyst's questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProviderChoice {
    /// Anthropic when `GRIDSCOPE_LLM_API_KEY` is set, none (the offline analyst) otherwise.
    Auto,
    Off,
    Anthropic,
    /// Any OpenAI-compatible chat completions API: OpenAI, Groq, a local server.
    Openai,
}

/// A secret read from the environment or a secret file: never printed (`Debug` shows
/// `[redacted]`), never serialised, and only exposed where it is used.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Some(SecretString::from(value.into())))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    pub fn expose(&self) -> &str {
        self.0.as_ref().map_or("", |s| s.expose_secret())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() { "[redacted]" } else { "[not set]" })
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `GRIDSCOPE_ADDR`: the address and port to listen on.
    pub addr: SocketAddr,
    /// `GRIDSCOPE_SITE_ROOT`: the folder with the built site (`pkg/`, favicon, manifest).
    pub site_root: PathBuf,
    /// `GRIDSCOPE_LOG_FORMAT`: `json` or `text`.
    pub log_format: LogFormat,
    /// `GRIDSCOPE_LOG_LEVEL`: a tracing filter such as `info` or `info,server=debug`.
    pub log_level: String,
    /// `GRIDSCOPE_SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may take to finish
    /// after SIGINT/SIGTERM before the process exits anyway.
    pub shutdown_grace_seconds: u64,
    /// `GRIDSCOPE_DATA_DIR`: where the embedded store keeps its database file.
    pub data_dir: PathBuf,
    /// `GRIDSCOPE_DEMO_GRID`: a grid (interchange folder) loaded at start when the store is
    /// empty; `none` to start empty.
    pub demo_grid: String,
    /// `GRIDSCOPE_CURRENCY`: the currency of budgets and costs in the maintenance planner
    /// (a code or symbol of up to 8 characters, shown beside every amount).
    pub currency: String,
    /// `GRIDSCOPE_HOLIDAYS`: days crews do not work besides weekends, comma-separated:
    /// `MM-DD` every year, `YYYY-MM-DD` once; empty for none.
    pub holidays: String,
    /// `GRIDSCOPE_STORE`: `auto`, `embedded` or `neo4j`.
    pub store: StoreChoice,
    /// `GRIDSCOPE_STORE_RECHECK_MILLIS`: how often reads check the stored revision, i.e. how
    /// soon a write by another process or instance is seen (0: on every read).
    pub store_recheck_millis: u64,
    /// `GRIDSCOPE_NEO4J_URI`: Bolt URI, e.g. `bolt://127.0.0.1:7687` or `neo4j+s://….databases.neo4j.io`.
    pub neo4j_uri: Option<String>,
    /// `GRIDSCOPE_NEO4J_USER`.
    pub neo4j_user: String,
    /// `GRIDSCOPE_NEO4J_PASSWORD` or the first line of the file `GRIDSCOPE_NEO4J_PASSWORD_FILE`.
    #[serde(skip)]
    pub neo4j_password: Secret,
    /// `GRIDSCOPE_NEO4J_DATABASE`.
    pub neo4j_database: String,
    /// `GRIDSCOPE_NEO4J_MAX_CONNECTIONS`: connection pool size.
    pub neo4j_max_connections: usize,
    /// `GRIDSCOPE_NEO4J_FETCH_SIZE`: records per fetch when streaming results.
    pub neo4j_fetch_size: usize,
    /// `GRIDSCOPE_NEO4J_TIMEOUT_SECONDS`: limit for every read and ping.
    pub neo4j_timeout_seconds: u64,
    /// `GRIDSCOPE_NEO4J_IMPORT_TIMEOUT_SECONDS`: limit for loading or replacing a whole grid.
    pub neo4j_import_timeout_seconds: u64,
    /// `GRIDSCOPE_LIVE_PROVIDER`: `auto`, `off`, `openweathermap` or `sample`.
    pub live_provider: LiveProviderChoice,
    /// `GRIDSCOPE_LIVE_API_KEY` or the first line of the file `GRIDSCOPE_LIVE_API_KEY_FILE`.
    #[serde(skip)]
    pub live_api_key: Secret,
    /// `GRIDSCOPE_LIVE_BASE_URL`: the provider's API root.
    pub live_base_url: String,
    /// `GRIDSCOPE_LIVE_CALLS_PER_MINUTE`: global pace of upstream calls.
    pub live_calls_per_minute: u32,
    /// `GRIDSCOPE_LIVE_HOURLY_QUOTA`: most upstream calls in any 60 minutes (kept across restarts).
    pub live_hourly_quota: u32,
    /// `GRIDSCOPE_LIVE_TTL_SECONDS`: a location's reading is not fetched again while younger.
    pub live_ttl_seconds: u64,
    /// `GRIDSCOPE_LIVE_STALE_SECONDS`: a reading older than this is stale (shown, not used for risk).
    pub live_stale_seconds: u64,
    /// `GRIDSCOPE_LIVE_TIMEOUT_SECONDS`: limit for one upstream call.
    pub live_timeout_seconds: u64,
    /// `GRIDSCOPE_LIVE_HISTORY_DAYS`: how long readings are kept for the trend.
    pub live_history_days: u32,
    /// `GRIDSCOPE_LIVE_BREAKER_COOLDOWN_SECONDS`: pause after 3 failures in a row.
    pub live_breaker_cooldown_seconds: u64,
    /// `GRIDSCOPE_LLM_PROVIDER`: `auto`, `off`, `anthropic` or `openai` (OpenAI-compatible).
    pub llm_provider: LlmProviderChoice,
    /// `GRIDSCOPE_LLM_API_KEY` or the first line of the file `GRIDSCOPE_LLM_API_KEY_FILE`.
    #[serde(skip)]
    pub llm_api_key: Secret,
    /// `GRIDSCOPE_LLM_BASE_URL`: the API root; empty for the provider's own.
    pub llm_base_url: String,
    /// `GRIDSCOPE_LLM_MODEL`: the model name; empty for the provider's default.
    pub llm_model: String,
    /// `GRIDSCOPE_LLM_MAX_ANSWER_TOKENS`: longest answer asked for.
    pub llm_max_answer_tokens: u32,
    /// `GRIDSCOPE_LLM_TIMEOUT_SECONDS`: limit for an answer to start and for each pause in it
    /// (a whole answer gets four times this).
    pub llm_timeout_seconds: u64,
    /// `GRIDSCOPE_LLM_MAX_RETRIES`: retries of a failed call (429, 5xx, timeout) before any text.
    pub llm_max_retries: u32,
    /// `GRIDSCOPE_LLM_DAILY_TOKEN_BUDGET`: most tokens (question + answer) per UTC day.
    pub llm_daily_token_budget: u64,
    /// `GRIDSCOPE_LLM_REQUESTS_PER_MINUTE`: global pace of calls to the provider.
    pub llm_requests_per_minute: u32,
    /// `GRIDSCOPE_LLM_CLIENT_REQUESTS_PER_HOUR`: questions one client may ask per hour.
    pub llm_client_requests_per_hour: u32,
    /// `GRIDSCOPE_LLM_CACHE_TTL_SECONDS`: identical questions about the same grid state are
    /// answered from the cache this long.
    pub llm_cache_ttl_seconds: u64,
    /// `GRIDSCOPE_LLM_BREAKER_COOLDOWN_SECONDS`: pause after 3 failed calls in a row.
    pub llm_breaker_cooldown_seconds: u64,
    /// `GRIDSCOPE_COOKIE_SECURE`: `true` (the default) sends the session cookie only over HTTPS, as
    /// `__Host-gridscope`. `false` is for plain-HTTP development on a loopback address only.
    pub cookie_secure: bool,
    /// `GRIDSCOPE_SESSION_IDLE_SECONDS`: a session unused this long ends.
    pub session_idle_seconds: u64,
    /// `GRIDSCOPE_SESSION_MAX_SECONDS`: a session ends this long after sign-in, used or not.
    pub session_max_seconds: u64,
    /// `GRIDSCOPE_TRUSTED_PROXIES`: comma-separated addresses or networks (CIDR) of reverse
    /// proxies whose `X-Forwarded-For` names the client; empty: the TCP peer is the client.
    pub trusted_proxies: String,
    /// `GRIDSCOPE_PUBLIC_HOSTS`: comma-separated host names (or addresses) the site is reached
    /// by, beside the loopback names that always work; a request for any other host is refused
    /// (421), so a DNS-rebinding page cannot talk to the server. `*` accepts every host.
    pub public_hosts: String,
    /// `GRIDSCOPE_RATE_CLIENT_PER_SECOND`: sustained requests per second per client (account
    /// when signed in, else address), every route but static files and health checks.
    pub rate_client_per_second: u32,
    /// `GRIDSCOPE_RATE_CLIENT_BURST`: requests a client may send at once before the rate applies.
    pub rate_client_burst: u32,
    /// `GRIDSCOPE_RATE_LOGIN_PER_MINUTE`: sign-in attempts per minute per client.
    pub rate_login_per_minute: u32,
    /// `GRIDSCOPE_RATE_EXPENSIVE_PER_MINUTE`: calls per minute per client of the costly server
    /// functions (analyst, N-1, impact, maintenance plan) and exports.
    pub rate_expensive_per_minute: u32,
    /// `GRIDSCOPE_RATE_GLOBAL_PER_SECOND`: requests per second from all clients together.
    pub rate_global_per_second: u32,
    /// `GRIDSCOPE_MAX_BODY_BYTES`: largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// `GRIDSCOPE_HEADER_TIMEOUT_SECONDS`: a client must send its request headers within this.
    pub header_timeout_seconds: u64,
    /// `GRIDSCOPE_BODY_TIMEOUT_SECONDS`: a client must send its request body within this (408).
    pub body_timeout_seconds: u64,
    /// `GRIDSCOPE_REQUEST_TIMEOUT_SECONDS`: a response must start within this (503), and its body
    /// may not stall for longer.
    pub request_timeout_seconds: u64,
    /// `GRIDSCOPE_MAX_CONCURRENT_REQUESTS`: requests handled at once; more are shed (503).
    pub max_concurrent_requests: usize,
    /// `GRIDSCOPE_MAX_CONNECTIONS_PER_CLIENT`: connections one client address may hold open at
    /// once (trusted proxies excepted); more are closed as they arrive.
    pub max_connections_per_client: usize,
    /// `GRIDSCOPE_LOGIN_MAX_FAILURES`: failed sign-ins of one name from one address before that
    /// name waits there (doubling per further failure; never an account lock).
    pub login_max_failures: u32,
    /// `GRIDSCOPE_LOGIN_CLIENT_MAX_FAILURES`: failed sign-ins from one address before it may sign
    /// in only to names known from it, for `GRIDSCOPE_LOGIN_LOCK_SECONDS` × 15 (≤ 15 min).
    pub login_client_max_failures: u32,
    /// `GRIDSCOPE_LOGIN_LOCK_SECONDS`: the first wait of a name at an address; each further
    /// failure there doubles it (at most 15 minutes).
    pub login_lock_seconds: u64,
    /// `GRIDSCOPE_METRICS_ADDR`: address of the admin listener serving `/metrics`, `/healthz`
    /// and `/readyz` (never on the public address); empty: no admin listener.
    pub metrics_addr: String,
    /// `GRIDSCOPE_METRICS_TOKEN` or the first line of the file `GRIDSCOPE_METRICS_TOKEN_FILE`:
    /// the bearer token `/metrics` requires. Required when the admin address is not loopback.
    #[serde(skip)]
    pub metrics_token: Secret,
    /// `GRIDSCOPE_BACKUP_DIR`: where scheduled backups are written (default: `backups` inside
    /// `GRIDSCOPE_DATA_DIR`; put it on another disk in production).
    pub backup_dir: String,
    /// `GRIDSCOPE_BACKUP_INTERVAL_SECONDS`: time between scheduled backups while serving;
    /// 0 turns them off.
    pub backup_interval_seconds: u64,
    /// `GRIDSCOPE_BACKUP_KEEP`: how many scheduled backups to keep (the oldest are deleted).
    pub backup_keep: u32,
    /// `GRIDSCOPE_REDIS_URL` or the first line of the file `GRIDSCOPE_REDIS_URL_FILE`:
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). Set, the state that
    /// several instances must share lives there (sessions); unset, everything stays in the
    /// process and its data folder. A secret: it may carry the password.
    #[serde(skip)]
    pub redis_url: Secret,
    /// `GRIDSCOPE_REDIS_TIMEOUT_MILLIS`: limit for connecting to Redis and for each command.
    pub redis_timeout_millis: u64,
    /// `GRIDSCOPE_LEASE_SECONDS`: with Redis, how long the instance running the background
    /// work (live poller, scheduled backups) holds it without renewing; another instance
    /// takes over within this time after it stops.
    pub lease_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: PathBuf::from("target/site"),
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            shutdown_grace_seconds: 20,
            data_dir: PathBuf::from("data/local"),
            demo_grid: "data/grids/mv_oberrhein".to_owned(),
            currency: "EUR".to_owned(),
            holidays: app::domain::planner::Holidays::DEFAULT.to_owned(),
            store: StoreChoice::Auto,
            store_recheck_millis: 1000,
            neo4j_uri: None,
            neo4j_user: "neo4j".to_owned(),
            neo4j_password: Secret::default(),
            neo4j_database: "neo4j".to_owned(),
            neo4j_max_connections: 16,
            neo4j_fetch_size: 500,
            neo4j_timeout_seconds: 5,
            neo4j_import_timeout_seconds: 600,
            live_provider: LiveProviderChoice::Auto,
            live_api_key: Secret::default(),
            live_base_url: "https://api.openweathermap.org".to_owned(),
            live_calls_per_minute: 1,
            live_hourly_quota: 50,
            live_ttl_seconds: 300,
            live_stale_seconds: 1800,
            live_timeout_seconds: 10,
            live_history_days: 7,
            live_breaker_cooldown_seconds: 300,
            llm_provider: LlmProviderChoice::Auto,
            llm_api_key: Secret::default(),
            llm_base_url: String::new(),
            llm_model: String::new(),
            llm_max_answer_tokens: 600,
            llm_timeout_seconds: 30,
            llm_max_retries: 2,
            llm_daily_token_budget: 200_000,
            llm_requests_per_minute: 20,
            llm_client_requests_per_hour: 30,
            llm_cache_ttl_seconds: 600,
            llm_breaker_cooldown_seconds: 120,
            cookie_secure: true,
            session_idle_seconds: 1800,
            session_max_seconds: 43_200,
            trusted_proxies: String::new(),
            public_hosts: String::new(),
            // Sized for 50 phones behind one address (a carrier's NAT, a control room), each
            // browsing at up to about one request a second in bursts of ten: the reasoning is in
            // docs/operations.md ("Rate limits"). Static files and health checks spend nothing.
            rate_client_per_second: 100,
            rate_client_burst: 500,
            rate_login_per_minute: 30,
            rate_expensive_per_minute: 300,
            rate_global_per_second: 20000,
            max_body_bytes: 1_048_576,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            request_timeout_seconds: 30,
            max_concurrent_requests: 1024,
            max_connections_per_client: 512,
            login_max_failures: 5,
            login_client_max_failures: 20,
            login_lock_seconds: 60,
            metrics_addr: String::new(),
            metrics_token: Secret::default(),
            backup_dir: String::new(),
            backup_interval_seconds: 86_400,
            backup_keep: 7,
            redis_url: Secret::default(),
            redis_timeout_millis: 1_000,
            lease_seconds: 15,
        }
    }
}

/// A configuration problem, worded for the person starting the server.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration:\n{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// The variables this server reads, for the docs and for checks that they stay documented.
pub const VARIABLES: &[&str] = &[
    "GRIDSCOPE_ADDR",
    "GRIDSCOPE_SITE_ROOT",
    "GRIDSCOPE_LOG_FORMAT",
    "GRIDSCOPE_LOG_LEVEL",
    "GRIDSCOPE_SHUTDOWN_GRACE_SECONDS",
    "GRIDSCOPE_DATA_DIR",
    "GRIDSCOPE_DEMO_GRID",
    "GRIDSCOPE_STORE",
    "GRIDSCOPE_STORE_RECHECK_MILLIS",
    "GRIDSCOPE_NEO4J_URI",
    "GRIDSCOPE_NEO4J_USER",
    "GRIDSCOPE_NEO4J_PASSWORD",
    "GRIDSCOPE_NEO4J_PASSWORD_FILE",
    "GRIDSCOPE_NEO4J_DATABASE",
    "GRIDSCOPE_NEO4J_MAX_CONNECTIONS",
    "GRIDSCOPE_NEO4J_FETCH_SIZE",
    "GRIDSCOPE_NEO4J_TIMEOUT_SECONDS",
    "GRIDSCOPE_NEO4J_IMPORT_TIMEOUT_SECONDS",
    "GRIDSCOPE_LIVE_PROVIDER",
    "GRIDSCOPE_LIVE_API_KEY",
    "GRIDSCOPE_LIVE_API_KEY_FILE",
    "GRIDSCOPE_LIVE_BASE_URL",
    "GRIDSCOPE_LIVE_CALLS_PER_MINUTE",
    "GRIDSCOPE_LIVE_HOURLY_QUOTA",
    "GRIDSCOPE_LIVE_TTL_SECONDS",
    "GRIDSCOPE_LIVE_STALE_SECONDS",
    "GRIDSCOPE_LIVE_TIMEOUT_SECONDS",
    "GRIDSCOPE_LIVE_HISTORY_DAYS",
    "GRIDSCOPE_LIVE_BREAKER_COOLDOWN_SECONDS",
    "GRIDSCOPE_LLM_PROVIDER",
    "GRIDSCOPE_LLM_API_KEY",
    "GRIDSCOPE_LLM_API_KEY_FILE",
    "GRIDSCOPE_LLM_BASE_URL",
    "GRIDSCOPE_LLM_MODEL",
    "GRIDSCOPE_LLM_MAX_ANSWER_TOKENS",
    "GRIDSCOPE_LLM_TIMEOUT_SECONDS",
    "GRIDSCOPE_LLM_MAX_RETRIES",
    "GRIDSCOPE_LLM_DAILY_TOKEN_BUDGET",
    "GRIDSCOPE_LLM_REQUESTS_PER_MINUTE",
    "GRIDSCOPE_LLM_CLIENT_REQUESTS_PER_HOUR",
    "GRIDSCOPE_LLM_CACHE_TTL_SECONDS",
    "GRIDSCOPE_LLM_BREAKER_COOLDOWN_SECONDS",
    "GRIDSCOPE_COOKIE_SECURE",
    "GRIDSCOPE_SESSION_IDLE_SECONDS",
    "GRIDSCOPE_SESSION_MAX_SECONDS",
    "GRIDSCOPE_TRUSTED_PROXIES",
    "GRIDSCOPE_PUBLIC_HOSTS",
    "GRIDSCOPE_CURRENCY",
    "GRIDSCOPE_HOLIDAYS",
    "GRIDSCOPE_RATE_CLIENT_PER_SECOND",
    "GRIDSCOPE_RATE_CLIENT_BURST",
    "GRIDSCOPE_RATE_LOGIN_PER_MINUTE",
    "GRIDSCOPE_RATE_EXPENSIVE_PER_MINUTE",
    "GRIDSCOPE_RATE_GLOBAL_PER_SECOND",
    "GRIDSCOPE_MAX_BODY_BYTES",
    "GRIDSCOPE_HEADER_TIMEOUT_SECONDS",
    "GRIDSCOPE_BODY_TIMEOUT_SECONDS",
    "GRIDSCOPE_REQUEST_TIMEOUT_SECONDS",
    "GRIDSCOPE_MAX_CONCURRENT_REQUESTS",
    "GRIDSCOPE_MAX_CONNECTIONS_PER_CLIENT",
    "GRIDSCOPE_LOGIN_MAX_FAILURES",
    "GRIDSCOPE_LOGIN_CLIENT_MAX_FAILURES",
    "GRIDSCOPE_LOGIN_LOCK_SECONDS",
    "GRIDSCOPE_METRICS_ADDR",
    "GRIDSCOPE_METRICS_TOKEN",
    "GRIDSCOPE_METRICS_TOKEN_FILE",
    "GRIDSCOPE_BACKUP_DIR",
    "GRIDSCOPE_BACKUP_INTERVAL_SECONDS",
    "GRIDSCOPE_BACKUP_KEEP",
    "GRIDSCOPE_REDIS_URL",
    "GRIDSCOPE_REDIS_URL_FILE",
    "GRIDSCOPE_REDIS_TIMEOUT_MILLIS",
    "GRIDSCOPE_LEASE_SECONDS",
];

/// Variables holding secrets: read directly, never through the typed layer or into logs.
const SECRET_VARIABLES: &[&str] = &[
    "GRIDSCOPE_NEO4J_PASSWORD",
    "GRIDSCOPE_NEO4J_PASSWORD_FILE",
    "GRIDSCOPE_LIVE_API_KEY",
    "GRIDSCOPE_LIVE_API_KEY_FILE",
    "GRIDSCOPE_LLM_API_KEY",
    "GRIDSCOPE_LLM_API_KEY_FILE",
    "GRIDSCOPE_METRICS_TOKEN",
    "GRIDSCOPE_METRICS_TOKEN_FILE",
    "GRIDSCOPE_REDIS_URL",
    "GRIDSCOPE_REDIS_URL_FILE",
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the given variables (only those with the `GRIDSCOPE_` prefix that this server
    /// knows; others, such as the test tooling's, are left alone).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut secrets: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for (name, value) in vars {
            if SECRET_VARIABLES.contains(&name.as_str()) {
                secrets.insert(name, value);
            } else if VARIABLES.contains(&name.as_str()) {
                let key = name[ENV_PREFIX.len()..].to_ascii_lowercase();
                figment = figment
                    .merge(Serialized::default(&key, value.parse::<Value>().unwrap_or(Value::from(value))));
            }
        }
        // Field by field, so that every bad variable is reported at once.
        let mut p = Vec::new();
        let d = Config::default();
        let config = Config {
            addr: typed(&figment, "addr", &mut p).unwrap_or(d.addr),
            site_root: typed(&figment, "site_root", &mut p).unwrap_or(d.site_root),
            log_format: typed(&figment, "log_format", &mut p).unwrap_or(d.log_format),
            log_level: typed(&figment, "log_level", &mut p).unwrap_or(d.log_level),
            shutdown_grace_seconds: typed(&figment, "shutdown_grace_seconds", &mut p)
                .unwrap_or(d.shutdown_grace_seconds),
            data_dir: typed(&figment, "data_dir", &mut p).unwrap_or(d.data_dir),
            demo_grid: typed(&figment, "demo_grid", &mut p).unwrap_or(d.demo_grid),
            currency: typed(&figment, "currency", &mut p).unwrap_or(d.currency),
            holidays: typed(&figment, "holidays", &mut p).unwrap_or(d.holidays),
            store: typed(&figment, "store", &mut p).unwrap_or(d.store),
            store_recheck_millis: typed(&figment, "store_recheck_millis", &mut p)
                .unwrap_or(d.store_recheck_millis),
            neo4j_uri: typed::<Option<String>>(&figment, "neo4j_uri", &mut p)
                .unwrap_or(d.neo4j_uri)
                .filter(|u| !u.trim().is_empty()),
            neo4j_user: typed(&figment, "neo4j_user", &mut p).unwrap_or(d.neo4j_user),
            neo4j_password: read_secret(&secrets, "GRIDSCOPE_NEO4J_PASSWORD", &mut p).unwrap_or_default(),
            neo4j_database: typed(&figment, "neo4j_database", &mut p).unwrap_or(d.neo4j_database),
            neo4j_max_connections: typed(&figment, "neo4j_max_connections", &mut p)
                .unwrap_or(d.neo4j_max_connections),
            neo4j_fetch_size: typed(&figment, "neo4j_fetch_size", &mut p).unwrap_or(d.neo4j_fetch_size),
            neo4j_timeout_seconds: typed(&figment, "neo4j_timeout_seconds", &mut p)
                .unwrap_or(d.neo4j_timeout_seconds),
            neo4j_import_timeout_seconds: typed(&figment, "neo4j_import_timeout_seconds", &mut p)
                .unwrap_or(d.neo4j_import_timeout_seconds),
            live_provider: typed(&figment, "live_provider", &mut p).unwrap_or(d.live_provider),
            live_api_key: read_secret(&secrets, "GRIDSCOPE_LIVE_API_KEY", &mut p).unwrap_or_default(),
            live_base_url: typed(&figment, "live_base_url", &mut p).unwrap_or(d.live_base_url),
            live_calls_per_minute: typed(&figment, "live_calls_per_minute", &mut p)
                .unwrap_or(d.live_calls_per_minute),
            live_hourly_quota: typed(&figment, "live_hourly_quota", &mut p).unwrap_or(d.live_hourly_quota),
            live_ttl_seconds: typed(&figment, "live_ttl_seconds", &mut p).unwrap_or(d.live_ttl_seconds),
            live_stale_seconds: typed(&figment, "live_stale_seconds", &mut p).unwrap_or(d.live_stale_seconds),
            live_timeout_seconds: typed(&figment, "live_timeout_seconds", &mut p)
                .unwrap_or(d.live_timeout_seconds),
            live_history_days: typed(&figment, "live_history_days", &mut p).unwrap_or(d.live_history_days),
            live_breaker_cooldown_seconds: typed(&figment, "live_breaker_cooldown_seconds", &mut p)
                .unwrap_or(d.live_breaker_cooldown_seconds),
            llm_provider: typed(&figment, "llm_provider", &mut p).unwrap_or(d.llm_provider),
            llm_api_key: read_secret(&secrets, "GRIDSCOPE_LLM_API_KEY", &mut p).unwrap_or_default(),
            llm_base_url: typed(&figment, "llm_base_url", &mut p).unwrap_or(d.llm_base_url),
            llm_model: typed(&figment, "llm_model", &mut p).unwrap_or(d.llm_model),
            llm_max_answer_tokens: typed(&figment, "llm_max_answer_tokens", &mut p)
                .unwrap_or(d.llm_max_answer_tokens),
            llm_timeout_seconds: typed(&figment, "llm_timeout_seconds", &mut p)
                .unwrap_or(d.llm_timeout_seconds),
            llm_max_retries: typed(&figment, "llm_max_retries", &mut p).unwrap_or(d.llm_max_retries),
            llm_daily_token_budget: typed(&figment, "llm_daily_token_budget", &mut p)
                .unwrap_or(d.llm_daily_token_budget),
            llm_requests_per_minute: typed(&figment, "llm_requests_per_minute", &mut p)
                .unwrap_or(d.llm_requests_per_minute),
            llm_client_requests_per_hour: typed(&figment, "llm_client_requests_per_hour", &mut p)
                .unwrap_or(d.llm_client_requests_per_hour),
            llm_cache_ttl_seconds: typed(&figment, "llm_cache_ttl_seconds", &mut p)
                .unwrap_or(d.llm_cache_ttl_seconds),
            llm_breaker_cooldown_seconds: typed(&figment, "llm_breaker_cooldown_seconds", &mut p)
                .unwrap_or(d.llm_breaker_cooldown_seconds),
            cookie_secure: typed(&figment, "cookie_secure", &mut p).unwrap_or(d.cookie_secure),
            session_idle_seconds: typed(&figment, "session_idle_seconds", &mut p)
                .unwrap_or(d.session_idle_seconds),
            session_max_seconds: typed(&figment, "session_max_seconds", &mut p)
                .unwrap_or(d.session_max_seconds),
            trusted_proxies: typed(&figment, "trusted_proxies", &mut p).unwrap_or(d.trusted_proxies),
            public_hosts: typed(&figment, "public_hosts", &mut p).unwrap_or(d.public_hosts),
            rate_client_per_second: typed(&figment, "rate_client_per_second", &mut p)
                .unwrap_or(d.rate_client_per_second),
            rate_client_burst: typed(&figment, "rate_client_burst", &mut p).unwrap_or(d.rate_client_burst),
            rate_login_per_minute: typed(&figment, "rate_login_per_minute", &mut p)
                .unwrap_or(d.rate_login_per_minute),
            rate_expensive_per_minute: typed(&figment, "rate_expensive_per_minute", &mut p)
                .unwrap_or(d.rate_expensive_per_minute),
            rate_global_per_second: typed(&figment, "rate_global_per_second", &mut p)
                .unwrap_or(d.rate_global_per_second),
            max_body_bytes: typed(&figment, "max_body_bytes", &mut p).unwrap_or(d.max_body_bytes),
            header_timeout_seconds: typed(&figment, "header_timeout_seconds", &mut p)
                .unwrap_or(d.header_timeout_seconds),
            body_timeout_seconds: typed(&figment, "body_timeout_seconds", &mut p)
                .unwrap_or(d.body_timeout_seconds),
            request_timeout_seconds: typed(&figment, "request_timeout_seconds", &mut p)
                .unwrap_or(d.request_timeout_seconds),
            max_concurrent_requests: typed(&figment, "max_concurrent_requests", &mut p)
                .unwrap_or(d.max_concurrent_requests),
            max_connections_per_client: typed(&figment, "max_connections_per_client", &mut p)
                .unwrap_or(d.max_connections_per_client),
            login_max_failures: typed(&figment, "login_max_failures", &mut p).unwrap_or(d.login_max_failures),
            login_client_max_failures: typed(&figment, "login_client_max_failures", &mut p)
                .unwrap_or(d.login_client_max_failures),
            login_lock_seconds: typed(&figment, "login_lock_seconds", &mut p).unwrap_or(d.login_lock_seconds),
            metrics_addr: typed(&figment, "metrics_addr", &mut p).unwrap_or(d.metrics_addr),
            metrics_token: read_secret(&secrets, "GRIDSCOPE_METRICS_TOKEN", &mut p).unwrap_or_default(),
            backup_dir: typed(&figment, "backup_dir", &mut p).unwrap_or(d.backup_dir),
            backup_interval_seconds: typed(&figment, "backup_interval_seconds", &mut p)
                .unwrap_or(d.backup_interval_seconds),
            backup_keep: typed(&figment, "backup_keep", &mut p).unwrap_or(d.backup_keep),
            redis_url: read_secret(&secrets, "GRIDSCOPE_REDIS_URL", &mut p).unwrap_or_default(),
            redis_timeout_millis: typed(&figment, "redis_timeout_millis", &mut p)
                .unwrap_or(d.redis_timeout_millis),
            lease_seconds: typed(&figment, "lease_seconds", &mut p).unwrap_or(d.lease_seconds),
        };
        if !p.is_empty() {
            return Err(ConfigError { problems: p });
        }
        config.validate()?;
        Ok(config)
    }

    /// The reverse proxies trusted to report the client's address.
    pub fn trusted_proxy_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("'{item}' is not an IP address or CIDR network"))
            })
            .collect()
    }

    /// The host names requests may name (lower case, without port), the loopback names first;
    /// `None` when every host is accepted (`*`).
    pub fn allowed_hosts(&self) -> Result<Option<Vec<String>>, String> {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
        for item in self.public_hosts.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            if item == "*" {
                return Ok(None);
            }
            let host = item.to_ascii_lowercase();
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
            if host.len() > 253 || !host.chars().all(plain) {
                return Err(format!("'{item}' is not a host name or address"));
            }
            hosts.push(host);
        }
        Ok(Some(hosts))
    }

    /// The maintenance planner's currency and holidays.
    pub fn plan_settings(&self) -> Result<app::api::maintenance::PlanSettings, String> {
        let currency = self.currency.trim();
        if currency.is_empty() || currency.chars().count() > 8 || currency.chars().any(char::is_control) {
            return Err(format!(
                "GRIDSCOPE_CURRENCY: '{}' is not a currency code or symbol of 1 to 8 characters",
                currency.chars().take(20).collect::<String>()
            ));
        }
        let holidays = app::domain::planner::Holidays::parse(&self.holidays)
            .map_err(|e| format!("GRIDSCOPE_HOLIDAYS: {e}"))?;
        Ok(app::api::maintenance::PlanSettings { currency: currency.to_owned(), holidays })
    }

    /// The admin listener's address, if one is configured.
    pub fn metrics_address(&self) -> Result<Option<SocketAddr>, String> {
        let v = self.metrics_addr.trim();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).map_err(|_| format!("'{v}' is not an address such as 127.0.0.1:9464"))
    }

    /// Where scheduled backups go.
    pub fn backup_directory(&self) -> PathBuf {
        match self.backup_dir.trim() {
            "" => self.data_dir.join("backups"),
            dir => PathBuf::from(dir),
        }
    }

    /// The demo grid to load into an empty store, unless turned off.
    pub fn demo_grid_path(&self) -> Option<PathBuf> {
        let v = self.demo_grid.trim();
        (!v.is_empty() && v != "none").then(|| PathBuf::from(v))
    }

    /// The store this configuration selects.
    pub fn store_choice(&self) -> StoreChoice {
        match self.store {
            StoreChoice::Auto if self.neo4j_uri.is_some() => StoreChoice::Neo4j,
            StoreChoice::Auto => StoreChoice::Embedded,
            other => other,
        }
    }

    /// The live provider this configuration selects.
    pub fn live_provider_choice(&self) -> LiveProviderChoice {
        match self.live_provider {
            LiveProviderChoice::Auto if self.live_api_key.is_set() => LiveProviderChoice::Openweathermap,
            LiveProviderChoice::Auto => LiveProviderChoice::Off,
            other => other,
        }
    }

    /// The language model this configuration selects (`Off` for the offline analyst).
    pub fn llm_provider_choice(&self) -> LlmProviderChoice {
        match self.llm_provider {
            LlmProviderChoice::Auto if self.llm_api_key.is_set() => LlmProviderChoice::Anthropic,
            LlmProviderChoice::Auto => LlmProviderChoice::Off,
            other => other,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        // Every numeric variable and its allowed range.
        let ranges: [(&str, u64, u64, u64); 40] = [
            ("llm_max_answer_tokens", self.llm_max_answer_tokens as u64, 16, 8192),
            ("llm_timeout_seconds", self.llm_timeout_seconds as u64, 1, 300),
            ("llm_daily_token_budget", self.llm_daily_token_budget as u64, 1000, 1000000000),
            ("llm_requests_per_minute", self.llm_requests_per_minute as u64, 1, 6000),
            ("llm_client_requests_per_hour", self.llm_client_requests_per_hour as u64, 1, 100000),
            ("llm_breaker_cooldown_seconds", self.llm_breaker_cooldown_seconds as u64, 1, 86400),
            ("live_calls_per_minute", self.live_calls_per_minute as u64, 1, 600),
            ("live_hourly_quota", self.live_hourly_quota as u64, 1, 100000),
            ("live_ttl_seconds", self.live_ttl_seconds as u64, 1, 86400),
            ("live_timeout_seconds", self.live_timeout_seconds as u64, 1, 120),
            ("live_history_days", self.live_history_days as u64, 1, 366),
            ("live_breaker_cooldown_seconds", self.live_breaker_cooldown_seconds as u64, 1, 86400),
            ("store_recheck_millis", self.store_recheck_millis, 0, 60000),
            ("neo4j_max_connections", self.neo4j_max_connections as u64, 1, 512),
            ("neo4j_fetch_size", self.neo4j_fetch_size as u64, 1, 100000),
            ("neo4j_timeout_seconds", self.neo4j_timeout_seconds as u64, 1, 300),
            ("neo4j_import_timeout_seconds", self.neo4j_import_timeout_seconds as u64, 1, 86400),
            ("llm_max_retries", self.llm_max_retries as u64, 0, 5),
            ("llm_cache_ttl_seconds", self.llm_cache_ttl_seconds as u64, 0, 86400),
            ("shutdown_grace_seconds", self.shutdown_grace_seconds as u64, 0, 3600),
            ("session_idle_seconds", self.session_idle_seconds as u64, 1, 86400),
            ("session_max_seconds", self.session_max_seconds as u64, 1, 2592000),
            ("rate_client_per_second", self.rate_client_per_second as u64, 1, 100000),
            ("rate_client_burst", self.rate_client_burst as u64, 1, 1000000),
            ("rate_login_per_minute", self.rate_login_per_minute as u64, 1, 10000),
            ("rate_expensive_per_minute", self.rate_expensive_per_minute as u64, 1, 100000),
            ("rate_global_per_second", self.rate_global_per_second as u64, 1, 10000000),
            ("max_body_bytes", self.max_body_bytes as u64, 1024, 1073741824),
            ("header_timeout_seconds", self.header_timeout_seconds as u64, 1, 300),
            ("body_timeout_seconds", self.body_timeout_seconds as u64, 1, 3600),
            ("request_timeout_seconds", self.request_timeout_seconds as u64, 1, 3600),
            ("max_concurrent_requests", self.max_concurrent_requests as u64, 1, 1000000),
            ("max_connections_per_client", self.max_connections_per_client as u64, 1, 1000000),
            ("login_max_failures", self.login_max_failures as u64, 1, 1000),
            ("login_client_max_failures", self.login_client_max_failures as u64, 1, 100000),
            ("login_lock_seconds", self.login_lock_seconds as u64, 1, 86400),
            ("backup_interval_seconds", self.backup_interval_seconds, 0, 31_622_400),
            ("backup_keep", self.backup_keep as u64, 1, 1000),
            ("redis_timeout_millis", self.redis_timeout_millis, 50, 60_000),
            ("lease_seconds", self.lease_seconds, 2, 300),
        ];
        for (field, value, lo, hi) in ranges {
            in_range(&mut problems, field, value, lo, hi);
        }
        match self.metrics_address() {
            Err(e) => problems.push(format!("  GRIDSCOPE_METRICS_ADDR: {e}")),
            Ok(Some(addr)) if !addr.ip().is_loopback() && self.metrics_token.expose().len() < 16 => problems.push(
                "  GRIDSCOPE_METRICS_TOKEN: a token of at least 16 characters is required when GRIDSCOPE_METRICS_ADDR is not a loopback address"
                    .to_owned(),
            ),
            Ok(Some(addr)) if addr == self.addr => problems
                .push("  GRIDSCOPE_METRICS_ADDR: must differ from GRIDSCOPE_ADDR (metrics are never public)".to_owned()),
            Ok(_) => {}
        }
        if !self.cookie_secure && !self.addr.ip().is_loopback() {
            problems.push(
                "  GRIDSCOPE_COOKIE_SECURE: false is only allowed when GRIDSCOPE_ADDR is a loopback address (plain-HTTP development)"
                    .to_owned(),
            );
        }
        if let Err(e) = self.trusted_proxy_networks() {
            problems.push(format!("  GRIDSCOPE_TRUSTED_PROXIES: {e}"));
        }
        if let Err(e) = self.allowed_hosts() {
            problems.push(format!("  GRIDSCOPE_PUBLIC_HOSTS: {e}"));
        }
        if let Err(e) = self.plan_settings() {
            problems.push(format!("  {e}"));
        }
        if self.llm_provider == LlmProviderChoice::Anthropic && !self.llm_api_key.is_set() {
            problems.push(
                "  GRIDSCOPE_LLM_API_KEY: required for GRIDSCOPE_LLM_PROVIDER=anthropic (or GRIDSCOPE_LLM_API_KEY_FILE)"
                    .to_owned(),
            );
        }
        let llm_base = self.llm_base_url.trim();
        if !llm_base.is_empty()
            && (!(llm_base.starts_with("https://") || llm_base.starts_with("http://"))
                || llm_base.len() > 200)
        {
            problems.push(
                "  GRIDSCOPE_LLM_BASE_URL: empty, or an http(s):// URL of at most 200 characters".to_owned(),
            );
        }
        if self.llm_model.len() > 100 || self.llm_model.chars().any(char::is_control) {
            problems.push("  GRIDSCOPE_LLM_MODEL: a model name of at most 100 characters".to_owned());
        }
        if self.live_provider == LiveProviderChoice::Openweathermap && !self.live_api_key.is_set() {
            problems.push(
                "  GRIDSCOPE_LIVE_API_KEY: required for GRIDSCOPE_LIVE_PROVIDER=openweathermap (or GRIDSCOPE_LIVE_API_KEY_FILE)"
                    .to_owned(),
            );
        }
        let base = self.live_base_url.as_str();
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.len() > 200 {
            problems
                .push("  GRIDSCOPE_LIVE_BASE_URL: an http(s):// URL of at most 200 characters".to_owned());
        }
        if self.live_stale_seconds < self.live_ttl_seconds || self.live_stale_seconds > 7 * 86_400 {
            problems.push(
                "  GRIDSCOPE_LIVE_STALE_SECONDS: at least GRIDSCOPE_LIVE_TTL_SECONDS and at most 604800"
                    .to_owned(),
            );
        }
        if self.store_choice() == StoreChoice::Neo4j {
            const SCHEMES: [&str; 6] =
                ["bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://"];
            match &self.neo4j_uri {
                None => {
                    problems.push("  GRIDSCOPE_NEO4J_URI: required when GRIDSCOPE_STORE=neo4j".to_owned())
                }
                Some(uri) if !SCHEMES.iter().any(|scheme| uri.starts_with(scheme)) => problems.push(
                    "  GRIDSCOPE_NEO4J_URI: must start with bolt://, bolt+s://, neo4j:// or neo4j+s://"
                        .to_owned(),
                ),
                Some(_) => {}
            }
            if !self.neo4j_password.is_set() {
                problems.push(
                    "  GRIDSCOPE_NEO4J_PASSWORD: required for Neo4j (or GRIDSCOPE_NEO4J_PASSWORD_FILE)"
                        .to_owned(),
                );
            }
        }
        if self.redis_url.is_set() {
            let url = self.redis_url.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                problems.push("  GRIDSCOPE_REDIS_URL: must start with redis:// or rediss://".to_owned());
            } else if redis::Client::open(url).is_err() {
                // The parser's message may quote the URL, password included: not shown.
                problems.push("  GRIDSCOPE_REDIS_URL: not a valid Redis URL".to_owned());
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            problems.push(format!("  GRIDSCOPE_LOG_LEVEL: not a valid filter ({e})"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// A secret from `NAME` or from the file named by `NAME_FILE` (first line), not both.
fn read_secret(
    secrets: &std::collections::HashMap<String, String>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let file_var = format!("{name}_FILE");
    // An empty variable counts as not set (as in .env.example).
    let value = secrets.get(name).filter(|v| !v.is_empty());
    let file = secrets.get(&file_var).filter(|v| !v.is_empty());
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(format!("  {name}: set either {name} or {file_var}, not both"));
            None
        }
        (Some(value), None) => {
            Some(if value.is_empty() { Secret::default() } else { Secret::new(value.clone()) })
        }
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => {
                let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
                Some(if first.is_empty() { Secret::default() } else { Secret::new(first) })
            }
            Err(e) => {
                problems.push(format!("  {file_var}: cannot read {path}: {e}"));
                None
            }
        },
        (None, None) => Some(Secret::default()),
    }
}

fn var_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// Reads one field; on failure records the problem, naming the variable.
fn typed<T: serde::de::DeserializeOwned>(
    figment: &Figment,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    match figment.extract_inner::<T>(key) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("  {}: {}", var_name(key), e.kind));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        assert_eq!(Config::from_vars(vars(&[])).unwrap(), Config::default());
    }

    #[test]
    fn reads_each_variable() {
        let c = Config::from_vars(vars(&[
            ("GRIDSCOPE_ADDR", "0.0.0.0:8080"),
            ("GRIDSCOPE_SITE_ROOT", "/srv/site"),
            ("GRIDSCOPE_LOG_FORMAT", "json"),
            ("GRIDSCOPE_LOG_LEVEL", "debug,hyper=warn"),
            ("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS", "5"),
            ("GRIDSCOPE_DATA_DIR", "/var/lib/gridscope"),
            ("GRIDSCOPE_DEMO_GRID", "none"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.site_root, PathBuf::from("/srv/site"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_level, "debug,hyper=warn");
        assert_eq!(c.shutdown_grace_seconds, 5);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/gridscope"));
        assert_eq!(c.demo_grid_path(), None);
    }

    #[test]
    fn bad_values_are_refused_naming_each_variable() {
        let err =
            Config::from_vars(vars(&[("GRIDSCOPE_ADDR", "not-an-address"), ("GRIDSCOPE_LOG_FORMAT", "xml")]))
                .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("GRIDSCOPE_ADDR"), "{text}");
        assert!(text.contains("GRIDSCOPE_LOG_FORMAT"), "{text}");
    }

    #[test]
    fn a_negative_grace_period_is_refused() {
        let err = Config::from_vars(vars(&[("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS", "-1")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS"), "{err}");
    }

    #[test]
    fn an_invalid_log_filter_is_refused() {
        let err = Config::from_vars(vars(&[("GRIDSCOPE_LOG_LEVEL", "info,[[[")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_LOG_LEVEL"), "{err}");
    }

    #[test]
    fn neo4j_is_chosen_by_its_uri_and_needs_a_password() {
        let err = Config::from_vars(vars(&[("GRIDSCOPE_NEO4J_URI", "bolt://db:7687")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_NEO4J_PASSWORD"), "{err}");
        let c = Config::from_vars(vars(&[
            ("GRIDSCOPE_NEO4J_URI", "bolt://db:7687"),
            ("GRIDSCOPE_NEO4J_PASSWORD", "hunter2-hunter2"),
        ]))
        .unwrap();
        assert_eq!(c.store_choice(), StoreChoice::Neo4j);
        assert_eq!(c.neo4j_password.expose(), "hunter2-hunter2");
        assert!(!format!("{c:?}").contains("hunter2"), "the password must never be printed");
        let err = Config::from_vars(vars(&[("GRIDSCOPE_STORE", "neo4j")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_NEO4J_URI: required"), "{err}");
    }

    #[test]
    fn the_password_can_come_from_a_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file-secret\n").unwrap();
        let c = Config::from_vars(vars(&[
            ("GRIDSCOPE_NEO4J_URI", "neo4j+s://x.databases.neo4j.io"),
            ("GRIDSCOPE_NEO4J_PASSWORD_FILE", file.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(c.neo4j_password.expose(), "from-file-secret");
        let err =
            Config::from_vars(vars(&[("GRIDSCOPE_NEO4J_PASSWORD_FILE", "/nonexistent/pw")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_NEO4J_PASSWORD_FILE: cannot read"), "{err}");
    }

    #[test]
    fn the_redis_url_is_a_checked_secret() {
        let c =
            Config::from_vars(vars(&[("GRIDSCOPE_REDIS_URL", "redis://:s3cret-pw@cache:6379/2")])).unwrap();
        assert_eq!(c.redis_url.expose(), "redis://:s3cret-pw@cache:6379/2");
        assert!(!format!("{c:?}").contains("s3cret-pw"), "the URL carries the password: never printed");
        assert!(!Config::default().redis_url.is_set(), "one instance by default");
        for bad in ["http://cache:6379", "cache:6379", "redis://:s3cret-pw@[bad"] {
            let err = Config::from_vars(vars(&[("GRIDSCOPE_REDIS_URL", bad)])).unwrap_err().to_string();
            assert!(err.contains("GRIDSCOPE_REDIS_URL"), "{bad}: {err}");
            assert!(!err.contains("s3cret-pw"), "the message must not quote the password: {err}");
        }
        let err = Config::from_vars(vars(&[("GRIDSCOPE_REDIS_TIMEOUT_MILLIS", "0")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_REDIS_TIMEOUT_MILLIS"), "{err}");
    }

    #[test]
    fn the_live_provider_follows_the_key_and_sample_is_never_implicit() {
        assert_eq!(Config::default().live_provider_choice(), LiveProviderChoice::Off);
        let c = Config::from_vars(vars(&[("GRIDSCOPE_LIVE_API_KEY", "owm-key-123")])).unwrap();
        assert_eq!(c.live_provider_choice(), LiveProviderChoice::Openweathermap);
        assert!(!format!("{c:?}").contains("owm-key-123"), "the key must never be printed");
        let err = Config::from_vars(vars(&[("GRIDSCOPE_LIVE_PROVIDER", "openweathermap")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_LIVE_API_KEY: required"), "{err}");
        let c = Config::from_vars(vars(&[("GRIDSCOPE_LIVE_PROVIDER", "sample")])).unwrap();
        assert_eq!(c.live_provider_choice(), LiveProviderChoice::Sample);
        let err = Config::from_vars(vars(&[
            ("GRIDSCOPE_LIVE_TTL_SECONDS", "600"),
            ("GRIDSCOPE_LIVE_STALE_SECONDS", "60"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_LIVE_STALE_SECONDS"), "{err}");
    }

    #[test]
    fn the_llm_provider_follows_the_key_and_limits_are_checked() {
        assert_eq!(Config::default().llm_provider_choice(), LlmProviderChoice::Off);
        let c = Config::from_vars(vars(&[("GRIDSCOPE_LLM_API_KEY", "sk-ant-canary-77")])).unwrap();
        assert_eq!(c.llm_provider_choice(), LlmProviderChoice::Anthropic);
        assert!(!format!("{c:?}").contains("sk-ant-canary-77"), "the key must never be printed");
        let c = Config::from_vars(vars(&[
            ("GRIDSCOPE_LLM_PROVIDER", "openai"),
            ("GRIDSCOPE_LLM_BASE_URL", "http://127.0.0.1:8080/v1"),
        ]))
        .unwrap();
        assert_eq!(c.llm_provider_choice(), LlmProviderChoice::Openai, "a local server may need no key");
        let err = Config::from_vars(vars(&[("GRIDSCOPE_LLM_PROVIDER", "anthropic")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_LLM_API_KEY: required"), "{err}");
        let err = Config::from_vars(vars(&[
            ("GRIDSCOPE_LLM_BASE_URL", "ftp://x"),
            ("GRIDSCOPE_LLM_MAX_RETRIES", "9"),
            ("GRIDSCOPE_LLM_DAILY_TOKEN_BUDGET", "10"),
        ]))
        .unwrap_err();
        for name in
            ["GRIDSCOPE_LLM_BASE_URL", "GRIDSCOPE_LLM_MAX_RETRIES", "GRIDSCOPE_LLM_DAILY_TOKEN_BUDGET"]
        {
            assert!(err.to_string().contains(name), "{name} not reported: {err}");
        }
    }

    #[test]
    fn unrelated_variables_are_ignored() {
        let c = Config::from_vars(vars(&[("GRIDSCOPE_TEST_NEO4J_URI", "bolt://x"), ("PATH", "/bin")]));
        assert_eq!(c.unwrap(), Config::default());
    }
}

/// Adds a problem when `value` (of the variable for `field`) is outside `lo..=hi`.
fn in_range(problems: &mut Vec<String>, field: &str, value: u64, lo: u64, hi: u64) {
    if !(lo..=hi).contains(&value) {
        problems.push(format!("  {ENV_PREFIX}{}: between {lo} and {hi}", field.to_ascii_uppercase()));
    }
}
