//! Maintenance planner: horizon, crews and budget in (a GET form, so every plan has a URL);
//! the plan out as a timeline, a table of jobs, what it does about every high- and
//! critical-risk asset, what was left out and exports; and whether a given asset is in it.

use chrono::Datelike;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::maintenance::{plan_maintenance, PlanForm};
use crate::domain::planner::{
    working_days, CostBasis, DeferReason, MaintenancePlan, PlanRequest, Priority, MAX_CREWS,
    MAX_HORIZON_WEEKS,
};
use crate::domain::risk::RiskBand;

/// High-risk assets listed before the rest are folded away (critical ones are always listed).
const PRIORITIES_SHOWN: usize = 20;
use crate::ui::chart::{Span, Timeline};
use crate::ui::format::{self, money};
use crate::ui::pages::overview::ErrorNotice;

const FIELDS: [&str; 4] = ["start", "weeks", "crews", "budget"];

fn form_from(params: &leptos_router::params::ParamsMap) -> PlanForm {
    let get = |k: &str| params.get(k).filter(|v| !v.trim().is_empty());
    PlanForm {
        start: get("start"),
        weeks: get("weeks"),
        crews: get("crews"),
        budget: get("budget"),
        asset: get("asset"),
    }
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
            <label>
                "Is an asset in the plan? (id)"
                <input type="text" name="asset" maxlength="64" autocapitalize="none" spellcheck="false"
                    placeholder="e.g. trafo-1" data-testid="plan-ask" value=value("asset", String::new())/>
            </label>
            <button class="button" type="submit" data-testid="make-plan">"Plan"</button>
        </Form>
    }
}

