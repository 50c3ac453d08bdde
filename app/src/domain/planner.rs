//! The maintenance planner: given a horizon, crews and a budget, which assets to repair or
//! replace, when and by which crew, so that the risk removed is as large as possible.
//!
//! **Candidates.** Every asset except loads (customer connections) whose condition or age
//! calls for work: *replacement* when the condition is below 40 or the asset has reached its
//! expected life, *repair* when the condition is below 70. The risk after the work is the
//! same risk model ([`super::risk::score`]) applied to the asset as it would be afterwards
//! (replacement: condition 100 and commissioned this year; repair: condition 85). The
//! expected risk reduction is the difference, so the plan can never disagree with the scores
//! an operator sees elsewhere. Criticality, loading and failure history do not change.
//!
//! **Cost and duration.** Cost is the median of this grid's own maintenance history for the
//! same kind of asset and work when there are at least [`MIN_HISTORY`] costed records, else a
//! planning default ([`default_cost`]); duration in crew-days comes from [`crew_days`].
//! Each planned job says which basis its cost has.
//!
//! **Critical first, then high.** Candidates on assets in the critical risk band are planned
//! first, by the optimiser below on their own (the high band's when no asset is critical);
//! the high band's, then the others, fill the budget and crew time they leave, most risk
//! removed per cost first. Every high or critical asset is reported
//! ([`Priority`]): planned, or why not in words (no work lowers its risk, its cost exceeds the
//! whole budget, it needs more days than the horizon, or the budget or crew time left after
//! the work planned before it was too little).
//!
//! **Working days.** Monday to Friday, less the configured holidays ([`Holidays`]).
//!
//! **Optimisation.** Two limits bind: the budget and the crews' working days in the horizon.
//! 1. The budget alone is an exact 0/1 knapsack, solved by dynamic programming over costs
//!    rounded *up* to 1/[`BUDGET_STEPS`] of the budget (so a plan never overspends).
//! 2. The chosen jobs are scheduled, most risk removed per cost first, each on the crew that
//!    is free earliest, Monday to Friday, and must finish inside the horizon. If all fit,
//!    the plan is optimal (the budget-only problem is a relaxation of the real one) up to
//!    that rounding, and says so.
//! 3. If not, crew time binds as well. The planner builds four plans — the budget optimum,
//!    the crew-time optimum (the same exact knapsack on crew-days), a greedy by risk removed
//!    per combined normalised use of budget and crew time, and the single most valuable job —
//!    fills each with the next-best jobs that still fit, and keeps the best. It then reports
//!    the share it reaches of an upper bound (the smaller of the two single-limit fractional
//!    relaxations) rather than claiming optimality.

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::model::{Asset, AssetKind, GridData, MaintenanceKind};
use super::risk::{contexts, expected_life, score, RiskBand};
use super::topology::Topology;

pub const MAX_HORIZON_WEEKS: u32 = 104;
pub const MAX_CREWS: u32 = 50;
pub const MAX_BUDGET: f64 = 1e9;
/// Budget resolution of the exact knapsack: costs are rounded up to budget / this.
pub const BUDGET_STEPS: usize = 2000;
/// Costed history records of one kind of asset and work needed before their median is used.
pub const MIN_HISTORY: usize = 3;
/// Deferred candidates listed with a plan (the best ones left out).
pub const MAX_DEFERRED_LISTED: usize = 25;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intervention {
    Repair,
    Replacement,
}

impl Intervention {
    pub fn as_str(self) -> &'static str {
        match self {
            Intervention::Repair => "repair",
            Intervention::Replacement => "replacement",
        }
    }

    fn record_kind(self) -> MaintenanceKind {
        match self {
            Intervention::Repair => MaintenanceKind::Repair,
            Intervention::Replacement => MaintenanceKind::Replacement,
        }
    }
}

/// Days no crew works besides weekends: yearly ones (`12-25`) and single dates
/// (`2027-04-16`), as configured (`GRIDSCOPE_HOLIDAYS`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holidays {
    /// (month, day) every year.
    pub yearly: Vec<(u32, u32)>,
    pub dates: Vec<NaiveDate>,
}

impl Holidays {
    /// The shipped list: New Year's Day, Christmas Day and the day after.
    pub const DEFAULT: &'static str = "01-01,12-25,12-26";
    /// Most entries a list may have.
    pub const MAX_ENTRIES: usize = 400;

    /// A comma-separated list of `MM-DD` (every year) and `YYYY-MM-DD` (once); empty: none.
    pub fn parse(list: &str) -> Result<Holidays, String> {
        let mut holidays = Holidays::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if holidays.yearly.len() + holidays.dates.len() >= Self::MAX_ENTRIES {
                return Err(format!("at most {} holidays", Self::MAX_ENTRIES));
            }
            if let Ok(date) = NaiveDate::parse_from_str(entry, "%Y-%m-%d") {
                holidays.dates.push(date);
            } else if let Ok(day) = NaiveDate::parse_from_str(&format!("2000-{entry}"), "%Y-%m-%d") {
                holidays.yearly.push((day.month(), day.day()));
            } else {
                return Err(format!("'{}' is neither MM-DD nor YYYY-MM-DD", clip(entry)));
            }
        }
        Ok(holidays)
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.dates.contains(&day) || self.yearly.contains(&(day.month(), day.day()))
    }
}

/// What a planner is asked: from when, how long, with how many crews and how much money.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    pub start: NaiveDate,
    pub horizon_weeks: u32,
    pub crews: u32,
    /// In the grid's currency (costs in the maintenance history use the same).
    pub budget: f64,
    /// The currency of the budget and costs, as configured (`GRIDSCOPE_CURRENCY`).
    #[serde(default)]
    pub currency: String,
    /// Days off besides weekends.
    #[serde(default)]
    pub holidays: Holidays,
    /// An asset id the plan should say it does or does not cover ("is it in the plan?").
    #[serde(default)]
    pub asked: Option<String>,
}

impl PlanRequest {
    pub const DEFAULT_HORIZON_WEEKS: u32 = 12;
    pub const DEFAULT_CREWS: u32 = 3;
    pub const DEFAULT_BUDGET: f64 = 250_000.0;

