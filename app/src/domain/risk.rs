//! Explainable risk scores: every factor, its weight and its share of the score is returned
//! with the score, so an operator can see why an asset ranks where it does.
//!
//! Score = 100 × Σ wᵢ·vᵢ / Σ wᵢ over the factors whose data is available, each vᵢ in 0…1:
//!
//! | factor | value | weight |
//! |---|---|---|
//! | condition | (100 − condition) / 100 | 0.30 |
//! | age | years in service / expected life of the kind, capped at 1 | 0.20 |
//! | criticality | customers behind the asset / 10 % of all customers, capped at 1 | 0.20 |
//! | loading | 0 up to 50 % of rating, rising linearly to 1 at 110 % | 0.15 |
//! | failure history | incidents in the last 5 years / 3, capped at 1 | 0.15 |
//!
//! A factor without data (no commissioning year, no condition, no loading) is shown as
//! unavailable and its weight is left out rather than guessed.

use super::conditions::{adjust, adjusted_score, Reading};
use super::model::{Asset, AssetKind, GridData};
use super::sparse::SparseCounts;
use super::topology::Topology;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskBand {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskBand::Low => "low",
            RiskBand::Medium => "medium",
            RiskBand::High => "high",
            RiskBand::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<RiskBand> {
        [RiskBand::Low, RiskBand::Medium, RiskBand::High, RiskBand::Critical]
            .into_iter()
            .find(|b| b.as_str() == text)
    }

    pub fn of(score: f64) -> RiskBand {
        match score {
            s if s >= 75.0 => RiskBand::Critical,
            s if s >= 50.0 => RiskBand::High,
            s if s >= 25.0 => RiskBand::Medium,
            _ => RiskBand::Low,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskFactor {
    /// `condition`, `age`, `criticality`, `loading`, `failure_history`.
    pub name: String,
    pub weight: f64,
    /// Normalised value 0…1 (`None` when the data is missing).
    pub value: Option<f64>,
    /// Points this factor adds to the 0…100 score.
    pub contribution: f64,
    /// The input in words, e.g. "48 years of an expected 50".
    pub explanation: String,
    /// Whether the input is synthetic (generated, not measured).
    pub synthetic: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskScore {
    pub asset: String,
    pub score: f64,
    pub band: RiskBand,
    pub factors: Vec<RiskFactor>,
}

/// What the score needs beyond the asset itself.
#[derive(Clone, Copy, Debug)]
pub struct RiskContext {
    pub current_year: i32,
    pub customers_behind: u64,
    pub customers_total: u64,
    /// Incidents on this asset in the last five years.
    pub recent_incidents: u32,
}

impl RiskContext {
    /// The share of all customers behind the asset (0 when the grid has none).
    fn customer_share(&self) -> f64 {
        if self.customers_total == 0 {
            0.0
        } else {
            self.customers_behind as f64 / self.customers_total as f64
        }
    }
}

pub const WEIGHT_CONDITION: f64 = 0.30;
pub const WEIGHT_AGE: f64 = 0.20;
pub const WEIGHT_CRITICALITY: f64 = 0.20;
pub const WEIGHT_LOADING: f64 = 0.15;
pub const WEIGHT_FAILURES: f64 = 0.15;

/// Expected service life in years, by kind (typical asset-management planning values).
pub fn expected_life(kind: AssetKind) -> f64 {
    match kind {
        AssetKind::Line | AssetKind::Bus | AssetKind::Substation => 50.0,
        AssetKind::Transformer | AssetKind::Load => 40.0,
        AssetKind::Generator => 35.0,
        AssetKind::Switch => 30.0,
    }
}

/// The five factors' inputs for `asset`: name, weight, normalised value (None: no data) and
/// whether the input is synthetic. One source for the score and for its explanation.
fn inputs(asset: &Asset, ctx: &RiskContext) -> [(&'static str, f64, Option<f64>, bool); 5] {
    let life = expected_life(asset.kind);
    let age = asset.commissioning_year.map(|y| f64::from((ctx.current_year - i32::from(y)).max(0)));
    [
        (
            "condition",
            WEIGHT_CONDITION,
            asset.condition.map(|c| (100.0 - f64::from(c)) / 100.0),
            asset.is_synthetic("condition"),
        ),
        ("age", WEIGHT_AGE, age.map(|a| a / life), asset.is_synthetic("commissioning_year")),
        ("criticality", WEIGHT_CRITICALITY, Some(ctx.customer_share() / 0.10), false),
        (
            "loading",
            WEIGHT_LOADING,
            asset.loading_pct.get().map(|l| (l - 50.0) / 60.0),
            asset.is_synthetic("loading_pct"),
        ),
        ("failure_history", WEIGHT_FAILURES, Some(f64::from(ctx.recent_incidents) / 3.0), false),
    ]
    .map(|(name, weight, value, synthetic)| (name, weight, value.map(|v: f64| v.clamp(0.0, 1.0)), synthetic))
}

/// Points each factor adds to the 0…100 score: weights of factors without data left out.
fn contributions(inputs: &[(&'static str, f64, Option<f64>, bool); 5]) -> [f64; 5] {
    let available: f64 = inputs.iter().filter(|f| f.2.is_some()).map(|f| f.1).sum();
    inputs.map(|(_, weight, value, _)| value.map_or(0.0, |v| 100.0 * weight * v / available))
}

/// The score alone (what [`score`] returns as `score`), without building the explanation.
pub fn score_value(asset: &Asset, ctx: &RiskContext) -> f64 {
    contributions(&inputs(asset, ctx)).iter().sum()
}

pub fn score(asset: &Asset, ctx: &RiskContext) -> RiskScore {
    let inputs = inputs(asset, ctx);
    let points = contributions(&inputs);
    let explanation = |name: &str| match name {
        "condition" => {
            asset.condition.map_or("condition not recorded".into(), |c| format!("condition {c} of 100"))
        }
        "age" => {
            let life = expected_life(asset.kind);
            asset.commissioning_year.map_or("commissioning year not recorded".into(), |y| {
                format!(
                    "{:.0} years in service of an expected {life:.0}",
                    f64::from((ctx.current_year - i32::from(y)).max(0))
                )
            })
        }
        "criticality" => format!(
            "{} customers lose supply if it fails ({:.1} % of all)",
            ctx.customers_behind,
            ctx.customer_share() * 100.0
        ),
        "loading" => asset
            .loading_pct
            .get()
            .map_or("loading not known".into(), |l| format!("loaded to {l:.0} % of rating")),
        _ => format!("{} incidents in the last 5 years", ctx.recent_incidents),
    };
    let factors: Vec<RiskFactor> = inputs
        .iter()
        .zip(points)
        .map(|(&(name, weight, value, synthetic), contribution)| RiskFactor {
            name: name.into(),
            weight,
            value,
            contribution,
            explanation: explanation(name),
            synthetic,
        })
        .collect();
    let score = points.iter().sum::<f64>();
    RiskScore { asset: asset.id.to_string(), score, band: RiskBand::of(score), factors }
}

/// Risk scores of every asset of a grid as of `today`, highest first (ties by id).
/// `topology` must be built from `grid`.
pub fn score_all(grid: &GridData, topology: &Topology, today: NaiveDate) -> Vec<RiskScore> {
    let mut scores = score_each(grid, topology, today);
    scores.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.asset.cmp(&b.asset)));
    scores
}

/// Risk scores in the grid's asset order (`result[i]` scores `grid.assets[i]`).
pub fn score_each(grid: &GridData, topology: &Topology, today: NaiveDate) -> Vec<RiskScore> {
    grid.assets.iter().zip(contexts(grid, topology, today)).map(|(asset, ctx)| score(asset, &ctx)).collect()
}

/// The risk of every asset of a grid in asset order: the scores, for listing, sorting and
/// counting, and what explains any one of them on demand. 20 bytes per asset where the
/// explained scores take about a kilobyte each.
pub struct RiskTable {
    scores: Vec<f64>,
    /// The rest of each asset's context, for the few assets with any: their recent incidents
    /// (by asset index). The customers behind an asset are asked of the topology when its
    /// score is explained (one impact query) rather than kept for every asset.
    recent_incidents: SparseCounts,
    current_year: i32,
    customers_total: u64,
}

impl RiskTable {
    /// Scores every asset as of `today`, with the weather `reading` of its place (if any).
    pub fn build<'r>(
        grid: &GridData,
        topology: &Topology,
        today: NaiveDate,
        reading: impl Fn(&Asset) -> Option<&'r Reading>,
    ) -> RiskTable {
        let contexts = contexts(grid, topology, today);
        let scores = grid
            .assets
            .iter()
            .zip(&contexts)
            .map(|(asset, ctx)| {
                let base = score_value(asset, ctx);
                reading(asset).map_or(base, |r| adjusted_score(base, asset.kind, r))
            })
            .collect();
        RiskTable {
            scores,
            recent_incidents: SparseCounts::from_ordered(
                (contexts.iter().enumerate())
                    .filter(|(_, c)| c.recent_incidents > 0)
                    .map(|(i, c)| (i as u32, c.recent_incidents)),
            ),
            current_year: today.year(),
            customers_total: topology.customers_total(),
        }
    }

    /// Scores in asset order (`scores()[i]` scores `grid.assets[i]`).
    pub fn scores(&self) -> &[f64] {
        &self.scores
    }

    pub fn band(&self, index: usize) -> RiskBand {
        RiskBand::of(self.scores[index])
    }

    /// The explained score of `asset` (at `index` of the grid `topology` was built from),
    /// equal in value to `scores()[index]`.
    pub fn explain(
        &self,
        index: usize,
        asset: &Asset,
        topology: &Topology,
        reading: Option<&Reading>,
    ) -> RiskScore {
        let recent_incidents = self.recent_incidents.get(index as u32);
        let ctx = RiskContext {
            current_year: self.current_year,
            customers_behind: topology.customers_behind(index),
            customers_total: self.customers_total,
            recent_incidents,
        };
        let mut explained = score(asset, &ctx);
        if let Some(reading) = reading {
            adjust(&mut explained, asset.kind, reading);
        }
        explained
    }
}

/// What each asset's score needs beyond the asset, in the grid's asset order: shared by the
/// scores and by anything that asks "what would the score be if the asset changed".
pub fn contexts(grid: &GridData, topology: &Topology, today: NaiveDate) -> Vec<RiskContext> {
    let behind = topology.customers_behind_each_asset();
    let since = today - chrono::Duration::days(5 * 365);
    let mut incidents: HashMap<&str, u32> = HashMap::new();
    for incident in grid.incidents.iter().filter(|i| i.started_at.date_naive() >= since) {
        *incidents.entry(incident.asset.as_str()).or_default() += 1;
    }
    grid.assets
        .iter()
        .zip(behind)
        .map(|(asset, customers_behind)| RiskContext {
            current_year: today.year(),
            customers_behind,
            customers_total: topology.customers_total(),
            recent_incidents: incidents.get(asset.id.as_str()).copied().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(behind: u64, incidents: u32) -> RiskContext {
        RiskContext {
            current_year: 2026,
            customers_behind: behind,
            customers_total: 1000,
            recent_incidents: incidents,
        }
    }

    fn line(year: Option<i16>, condition: Option<u8>, loading: Option<f64>) -> Asset {
        Asset {
            commissioning_year: year,
            condition,
            loading_pct: loading.into(),
            ..Asset::new("l1", AssetKind::Line)
        }
    }

    #[test]
    fn contributions_add_up_to_the_score() {
        let r = score(&line(Some(1976), Some(40), Some(80.0)), &ctx(50, 1));
        let sum: f64 = r.factors.iter().map(|f| f.contribution).sum();
        assert!((sum - r.score).abs() < 1e-9);
        // condition .6*.3 + age 1*.2 + crit .5*.2 + loading .5*.15 + failures 1/3*.15
        let expected = 100.0 * (0.18 + 0.2 + 0.1 + 0.075 + 0.05);
        assert!((r.score - expected).abs() < 1e-9, "{} vs {expected}", r.score);
        assert_eq!(r.band, RiskBand::High);
    }

    #[test]
    fn worse_condition_never_lowers_the_score() {
        let good = score(&line(Some(2000), Some(90), None), &ctx(0, 0)).score;
        let bad = score(&line(Some(2000), Some(20), None), &ctx(0, 0)).score;
        assert!(bad > good);
    }

    #[test]
    fn missing_data_is_marked_and_its_weight_left_out() {
        let r = score(&line(None, None, None), &ctx(100, 3));
        let age = r.factors.iter().find(|f| f.name == "age").unwrap();
        assert_eq!(age.value, None);
        assert_eq!(age.explanation, "commissioning year not recorded");
        // Only criticality (1.0 × .2) and failures (1.0 × .15) remain: both at the maximum.
        assert!((r.score - 100.0).abs() < 1e-9, "{}", r.score);
    }

    #[test]
    fn score_all_ranks_by_score_and_counts_recent_incidents_only() {
        use crate::domain::model::Incident;
        use crate::domain::topology::SwitchMode;
        let bus = |id: &str| Asset::new(id, AssetKind::Bus);
        let mut grid = GridData {
            assets: vec![
                bus("a"),
                bus("b"),
                Asset { bus: Some("a".into()), source: true, ..Asset::new("g", AssetKind::Generator) },
                Asset {
                    from_bus: Some("a".into()),
                    to_bus: Some("b".into()),
                    ..line(Some(1970), Some(30), None)
                },
                Asset { bus: Some("b".into()), customers: Some(100), ..Asset::new("d", AssetKind::Load) },
            ],
            ..Default::default()
        };
        let incident = |id: &str, year: i32| Incident {
            id: id.into(),
            asset: "l1".into(),
            started_at: chrono::NaiveDate::from_ymd_opt(year, 6, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
            restored_at: None,
            customers_affected: 0,
            cause: Default::default(),
            synthetic: false,
        };
        grid.incidents = vec![incident("i1", 2025), incident("i2", 2024), incident("old", 2010)];
        let topology = Topology::build(&grid, SwitchMode::Respect);
        let scores = score_all(&grid, &topology, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(scores[0].asset, "l1");
        let line = &scores[0];
        let factor = |name: &str| line.factors.iter().find(|f| f.name == name).unwrap();
        assert_eq!(factor("failure_history").explanation, "2 incidents in the last 5 years");
        assert_eq!(factor("criticality").value, Some(1.0), "all 100 customers hang on the line");
        assert!(scores.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn the_table_lists_exactly_the_explained_scores_with_and_without_weather() {
        use crate::domain::topology::SwitchMode;
        let bus = |id: &str| Asset::new(id, AssetKind::Bus);
        let grid = GridData {
            assets: vec![
                bus("a"),
                bus("b"),
                bus("c"),
                Asset { bus: Some("a".into()), source: true, ..Asset::new("g", AssetKind::Generator) },
                Asset {
                    from_bus: Some("a".into()),
                    to_bus: Some("b".into()),
                    ..line(Some(1970), Some(30), Some(95.0))
                },
                Asset {
                    from_bus: Some("b".into()),
                    to_bus: Some("c".into()),
                    commissioning_year: Some(1985),
                    ..Asset::new("t1", AssetKind::Transformer)
                },
                Asset { bus: Some("c".into()), customers: Some(100), ..Asset::new("d", AssetKind::Load) },
            ],
            ..Default::default()
        };
        let topology = Topology::build(&grid, SwitchMode::Respect);
        let today = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-10T06:00:00Z").unwrap().to_utc();
        let storm = Reading {
            location: "here".into(),
            observed_at: at,
            fetched_at: at,
            temperature_c: -2.0,
            wind_speed_ms: 20.0,
            wind_gust_ms: Some(28.0),
            precipitation_mm_h: 1.5,
            humidity_pct: None,
            sample: false,
        };
        let calm = RiskTable::build(&grid, &topology, today, |_| None);
        let stormy = RiskTable::build(&grid, &topology, today, |_| Some(&storm));
        let explained = score_each(&grid, &topology, today);
        let mut raised = 0;
        for (i, asset) in grid.assets.iter().enumerate() {
            assert_eq!(calm.scores()[i], explained[i].score, "{}", asset.id);
            assert_eq!(calm.explain(i, asset, &topology, None), explained[i]);
            let windy = stormy.explain(i, asset, &topology, Some(&storm));
            assert_eq!(stormy.scores()[i], windy.score, "{}", asset.id);
            assert_eq!(stormy.band(i), windy.band);
            raised += usize::from(windy.score > explained[i].score);
        }
        assert!(raised > 0, "the storm raises some scores");
    }

    #[test]
    fn synthetic_inputs_are_flagged() {
        use crate::domain::model::SyntheticFields;
        let mut asset = line(Some(1990), Some(50), None);
        asset.synthetic = SyntheticFields::from_names(["condition"]).unwrap();
        let r = score(&asset, &ctx(0, 0));
        let flags: Vec<(&str, bool)> = r.factors.iter().map(|f| (f.name.as_str(), f.synthetic)).collect();
        assert!(flags.contains(&("condition", true)) && flags.contains(&("age", false)));
    }
}