#[component]
fn PlanView(plan: MaintenancePlan, params: leptos_router::params::ParamsMap) -> impl IntoView {
    let r = &plan.request;
    let currency = r.currency.clone();
    let money = move |amount: f64| {
        if currency.is_empty() {
            money(amount)
        } else {
            format!("{} {currency}", money(amount))
        }
    };
    let share = if plan.upper_bound > 0.0 { 100.0 * plan.risk_reduction / plan.upper_bound } else { 100.0 };
    // What binds: the money nearly spent, or the crews' days nearly used.
    let binding = if plan.spent >= 0.95 * r.budget {
        " The budget limits it."
    } else if plan.crew_days_used as f64 >= 0.9 * plan.crew_days_available as f64 {
        " Crew time limits it."
    } else {
        ""
    };
    let quality = if plan.optimal {
        "This plan is optimal within the budget (costs rounded to 0.05 % of it).".to_owned()
    } else {
        format!(
            "Critical-risk work is planned first, then high-risk work, then the rest. This plan removes {share:.0} % of the most any plan could remove.{binding}"
        )
    };
    let history_synthetic = plan
        .jobs
        .iter()
        .any(|j| matches!(j.candidate.cost_basis, CostBasis::History { synthetic: true, .. }));
    // Week ticks, at most about ten, at the first working day of each week shown.
    let every = plan.request.horizon_weeks.div_ceil(10).max(1);
    let days = working_days(r.start, r.horizon_weeks, &r.holidays);
    let ticks: Vec<(u32, String)> = (0..plan.request.horizon_weeks)
        .step_by(every as usize)
        .filter_map(|w| {
            let from = plan.first_day + chrono::Duration::weeks(i64::from(w));
            let slot = days.iter().position(|d| *d >= from)?;
            let day = days[slot];
            Some((slot as u32, format!("{} {}", day.day(), month(day.month()))))
        })
        .collect();
    let off: Vec<String> = r
        .start
        .iter_days()
        .take_while(|d| *d <= plan.last_day)
        .filter(|d| r.holidays.contains(*d) && d.weekday().num_days_from_monday() < 5)
        .map(|d| format!("{} {}", d.day(), month(d.month())))
        .collect();
    let days_note = if off.is_empty() {
        "Working days: Monday to Friday.".to_owned()
    } else {
        format!("Working days: Monday to Friday, not on {} (holidays).", off.join(", "))
    };
    // Every critical asset, and the high-risk ones up to a screenful; the rest folded away.
    let priorities = plan.priorities.clone();
    let count = |band: RiskBand, planned: bool| {
        priorities.iter().filter(|p| p.band == band && (!planned || p.planned.is_some())).count()
    };
    let priority_summary = format!(
        "Critical: {} of {} planned. High: {} of {} planned. Each one not planned says why.",
        count(RiskBand::Critical, true),
        count(RiskBand::Critical, false),
        count(RiskBand::High, true),
        count(RiskBand::High, false),
    );
    let mut high_shown = 0;
    let (priorities, folded): (Vec<_>, Vec<_>) = priorities.into_iter().partition(|p| {
        p.band == RiskBand::Critical || {
            high_shown += 1;
            high_shown <= PRIORITIES_SHOWN
        }
    });
    let answer = plan.answer.clone();
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
        {answer.map(|a| view! { <p class="notice" role="status" data-testid="plan-answer">{a}</p> })}
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
            <p class="muted" data-testid="plan-quality">{quality}</p>
            <p class="muted" data-testid="plan-days">{days_note}</p>
            {(!plan.jobs.is_empty()).then(|| view! {
                <div class="timeline-scroll" tabindex="0" role="region" aria-label="Maintenance timeline, scrolls sideways">
                    <Timeline id="plan-timeline" title="Maintenance timeline by crew".into() description rows=r.crews slots=plan.working_days spans ticks/>
                </div>
            })}
            <p class="exports">
                "Export this plan: "
                <a href=export_href("/export/plan.csv", &params) rel="external" data-testid="export-csv" download>"CSV"</a>
                " · "
                <a href=export_href("/export/plan.json", &params) rel="external" data-testid="export-json" download>"JSON"</a>
            </p>
        </section>
        <section class="card" aria-labelledby="priorities-heading">
            <h2 id="priorities-heading">"High and critical risk"</h2>
            {if priorities.is_empty() {
                view! { <p class="muted" data-testid="no-priorities">"No asset is at high or critical risk."</p> }.into_any()
            } else {
                view! {
                    <p class="muted" data-testid="priorities-summary">{priority_summary}</p>
                    <PriorityTable priorities testid="priorities-table"/>
                    {(!folded.is_empty()).then(|| view! {
                        <details class="more-priorities">
                            <summary>{format!("{} more high-risk assets", folded.len())}</summary>
                            <PriorityTable priorities=folded testid="priorities-more"/>
                        </details>
                    })}
                }.into_any()
            }}
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

/// High- and critical-risk assets and what the plan does about each.
#[component]
fn PriorityTable(priorities: Vec<Priority>, testid: &'static str) -> impl IntoView {
    view! {
        <table class="asset-table" data-testid=testid>
            <thead><tr><th scope="col">"Asset"</th><th scope="col">"Risk"</th><th scope="col">"In the plan"</th></tr></thead>
            <tbody>
                {priorities.into_iter().map(|p| view! {
                    <tr data-testid="priority-row" data-id=p.asset.clone() data-band=p.band.as_str() data-planned=p.planned.is_some().to_string()>
                        <td data-label="Asset"><a href=format!("/assets/{}", p.asset)>{p.name.clone()}</a> <span class="muted id">{p.asset.clone()}</span></td>
                        <td data-label="Risk"><span class=format!("band band-{}", p.band.as_str())>{format::capitalise(p.band.as_str())}</span> {format!(" {:.0}", p.risk)}</td>
                        <td data-label="In the plan" data-testid="priority-outcome">{match (p.planned, p.why_not) {
                            (Some(day), _) => format!("Planned from {day}"),
                            (None, Some(why)) => format!("Not planned: {why}"),
                            (None, None) => "Not planned".to_owned(),
                        }}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn cost_note(basis: &CostBasis) -> Option<&'static str> {
    matches!(basis, CostBasis::Default).then_some("*")
}

fn month(m: u32) -> &'static str {
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [(m as usize + 11) % 12]
}