    /// The request from URL parameters (`start`, `weeks`, `crews`, `budget`); missing ones
    /// take their defaults, malformed or out-of-range ones are an error in words.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        today: NaiveDate,
    ) -> Result<PlanRequest, String> {
        let mut request = PlanRequest {
            start: today,
            horizon_weeks: Self::DEFAULT_HORIZON_WEEKS,
            crews: Self::DEFAULT_CREWS,
            budget: Self::DEFAULT_BUDGET,
            currency: String::new(),
            holidays: Holidays::default(),
            asked: None,
        };
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key {
                "start" => {
                    request.start = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
                        format!("Start must be a date like 2026-01-31, not '{}'.", clip(value))
                    })?
                }
                "weeks" => {
                    request.horizon_weeks = value.parse().map_err(|_| {
                        format!("Horizon must be a whole number of weeks, not '{}'.", clip(value))
                    })?
                }
                "crews" => {
                    request.crews = value
                        .parse()
                        .map_err(|_| format!("Crews must be a whole number, not '{}'.", clip(value)))?
                }
                "asset" => request.asked = Some(value.to_owned()),
                "budget" => {
                    request.budget = value
                        .replace(['_', ','], "")
                        .parse()
                        .map_err(|_| format!("Budget must be a number, not '{}'.", clip(value)))?
                }
                _ => {}
            }
        }
        request.validate(today)?;
        Ok(request)
    }

    /// Limits on every input: what a plan may be asked for.
    pub fn validate(&self, today: NaiveDate) -> Result<(), String> {
        if !(1..=MAX_HORIZON_WEEKS).contains(&self.horizon_weeks) {
            return Err(format!("Horizon must be 1 to {MAX_HORIZON_WEEKS} weeks."));
        }
        if !(1..=MAX_CREWS).contains(&self.crews) {
            return Err(format!("Crews must be 1 to {MAX_CREWS}."));
        }
        if !self.budget.is_finite() || self.budget <= 0.0 || self.budget > MAX_BUDGET {
            return Err(format!("Budget must be more than 0 and at most {MAX_BUDGET:.0}."));
        }
        let (earliest, latest) =
            (today - chrono::Duration::days(366), today + chrono::Duration::days(3 * 366));
        if self.start < earliest || self.start > latest {
            return Err("Start must be within a year before and three years after today.".into());
        }
        Ok(())
    }
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Where a cost estimate comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum CostBasis {
    /// Median of `records` costed records of the same kind of asset and work in this grid.
    History { records: usize, synthetic: bool },
    /// The planning default for the kind of asset and work.
    Default,
}

/// One piece of work the planner could do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub asset: String,
    pub name: String,
    pub kind: AssetKind,
    /// The asset's risk band now: high and critical are planned first.
    pub band: RiskBand,
    pub intervention: Intervention,
    pub cost: f64,
    pub cost_basis: CostBasis,
    /// Working days of one crew.
    pub crew_days: u32,
    pub risk_before: f64,
    pub risk_after: f64,
}

impl Candidate {
    pub fn reduction(&self) -> f64 {
        self.risk_before - self.risk_after
    }

