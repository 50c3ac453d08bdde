//! The stored grid at a glance: what it is, how big, how much of it is energised.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::model::AssetKind;
use crate::domain::reliability::YearIndices;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridSummary {
    pub name: String,
    pub revision: u64,
    /// Assets per kind, in the fixed kind order.
    pub counts: Vec<(AssetKind, usize)>,
    pub buses_total: usize,
    pub buses_energised: usize,
    pub customers_total: u64,
    /// Whether any attribute of the grid is synthetic (generated, not measured).
    pub has_synthetic_data: bool,
}

#[server(endpoint = "grid_summary")]
pub async fn get_grid_summary() -> Result<GridSummary, AppError> {
    let snapshot = super::grid_snapshot().await?;
    // Depends on the snapshot alone: derived once per grid revision.
    let summary = snapshot.derived(|_: &GridSummary| true, || summarise(&snapshot));
    Ok(GridSummary::clone(&summary))
}

#[cfg(feature = "ssr")]
fn summarise(snapshot: &crate::ports::GridSnapshot) -> GridSummary {
    let data = &snapshot.data;
    let counts = AssetKind::ALL.iter().map(|&k| (k, data.count(k))).collect();
    let buses_energised = data
        .assets
        .iter()
        .filter(|a| a.kind == AssetKind::Bus && snapshot.topology.is_energised(&a.id) == Some(true))
        .count();
    GridSummary {
        name: snapshot.meta.name.clone(),
        revision: snapshot.meta.revision,
        counts,
        buses_total: snapshot.topology.bus_count(),
        buses_energised,
        customers_total: snapshot.topology.customers_total(),
        has_synthetic_data: data.assets.iter().any(|a| !a.synthetic.is_empty())
            || data.maintenance.iter().any(|m| m.synthetic)
            || data.incidents.iter().any(|i| i.synthetic),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewKpis {
    /// Assets whose risk band is high or critical.
    pub at_high_risk: usize,
    pub critical: usize,
    /// Incidents without a restoration time.
    pub open_incidents: usize,
    /// SAIFI / SAIDI / CAIDI per year, oldest first.
    pub reliability: Vec<YearIndices>,
    /// Whether the incident record behind the indices is synthetic.
    pub synthetic_incidents: bool,
    /// When the server computed these figures: what "last updated" shows.
    pub as_of: chrono::DateTime<chrono::Utc>,
}

/// How long computed overview figures are served before they are computed again (they
/// also follow every write, day change and change of live conditions at once): under load
/// they are computed once a second instead of once per request. `as_of` says when.
pub const OVERVIEW_MAX_AGE_MILLIS: i64 = 1000;

#[server(endpoint = "overview_kpis")]
pub async fn get_overview_kpis() -> Result<OverviewKpis, AppError> {
    let snapshot = super::grid_snapshot().await?;
    let now = chrono::Utc::now();
    let conditions = super::conditions();
    let fresh = |kept: &KpisFor| {
        kept.conditions == conditions.revision
            && kept.kpis.as_of.date_naive() == now.date_naive()
            && (now - kept.kpis.as_of).num_milliseconds() < OVERVIEW_MAX_AGE_MILLIS
    };
    let kept = snapshot.derived(fresh, || KpisFor {
        conditions: conditions.revision,
        kpis: overview_kpis(&snapshot, &conditions, now),
    });
    Ok(kept.kpis.clone())
}

/// Overview figures with the live-conditions revision they were computed under.
#[cfg(feature = "ssr")]
struct KpisFor {
    conditions: u64,
    kpis: OverviewKpis,
}

#[cfg(feature = "ssr")]
fn overview_kpis(
    snapshot: &crate::ports::GridSnapshot,
    conditions: &crate::ports::Conditions,
    now: chrono::DateTime<chrono::Utc>,
) -> OverviewKpis {
    use crate::domain::risk::RiskBand;
    let risk = snapshot.risk_scores(now.date_naive(), conditions);
    let bands = || risk.scores().iter().map(|&s| RiskBand::of(s));
    let incidents = &snapshot.data.incidents;
    OverviewKpis {
        at_high_risk: bands().filter(|&b| b >= RiskBand::High).count(),
        critical: bands().filter(|&b| b == RiskBand::Critical).count(),
        open_incidents: incidents.iter().filter(|i| i.restored_at.is_none()).count(),
        reliability: crate::domain::reliability::reliability_by_year(
            incidents,
            snapshot.topology.customers_total(),
            now,
        ),
        synthetic_incidents: incidents.iter().any(|i| i.synthetic),
        as_of: now,
    }
}
