//! Live conditions (weather) and what they do to risk: the readings, how fresh they are, and
//! the wind, heat and ice factors they add to an exposed asset's score.
//!
//! | factor | applies to | value 0…1 | at most adds |
//! |---|---|---|---|
//! | wind | lines | gusts (or mean wind) from 15 m/s rising to 1 at 30 m/s | 15 points |
//! | heat | lines, transformers | air temperature from 30 °C rising to 1 at 40 °C | 10 points |
//! | ice | lines | 1 when precipitation falls at −6…+1 °C, scaled by intensity (2 mm/h = 1) | 15 points |
//!
//! Unlike the base factors these are *added* to the score (capped at 100) rather than
//! averaged in: calm weather must not dilute the base score, and a storm must raise it. They
//! apply only while the reading is usable (not stale); readings from the sample provider are
//! flagged synthetic like any other generated input.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::AssetKind;
use super::risk::{RiskBand, RiskFactor, RiskScore};

/// One observation for one location (a region of the grid, or the grid as a whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The region name, or [`GRID_WIDE`] for assets without a region.
    pub location: String,
    /// When the provider says it observed the weather.
    pub observed_at: DateTime<Utc>,
    /// When this server received it.
    pub fetched_at: DateTime<Utc>,
    pub temperature_c: f64,
    pub wind_speed_ms: f64,
    pub wind_gust_ms: Option<f64>,
    /// Rain and snow together, mm per hour.
    pub precipitation_mm_h: f64,
    pub humidity_pct: Option<f64>,
    /// From the sample provider: made up, never measured.
    pub sample: bool,
}

/// The location of assets without a region.
pub const GRID_WIDE: &str = "Whole grid";

/// How usable the live data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Every location read recently and the last call succeeded.
    Healthy,
    /// Data still usable, but the upstream is failing, limited, or some location is behind.
    Degraded,
    /// Some location's newest reading is older than the stale limit: not used for risk.
    Stale,
    /// No reading at all.
    Down,
    /// No provider configured.
    NotConfigured,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Healthy => "healthy",
            Freshness::Degraded => "degraded",
            Freshness::Stale => "stale",
            Freshness::Down => "down",
            Freshness::NotConfigured => "not_configured",
        }
    }
}

/// Limits that decide freshness, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreshnessLimits {
    /// A reading younger than this is not fetched again.
    pub ttl: u64,
    /// A reading older than this is stale.
    pub stale_after: u64,
}

/// The freshness of a set of locations, given each one's newest reading age (None: never read)
/// and whether the last upstream call failed.
pub fn freshness(ages: &[Option<u64>], last_call_failed: bool, limits: FreshnessLimits) -> Freshness {
    if ages.is_empty() || ages.iter().all(Option::is_none) {
        return Freshness::Down;
    }
    if ages.iter().flatten().any(|&age| age > limits.stale_after) {
        return Freshness::Stale;
    }
    let behind = ages.iter().any(|age| age.is_none_or(|a| a > 2 * limits.ttl));
    if last_call_failed || behind {
        Freshness::Degraded
    } else {
        Freshness::Healthy
    }
}

pub const WEIGHT_WIND: f64 = 0.15;
pub const WEIGHT_HEAT: f64 = 0.10;
pub const WEIGHT_ICE: f64 = 0.15;

/// The weather inputs for an asset of `kind` under `reading`: name, weight and normalised
/// value (empty for kinds not exposed). One source for the points and their explanation.
fn weather_inputs(kind: AssetKind, reading: &Reading) -> Vec<(&'static str, f64, f64)> {
    let mut inputs = Vec::new();
    let (t, p) = (reading.temperature_c, reading.precipitation_mm_h);
    if kind == AssetKind::Line {
        inputs.push(("wind", WEIGHT_WIND, (gust(reading) - 15.0) / 15.0));
    }
    if matches!(kind, AssetKind::Line | AssetKind::Transformer) {
        inputs.push(("heat", WEIGHT_HEAT, (t - 30.0) / 10.0));
    }
    if kind == AssetKind::Line {
        inputs.push(("ice", WEIGHT_ICE, if icing(reading) { p / 2.0 } else { 0.0 }));
    }
    inputs.into_iter().map(|(name, weight, value)| (name, weight, value.clamp(0.0, 1.0))).collect()
}

fn gust(reading: &Reading) -> f64 {
    reading.wind_gust_ms.unwrap_or(reading.wind_speed_ms).max(reading.wind_speed_ms)
}

fn icing(reading: &Reading) -> bool {
    (-6.0..=1.0).contains(&reading.temperature_c) && reading.precipitation_mm_h > 0.0
}

