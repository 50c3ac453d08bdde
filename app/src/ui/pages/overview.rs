//! Overview (public): the state of the grid and of the service at a glance.

use leptos::prelude::*;
use leptos_meta::Title;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::grid::{get_grid_summary, get_overview_kpis, GridSummary, OverviewKpis};
use crate::api::live::{get_live_conditions, LiveConditions};
use crate::api::status::{get_service_status, ServiceStatus};
use crate::domain::conditions::Freshness;
use crate::error::AppError;
use crate::ui::chart::{BarChart, LineChart};
use crate::ui::format;

/// Seconds between automatic refreshes, unless the URL says otherwise (`?refresh=N`).
pub const DEFAULT_REFRESH_SECONDS: u32 = 60;
pub const MIN_REFRESH_SECONDS: u32 = 5;
pub const MAX_REFRESH_SECONDS: u32 = 3600;

/// The refresh interval a `?refresh=` value asks for, within the limits.
pub fn refresh_interval(value: Option<&str>) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or(DEFAULT_REFRESH_SECONDS, |n| n.clamp(MIN_REFRESH_SECONDS, MAX_REFRESH_SECONDS))
}

/// Data older than this many refresh intervals is shown as stale.
pub const STALE_AFTER_INTERVALS: i64 = 2;

/// The overview page. Its cards are rendered on the server, in the first HTML; the only
/// island is the freshness bar (countdown, refresh), which on refresh asks the server for the
/// cards again, rendered ([`overview_cards`]), and puts them in place. The cards' code stays
/// on the server: the browser downloads the bar, not the dashboard.
#[component]
pub fn Overview() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let interval = refresh_interval(query.get_untracked().get("refresh").as_deref());
    view! {
        <Title text="Overview"/>
        <h1>"Overview"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {Suspend::new(async move {
                let data = OverviewData::load().await;
                let as_of = data.as_of();
                view! {
                    <OverviewLive interval as_of/>
                    <div id="overview-cards" data-testid="overview-cards">{data.view()}</div>
                }
            })}
        </Suspense>
    }
}

/// What the overview's cards show: each part loaded on its own, so one failing part shows its
/// error and the others their data.
pub struct OverviewData {
    status: Result<ServiceStatus, AppError>,
    grid: Result<GridSummary, AppError>,
    kpis: Result<OverviewKpis, AppError>,
    live: Result<LiveConditions, AppError>,
}

impl OverviewData {
    pub async fn load() -> Self {
        let (status, grid, kpis, live) = futures::join!(
            get_service_status(),
            get_grid_summary(),
            get_overview_kpis(),
            get_live_conditions()
        );
        OverviewData { status, grid, kpis, live }
    }

    /// When the risk figures were computed (what the freshness bar counts the age from).
    pub fn as_of(&self) -> Option<Moment> {
        self.kpis.as_ref().ok().map(|k| Moment::of(k.as_of))
    }

