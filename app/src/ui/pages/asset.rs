//! One asset: attributes (synthetic ones marked), risk by factor, maintenance, incidents and
//! neighbours.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::assets::{get_asset, AssetDetail};
use crate::ui::format;
use crate::ui::pages::overview::ErrorNotice;

#[component]
pub fn AssetPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(move || params.with(|p| p.get("id").unwrap_or_default()), get_asset);
    // A title outside the transition, so the document always has one (the asset's name,
    // inside, replaces it while shown).
    view! {
        <Title text="Asset"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || detail.get().map(|result| match result {
                Ok(d) => view! { <Detail d=d/> }.into_any(),
                Err(e) => view! { <h1>"Asset"</h1><ErrorNotice error=e/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Detail(d: AssetDetail) -> impl IntoView {
    let a = d.asset;
    let synthetic = a.synthetic;
    let mark = move |field: &str| {
        synthetic.contains(field).then(
            || view! { <span class="tag" title="generated for the demo, not measured">"synthetic"</span> },
        )
    };
    let fact = |label: &'static str, value: Option<String>, tag: Option<AnyView>| {
        value.map(|v| view! { <div><dt>{label}</dt><dd>{v} {tag}</dd></div> })
    };
    let energised = d.energised.map(|e| if e { "yes" } else { "no — no path to a source" }.to_owned());
    let location = a.location.get().map(|p| format!("{:.5}, {:.5}", p.lat, p.lon));
    let risk = d.risk;
    // The points shown, one decimal each, and their sum: the score to one decimal.
    let risk_total: f64 = risk.factors.iter().filter(|f| f.value.is_some()).map(|f| f.contribution).sum();
    view! {
        <Title text=a.name.to_string()/>
        <h1 data-testid="asset-name">{a.name.to_string()}</h1>
        <p class="muted">
            <span data-testid="asset-kind">{a.kind.as_str()}</span> " · " <code>{a.id.to_string()}</code> " · "
            <a href=format!("/impact?out={}", a.id) data-testid="simulate-this">"Simulate its outage"</a>
        </p>
        <section class="card" aria-labelledby="attributes-heading">
            <h2 id="attributes-heading">"Attributes"</h2>
            <dl class="facts">
                {fact("In service", Some(if a.in_service { "yes" } else { "no" }.into()), None)}
                {fact("Energised", energised, None)}
                {fact("Voltage", a.voltage_kv.get().map(|v| format!("{v} kV")), None)}
                {fact("Rating", a.rating_mva.get().map(|v| format!("{v:.1} MVA")), None)}
                {fact("Loading", a.loading_pct.get().map(|v| format!("{v:.0} %")), mark("loading_pct").map(IntoAny::into_any))}
                {fact("Commissioned", a.commissioning_year.map(|y| y.to_string()), mark("commissioning_year").map(IntoAny::into_any))}
                {fact("Condition", a.condition.map(|c| format!("{c} / 100")), mark("condition").map(IntoAny::into_any))}
                {fact("Customers", a.customers.map(|c| c.to_string()), mark("customers").map(IntoAny::into_any))}
                {fact("Region", a.region.as_ref().map(|r| r.to_string()), mark("region").map(IntoAny::into_any))}
                {fact("Switch", a.closed.map(|c| if c { "closed" } else { "open" }.into()), None)}
                {fact("Location", location, None)}
            </dl>
        </section>
        <section class="card" aria-labelledby="risk-heading">
            <h2 id="risk-heading">"Risk "
                <span class=format!("band band-{}", format::band_name(risk.band)) data-testid="risk-score">{format!("{:.0}", risk.score)}</span>
                " " {format::band_name(risk.band)}
            </h2>
            <table class="factors" data-testid="risk-factors">
                <caption class="muted">"How the score is made: each base factor's value (0–1) × weight, as points of 100; live-condition factors (wind, heat, ice) add their points on top."</caption>
                <thead><tr><th scope="col">"Factor"</th><th scope="col">"Points"</th><th scope="col">"Weight"</th><th scope="col">"Why"</th></tr></thead>
                <tbody>
                    {risk.factors.into_iter().map(|f| view! {
                        <tr data-testid="risk-factor" data-name=f.name.clone()>
                            <th scope="row">{f.name.replace('_', " ")}</th>
                            <td>{if f.value.is_some() { format!("{:.1}", f.contribution) } else { "n/a".into() }}</td>
                            <td>{format!("{:.2}", f.weight)}</td>
                            <td>{f.explanation.clone()} {f.synthetic.then(|| view! { <span class="tag">"synthetic"</span> })}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
                <tfoot>
                    <tr data-testid="risk-total">
                        <th scope="row">"Total"</th>
                        <td>{format!("{:.1}", risk_total)}</td>
                        <td></td>
                        <td class="muted">{format!("score {:.1}, shown rounded as {:.0}", risk.score, risk.score)}</td>
                    </tr>
                </tfoot>
            </table>
        </section>
        <section class="card" aria-labelledby="neighbours-heading">
            <h2 id="neighbours-heading">"Neighbours"</h2>
            <ul class="plain" data-testid="neighbours">
                {d.neighbours.into_iter().map(|n| view! {
                    <li><span class="muted">{n.relation}": "</span><a href=format!("/assets/{}", n.id)>{n.name}</a> <span class="muted">"(" {n.kind.as_str()} ")"</span></li>
                }).collect_view()}
            </ul>
        </section>
        <section class="card" aria-labelledby="maintenance-heading">
            <h2 id="maintenance-heading">"Maintenance"</h2>
            {if d.maintenance.is_empty() { Some(view! { <p class="muted">"No maintenance recorded."</p> }) } else { None }}
            <ul class="plain" data-testid="maintenance">
                {d.maintenance.into_iter().map(|m| view! {
                    <li>{m.date.to_string()} " · " {format!("{:?}", m.kind).to_lowercase()} {m.cost.get().map(|c| format!(" · {c:.0}"))} {m.synthetic.then(|| view! { " " <span class="tag">"synthetic"</span> })}</li>
                }).collect_view()}
            </ul>
        </section>
        <section class="card" aria-labelledby="incidents-heading">
            <h2 id="incidents-heading">"Incidents"</h2>
            {if d.incidents.is_empty() { Some(view! { <p class="muted">"No incidents recorded."</p> }) } else { None }}
            <ul class="plain" data-testid="incidents">
                {d.incidents.into_iter().map(|i| view! {
                    <li>{i.started_at.format("%Y-%m-%d %H:%M").to_string()} " · " {i.cause.to_string()} " · " {format!("{} customers", i.customers_affected)}
                        {i.restored_at.map(|r| format!(" · restored after {}", format::duration((r - i.started_at).num_seconds().max(0) as u64)))}
                        {i.synthetic.then(|| view! { " " <span class="tag">"synthetic"</span> })}</li>
                }).collect_view()}
            </ul>
        </section>
    }
}
