//! Operations status (operators): is the service healthy, and if not, why. Uptime and success
//! rate, the store, data freshness and quota, cache hit ratios, and recent errors by public
//! code. The numbers come from the serving instance since it started.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::ops::{ops_status, OpsReport};
use crate::ui::card::{ResourceCard, ScrollTable};
use crate::ui::format;

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

#[component]
pub fn Status() -> impl IntoView {
    crate::ui::preload_island("status_view");
    view! {
        <Title text="Status"/>
        <h1>"Operations status"</h1>
        <StatusView/>
    }
}

/// The figures, refreshed in the browser on request.
#[island(lazy)]
fn StatusView() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let status = Resource::new(move || refresh.get(), |_| ops_status());
    view! {
        <p class="muted">
            "Figures of the instance that served this page, since it started. "
            <button class="link-button" type="button" data-testid="refresh-status" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
        </p>
        <ResourceCard id="service-heading" title="Service" resource=status render={|s: OpsReport| {
            let store = match &s.store_problem {
                None => format!("{} store answers ({} ms)", s.store_backend, s.store_latency_ms),
                Some(problem) => format!("{} store: {problem}", s.store_backend),
            };
            let store_class = if s.store_problem.is_none() { "ok" } else { "error" };
            view! {
                <dl class="facts" data-testid="service">
                    <div><dt>"Version"</dt><dd>{s.version.clone()}</dd></div>
                    <div><dt>"Uptime"</dt><dd data-testid="uptime">{format::duration(s.uptime_seconds)}</dd></div>
                    <div><dt>"Requests"</dt><dd data-testid="requests">{s.totals.requests}</dd></div>
                    <div><dt>"Success rate"</dt><dd data-testid="success-rate">{percent(s.success_rate())}
                        " (" {s.totals.server_errors} " server errors, " {s.totals.client_errors} " refused)"</dd></div>
                    <div><dt>"Store"</dt><dd class=store_class data-testid="store">{store}</dd></div>
                    <div><dt>"Analyst"</dt><dd>{s.analyst.clone().unwrap_or_else(|| "offline (no provider configured)".to_owned())}</dd></div>
                    <div><dt>"Signed-in sessions"</dt><dd>{s.totals.sessions_active.map_or_else(|| "unknown".to_owned(), |n| n.to_string())}</dd></div>
                    <div><dt>"Last backup"</dt><dd data-testid="last-backup">{s.totals.last_backup_at.map_or_else(|| "none by this instance".to_owned(), format::timestamp)}</dd></div>
                </dl>
            }
        }}/>
        <ResourceCard id="freshness-heading" title="Live data and quota" resource=status render={|s: OpsReport| {
            let live = s.live;
            let oldest = live.locations.iter().filter_map(|l| l.age_seconds).max();
            view! {
                <dl class="facts" data-testid="freshness">
                    <div><dt>"State"</dt><dd data-testid="live-state">{live.state.as_str()}</dd></div>
                    <div><dt>"Provider"</dt><dd>{if live.provider.is_empty() { "none".to_owned() } else if live.sample { format!("{} (sample data)", live.provider) } else { live.provider.clone() }}</dd></div>
                    <div><dt>"Oldest reading"</dt><dd>{oldest.map_or_else(|| "–".to_owned(), |a| format!("{} old", format::duration(a)))}</dd></div>
                    <div><dt>"Quota"</dt><dd data-testid="quota">{format!("{} of {} calls used this hour ({} left)", live.calls_last_hour, live.hourly_quota, live.hourly_quota.saturating_sub(live.calls_last_hour))}</dd></div>
                    <div><dt>"Last upstream error"</dt><dd>{live.last_error.map_or_else(|| "none".to_owned(), |e| e.code.as_str().to_owned())}</dd></div>
                </dl>
            }
        }}/>
        <ResourceCard id="caches-heading" title="Caches" resource=status render={|s: OpsReport| view! {
            <ScrollTable label="Cache table" testid="caches" headings={&["Cache", "Hits", "Misses", "Hit ratio"]}>
                {s.totals.caches.into_iter().map(|c| {
                    let ratio = percent(c.hit_ratio());
                    let name = c.name.clone();
                    view! { <tr data-testid="cache-row" data-cache=name><td>{c.name}</td><td>{c.hits}</td><td>{c.misses}</td><td>{ratio}</td></tr> }
                }).collect_view()}
            </ScrollTable>
        }}/>
        <ResourceCard id="errors-heading" title="Errors by code" resource=status render={|s: OpsReport| view! {
            <ScrollTable label="Errors by code table" testid="errors-by-code" headings={&["Code", "Responses"]}>
                {s.totals.errors_by_code.into_iter().map(|(code, n)| {
                    let attr = code.clone();
                    view! { <tr data-testid="error-code-row" data-code=attr><td><code>{code}</code></td><td>{n}</td></tr> }
                }).collect_view()}
            </ScrollTable>
            <h3>"Most recent"</h3>
            <ScrollTable label="Recent errors table" testid="recent-errors" headings={&["When", "Route", "Status", "Code"]}>
                {s.totals.recent_errors.into_iter().map(|e| view! {
                    <tr><td>{format::timestamp(e.at)}</td><td><code>{e.route}</code></td><td>{e.status}</td><td><code>{e.code}</code></td></tr>
                }).collect_view()}
            </ScrollTable>
        }}/>
    }
}
