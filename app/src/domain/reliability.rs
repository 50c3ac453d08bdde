//! Reliability indices (IEEE 1366) per calendar year, from the incident record:
//!
//! - SAIFI = Σ customers interrupted / customers served (interruptions per customer);
//! - SAIDI = Σ customers interrupted × duration / customers served (minutes per customer);
//! - CAIDI = SAIDI / SAIFI (minutes per interruption).
//!
//! An incident counts in the year it started; one still open is counted up to `now`.
//! Incidents with no customers interrupted add nothing. Customers served is the grid's
//! customer count today (the record holds no history of it).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::model::Incident;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct YearIndices {
    pub year: i32,
    pub incidents: u32,
    pub customers_interrupted: u64,
    pub customer_minutes: f64,
    pub saifi: f64,
    pub saidi: f64,
    /// `None` when nobody was interrupted (CAIDI undefined).
    pub caidi: Option<f64>,
}

/// Indices for every year from the first incident's to `now`'s (years without incidents are
/// included with zeros, so a trend shows them).
pub fn reliability_by_year(
    incidents: &[Incident],
    customers_served: u64,
    now: DateTime<Utc>,
) -> Vec<YearIndices> {
    let mut years: BTreeMap<i32, (u32, u64, f64)> = BTreeMap::new();
    for i in incidents.iter().filter(|i| i.started_at <= now) {
        let end = i.restored_at.unwrap_or(now).min(now);
        let minutes = (end - i.started_at).num_seconds().max(0) as f64 / 60.0;
        let entry = years.entry(i.started_at.year()).or_default();
        entry.0 += 1;
        entry.1 += u64::from(i.customers_affected);
        entry.2 += f64::from(i.customers_affected) * minutes;
    }
    let Some(&first) = years.keys().next() else { return Vec::new() };
    let served = customers_served.max(1) as f64;
    (first..=now.year())
        .map(|year| {
            let (incidents, interrupted, minutes) = years.get(&year).copied().unwrap_or_default();
            let saifi = interrupted as f64 / served;
            let saidi = minutes / served;
            YearIndices {
                year,
                incidents,
                customers_interrupted: interrupted,
                customer_minutes: minutes,
                saifi,
                saidi,
                caidi: (interrupted > 0).then(|| minutes / interrupted as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(start: &str, end: Option<&str>, customers: u32) -> Incident {
        Incident {
            id: start.into(),
            asset: "x".into(),
            started_at: start.parse().unwrap(),
            restored_at: end.map(|e| e.parse().unwrap()),
            customers_affected: customers,
            cause: Default::default(),
            synthetic: false,
        }
    }

    #[test]
    fn indices_follow_ieee_1366_by_hand() {
        let now: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        let incidents = vec![
            // 2023: 100 customers × 60 min + 300 × 30 min = 15,000 customer-minutes, 400 interrupted.
            incident("2023-03-01T10:00:00Z", Some("2023-03-01T11:00:00Z"), 100),
            incident("2023-07-01T10:00:00Z", Some("2023-07-01T10:30:00Z"), 300),
            // 2025: still open at `now`, 10 customers for 1 day = 14,400 customer-minutes.
            incident("2025-05-31T00:00:00Z", None, 10),
        ];
        let years = reliability_by_year(&incidents, 1000, now);
        assert_eq!(years.iter().map(|y| y.year).collect::<Vec<_>>(), vec![2023, 2024, 2025]);
        let y2023 = &years[0];
        assert_eq!((y2023.incidents, y2023.customers_interrupted), (2, 400));
        assert!((y2023.saifi - 0.4).abs() < 1e-12);
        assert!((y2023.saidi - 15.0).abs() < 1e-12);
        assert!((y2023.caidi.unwrap() - 37.5).abs() < 1e-12);
        assert_eq!((years[1].saifi, years[1].caidi), (0.0, None), "a quiet year is shown as zero");
        assert!((years[2].saidi - 14.4).abs() < 1e-12);
    }

    #[test]
    fn no_incidents_no_years() {
        assert_eq!(reliability_by_year(&[], 10, Utc::now()), vec![]);
    }
}
