//! N-1 screening and the impact explorer.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::map::{get_map, GridMap};
use crate::api::outages::{n1_screening, simulate_outage};
use crate::domain::topology::Impact;
use crate::ui::pages::overview::ErrorNotice;

#[component]
pub fn N1() -> impl IntoView {
    let rows = Resource::new(|| (), |_| n1_screening());
    view! {
        <Title text="N-1 screening"/>
        <h1>"N-1 screening"</h1>
        <p class="muted">"Single lines and transformers whose outage cuts buses off from every source, most customers first."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || rows.get().map(|result| match result {
                Ok(rows) if rows.is_empty() => view! { <p data-testid="n1-none">"No single branch outage islands any bus."</p> }.into_any(),
                Ok(rows) => view! {
                    <p class="muted" data-testid="n1-count" data-total=rows.len()>{format!("{} single points of failure", rows.len())}</p>
                    <table class="asset-table" data-testid="n1-table">
                        <thead><tr><th scope="col">"Element"</th><th scope="col">"Kind"</th><th scope="col">"Buses cut off"</th><th scope="col">"Customers"</th><th scope="col">"Impact"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| view! {
                                <tr data-testid="n1-row" data-id=r.element.clone() data-customers=r.customers>
                                    <td data-label="Element"><a href=format!("/assets/{}", r.element)>{r.name.clone()}</a> <span class="muted id">{r.element.clone()}</span></td>
                                    <td data-label="Kind">{r.kind.as_str()}</td>
                                    <td data-label="Buses cut off">{r.islanded_buses}</td>
                                    <td data-label="Customers">{r.customers}</td>
                                    <td data-label="Impact"><a href=format!("/impact?out={}", r.element) data-testid="simulate">"Simulate"</a></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </Transition>
    }
}

/// The assets named in `out` (comma- or space-separated ids).
fn outaged(params: &leptos_router::params::ParamsMap) -> Vec<String> {
    params
        .get("out")
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[component]
pub fn ImpactExplorer() -> impl IntoView {
    let params = use_query_map();
    let impact = Resource::new(
        move || outaged(&params.get()),
        |ids| async move {
            if ids.is_empty() {
                None
            } else {
                Some(simulate_outage(ids).await)
            }
        },
    );
    let map = Resource::new(|| (), |_| get_map());
    view! {
        <Title text="Impact explorer"/>
        <h1>"Impact explorer"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || impact.get().map(|result| {
                let current = params.get_untracked().get("out").unwrap_or_default();
                let form = view! {
                    <Form method="GET" action="/impact" attr:class="filters" attr:aria-label="Simulate an outage">
                        <label>
                            "Assets to take out (ids, comma-separated)"
                            <input type="text" name="out" maxlength="3300" placeholder="line-12, trafo-1" value=current/>
                        </label>
                        <button class="button" type="submit" data-testid="simulate-outage">"Simulate"</button>
                    </Form>
                };
                let body = match result {
                    None => view! { <p class="muted">"Name one or more assets, or start from the N-1 list."</p> }.into_any(),
                    Some(Ok(i)) => {
                        let impact_for_map = i.clone();
                        let shown: Vec<String> = i.deenergised_assets.iter().take(200).cloned().collect();
                        let more = i.deenergised_assets.len().saturating_sub(shown.len());
                        view! {
                            <section class="card" aria-labelledby="impact-heading">
                                <h2 id="impact-heading">"Outage of " {i.outaged.join(", ")}</h2>
                                <dl class="facts" data-testid="impact">
                                    <div><dt>"Buses de-energised"</dt><dd data-testid="impact-buses">{i.deenergised_buses.len()}</dd></div>
                                    <div><dt>"Assets de-energised"</dt><dd>{i.deenergised_assets.len()}</dd></div>
                                    <div><dt>"Customers losing supply"</dt><dd data-testid="impact-customers" data-value=i.customers_lost>{format!("{} of {}", i.customers_lost, i.customers_total)}</dd></div>
                                </dl>
                            </section>
                            <section class="card" aria-labelledby="affected-heading">
                                <h2 id="affected-heading">"Who loses supply"</h2>
                                {if i.affected.is_empty() {
                                    view! { <p class="muted" data-testid="no-affected">"No customer connection loses supply."</p> }.into_any()
                                } else {
                                    view! {
                                        <p data-testid="affected-regions">
                                            {i.by_region.iter().map(|(region, customers)| format!("{region}: {customers} customers")).collect::<Vec<_>>().join(" · ")}
                                        </p>
                                        <p class="muted">{if i.affected_total > i.affected.len() {
                                            format!("{} connections lose supply; the {} with most customers:", i.affected_total, i.affected.len())
                                        } else {
                                            format!("{} connections lose supply:", i.affected_total)
                                        }}</p>
                                        <table class="asset-table" data-testid="affected-table">
                                            <thead><tr><th scope="col">"Connection"</th><th scope="col">"Region"</th><th scope="col">"Customers"</th></tr></thead>
                                            <tbody>
                                                {i.affected.iter().map(|a| view! {
                                                    <tr data-testid="affected-row" data-id=a.id.clone()>
                                                        <td data-label="Connection"><a href=format!("/assets/{}", a.id)>{a.name.clone()}</a></td>
                                                        <td data-label="Region">{a.region.clone().unwrap_or_else(|| "–".into())}</td>
                                                        <td data-label="Customers">{a.customers}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </section>
                            <section class="card" aria-labelledby="dead-heading">
                                <h2 id="dead-heading">"De-energised assets"</h2>
                                {(!i.islands.is_empty()).then(|| view! {
                                    <h3>"Islands"</h3>
                                    <p class="muted">"Buses that lose supply, grouped by what stays connected among them."</p>
                                    <ol class="plain" data-testid="impact-islands">
                                        {i.islands.iter().map(|buses| view! {
                                            <li data-testid="impact-island" data-size=buses.len()>
                                                {format!("{} buses: ", buses.len())}
                                                {buses.iter().take(12).map(|b| view! { <a href=format!("/assets/{b}")>{b.clone()}</a> " " }).collect_view()}
                                                {(buses.len() > 12).then(|| "…")}
                                            </li>
                                        }).collect_view()}
                                    </ol>
                                })}
                                <Transition fallback=|| ()>
                                    {move || map.get().and_then(Result::ok).map(|m| view! { <ImpactMap map=m impact=impact_for_map.clone()/> })}
                                </Transition>
                                <details class="all-assets">
                                    <summary>{format!("All {} de-energised assets, by id", i.deenergised_assets.len())}</summary>
                                    <ul class="plain" data-testid="impact-assets">
                                        {shown.into_iter().map(|id| view! { <li><a href=format!("/assets/{id}")>{id.clone()}</a></li> }).collect_view()}
                                    </ul>
                                    {(more > 0).then(|| view! { <p class="muted">{format!("… and {more} more")}</p> })}
                                </details>
                            </section>
                        }.into_any()
                    }
                    Some(Err(e)) => view! { <ErrorNotice error=e/> }.into_any(),
                };
                view! { {form} {body} }
            })}
        </Transition>
    }
}

/// The grid with what an outage does drawn on it: buses and branches that lose supply in red,
/// what was taken out in the text colour (black, or white in the dark theme), the rest faint.
#[component]
fn ImpactMap(map: GridMap, impact: Impact) -> impl IntoView {
    use std::collections::HashSet;
    let lost: HashSet<&str> = impact.deenergised_assets.iter().map(String::as_str).collect();
    let out: HashSet<&str> = impact.outaged.iter().map(String::as_str).collect();
    let class = |id: &str| {
        if out.contains(id) {
            "impact-out"
        } else if lost.contains(id) {
            "impact-lost"
        } else {
            "impact-on"
        }
    };
    let label = format!(
        "Map of the outage: {} buses lose supply in {} islands; the lists on this page name them.",
        impact.deenergised_buses.len(),
        impact.islands.len()
    );
    view! {
        <svg class="grid-map impact-map" viewBox=format!("0 0 {0} {0}", map.size) role="img" aria-label=label data-testid="impact-map">
            <g class="branches">
                {map.branches.iter().map(|b| view! {
                    <line x1=b.from.0 y1=b.from.1 x2=b.to.0 y2=b.to.1 class=class(&b.id)/>
                }).collect_view()}
            </g>
            <g class="buses">
                {map.buses.iter().map(|b| view! {
                    <circle cx=b.x cy=b.y r="7" class=class(&b.id) data-testid="impact-map-bus" data-state=class(&b.id)>
                        <title>{b.name.clone()}</title>
                    </circle>
                }).collect_view()}
            </g>
        </svg>
        <p class="legend muted">"Red: loses supply · solid, in the text colour: taken out · faint grey: still supplied."</p>
    }
}
