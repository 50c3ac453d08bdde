//! Assets: server-side search, filters, sort and paging, all in the URL; a table on wide
//! screens that becomes cards on phones (same markup, CSS decides).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use crate::api::assets::list_assets;
use crate::domain::catalog::AssetQuery;
use crate::domain::model::AssetKind;
use crate::ui::format;
use crate::ui::pages::overview::ErrorNotice;

/// The query as the URL says it (one parser for the page and the exports).
fn query_from(params: &leptos_router::params::ParamsMap) -> AssetQuery {
    let keys = ["q", "kind", "band", "region", "min_kv", "max_kv", "sort", "page"];
    let values: Vec<(&str, String)> = keys.iter().filter_map(|k| params.get(k).map(|v| (*k, v))).collect();
    AssetQuery::from_pairs(values.iter().map(|(k, v)| (*k, v.as_str())))
}

/// The list's URL with `page` replaced, or an export of it (`path` = `/export/assets.csv`).
fn list_href(path: &str, params: &leptos_router::params::ParamsMap, page: Option<u32>) -> String {
    let keys = ["q", "kind", "band", "region", "min_kv", "max_kv", "sort"];
    format::href_with(path, params, &keys, page.map(|p| ("page", p.to_string())))
}

#[component]
pub fn Assets() -> impl IntoView {
    let params = use_query_map();
    let list = Resource::new(move || query_from(&params.get()), list_assets);

    view! {
        <Title text="Assets"/>
        <h1>"Assets"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || list.get().map(|result| {
                let p = params.get_untracked();
                let filters = view! { <Filters params=p.clone() regions=result.as_ref().map(|l| l.regions.clone()).unwrap_or_default()/> };
                let body = match result {
                    Ok(list) => {
                        let page = list.page;
                        let pages = page.pages();
                        let prev = (page.page > 1).then(|| list_href("/assets", &p, Some(page.page - 1)));
                        let next = (page.page < pages).then(|| list_href("/assets", &p, Some(page.page + 1)));
                        view! {
                            <p class="muted" data-testid="result-count" data-total=page.total>
                                {format!("{} assets · page {} of {}", page.total, page.page, pages)}
                            </p>
                            <table class="asset-table" data-testid="asset-table">
                                <thead>
                                    <tr><th scope="col">"Asset"</th><th scope="col">"Kind"</th><th scope="col">"Voltage"</th><th scope="col">"Region"</th><th scope="col">"Risk"</th></tr>
                                </thead>
                                <tbody>
                                    {page.items.into_iter().map(|row| view! {
                                        <tr data-testid="asset-row" data-id=row.id.clone()>
                                            <td data-label="Asset"><a href=format!("/assets/{}", row.id)>{row.name.clone()}</a> <span class="muted id">{row.id.clone()}</span></td>
                                            <td data-label="Kind">{row.kind.as_str()}</td>
                                            <td data-label="Voltage">{row.voltage_kv.map(|v| format!("{v} kV")).unwrap_or_else(|| "–".into())}</td>
                                            <td data-label="Region">{row.region.clone().unwrap_or_else(|| "–".into())}</td>
                                            <td data-label="Risk"><span class=format!("band band-{}", format::band_name(row.band)) data-testid="risk">{format!("{:.0}", row.risk)}</span></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <p class="exports">
                                "Export this list: "
                                <a href=list_href("/export/assets.csv", &p, None) rel="external" data-testid="export-csv" download>"CSV"</a>
                                " · "
                                <a href=list_href("/export/assets.json", &p, None) rel="external" data-testid="export-json" download>"JSON"</a>
                            </p>
                            <nav class="pager" aria-label="Pages">
                                {prev.map(|href| view! { <A href=href attr:rel="prev" attr:data-testid="prev-page">"← Previous"</A> })}
                                {next.map(|href| view! { <A href=href attr:rel="next" attr:data-testid="next-page">"Next →"</A> })}
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                };
                view! { {filters} {body} }
            })}
        </Transition>
    }
}

/// The filter form, filled from the URL. A plain GET form: it works before (and without)
/// WebAssembly, and the router turns it into client-side navigation after hydration.
#[component]
fn Filters(params: leptos_router::params::ParamsMap, regions: Vec<String>) -> impl IntoView {
    let current = move |k: &str| params.get(k).unwrap_or_default();
    let (kind, band, region, sort) = (current("kind"), current("band"), current("region"), current("sort"));
    let option = move |value: String, label: String, chosen: &str| {
        let selected = value == chosen;
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <Form method="GET" action="/assets" attr:class="filters" attr:aria-label="Find assets">
            <label>
                "Search"
                <input type="search" name="q" maxlength="100" placeholder="id or name" value=current("q")/>
            </label>
            <label>
                "Kind"
                <select name="kind">
                    {option(String::new(), "All kinds".into(), &kind)}
                    {AssetKind::ALL.iter().map(|k| option(k.as_str().into(), format::plural_kind(*k).into(), &kind)).collect_view()}
                </select>
            </label>
            <label>
                "Risk"
                <select name="band">
                    {option(String::new(), "Any risk".into(), &band)}
                    {["critical", "high", "medium", "low"].into_iter().map(|b| option(b.into(), format::capitalise(b), &band)).collect_view()}
                </select>
            </label>
            <label>
                "Region"
                <select name="region">
                    {option(String::new(), "All regions".into(), &region)}
                    {regions.into_iter().map(|r| option(r.clone(), r, &region)).collect_view()}
                </select>
            </label>
            <label>
                "Sort"
                <select name="sort">
                    {[("risk", "Highest risk"), ("id", "Id"), ("name", "Name"), ("voltage", "Voltage")].into_iter()
                        .map(|(v, l)| option(v.into(), l.into(), &sort)).collect_view()}
                </select>
            </label>
            <button class="button" type="submit" data-testid="apply-filters">"Apply"</button>
        </Form>
    }
}
