//! Live conditions (weather per region, from a key-bearing upstream API polled by a
//! background task on the server). Page views only read what the server already holds: they
//! never cause an upstream call, and the key never leaves the server.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::conditions::{Freshness, Reading};
use crate::error::AppError;

/// The newest reading of one location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocationNow {
    pub location: String,
    pub reading: Option<Reading>,
    /// Seconds since the reading was fetched.
    pub age_seconds: Option<u64>,
}

/// One point of the trend: the mean over an hour of all locations' readings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub hour: DateTime<Utc>,
    pub temperature_c: f64,
    pub wind_gust_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveConditions {
    pub state: Freshness,
    /// A label for the provider (`OpenWeatherMap`, `sample`); empty when not configured.
    pub provider: String,
    /// Whether the data is made up by the sample provider.
    pub sample: bool,
    pub locations: Vec<LocationNow>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last upstream call failed (public code, message, when to retry).
    pub last_error: Option<AppError>,
    pub calls_last_hour: u32,
    pub hourly_quota: u32,
    pub ttl_seconds: u64,
    pub stale_after_seconds: u64,
    /// Hourly means over the last 24 hours, oldest first.
    pub trend: Vec<TrendPoint>,
    pub as_of: DateTime<Utc>,
}

impl LiveConditions {
    pub fn not_configured(now: DateTime<Utc>) -> LiveConditions {
        LiveConditions {
            state: Freshness::NotConfigured,
            provider: String::new(),
            sample: false,
            locations: Vec::new(),
            last_success_at: None,
            last_error: None,
            calls_last_hour: 0,
            hourly_quota: 0,
            ttl_seconds: 0,
            stale_after_seconds: 0,
            trend: Vec::new(),
            as_of: now,
        }
    }
}

/// Hourly means of `readings` (any order), oldest first.
pub fn hourly_trend(readings: &[Reading]) -> Vec<TrendPoint> {
    use chrono::{DurationRound, TimeDelta};
    let mut hours: std::collections::BTreeMap<DateTime<Utc>, (f64, f64, u32)> = Default::default();
    for r in readings {
        let hour = r.observed_at.duration_trunc(TimeDelta::hours(1)).unwrap_or(r.observed_at);
        let e = hours.entry(hour).or_default();
        e.0 += r.temperature_c;
        e.1 += r.wind_gust_ms.unwrap_or(r.wind_speed_ms).max(r.wind_speed_ms);
        e.2 += 1;
    }
    hours
        .into_iter()
        .map(|(hour, (t, g, n))| TrendPoint {
            hour,
            temperature_c: t / f64::from(n),
            wind_gust_ms: g / f64::from(n),
        })
        .collect()
}

#[server(endpoint = "live_conditions")]
pub async fn get_live_conditions() -> Result<LiveConditions, AppError> {
    let now = Utc::now();
    let Some(feed) = use_context::<std::sync::Arc<dyn crate::ports::LiveFeed>>() else {
        return Ok(LiveConditions::not_configured(now));
    };
    let mut status = feed.status();
    if status.state != Freshness::NotConfigured {
        let history = feed.history(now - chrono::TimeDelta::hours(24)).await;
        status.trend = hourly_trend(&history);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_averages_each_hour() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let r = |t: &str, temp: f64, gust: f64| Reading {
            location: "x".into(),
            observed_at: at(t),
            fetched_at: at(t),
            temperature_c: temp,
            wind_speed_ms: 1.0,
            wind_gust_ms: Some(gust),
            precipitation_mm_h: 0.0,
            humidity_pct: None,
            sample: false,
        };
        let trend = hourly_trend(&[
            r("2026-01-01T11:10:00Z", 4.0, 10.0),
            r("2026-01-01T10:59:00Z", 1.0, 2.0),
            r("2026-01-01T11:50:00Z", 6.0, 20.0),
        ]);
        assert_eq!(trend.len(), 2);
        assert_eq!(trend[0].hour, at("2026-01-01T10:00:00Z"));
        assert_eq!((trend[1].temperature_c, trend[1].wind_gust_ms), (5.0, 15.0));
    }
}
