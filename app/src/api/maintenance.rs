//! The maintenance planner: horizon, crews and budget in, an optimised plan out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::planner::MaintenancePlan;
use crate::error::AppError;

/// What the planner page asks, as typed (parsed and checked on the server, so the error
/// messages are the same for the page, the exports and any other client).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanForm {
    pub start: Option<String>,
    pub weeks: Option<String>,
    pub crews: Option<String>,
    pub budget: Option<String>,
    /// An asset id: the plan then says whether it is in it, and why not.
    #[serde(default)]
    pub asset: Option<String>,
}

impl PlanForm {
    /// Longest value accepted for any field.
    pub const MAX_FIELD_CHARS: usize = 64;

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        [
            ("start", &self.start),
            ("weeks", &self.weeks),
            ("crews", &self.crews),
            ("budget", &self.budget),
            ("asset", &self.asset),
        ]
        .into_iter()
        .filter_map(|(k, v): (&str, &Option<String>)| v.as_deref().map(|v| (k, v)))
    }
}

/// The plan for a form against a grid snapshot: what the server function and the exports
/// both return, in the configured currency and calendar.
#[cfg(feature = "ssr")]
pub fn plan_for(
    snapshot: &crate::ports::GridSnapshot,
    form: &PlanForm,
    today: chrono::NaiveDate,
    settings: &PlanSettings,
) -> Result<MaintenancePlan, AppError> {
    use crate::domain::planner::{plan, PlanRequest};
    if form.pairs().any(|(_, v)| v.chars().count() > PlanForm::MAX_FIELD_CHARS) {
        return Err(AppError::invalid_input(format!(
            "Each field is limited to {} characters.",
            PlanForm::MAX_FIELD_CHARS
        )));
    }
    let mut request = PlanRequest::from_pairs(form.pairs(), today).map_err(AppError::invalid_input)?;
    request.currency = settings.currency.clone();
    request.holidays = settings.holidays.clone();
    Ok(plan(&snapshot.data, &snapshot.topology, &request))
}

/// The planner's configuration: currency and holidays (`GRIDSCOPE_CURRENCY`,
/// `GRIDSCOPE_HOLIDAYS`), given to the server functions as context.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSettings {
    pub currency: String,
    pub holidays: crate::domain::planner::Holidays,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            currency: "EUR".into(),
            holidays: crate::domain::planner::Holidays::parse(crate::domain::planner::Holidays::DEFAULT)
                .expect("the default holidays parse"),
        }
    }
}

/// `form` may be left out (a plan with every default, as the page asks when its URL has no
/// query): an empty form encodes to an empty body.
#[server(endpoint = "maintenance_plan")]
pub async fn plan_maintenance(#[server(default)] form: PlanForm) -> Result<MaintenancePlan, AppError> {
    let snapshot = super::grid_snapshot().await?;
    let settings = use_context::<PlanSettings>().unwrap_or_default();
    plan_for(&snapshot, &form, chrono::Utc::now().date_naive(), &settings)
}
