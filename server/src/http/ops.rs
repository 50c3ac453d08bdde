//! Operational endpoints: liveness (`/healthz`) and readiness (`/readyz`).
//!
//! Neither calls an upstream API: they report on this process and what it depends on locally.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::AppState;

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
}

/// Liveness: the process is up and serving.
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", version: state.info.version, uptime_seconds: state.info.uptime().as_secs() })
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// How long the check took (the store's answer time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: Vec<Check>,
    pub live: LiveReport,
    pub analyst: AnalystReport,
    /// Where the background work (live poller, scheduled backups) runs:
    /// `single_instance` (no Redis), `this_instance`, `another_instance` or `unknown`
    /// (Redis did not answer).
    pub background: &'static str,
}

/// The analyst is reported, not required: without a provider (or while it fails) the offline
/// analyst answers.
#[derive(Debug, Serialize)]
pub struct AnalystReport {
    /// `configured` or `offline`.
    pub state: &'static str,
    /// The provider and model (`Anthropic claude-…`), when configured.
    pub model: Option<String>,
}

/// Readiness: every check must pass for the instance to take traffic; 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let checks = vec![site_check(&state).await, store_check(&state).await];
    let ready = checks.iter().all(|c| c.ok);
    let live = live_report(&state);
    let analyst = AnalystReport {
        state: if state.model.is_some() { "configured" } else { "offline" },
        model: state.model.as_ref().map(|m| m.label()),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            checks,
            live,
            analyst,
            background: state.lease.state().as_str(),
        }),
    )
}

/// Live conditions are reported, not required: an upstream outage must not take every
/// instance out of the load balancer (the app works without them and says so).
#[derive(Debug, Serialize)]
pub struct LiveReport {
    /// `healthy`, `degraded`, `stale`, `down` or `not_configured`.
    pub state: &'static str,
    pub provider: String,
    pub sample: bool,
    /// Age of the oldest location's newest reading.
    pub oldest_reading_age_seconds: Option<u64>,
    pub newest_reading_age_seconds: Option<u64>,
    pub locations: usize,
    pub calls_last_hour: u32,
    pub hourly_quota: u32,
    /// Public code of the last failure, if the last call failed or a limit holds.
    pub last_error: Option<&'static str>,
}

fn live_report(state: &AppState) -> LiveReport {
    let status = state.live.status();
    let ages: Vec<u64> = status.locations.iter().filter_map(|l| l.age_seconds).collect();
    LiveReport {
        state: status.state.as_str(),
        provider: status.provider,
        sample: status.sample,
        oldest_reading_age_seconds: ages.iter().max().copied(),
        newest_reading_age_seconds: ages.iter().min().copied(),
        locations: status.locations.len(),
        calls_last_hour: status.calls_last_hour,
        hourly_quota: status.hourly_quota,
        last_error: status.last_error.map(|e| e.code.as_str()),
    }
}

/// The grid store must answer within 5 s.
async fn store_check(state: &AppState) -> Check {
    let name = "store";
    let backend = state.store.backend();
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), state.store.ping()).await;
    let latency_ms = Some(started.elapsed().as_millis() as u64);
    let (ok, detail) = match answer {
        Ok(Ok(())) => (true, format!("{backend} store answers")),
        Ok(Err(e)) => {
            // The store's own words (paths, hosts) go to the log only: /readyz is public.
            tracing::warn!(error = %e, "readiness: the {backend} store does not answer");
            (false, format!("{backend} store does not answer (the server log says why)"))
        }
        Err(_) => (false, format!("{backend} store did not answer within 5 s")),
    };
    Check { name, ok, detail, latency_ms }
}

/// The browser bundle must be present, or every page would load without interactivity.
async fn site_check(state: &AppState) -> Check {
    let pkg = state.config.site_root.join("pkg");
    let mut missing = Vec::new();
    for file in super::bundle::bundle_files() {
        if tokio::fs::metadata(pkg.join(&file)).await.is_err() {
            missing.push(file);
        }
    }
    if missing.is_empty() {
        Check { name: "site", ok: true, detail: "browser bundle present".to_owned(), latency_ms: None }
    } else {
        Check {
            name: "site",
            ok: false,
            detail: format!("missing in site root pkg/: {}", missing.join(", ")),
            latency_ms: None,
        }
    }
}

/// Prometheus metrics, on the admin listener only. With a token configured, the request must
/// carry `Authorization: Bearer <token>`.
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.config.metrics_token.is_set() {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let expected = state.config.metrics_token.expose();
        let same: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into();
        if !same {
            return super::errors::error_response(app::error::AppError::new(
                app::error::ErrorCode::Unauthorized,
                "A metrics token is required.",
            ));
        }
    }
    refresh_gauges(&state).await;
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::render(),
    )
        .into_response()
}

/// Sets the gauges that are read rather than counted (quota, data age, sessions, uptime).
pub async fn refresh_gauges(state: &AppState) {
    let live = state.live.status();
    let live_age_seconds = live.locations.iter().filter_map(|l| l.age_seconds).max();
    crate::metrics::set_gauges(&crate::metrics::Gauges {
        uptime: state.info.uptime(),
        version: state.info.version,
        quota_limit: live.hourly_quota,
        quota_used: live.calls_last_hour,
        live_age_seconds,
        sessions_active: state.sessions.active().await.ok(),
    });
}

/// The status page's totals: this process's counters and the session store's count.
pub struct OpsTotalsSource {
    pub sessions: crate::auth::sessions::Sessions,
}

#[async_trait::async_trait]
impl app::api::ops::OpsSource for OpsTotalsSource {
    async fn totals(&self) -> app::api::ops::OpsTotals {
        let mut totals = crate::metrics::totals();
        totals.sessions_active = self.sessions.active().await.ok();
        totals
    }
}
