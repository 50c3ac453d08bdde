//! The operations status page's data: how the service is doing (operators only).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Running totals the server keeps since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpsTotals {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub caches: Vec<CacheStat>,
    /// Error responses by public code, since start.
    pub errors_by_code: Vec<(String, u64)>,
    /// Newest first.
    pub recent_errors: Vec<RecentError>,
    pub sessions_active: Option<u64>,
    pub last_backup_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheStat {
    pub name: String,
    pub hits: u64,
    pub misses: u64,
}

impl CacheStat {
    pub fn hit_ratio(&self) -> Option<f64> {
        let all = self.hits + self.misses;
        (all > 0).then(|| self.hits as f64 / all as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentError {
    pub at: DateTime<Utc>,
    pub route: String,
    pub status: u16,
    pub code: String,
}

/// Everything the status page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpsReport {
    pub version: String,
    pub uptime_seconds: u64,
    pub totals: OpsTotals,
    pub store_backend: String,
    /// `None` when the store answered; else why not.
    pub store_problem: Option<String>,
    pub store_latency_ms: u64,
    pub live: crate::api::live::LiveConditions,
    /// The analyst's model (`Anthropic claude-…`), or `None` for the offline analyst.
    pub analyst: Option<String>,
}

impl OpsReport {
    /// Share of requests not failed by the server (5xx), if any were made.
    pub fn success_rate(&self) -> Option<f64> {
        let t = &self.totals;
        (t.requests > 0).then(|| 1.0 - t.server_errors as f64 / t.requests as f64)
    }
}

/// Where the server function reads the totals (the server provides it).
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait OpsSource: Send + Sync {
    async fn totals(&self) -> OpsTotals;
}

#[server(endpoint = "ops_status")]
pub async fn ops_status() -> Result<OpsReport, AppError> {
    use std::sync::Arc;
    crate::api::auth::require(crate::api::auth::Role::Operator)?;
    let info = use_context::<crate::ports::ServerInfo>().ok_or_else(AppError::internal)?;
    let source = use_context::<Arc<dyn OpsSource>>().ok_or_else(AppError::internal)?;
    let store = use_context::<Arc<dyn crate::ports::GridStore>>().ok_or_else(AppError::internal)?;
    let live = use_context::<Arc<dyn crate::ports::LiveFeed>>()
        .map(|feed| feed.status())
        .unwrap_or_else(|| crate::api::live::LiveConditions::not_configured(Utc::now()));
    let analyst = use_context::<Arc<dyn crate::ports::AnswerModel>>().map(|m| m.label());
    let started = std::time::Instant::now();
    // Each store bounds its own calls (Neo4j: GRIDSCOPE_NEO4J_TIMEOUT_SECONDS).
    let ping = store.ping().await;
    let store_latency_ms = started.elapsed().as_millis() as u64;
    let store_problem = ping.err().map(|e| AppError::from(e).message);
    Ok(OpsReport {
        version: info.version.to_owned(),
        uptime_seconds: info.uptime().as_secs(),
        totals: source.totals().await,
        store_backend: store.backend().to_owned(),
        store_problem,
        store_latency_ms,
        live,
        analyst,
    })
}