    /// Risk points removed per 10 000 of cost.
    pub fn reduction_per_10k(&self) -> f64 {
        self.reduction() * 10_000.0 / self.cost.max(f64::MIN_POSITIVE)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedJob {
    #[serde(flatten)]
    pub candidate: Candidate,
    /// 1-based.
    pub crew: u32,
    pub start: NaiveDate,
    /// Last working day of the job.
    pub end: NaiveDate,
    /// Working-day index in the horizon of the first day (0-based), for the timeline.
    pub start_day: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// Not enough budget left.
    Budget,
    /// No crew has the working days left in the horizon.
    CrewTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deferred {
    #[serde(flatten)]
    pub candidate: Candidate,
    pub reason: DeferReason,
}

/// A high- or critical-risk asset and what the plan does about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Priority {
    pub asset: String,
    pub name: String,
    pub kind: AssetKind,
    pub band: RiskBand,
    pub risk: f64,
    /// The planned job's first day, when it is planned.
    pub planned: Option<NaiveDate>,
    /// Why it is not planned, in words (`None` when planned).
    pub why_not: Option<String>,
}

/// A high- or critical-risk asset before planning: its candidate, or why it has none.
#[derive(Clone, Debug)]
pub struct Watched {
    pub asset: String,
    pub name: String,
    pub kind: AssetKind,
    pub band: RiskBand,
    pub risk: f64,
    /// Why no work is proposed for it (`None`: it has a candidate).
    pub no_work: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenancePlan {
    pub request: PlanRequest,
    /// Every high- or critical-risk asset, riskiest first: planned, or why not.
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// Whether the asset asked about (`request.asked`) is in the plan, in words.
    #[serde(default)]
    pub answer: Option<String>,
    /// First and last working day of the horizon.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub working_days: u32,
    /// Jobs in order of start (then crew).
    pub jobs: Vec<PlannedJob>,
    /// The best candidates left out, most risk removed per cost first (at most
    /// [`MAX_DEFERRED_LISTED`]).
    pub deferred: Vec<Deferred>,
    pub deferred_total: usize,
    pub candidates: usize,
    pub spent: f64,
    pub risk_reduction: f64,
    /// No plan within both limits can remove more risk than this.
    pub upper_bound: f64,
    /// The plan is optimal up to cost rounding (see the module docs).
    pub optimal: bool,
    pub crew_days_used: u32,
    pub crew_days_available: u32,
}

/// Planning default cost of work on an asset, in the grid's currency (typical European
/// distribution-grid unit costs; lines scale with length).
pub fn default_cost(asset: &Asset, work: Intervention) -> f64 {
    let km = asset.length_km.get().filter(|l| l.is_finite() && *l > 0.0);
    match (asset.kind, work) {
        (AssetKind::Line, Intervention::Replacement) => {
            km.map_or(60_000.0, |k| (120_000.0 * k).max(20_000.0))
        }
        (AssetKind::Line, Intervention::Repair) => 8_000.0 + km.map_or(4_000.0, |k| 4_000.0 * k),
        (AssetKind::Transformer, Intervention::Replacement) => 400_000.0,
        (AssetKind::Transformer, Intervention::Repair) => 40_000.0,
        (AssetKind::Switch, Intervention::Replacement) => 15_000.0,
        (AssetKind::Switch, Intervention::Repair) => 2_000.0,
        (AssetKind::Bus, Intervention::Replacement) => 50_000.0,
        (AssetKind::Bus, Intervention::Repair) => 5_000.0,
        (AssetKind::Substation, Intervention::Replacement) => 1_500_000.0,
        (AssetKind::Substation, Intervention::Repair) => 100_000.0,
        (AssetKind::Generator, Intervention::Replacement) => 800_000.0,
        (AssetKind::Generator, Intervention::Repair) => 60_000.0,
        (AssetKind::Load, _) => 0.0,
    }
}

/// Working days one crew needs for the work.
pub fn crew_days(asset: &Asset, work: Intervention) -> u32 {
    let km = asset.length_km.get().filter(|l| l.is_finite() && *l > 0.0);
    let per_km =
        |days_per_km: f64, without: u32| km.map_or(without, |k| (k * days_per_km).ceil().min(200.0) as u32);
    match (asset.kind, work) {
        (AssetKind::Line, Intervention::Replacement) => 2 + per_km(2.0, 2),
        (AssetKind::Line, Intervention::Repair) => 1 + per_km(0.5, 0),
        (AssetKind::Transformer, Intervention::Replacement) => 10,
        (AssetKind::Transformer, Intervention::Repair) => 3,
        (AssetKind::Switch, _) => 1,
        (AssetKind::Bus, Intervention::Replacement) => 3,
        (AssetKind::Bus, Intervention::Repair) => 1,
        (AssetKind::Substation, Intervention::Replacement) => 20,
        (AssetKind::Substation, Intervention::Repair) => 5,
        (AssetKind::Generator, Intervention::Replacement) => 15,
        (AssetKind::Generator, Intervention::Repair) => 4,
        (AssetKind::Load, _) => 0,
    }
}

/// The work an asset calls for, if any (see the module docs).
pub fn intervention_for(asset: &Asset, year: i32) -> Option<Intervention> {
    if asset.kind == AssetKind::Load || !asset.in_service {
        return None;
    }
    let age = asset.commissioning_year.map(|y| f64::from((year - i32::from(y)).max(0)));
    if asset.condition.is_some_and(|c| c < 40) || age.is_some_and(|a| a >= expected_life(asset.kind)) {
        Some(Intervention::Replacement)
    } else if asset.condition.is_some_and(|c| c < 70) {
        Some(Intervention::Repair)
    } else {
        None
    }
}

/// The asset as it would be after the work.
fn after(asset: &Asset, work: Intervention, year: i32) -> Asset {
    let mut a = asset.clone();
    match work {
        Intervention::Replacement => {
            a.condition = Some(100);
            // A year beyond i16 is no calendar year the plan reaches.
            a.commissioning_year = i16::try_from(year).ok();
        }
        Intervention::Repair => a.condition = Some(a.condition.map_or(85, |c| c.max(85))),
    }
    a
}

/// Every candidate of a grid as of `today`, in the grid's asset order.
pub fn candidates(grid: &GridData, topology: &Topology, today: NaiveDate) -> Vec<Candidate> {
    assess(grid, topology, today).0
}

/// Why an asset with no candidate has none, in words.
fn why_no_work(asset: &Asset, year: i32, work: Option<Intervention>) -> String {
    if asset.kind == AssetKind::Load {
        return "a customer connection: loads are not maintained by the grid's crews".into();
    }
    if !asset.in_service {
        return "out of service".into();
    }
    if work.is_some() {
        return "its risk comes from what it supplies, its loading and its failures, which work on it does not change"
            .into();
    }
    let condition = asset.condition.map_or("condition not recorded".to_owned(), |c| format!("condition {c}"));
    let age = asset.commissioning_year.map_or("age not recorded".to_owned(), |y| {
        format!("{} of {:.0} years of expected life", (year - i32::from(y)).max(0), expected_life(asset.kind))
    });
    format!("no repair or replacement is due ({condition}, {age}): its risk is in what it supplies")
}

/// The candidates of a grid (in asset order) and its high- and critical-risk assets, each with
/// why it has no candidate when it has none.
pub fn assess(grid: &GridData, topology: &Topology, today: NaiveDate) -> (Vec<Candidate>, Vec<Watched>) {
    // The topology (built from `grid`) finds each record's asset: no map over every asset.
    let kind_of = |id: &str| topology.position(id).map(|i| grid.assets[i].kind);
    let mut history: HashMap<(AssetKind, MaintenanceKind), (Vec<f64>, bool)> = HashMap::new();
    for record in &grid.maintenance {
        if let (Some(kind), Some(cost)) = (kind_of(&record.asset), record.cost.get()) {
            let entry = history.entry((kind, record.kind)).or_default();
            entry.0.push(cost);
            entry.1 |= record.synthetic;
        }
    }
    let medians: HashMap<(AssetKind, MaintenanceKind), (f64, usize, bool)> = history
        .into_iter()
        .filter(|(_, (costs, _))| costs.len() >= MIN_HISTORY)
        .map(|(key, (mut costs, synthetic))| {
            costs.sort_by(f64::total_cmp);
            let n = costs.len();
            let median = if n % 2 == 1 { costs[n / 2] } else { (costs[n / 2 - 1] + costs[n / 2]) / 2.0 };
            (key, (median, n, synthetic))
        })
        .collect();
    let year = today.year();
    let mut watched = Vec::new();
    let candidates = grid
        .assets
        .iter()
        .zip(contexts(grid, topology, today))
        .filter_map(|(asset, ctx)| {
            let now = score(asset, &ctx);
            let (before, band) = (now.score, now.band);
            let work = intervention_for(asset, year);
            let reduction = work.map_or(0.0, |work| before - score(&after(asset, work, year), &ctx).score);
            if band >= RiskBand::High {
                watched.push(Watched {
                    asset: asset.id.to_string(),
                    name: asset.name.to_string(),
                    kind: asset.kind,
                    band,
                    risk: before,
                    no_work: (reduction < 0.01).then(|| why_no_work(asset, year, work)),
                });
            }
            let work = work?;
            let after = before - reduction;
            if reduction < 0.01 {
                return None;
            }
            let (cost, cost_basis) = match medians.get(&(asset.kind, work.record_kind())) {
                Some(&(median, records, synthetic)) if median > 0.0 => {
                    (median, CostBasis::History { records, synthetic })
                }
                _ => (default_cost(asset, work), CostBasis::Default),
            };
            Some(Candidate {
                asset: asset.id.to_string(),
                name: asset.name.to_string(),
                kind: asset.kind,
                band,
                intervention: work,
                cost,
                cost_basis,
                crew_days: crew_days(asset, work).max(1),
                risk_before: before,
                risk_after: after,
            })
        })
        .collect();
    (candidates, watched)
}

/// Working days (Monday to Friday, not a holiday) of a horizon, from the first one on or
/// after `start`.
pub fn working_days(start: NaiveDate, weeks: u32, holidays: &Holidays) -> Vec<NaiveDate> {
    let end = start + chrono::Duration::weeks(i64::from(weeks));
    start
        .iter_days()
        .take_while(|d| *d < end)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(*d))
        .collect()
}

/// The best plan for the request (see the module docs for how "best" is found).
pub fn plan(grid: &GridData, topology: &Topology, request: &PlanRequest) -> MaintenancePlan {
    let (all, watched) = assess(grid, topology, request.start);
    let mut plan = plan_with(all, watched, request);
    if let (Some(id), None) = (request.asked.as_deref(), &plan.answer) {
        // Not a candidate: why no work is proposed for it, or that there is no such asset.
        let year = request.start.year();
        plan.answer = Some(match topology.position(id).map(|i| &grid.assets[i]) {
            Some(asset) => format!(
                "{} ({id}) is not in the plan: {}.",
                asset.name,
                why_no_work(asset, year, intervention_for(asset, year))
            ),
            None => format!("No asset has the id '{}'.", clip(id)),
        });
    }
    plan
}

/// Why a candidate the plan leaves out is left out, in words.
fn left_out_because(d: &Deferred, plan: &MaintenancePlan) -> String {
    let (c, request) = (&d.candidate, &plan.request);
    let money = |amount: f64| format!("{amount:.0} {}", request.currency).trim_end().to_owned();
    let work = c.intervention.as_str();
    if c.cost > request.budget {
        format!("its {work} costs {}, more than the whole budget of {}", money(c.cost), money(request.budget))
    } else if c.crew_days > plan.working_days {
        format!(
            "its {work} takes {} crew-days, more than the {} working days of the horizon",
            c.crew_days, plan.working_days
        )
    } else if d.reason == DeferReason::Budget {
        format!(
            "its {work} ({}) did not fit the budget left ({} of {}) after the work planned before it (critical first, then high, most risk removed per cost first)",
            money(c.cost),
            money(request.budget - plan.spent),
            money(request.budget)
        )
    } else {
        format!(
            "its {work} ({} crew-days) did not fit the crews' time left after the work planned before it",
            c.crew_days
        )
    }
}

/// What the plan does about each high- or critical-risk asset, riskiest first.
fn priorities(plan: &MaintenancePlan, deferred: &[Deferred], mut watched: Vec<Watched>) -> Vec<Priority> {
    watched.sort_by(|a, b| b.risk.total_cmp(&a.risk).then_with(|| a.asset.cmp(&b.asset)));
    let planned: HashMap<&str, NaiveDate> =
        plan.jobs.iter().map(|j| (j.candidate.asset.as_str(), j.start)).collect();
    let left_out: HashMap<&str, &Deferred> =
        deferred.iter().map(|d| (d.candidate.asset.as_str(), d)).collect();
    watched
        .into_iter()
        .map(|w| {
            let start = planned.get(w.asset.as_str()).copied();
            let why_not = match (start, &w.no_work, left_out.get(w.asset.as_str())) {
                (Some(_), _, _) => None,
                (None, Some(why), _) => Some(why.clone()),
                (None, None, Some(d)) => Some(left_out_because(d, plan)),
                (None, None, None) => Some("not assessed".into()),
            };
            Priority {
                asset: w.asset,
                name: w.name,
                kind: w.kind,
                band: w.band,
                risk: w.risk,
                planned: start,
                why_not,
            }
        })
        .collect()
}

/// A plan from a given list of candidates: the optimiser on its own, for tests and benches.
/// High- and critical-risk candidates are planned first (see the module docs).
pub fn plan_candidates(all: Vec<Candidate>, request: &PlanRequest) -> MaintenancePlan {
    plan_with(all, Vec::new(), request)
}

fn plan_with(all: Vec<Candidate>, watched: Vec<Watched>, request: &PlanRequest) -> MaintenancePlan {
    let days = working_days(request.start, request.horizon_weeks, &request.holidays);
    let horizon = days.len() as u32;
    let capacity = horizon * request.crews;
    let by_ratio = order_by(&all, per_cost);
    let in_band =
        |band: RiskBand| -> Vec<usize> { (0..all.len()).filter(|&i| all[i].band == band).collect() };
    let (critical, high) = (in_band(RiskBand::Critical), in_band(RiskBand::High));
    let first = if critical.is_empty() { high.clone() } else { critical };
    let (best, optimal) = if first.is_empty() || first.len() == all.len() {
        optimise(&all, &by_ratio, request, horizon, capacity)
    } else {
        // The riskiest band's work alone, planned best; then the high band's (when the first
        // was the critical one), then the rest, each filling what budget and crew time are
        // left, most risk removed per cost first.
        let tier: Vec<Candidate> = first.iter().map(|&i| all[i].clone()).collect();
        let tier_ratio = order_by(&tier, per_cost);
        let (s, _) = optimise(&tier, &tier_ratio, request, horizon, capacity);
        let placed = s.placed.iter().map(|&(k, crew, day)| (first[k], crew, day)).collect();
        let s = Schedule { placed, free_from: s.free_from, spent: s.spent };
        let high_first: Vec<usize> =
            by_ratio.iter().copied().filter(|&i| all[i].band == RiskBand::High).collect();
        let s = fill(&all, &high_first, s, request, horizon);
        (fill(&all, &by_ratio, s, request, horizon), false)
    };
    finish(all, watched, request, &days, &by_ratio, best, optimal)
}

/// The best schedule of `all` within both limits, and whether it is known to be optimal.
fn optimise(
    all: &[Candidate],
    by_ratio: &[usize],
    request: &PlanRequest,
    horizon: u32,
    capacity: u32,
) -> (Schedule, bool) {
    // 1. The budget alone, exactly; then try to schedule it.
    let unit = request.budget / BUDGET_STEPS as f64;
    let chosen = knapsack(all, |c| (c.cost / unit - 1e-9).ceil().max(0.0) as usize, BUDGET_STEPS);
    let first = schedule(all, by_ratio, |i| chosen[i], request, horizon, capacity);
    let (mut best, mut optimal) = (first, false);
    if best.placed.len() == chosen.iter().filter(|c| **c).count() {
        optimal = true;
    } else {
        // 2. Crew time binds too. Alternatives, each filled up with the next-best jobs that
        // still fit: the budget optimum, the crew-time optimum, the greedy by combined use
        // of both, and the single most valuable job; the best of them is the plan.
        let by_days = order_by(all, |c| c.reduction() / f64::from(c.crew_days));
        let in_days = knapsack(all, |c| c.crew_days as usize, capacity as usize);
        let combined = order_by(all, |c| {
            c.reduction() / (c.cost / request.budget + f64::from(c.crew_days) / f64::from(capacity.max(1)))
        });
        let top = order_by(all, Candidate::reduction)
            .into_iter()
            .find(|&i| all[i].cost <= request.budget && all[i].crew_days <= horizon);
        let alternatives = [
            fill(all, by_ratio, best, request, horizon),
            fill(
                all,
                by_ratio,
                schedule(all, &by_days, |i| in_days[i], request, horizon, capacity),
                request,
                horizon,
            ),
            schedule(all, &combined, |_| true, request, horizon, capacity),
            fill(
                all,
                &combined,
                schedule(all, &combined, |i| Some(i) == top, request, horizon, capacity),
                request,
                horizon,
            ),
        ];
        best = alternatives
            .into_iter()
            .max_by(|a, b| a.value(all).total_cmp(&b.value(all)))
            .expect("four alternatives");
    }

    (best, optimal)
}

/// The plan of a schedule: its jobs on their days, what was left out and why, how far from
/// the bound it is, and what it does about each watched (high- or critical-risk) asset.
fn finish(
    all: Vec<Candidate>,
    watched: Vec<Watched>,
    request: &PlanRequest,
    days: &[NaiveDate],
    by_ratio: &[usize],
    best: Schedule,
    optimal: bool,
) -> MaintenancePlan {
    let horizon = days.len() as u32;
    let capacity = horizon * request.crews;
    let value = best.value(&all);
    let upper_bound = if optimal {
        value
    } else {
        fractional_bound(&all, |c| c.cost, request.budget)
            .min(fractional_bound(&all, |c| f64::from(c.crew_days), f64::from(capacity)))
            .max(value)
    };
    // A plan that reaches the bound is optimal, whichever way it was found.
    let optimal = optimal || value >= upper_bound * (1.0 - 1e-12);
    let placed: HashMap<usize, (u32, u32)> =
        best.placed.iter().map(|&(i, crew, day)| (i, (crew, day))).collect();
    let mut jobs: Vec<PlannedJob> = best
        .placed
        .iter()
        .map(|&(i, crew, day)| {
            let c = &all[i];
            PlannedJob {
                candidate: c.clone(),
                crew: crew + 1,
                start: days[day as usize],
                end: days[(day + c.crew_days - 1) as usize],
                start_day: day,
            }
        })
        .collect();
    jobs.sort_by(|a, b| a.start_day.cmp(&b.start_day).then(a.crew.cmp(&b.crew)));
    let spent: f64 = jobs.iter().map(|j| j.candidate.cost).sum();
    let crew_days_used = jobs.iter().map(|j| j.candidate.crew_days).sum();
    let left = request.budget - spent;
    let deferred_all: Vec<Deferred> = by_ratio
        .iter()
        .filter(|i| !placed.contains_key(i))
        .map(|&i| Deferred {
            candidate: all[i].clone(),
            reason: if all[i].cost > left { DeferReason::Budget } else { DeferReason::CrewTime },
        })
        .collect();
    let mut plan = MaintenancePlan {
        request: request.clone(),
        priorities: Vec::new(),
        answer: None,
        first_day: days.first().copied().unwrap_or(request.start),
        last_day: days.last().copied().unwrap_or(request.start),
        working_days: horizon,
        deferred_total: deferred_all.len(),
        deferred: deferred_all.iter().take(MAX_DEFERRED_LISTED).cloned().collect(),
        candidates: all.len(),
        spent,
        risk_reduction: value,
        upper_bound,
        optimal,
        crew_days_used,
        crew_days_available: capacity,
        jobs,
    };
    plan.priorities = priorities(&plan, &deferred_all, watched);
    plan.answer = request.asked.as_deref().and_then(|id| {
        let job = plan.jobs.iter().find(|j| j.candidate.asset == id);
        match (job, deferred_all.iter().find(|d| d.candidate.asset == id)) {
            (Some(j), _) => Some(format!(
                "{} ({id}) is in the plan: {} by crew {}, {} to {}.",
                j.candidate.name,
                j.candidate.intervention.as_str(),
                j.crew,
                j.start,
                j.end
            )),
            (None, Some(d)) => Some(format!(
                "{} ({id}) is not in the plan: {}.",
                d.candidate.name,
                left_out_because(d, &plan)
            )),
            (None, None) => None,
        }
    });
    plan
}

/// Risk removed per unit of cost: the order in which the planner prefers work.
fn per_cost(c: &Candidate) -> f64 {
    c.reduction() / c.cost.max(f64::MIN_POSITIVE)
}

/// Indices of `all` ordered by `key`, highest first (ties by asset id, for stable plans).
fn order_by(all: &[Candidate], key: impl Fn(&Candidate) -> f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| {
        key(&all[b]).total_cmp(&key(&all[a])).then_with(|| all[a].asset.cmp(&all[b].asset))
    });
    order
}

/// Jobs placed so far: (candidate index, crew, first working day), and each crew's next
/// free day.
struct Schedule {
    placed: Vec<(usize, u32, u32)>,
    free_from: Vec<u32>,
    spent: f64,
}

impl Schedule {
    fn value(&self, all: &[Candidate]) -> f64 {
        self.placed.iter().map(|&(i, _, _)| all[i].reduction()).sum()
    }