/// The weather factors for an asset of `kind` under `reading` (empty for kinds not exposed).
pub fn weather_factors(kind: AssetKind, reading: &Reading) -> Vec<RiskFactor> {
    let place = &reading.location;
    let (t, p) = (reading.temperature_c, reading.precipitation_mm_h);
    weather_inputs(kind, reading)
        .into_iter()
        .map(|(name, weight, value)| {
            let explanation = match name {
                "wind" => format!("gusts of {:.0} m/s in {place} (from 15 m/s it adds risk)", gust(reading)),
                "heat" => format!("{t:.0} °C in {place} (from 30 °C it adds risk)"),
                _ if icing(reading) => format!("{p:.1} mm/h of precipitation at {t:.0} °C in {place}: icing"),
                _ => format!("no icing in {place} ({t:.0} °C, {p:.1} mm/h)"),
            };
            RiskFactor {
                name: name.into(),
                weight,
                value: Some(value),
                contribution: 100.0 * weight * value,
                explanation: if reading.sample {
                    format!("{explanation} (sample data)")
                } else {
                    explanation
                },
                synthetic: reading.sample,
            }
        })
        .collect()
}

/// A base score with the weather added (what [`adjust`] makes of it), without explanations.
pub fn adjusted_score(score: f64, kind: AssetKind, reading: &Reading) -> f64 {
    let inputs = weather_inputs(kind, reading);
    if inputs.is_empty() {
        return score;
    }
    (score + inputs.iter().map(|(_, weight, value)| 100.0 * weight * value).sum::<f64>()).min(100.0)
}

/// Adds the weather factors to a base score: contributions added, total capped at 100.
pub fn adjust(score: &mut RiskScore, kind: AssetKind, reading: &Reading) {
    score.score = adjusted_score(score.score, kind, reading);
    score.band = RiskBand::of(score.score);
    score.factors.extend(weather_factors(kind, reading));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(t: f64, wind: f64, gust: Option<f64>, rain: f64) -> Reading {
        let at = DateTime::parse_from_rfc3339("2026-01-10T06:00:00Z").unwrap().to_utc();
        Reading {
            location: "Region 1".into(),
            observed_at: at,
            fetched_at: at,
            temperature_c: t,
            wind_speed_ms: wind,
            wind_gust_ms: gust,
            precipitation_mm_h: rain,
            humidity_pct: Some(80.0),
            sample: false,
        }
    }

    fn base(score: f64) -> RiskScore {
        RiskScore { asset: "l1".into(), score, band: RiskBand::of(score), factors: vec![] }
    }

    #[test]
    fn calm_mild_weather_changes_nothing() {
        let mut s = base(40.0);
        adjust(&mut s, AssetKind::Line, &reading(15.0, 4.0, Some(8.0), 0.0));
        assert_eq!(s.score, 40.0);
        assert_eq!(s.factors.len(), 3, "the factors are still listed, each adding 0");
        assert!(s.factors.iter().all(|f| f.contribution == 0.0));
    }

    #[test]
    fn a_storm_raises_a_line_but_not_a_bus() {
        let storm = reading(12.0, 20.0, Some(30.0), 0.0);
        let mut line = base(40.0);
        adjust(&mut line, AssetKind::Line, &storm);
        assert!((line.score - 55.0).abs() < 1e-9, "{}", line.score);
        assert_eq!(line.band, RiskBand::High);
        let wind = line.factors.iter().find(|f| f.name == "wind").unwrap();
        assert!(wind.explanation.contains("30 m/s"), "{}", wind.explanation);
        let mut bus = base(40.0);
        adjust(&mut bus, AssetKind::Bus, &storm);
        assert_eq!(bus, base(40.0));
    }

    #[test]
    fn freezing_rain_is_ice_and_heat_counts_for_transformers() {
        let mut line = base(10.0);
        adjust(&mut line, AssetKind::Line, &reading(-1.0, 3.0, None, 1.0));
        let ice = line.factors.iter().find(|f| f.name == "ice").unwrap();
        assert_eq!(ice.value, Some(0.5));
        assert!((line.score - 17.5).abs() < 1e-9);
        let mut tx = base(10.0);
        adjust(&mut tx, AssetKind::Transformer, &reading(35.0, 3.0, None, 0.0));
        assert!((tx.score - 15.0).abs() < 1e-9, "{}", tx.score);
        assert_eq!(tx.factors.len(), 1);
    }

    #[test]
    fn the_adjusted_score_is_capped_and_sample_data_is_labelled() {
        let mut worst = reading(-2.0, 40.0, Some(45.0), 5.0);
        worst.sample = true;
        let mut s = base(90.0);
        adjust(&mut s, AssetKind::Line, &worst);
        assert_eq!(s.score, 100.0);
        assert!(s.factors.iter().all(|f| f.synthetic && f.explanation.ends_with("(sample data)")));
    }

    #[test]
    fn freshness_states() {
        let limits = FreshnessLimits { ttl: 300, stale_after: 1800 };
        assert_eq!(freshness(&[], false, limits), Freshness::Down);
        assert_eq!(freshness(&[None, None], true, limits), Freshness::Down);
        assert_eq!(freshness(&[Some(10), Some(500)], false, limits), Freshness::Healthy);
        assert_eq!(freshness(&[Some(10), Some(500)], true, limits), Freshness::Degraded);
        assert_eq!(freshness(&[Some(10), None], false, limits), Freshness::Degraded);
        assert_eq!(freshness(&[Some(10), Some(601)], false, limits), Freshness::Degraded);
        assert_eq!(freshness(&[Some(10), Some(1801)], false, limits), Freshness::Stale);
    }
}