    fn view(self) -> AnyView {
        let OverviewData { status, grid, kpis, live } = self;
        view! {
            <section class="card" aria-labelledby="service-heading">
                <div class="card-head">
                    <h2 id="service-heading">"Service"</h2>
                </div>
                {match status {
                    Ok(s) => view! {
                        <dl class="facts" data-testid="service-status">
                            <div>
                                <dt>"Version"</dt>
                                <dd data-testid="version">{s.version}</dd>
                            </div>
                            <div>
                                <dt>"Uptime"</dt>
                                <dd data-testid="uptime" data-seconds=s.uptime_seconds>
                                    {format::duration(s.uptime_seconds)}
                                </dd>
                            </div>
                        </dl>
                    }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }}
            </section>
            <section class="card" aria-labelledby="kpi-heading">
                <h2 id="kpi-heading">"Risk and reliability"</h2>
                {match kpis {
                    Ok(k) => kpi_view(k),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }}
            </section>
            <section class="card" aria-labelledby="live-heading">
                <h2 id="live-heading">"Live conditions"</h2>
                {match live {
                    Ok(l) => view! { <LiveCard live=l/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }}
            </section>
            <section class="card" aria-labelledby="grid-heading">
                <h2 id="grid-heading">"Grid"</h2>
                {match grid {
                    Ok(g) => grid_view(g),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }}
            </section>
        }
        .into_any()
    }
}

fn kpi_view(k: OverviewKpis) -> AnyView {
    let last = k.reliability.last().cloned();
    let saidi: Vec<(String, f64)> = k.reliability.iter().map(|y| (y.year.to_string(), y.saidi)).collect();
    view! {
        <dl class="facts" data-testid="kpis">
            <div><dt>"Assets at high risk"</dt><dd data-testid="kpi-high-risk">{k.at_high_risk}</dd></div>
            <div><dt>"Critical"</dt><dd data-testid="kpi-critical">{k.critical}</dd></div>
            <div><dt>"Open incidents"</dt><dd data-testid="kpi-open-incidents">{k.open_incidents}</dd></div>
            {last.map(|y| view! {
                <div><dt>{format!("SAIFI {}", y.year)}</dt><dd data-testid="kpi-saifi">{format!("{:.3}", y.saifi)}</dd></div>
                <div><dt>{format!("SAIDI {} (min)", y.year)}</dt><dd data-testid="kpi-saidi">{format!("{:.1}", y.saidi)}</dd></div>
                <div><dt>{format!("CAIDI {} (min)", y.year)}</dt><dd data-testid="kpi-caidi">{y.caidi.map(|c| format!("{c:.0}")).unwrap_or_else(|| "–".into())}</dd></div>
            })}
        </dl>
        {(!saidi.is_empty()).then(|| view! {
            <BarChart id="saidi-chart" title="SAIDI per year (minutes per customer)".into() unit="minutes" values=saidi.clone()/>
            <table class="factors" data-testid="reliability-table">
                <caption class="muted">"Reliability indices per year (IEEE 1366)"</caption>
                <thead><tr><th scope="col">"Year"</th><th scope="col">"SAIFI"</th><th scope="col">"SAIDI (min)"</th><th scope="col">"CAIDI (min)"</th></tr></thead>
                <tbody>
                    {k.reliability.iter().map(|y| view! {
                        <tr><th scope="row">{y.year}</th><td>{format!("{:.3}", y.saifi)}</td><td>{format!("{:.1}", y.saidi)}</td><td>{y.caidi.map(|c| format!("{c:.0}")).unwrap_or_else(|| "–".into())}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
        {k.synthetic_incidents.then(|| view! { <p class="muted">"Indices computed from a synthetic incident record."</p> })}
    }
    .into_any()
}

fn grid_view(g: GridSummary) -> AnyView {
    let share = if g.buses_total == 0 {
        "–".to_owned()
    } else {
        format!("{:.1} %", 100.0 * g.buses_energised as f64 / g.buses_total as f64)
    };
    view! {
        <dl class="facts" data-testid="grid-summary">
            <div>
                <dt>"Grid"</dt>
                <dd data-testid="grid-name">{g.name.clone()}</dd>
            </div>
            <div>
                <dt>"Buses energised"</dt>
                <dd data-testid="energised-share">{share}</dd>
            </div>
            <div>
                <dt>"Customers"</dt>
                <dd>{g.customers_total}</dd>
            </div>
            {g.counts.iter().filter(|(_, n)| *n > 0).map(|(kind, n)| view! {
                <div>
                    <dt>{format::plural_kind(*kind)}</dt>
                    <dd data-testid=format!("count-{kind}")>{*n}</dd>
                </div>
            }).collect_view()}
        </dl>
        {g.has_synthetic_data.then(|| view! {
            <p class="muted" data-testid="synthetic-note">
                "Some attributes (age, condition, customers, history) are synthetic: generated for this public demo grid, not measured."
            </p>
        })}
    }
    .into_any()
}

/// The overview's cards, rendered on the server as on the page, and the time the figures
/// were computed: what the freshness bar puts in place on a refresh.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenderedCards {
    pub html: String,
    pub as_of: Option<Moment>,
}

/// A moment as the freshness bar shows it, written out by the server: the browser only
/// subtracts milliseconds, so no date code is in its download.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// RFC 3339, for the `datetime` attribute.
    pub iso: String,
    /// What is shown: "14:05:09 UTC".
    pub clock: String,
    /// Milliseconds since the Unix epoch.
    pub ms: f64,
}

impl Moment {
    pub fn of(at: DateTime<Utc>) -> Self {
        Moment {
            iso: at.to_rfc3339(),
            clock: at.format("%H:%M:%S UTC").to_string(),
            ms: at.timestamp_millis() as f64,
        }
    }
}

#[server(endpoint = "overview_cards")]
pub async fn overview_cards() -> Result<RenderedCards, AppError> {
    let data = OverviewData::load().await;
    let as_of = data.as_of();
    let html = Owner::new().with(|| data.view().to_html());
    Ok(RenderedCards { html, as_of })
}

/// The freshness bar: when the figures were computed and how old they are, the countdown to
/// the next refresh (paused while the tab is hidden), and "Refresh now". A refresh fetches the
/// rendered cards and replaces the ones on the page.
#[island]
fn OverviewLive(interval: u32, as_of: Option<Moment>) -> impl IntoView {
    let as_of = RwSignal::new(as_of);
    let refreshes = RwSignal::new(0u32);
    let failed = RwSignal::new(None::<AppError>);
    let remaining = RwSignal::new(interval);
    let paused = RwSignal::new(false);
    // The clock the age of the data is measured with (ms since the epoch): the data's own
    // time at first (so server and browser render the same), then ticking in the browser.
    let now = RwSignal::new(as_of.with_untracked(|a| a.as_ref().map(|a| a.ms)));
    let seconds = |now: Option<f64>, at: &Option<Moment>| match (now, at) {
        (Some(now), Some(at)) => Some((((now - at.ms) / 1000.0).floor() as i64).max(0)),
        _ => None,
    };
    let age = move || as_of.with(|at| seconds(now.get(), at));
    let stale = move || age().is_some_and(|a| a > STALE_AFTER_INTERVALS * i64::from(interval));
    let refresh = move || {
        remaining.set(interval);
        refreshes.update(|n| *n += 1);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match overview_cards().await {
                Ok(cards) => {
                    if let Some(target) = document().get_element_by_id("overview-cards") {
                        target.set_inner_html(&cards.html);
                    }
                    as_of.set(cards.as_of);
                    failed.set(None);
                }
                Err(error) => failed.set(Some(error)),
            }
        });
    };
    // The countdown runs in the browser only; it stops while the tab is hidden and catches
    // up at once when the tab comes back.
    Effect::new(move |_| {
        let tick = move || {
            #[cfg(feature = "hydrate")]
            now.set(Some(leptos::web_sys::js_sys::Date::now()));
            let hidden = document().hidden();
            let was_paused = paused.get_untracked();
            paused.set(hidden);
            if hidden {
                return;
            }
            let overdue = as_of
                .with_untracked(|at| seconds(now.get_untracked(), at))
                .is_some_and(|age| age >= i64::from(interval));
            if was_paused && overdue {
                refresh();
                return;
            }
            match remaining.get_untracked() {
                0 | 1 => refresh(),
                n => remaining.set(n - 1),
            }
        };
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <section class="card freshness" aria-label="Data freshness" data-testid="freshness" data-interval=interval>
            <p>
                "Updated "
                {move || match as_of.get() {
                    Some(at) => view! {
                        <time datetime=at.iso data-testid="last-updated">{at.clock}</time>
                    }.into_any(),
                    None => "–".into_any(),
                }}
                {move || age().map(|a| view! { " " <span class="muted" data-testid="data-age" data-seconds=a>{format!("({} ago)", format::duration(a as u64))}</span> })}
                {move || stale().then(|| view! { " " <span class="badge stale" data-testid="stale">"Stale"</span> })}
            </p>
            <p class="muted" data-testid="countdown" data-paused=move || paused.get().to_string() data-remaining=move || remaining.get()>
                {move || if paused.get() {
                    "Auto-refresh paused while this tab is hidden.".to_owned()
                } else {
                    format!("Next refresh in {}.", format::duration(u64::from(remaining.get())))
                }}
            </p>
            // Its own line, so the countdown's changing length never rewraps the card (which
            // moved everything below it: a layout shift of 0.14 on a phone).
            <p class="muted">"Refreshes since the page loaded: " <span data-testid="refresh-count">{move || refreshes.get()}</span></p>
            {move || failed.get().map(|error| view! { <ErrorNotice error/> })}
            <button class="button" data-testid="refresh-status" on:click=move |_| refresh()>
                "Refresh now"
            </button>
        </section>
    }
}

/// A failed request as the user sees it: the public code and, where given, when to retry.
/// The live-conditions card: state with ages, the last failure, readings per location and
/// the trend. Sample data is labelled as such; stale readings are shown but marked.
#[component]
fn LiveCard(live: LiveConditions) -> impl IntoView {
    if live.state == Freshness::NotConfigured {
        return view! {
            <p class="muted" data-testid="live-conditions" data-state="not_configured">
                "Not configured: this server has no live-data provider, so no current conditions are shown. Grid data and analysis are unaffected."
            </p>
        }
        .into_any();
    }
    let state = live.state;
    let (label, class) = match state {
        Freshness::Healthy => ("Healthy", "ok"),
        Freshness::Degraded => ("Degraded", "warn"),
        Freshness::Stale => ("Stale", "stale"),
        Freshness::Down => ("Down", "stale"),
        Freshness::NotConfigured => ("Not configured", "warn"),
    };
    let explanation = match state {
        Freshness::Healthy => "Every region read recently.".to_owned(),
        Freshness::Degraded => {
            "Readings still usable, but the provider is failing or some regions are behind.".to_owned()
        }
        Freshness::Stale => format!(
            "Some readings are older than {}: they are shown but no longer used in risk scores (stale_data).",
            format::duration(live.stale_after_seconds)
        ),
        Freshness::Down => "No readings yet.".to_owned(),
        Freshness::NotConfigured => String::new(),
    };
    let stale_after = live.stale_after_seconds;
    let trend: Vec<(String, f64)> =
        live.trend.iter().map(|p| (p.hour.format("%H:00").to_string(), p.temperature_c)).collect();
    let gusts: Vec<(String, f64)> =
        live.trend.iter().map(|p| (p.hour.format("%H:00").to_string(), p.wind_gust_ms)).collect();
    view! {
        <div data-testid="live-conditions" data-state=state.as_str() data-sample=live.sample.to_string()>
            <p class="freshness">
                <span class=format!("badge {class}") data-testid="live-state">{label}</span>
                {live.sample.then(|| view! { <span class="badge sample" data-testid="live-sample">"Sample data"</span> })}
                <span class="muted">{explanation}</span>
            </p>
            {live.last_error.map(|e| view! { <ErrorNotice error=e/> })}
            <p class="muted">
                {format!("Provider: {}. Upstream calls in the last hour: {} of {}.", live.provider, live.calls_last_hour, live.hourly_quota)}
            </p>
            {(!live.locations.is_empty()).then(|| view! {
                <table class="readings" data-testid="live-readings">
                    <caption class="muted">"Newest reading per region"</caption>
                    <thead><tr><th scope="col">"Region"</th><th scope="col">"Temp."</th><th scope="col">"Wind / gusts"</th><th scope="col">"Precip."</th><th scope="col">"Age"</th></tr></thead>
                    <tbody>
                        {live.locations.into_iter().map(|l| {
                            let stale = l.age_seconds.is_some_and(|a| a > stale_after);
                            match l.reading {
                                Some(r) => view! {
                                    <tr class:stale=stale data-stale=stale.to_string()>
                                        <th scope="row">{l.location}</th>
                                        <td>{format!("{:.1} °C", r.temperature_c)}</td>
                                        <td>{format!("{:.0} / {} m/s", r.wind_speed_ms, r.wind_gust_ms.map_or("–".into(), |g| format!("{g:.0}")))}</td>
                                        <td>{format!("{:.1} mm/h", r.precipitation_mm_h)}</td>
                                        <td>{l.age_seconds.map(format::duration).unwrap_or_default()}{stale.then_some(" (stale)")}</td>
                                    </tr>
                                }.into_any(),
                                None => view! {
                                    <tr><th scope="row">{l.location}</th><td colspan="4" class="muted">"not read yet"</td></tr>
                                }.into_any(),
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {(trend.len() >= 2).then(|| view! {
                <div class="trend">
                    <LineChart id="temperature-trend" title="Temperature, hourly mean of all regions, last 24 h".into() unit="°C" values=trend/>
                    <LineChart id="gust-trend" title="Wind gusts, hourly mean of all regions, last 24 h".into() unit="m/s" values=gusts/>
                </div>
            })}
        </div>
    }
    .into_any()
}

#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    let retry = error.retry_after_seconds.map(|s| format!(" Try again in {}.", format::duration(s)));
    let sign_in = (error.code == crate::error::ErrorCode::Unauthorized)
        .then(|| view! { " " <a href="/login" data-testid="sign-in-prompt">"Sign in"</a> });
    view! {
        <p class="error" role="alert" data-error-code=error.code.as_str()>
            {error.message} {retry} " (" <code>{error.code.as_str()}</code> ")" {sign_in}
        </p>
    }
}