    /// Put job `i` on the crew free earliest if it ends inside the horizon and the budget
    /// allows; whether it was placed.
    fn try_place(&mut self, all: &[Candidate], i: usize, budget: f64, horizon: u32) -> bool {
        let c = &all[i];
        if self.spent + c.cost > budget * (1.0 + 1e-12) {
            return false;
        }
        let Some((crew, &from)) = self.free_from.iter().enumerate().min_by_key(|(_, f)| **f) else {
            return false;
        };
        if from + c.crew_days > horizon {
            return false;
        }
        self.free_from[crew] = from + c.crew_days;
        self.spent += c.cost;
        self.placed.push((i, crew as u32, from));
        true
    }
}

/// The wanted jobs placed in `order`, or the same jobs longest first (first-fit decreasing:
/// short jobs placed first can leave every crew a gap too short for a long one), whichever
/// plan is worth more.
fn schedule(
    all: &[Candidate],
    order: &[usize],
    wanted: impl Fn(usize) -> bool,
    request: &PlanRequest,
    horizon: u32,
    capacity: u32,
) -> Schedule {
    let place = |jobs: &[usize]| {
        let mut s = Schedule { placed: Vec::new(), free_from: vec![0; request.crews as usize], spent: 0.0 };
        let mut used = 0;
        for &i in jobs {
            if used + all[i].crew_days <= capacity && s.try_place(all, i, request.budget, horizon) {
                used += all[i].crew_days;
            }
        }
        s
    };
    let mut jobs: Vec<usize> = order.iter().copied().filter(|&i| wanted(i)).collect();
    let in_order = place(&jobs);
    // Stable: equally long jobs keep their order of priority.
    jobs.sort_by_key(|&i| std::cmp::Reverse(all[i].crew_days));
    let longest_first = place(&jobs);
    if longest_first.value(all) > in_order.value(all) {
        longest_first
    } else {
        in_order
    }
}

/// Add the next-best jobs that still fit the budget and a crew's time.
fn fill(
    all: &[Candidate],
    order: &[usize],
    mut s: Schedule,
    request: &PlanRequest,
    horizon: u32,
) -> Schedule {
    let taken: std::collections::HashSet<usize> = s.placed.iter().map(|p| p.0).collect();
    for &i in order.iter().filter(|i| !taken.contains(i)) {
        s.try_place(all, i, request.budget, horizon);
    }
    s
}

/// The exact 0/1 knapsack with integer weights up to `cap`: which candidates to take.
fn knapsack(all: &[Candidate], weigh: impl Fn(&Candidate) -> usize, cap: usize) -> Vec<bool> {
    let weight: Vec<usize> = all.iter().map(weigh).collect();
    let items: Vec<usize> = (0..all.len()).filter(|&i| weight[i] <= cap).collect();
    let mut best = vec![0.0_f64; cap + 1];
    // take[k][w]: item k improved the best value at capacity w.
    let words = (cap + 1).div_ceil(64);
    let mut take = vec![0u64; items.len() * words];
    for (k, &i) in items.iter().enumerate() {
        let (w, v) = (weight[i], all[i].reduction());
        for c in (w..=cap).rev() {
            let with = best[c - w] + v;
            if with > best[c] {
                best[c] = with;
                take[k * words + c / 64] |= 1 << (c % 64);
            }
        }
    }
    let mut chosen = vec![false; all.len()];
    let mut c = cap;
    for (k, &i) in items.iter().enumerate().rev() {
        if take[k * words + c / 64] & (1 << (c % 64)) != 0 {
            chosen[i] = true;
            c -= weight[i];
        }
    }
    chosen
}

/// The fractional (linear-relaxation) optimum under one limit: an upper bound on any plan.
fn fractional_bound(all: &[Candidate], weight: impl Fn(&Candidate) -> f64, limit: f64) -> f64 {
    let order = order_by(all, |c| c.reduction() / weight(c).max(f64::MIN_POSITIVE));
    let (mut room, mut value) = (limit, 0.0);
    for i in order {
        let w = weight(&all[i]);
        if w <= room {
            room -= w;
            value += all[i].reduction();
        } else {
            value += all[i].reduction() * room / w;
            break;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn candidate(id: usize, cost: f64, days: u32, reduction: f64) -> Candidate {
        Candidate {
            asset: format!("a{id:03}"),
            name: String::new(),
            kind: AssetKind::Line,
            band: RiskBand::Medium,
            intervention: Intervention::Repair,
            cost,
            cost_basis: CostBasis::Default,
            crew_days: days,
            risk_before: reduction + 10.0,
            risk_after: 10.0,
        }
    }

    fn request(weeks: u32, crews: u32, budget: f64) -> PlanRequest {
        // 2026-11-23 is a Monday.
        PlanRequest {
            start: date("2026-11-23"),
            horizon_weeks: weeks,
            crews,
            budget,
            currency: "EUR".into(),
            holidays: Holidays::default(),
            asked: None,
        }
    }

    /// The best total reduction over all subsets within the budget and total crew-days.
    fn brute_force(all: &[Candidate], budget: f64, crew_days: u32) -> f64 {
        (0u32..1 << all.len())
            .filter_map(|mask| {
                let picked =
                    || all.iter().enumerate().filter(move |(i, _)| mask & (1 << i) != 0).map(|(_, c)| c);
                let cost: f64 = picked().map(|c| c.cost).sum();
                let days: u32 = picked().map(|c| c.crew_days).sum();
                (cost <= budget * (1.0 + 1e-9) && days <= crew_days)
                    .then(|| picked().map(Candidate::reduction).sum())
            })
            .fold(0.0, f64::max)
    }

    fn check_feasible(plan: &MaintenancePlan, all: &[Candidate]) {
        let r = &plan.request;
        assert!(plan.spent <= r.budget * (1.0 + 1e-9), "overspent {} of {}", plan.spent, r.budget);
        let mut seen = std::collections::HashSet::new();
        for job in &plan.jobs {
            assert!(seen.insert(job.candidate.asset.clone()), "asset twice");
            assert!(job.crew >= 1 && job.crew <= r.crews);
            assert!(job.start_day + job.candidate.crew_days <= plan.working_days, "ends after the horizon");
            assert!(job.start >= plan.first_day && job.end <= plan.last_day);
            assert!(all.contains(&job.candidate));
        }
        for a in &plan.jobs {
            for b in &plan.jobs {
                if a.candidate.asset != b.candidate.asset && a.crew == b.crew {
                    let (a0, a1) = (a.start_day, a.start_day + a.candidate.crew_days);
                    let (b0, b1) = (b.start_day, b.start_day + b.candidate.crew_days);
                    assert!(a1 <= b0 || b1 <= a0, "crew {} double-booked", a.crew);
                }
            }
        }
        let sum: f64 = plan.jobs.iter().map(|j| j.candidate.reduction()).sum();
        assert!((sum - plan.risk_reduction).abs() < 1e-6);
        assert!(plan.risk_reduction <= plan.upper_bound + 1e-6);
        assert_eq!(plan.jobs.len() + plan.deferred_total, all.len());
    }

    #[test]
    fn working_days_skip_weekends_and_start_on_the_next_one() {
        let days = working_days(date("2026-11-28"), 1, &Holidays::default()); // a Saturday
        assert_eq!(days.first(), Some(&date("2026-11-30")));
        assert_eq!(days.len(), 5);
        assert!(days.iter().all(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)));
        assert_eq!(working_days(date("2026-11-23"), 12, &Holidays::default()).len(), 60);
    }

    #[test]
    fn holidays_are_no_working_days() {
        let holidays = Holidays::parse(Holidays::DEFAULT).unwrap();
        // 2026-12-21 is a Monday: 25 Dec (Fri), 1 Jan (Fri) are off; 26 Dec is a Saturday.
        let days = working_days(date("2026-12-21"), 2, &holidays);
        assert_eq!(days.len(), 8);
        assert!(!days.contains(&date("2026-12-25")) && !days.contains(&date("2027-01-01")));
        let once = Holidays::parse(" 2026-12-24 , 12-31 ").unwrap();
        assert!(once.contains(date("2026-12-24")) && !once.contains(date("2027-12-24")));
        assert!(once.contains(date("2030-12-31")));
        assert!(Holidays::parse("").unwrap() == Holidays::default());
        for bad in ["12/25", "13-01", "2026-02-30", "xmas"] {
            assert!(Holidays::parse(bad).unwrap_err().contains("MM-DD"), "{bad}");
        }
    }

    /// High- and critical-risk work is planned first: a cheap medium job worth more per cost
    /// does not push out a critical one that fits.
    #[test]
    fn high_and_critical_work_is_planned_first() {
        let mut critical = candidate(1, 900.0, 1, 15.0);
        critical.band = RiskBand::Critical;
        let cheap = candidate(2, 200.0, 1, 10.0);
        let cheaper = candidate(3, 200.0, 1, 10.0);
        // Budget 1000: by risk removed alone the two cheap jobs (20 for 400) beat the critical
        // one (15 for 900), and both cannot be had; the critical job must come first.
        let all = vec![cheap, cheaper, critical];
        let plan = plan_candidates(all.clone(), &request(1, 1, 1000.0));
        check_feasible(&plan, &all);
        assert!(plan.jobs.iter().any(|j| j.candidate.asset == "a001"), "{:?}", plan.jobs);
    }

    #[test]
    fn requests_are_validated_in_words() {
        let today = date("2026-11-24");
        let ok =
            PlanRequest::from_pairs([("weeks", "8"), ("crews", "2"), ("budget", "100,000")], today).unwrap();
        assert_eq!((ok.horizon_weeks, ok.crews, ok.budget, ok.start), (8, 2, 100_000.0, today));
        for (pairs, needle) in [
            (vec![("weeks", "0")], "Horizon must be 1 to 104"),
            (vec![("weeks", "two")], "whole number of weeks"),
            (vec![("crews", "51")], "Crews must be 1 to 50"),
            (vec![("budget", "-5")], "Budget must be more than 0"),
            (vec![("budget", "NaN")], "Budget must be more than 0"),
            (vec![("budget", "1e12")], "at most"),
            (vec![("start", "31/01/2026")], "Start must be a date"),
            (vec![("start", "2035-01-01")], "three years after"),
        ] {
            let error = PlanRequest::from_pairs(pairs.clone(), today).unwrap_err();
            assert!(error.contains(needle), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn the_budget_alone_is_solved_exactly() {
        // Greedy by ratio takes a (ratio 2.0) and then nothing fits; the best is b + c.
        let all =
            vec![candidate(0, 60.0, 1, 120.0), candidate(1, 50.0, 1, 90.0), candidate(2, 50.0, 1, 90.0)];
        let plan = plan_candidates(all.clone(), &request(4, 2, 100.0));
        check_feasible(&plan, &all);
        assert!(plan.optimal);
        assert!((plan.risk_reduction - 180.0).abs() < 1e-9, "{}", plan.risk_reduction);
        let mut ids: Vec<&str> = plan.jobs.iter().map(|j| j.candidate.asset.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["a001", "a002"]);
        assert_eq!(plan.deferred[0].reason, DeferReason::Budget);
    }

    #[test]
    fn crews_work_in_parallel_and_jobs_that_do_not_fit_are_deferred_for_crew_time() {
        // One week, two crews: 10 crew-days. Three 4-day jobs: only two fit (one per crew).
        let all = vec![candidate(0, 1.0, 4, 30.0), candidate(1, 1.0, 4, 20.0), candidate(2, 1.0, 4, 10.0)];
        let plan = plan_candidates(all.clone(), &request(1, 2, 1000.0));
        check_feasible(&plan, &all);
        assert!(!plan.optimal);
        assert_eq!(plan.jobs.len(), 2);
        assert!(plan.jobs.iter().all(|j| j.start_day == 0), "both start on day one, one per crew");
        assert_eq!(plan.deferred[0].candidate.asset, "a002");
        assert_eq!(plan.deferred[0].reason, DeferReason::CrewTime);
        assert_eq!(plan.jobs[0].end, date("2026-11-26"), "Mon..Thu");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// With ample crews the plan is the exact budget optimum (costs on the rounding grid,
        /// so rounding costs nothing); with tight crews it is feasible, within its bound, and
        /// at least 60 % of the best subset that merely fits the total crew-days.
        #[test]
        fn plans_are_feasible_and_near_the_brute_force_optimum(
            items in prop::collection::vec((1u32..400, 1u32..8, 1u32..100), 1..11),
            budget_steps in 1u32..1200,
            crews in 1u32..4,
            weeks in 1u32..3,
        ) {
            let budget = f64::from(budget_steps) * 10.0;
            let unit = budget / BUDGET_STEPS as f64;
            let all: Vec<Candidate> = items.iter().enumerate()
                .map(|(i, &(c, d, v))| candidate(i, f64::from(c) * unit * 5.0, d, f64::from(v)))
                .collect();
            let ample = plan_candidates(all.clone(), &request(52, 50, budget));
            check_feasible(&ample, &all);
            let best = brute_force(&all, budget, u32::MAX);
            prop_assert!(ample.optimal);
            prop_assert!((ample.risk_reduction - best).abs() < 1e-6, "{} vs {}", ample.risk_reduction, best);

            let tight = plan_candidates(all.clone(), &request(weeks, crews, budget));
            check_feasible(&tight, &all);
            // The best subset within the budget and the *total* crew-days (a relaxation: it
            // ignores that a job cannot be split between crews), counting only jobs that fit
            // a crew's horizon at all.
            let relaxed = relaxed_schedulable(&all, budget, &tight);
            prop_assert!(tight.upper_bound + 1e-6 >= relaxed, "bound {} below {}", tight.upper_bound, relaxed);
            if tight.optimal {
                // Nothing within the limits can beat it, not even the relaxation.
                prop_assert!(tight.risk_reduction + 1e-6 >= relaxed, "claimed optimal: {} vs {}", tight.risk_reduction, relaxed);
            }
            // Not a theorem: over 100 000 random cases the worst seen was 69 %.
            prop_assert!(tight.risk_reduction + 1e-6 >= 0.6 * relaxed, "{} vs {}", tight.risk_reduction, relaxed);
        }
    }

    /// The brute-force optimum counting only jobs that fit a crew's horizon on their own.
    fn relaxed_schedulable(all: &[Candidate], budget: f64, plan: &MaintenancePlan) -> f64 {
        let fit: Vec<Candidate> = all.iter().filter(|c| c.crew_days <= plan.working_days).cloned().collect();
        brute_force(&fit, budget, plan.crew_days_available)
    }

    #[test]
    fn candidates_come_from_the_risk_model_and_the_cost_history() {
        use crate::domain::model::MaintenanceRecord;
        use crate::domain::topology::SwitchMode;
        let today = date("2026-11-24");
        let bus = |id: &str| Asset::new(id, AssetKind::Bus);
        let line = |id: &str, condition: u8, year: i16| Asset {
            from_bus: Some("a".into()),
            to_bus: Some("b".into()),
            condition: Some(condition),
            commissioning_year: Some(year),
            length_km: Some(2.0).into(),
            ..Asset::new(id, AssetKind::Line)
        };
        let mut grid = GridData {
            assets: vec![
                bus("a"),
                bus("b"),
                Asset { bus: Some("a".into()), source: true, ..Asset::new("g", AssetKind::Generator) },
                line("worn", 20, 2000),
                line("tired", 60, 2010),
                line("fine", 90, 2020),
                Asset {
                    bus: Some("b".into()),
                    customers: Some(10),
                    condition: Some(5),
                    ..Asset::new("d", AssetKind::Load)
                },
            ],
            ..Default::default()
        };
        let record = |n: usize, cost: f64| MaintenanceRecord {
            id: format!("m{n}").into(),
            asset: "fine".into(),
            date: date("2020-01-01"),
            kind: MaintenanceKind::Repair,
            cost: Some(cost).into(),
            notes: Default::default(),
            synthetic: false,
        };
        grid.maintenance = vec![record(1, 1000.0), record(2, 3000.0), record(3, 2000.0)];
        let topology = Topology::build(&grid, SwitchMode::Respect);
        let found = candidates(&grid, &topology, today);
        let by_id = |id: &str| found.iter().find(|c| c.asset == id);
        assert!(by_id("fine").is_none() && by_id("d").is_none(), "good assets and loads are not candidates");
        let worn = by_id("worn").unwrap();
        assert_eq!(worn.intervention, Intervention::Replacement);
        assert_eq!(worn.cost_basis, CostBasis::Default);
        assert_eq!(worn.cost, 240_000.0);
        assert_eq!(worn.crew_days, 6);
        let tired = by_id("tired").unwrap();
        assert_eq!(tired.intervention, Intervention::Repair);
        assert_eq!(tired.cost, 2000.0, "median of the three line repairs");
        assert_eq!(tired.cost_basis, CostBasis::History { records: 3, synthetic: false });
        // The reduction is the risk model's own difference, condition 60 → 85.
        let scores = crate::domain::risk::score_each(&grid, &topology, today);
        let index = grid.assets.iter().position(|a| a.id == "tired").unwrap();
        assert!((tired.risk_before - scores[index].score).abs() < 1e-9);
        let condition_weight_share = scores[index].factors.iter().find(|f| f.name == "condition").unwrap();
        let expected_drop = condition_weight_share.contribution * (25.0 / 40.0);
        assert!((tired.reduction() - expected_drop).abs() < 1e-9, "{} vs {expected_drop}", tired.reduction());
    }
}
