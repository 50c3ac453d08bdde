//! Maintenance planner: horizon, crews and budget in (a GET form, so every plan has a URL);
//! the plan out as a timeline, a table of jobs, what was left out and exports.

use chrono::Datelike;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::maintenance::{plan_maintenance, PlanForm};
use crate::domain::planner::{
    CostBasis, DeferReason, MaintenancePlan, PlanRequest, MAX_CREWS, MAX_HORIZON_WEEKS,
};
use crate::ui::chart::{Span, Timeline};
use crate::ui::format::{self, money};
use crate::ui::pages::overview::ErrorNotice;

const FIELDS: [&str; 4] = ["start", "weeks", "crews", "budget"];

fn form_from(params: &leptos_router::params::ParamsMap) -> PlanForm {
    let get = |k: &str| params.get(k).filter(|v| !v.trim().is_empty());
    PlanForm { start: get("start"), weeks: get("weeks"), crews: get("crews"), budget: get("budget") }
}

fn export_href(path: &str, params: &leptos_router::params::ParamsMap) -> String {
    format::href_with(path, params, &FIELDS, None)
}

#[component]
pub fn Maintenance() -> impl IntoView {
    let params = use_query_map();
    let plan = Resource::new(move || form_from(&params.get()), plan_maintenance);
    view! {
        <Title text="Maintenance planner"/>
        <h1>"Maintenance planner"</h1>
        <PlanInputs params=params.get_untracked()/>
        <Transition fallback=|| view! { <p class="muted">"Planning…"</p> }>
            {move || plan.get().map(|result| match result {
                Ok(plan) => view! { <PlanView plan params=params.get_untracked()/> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn PlanInputs(params: leptos_router::params::ParamsMap) -> impl IntoView {
    let value = move |k: &str, default: String| params.get(k).filter(|v| !v.is_empty()).unwrap_or(default);
    view! {
        <Form method="GET" action="/maintenance" attr:class="filters" attr:aria-label="Plan inputs">
            <label>
                "Start"
                <input type="date" name="start" value=value("start", String::new())/>
            </label>
            <label>
                "Weeks"
                <input type="number" name="weeks" min="1" max=MAX_HORIZON_WEEKS inputmode="numeric"
                    value=value("weeks", PlanRequest::DEFAULT_HORIZON_WEEKS.to_string())/>
            </label>
            <label>
                "Crews"
                <input type="number" name="crews" min="1" max=MAX_CREWS inputmode="numeric"
                    value=value("crews", PlanRequest::DEFAULT_CREWS.to_string())/>
            </label>
            <label>
                "Budget"
                <input type="number" name="budget" min="1" step="any" inputmode="decimal"
                    value=value("budget", format!("{:.0}", PlanRequest::DEFAULT_BUDGET))/>
            </label>
            <button class="button" type="submit" data-testid="make-plan">"Plan"</button>
        </Form>
    }
}

#[component]
fn PlanView(plan: MaintenancePlan, params: leptos_router::params::ParamsMap) -> impl IntoView {
    let r = &plan.request;
    let share = if plan.upper_bound > 0.0 { 100.0 * plan.risk_reduction / plan.upper_bound } else { 100.0 };
    let quality = if plan.optimal {
        "optimal within the budget (costs rounded to 0.05 % of it)".to_owned()
    } else {
        format!("{share:.0} % of the most any plan could remove (crew time limits the plan)")
    };
    let history_synthetic = plan
        .jobs
        .iter()
        .any(|j| matches!(j.candidate.cost_basis, CostBasis::History { synthetic: true, .. }));
    // Week ticks, at most about ten.
    let every = plan.request.horizon_weeks.div_ceil(10).max(1);
    let ticks: Vec<(u32, String)> = (0..plan.request.horizon_weeks)
        .step_by(every as usize)
        .filter_map(|w| {
            let slot = w * 5;
            let day = plan.first_day + chrono::Duration::weeks(i64::from(w));
            (slot < plan.working_days).then(|| (slot, format!("{} {}", day.day(), month(day.month()))))
        })
        .collect();
    let spans: Vec<Span> = plan
        .jobs
        .iter()
        .map(|j| Span {
            row: j.crew - 1,
            start: j.start_day,
            len: j.candidate.crew_days,
            class: j.candidate.intervention.as_str(),
            label: format!(
                "{} {} ({}), {} to {}, crew {}",
                format::capitalise(j.candidate.intervention.as_str()),
                j.candidate.name,
                j.candidate.asset,
                j.start,
                j.end,
                j.crew
            ),
        })
        .collect();
    let description = format!(
        "{} jobs for {} crews between {} and {}; the table below lists every job.",
        plan.jobs.len(),
        r.crews,
        plan.first_day,
        plan.last_day
    );
    view! {
        <section class="card" aria-labelledby="plan-heading">
            <h2 id="plan-heading">"Plan"</h2>
            <dl class="facts" data-testid="plan-summary">
                <div><dt>"Jobs"</dt><dd data-testid="plan-jobs">{plan.jobs.len()}</dd></div>
                <div><dt>"Cost"</dt><dd data-testid="plan-spent" data-value=plan.spent>{format!("{} of {}", money(plan.spent), money(r.budget))}</dd></div>
                <div><dt>"Risk removed"</dt><dd data-testid="plan-reduction" data-value=plan.risk_reduction>{format!("{:.1} points", plan.risk_reduction)}</dd></div>
                <div><dt>"Crew-days"</dt><dd data-testid="plan-crew-days">{format!("{} of {}", plan.crew_days_used, plan.crew_days_available)}</dd></div>
                <div><dt>"Horizon"</dt><dd>{format!("{} to {}", plan.first_day, plan.last_day)}</dd></div>
                <div><dt>"Candidates"</dt><dd data-testid="plan-candidates">{plan.candidates}</dd></div>
            </dl>
            <p class="muted" data-testid="plan-quality">{format!("This plan is {quality}.")}</p>
            {(!plan.jobs.is_empty()).then(|| view! {
                <Timeline id="plan-timeline" title="Maintenance timeline by crew".into() description rows=r.crews slots=plan.working_days spans ticks/>
            })}
            <p class="exports">
                "Export this plan: "
                <a href=export_href("/export/plan.csv", &params) rel="external" data-testid="export-csv" download>"CSV"</a>
                " · "
                <a href=export_href("/export/plan.json", &params) rel="external" data-testid="export-json" download>"JSON"</a>
            </p>
        </section>
        <section class="card" aria-labelledby="jobs-heading">
            <h2 id="jobs-heading">"Jobs"</h2>
            {if plan.jobs.is_empty() {
                view! { <p class="muted" data-testid="no-jobs">"Nothing fits these limits: no candidate's cost and crew time fit the budget and the horizon."</p> }.into_any()
            } else {
                view! {
                    <table class="asset-table" data-testid="plan-table">
                        <thead><tr><th scope="col">"Start"</th><th scope="col">"Crew"</th><th scope="col">"Asset"</th><th scope="col">"Work"</th><th scope="col">"Days"</th><th scope="col">"Cost"</th><th scope="col">"Risk"</th><th scope="col">"Per 10 000"</th></tr></thead>
                        <tbody>
                            {plan.jobs.iter().map(|j| {
                                let c = &j.candidate;
                                view! {
                                    <tr data-testid="plan-row" data-id=c.asset.clone() data-crew=j.crew data-start=j.start.to_string() data-day=j.start_day data-days=c.crew_days data-cost=c.cost data-before=c.risk_before>
                                        <td data-label="Start">{j.start.to_string()}</td>
                                        <td data-label="Crew">{j.crew}</td>
                                        <td data-label="Asset"><a href=format!("/assets/{}", c.asset)>{c.name.clone()}</a> <span class="muted id">{c.asset.clone()}</span></td>
                                        <td data-label="Work">{c.intervention.as_str()}</td>
                                        <td data-label="Days">{c.crew_days}</td>
                                        <td data-label="Cost">{money(c.cost)}{cost_note(&c.cost_basis)}</td>
                                        <td data-label="Risk">{format!("{:.0} → {:.0}", c.risk_before, c.risk_after)}</td>
                                        <td data-label="Per 10 000">{format!("{:.2}", c.reduction_per_10k())}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <p class="muted">
                "Costs marked * are planning defaults; the others are the median of this grid's maintenance history for that kind of asset and work."
                {history_synthetic.then_some(" That history is synthetic in this demo grid.")}
            </p>
        </section>
        {(!plan.deferred.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="deferred-heading">
                <h2 id="deferred-heading">"Left out"</h2>
                <p class="muted">{format!("{} candidates did not fit; the best {} by risk removed per cost:", plan.deferred_total, plan.deferred.len())}</p>
                <table class="asset-table" data-testid="deferred-table">
                    <thead><tr><th scope="col">"Asset"</th><th scope="col">"Work"</th><th scope="col">"Days"</th><th scope="col">"Cost"</th><th scope="col">"Risk removed"</th><th scope="col">"Why"</th></tr></thead>
                    <tbody>
                        {plan.deferred.iter().map(|d| {
                            let c = &d.candidate;
                            view! {
                                <tr data-testid="deferred-row" data-id=c.asset.clone()>
                                    <td data-label="Asset"><a href=format!("/assets/{}", c.asset)>{c.name.clone()}</a> <span class="muted id">{c.asset.clone()}</span></td>
                                    <td data-label="Work">{c.intervention.as_str()}</td>
                                    <td data-label="Days">{c.crew_days}</td>
                                    <td data-label="Cost">{money(c.cost)}{cost_note(&c.cost_basis)}</td>
                                    <td data-label="Risk removed">{format!("{:.1}", c.reduction())}</td>
                                    <td data-label="Why">{match d.reason { DeferReason::Budget => "budget", DeferReason::CrewTime => "crew time" }}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
    }
}

fn cost_note(basis: &CostBasis) -> Option<&'static str> {
    matches!(basis, CostBasis::Default).then_some("*")
}

fn month(m: u32) -> &'static str {
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [(m as usize + 11) % 12]
}
