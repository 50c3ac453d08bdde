//! Map / one-line view: the grid as SVG (no third-party tiles, CSP-safe), coloured by risk
//! band or by energised state (`?color=energised`), zoomable with buttons (keyboard and
//! touch friendly); every bus is a link to its asset page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::map::get_map;
use crate::ui::format;
use crate::ui::pages::overview::ErrorNotice;

#[component]
pub fn MapPage() -> impl IntoView {
    let params = use_query_map();
    let by_energy = move || params.with(|p| p.get("color").as_deref() == Some("energised"));
    let map = Resource::new(|| (), |_| get_map());
    // Zoom level 1 = whole grid; the view stays centred on (cx, cy).
    let zoom = RwSignal::new(1.0_f64);
    let centre = RwSignal::new((500.0_f64, 500.0_f64));
    let view_box = move || {
        let (cx, cy) = centre.get();
        let w = 1000.0 / zoom.get();
        format!("{:.1} {:.1} {:.1} {:.1}", cx - w / 2.0, cy - w / 2.0, w, w)
    };
    let pan = move |dx: f64, dy: f64| {
        centre.update(|(x, y)| {
            let step = 150.0 / zoom.get_untracked();
            *x += dx * step;
            *y += dy * step;
        })
    };
    view! {
        <Title text="Map"/>
        <h1>"Map"</h1>
        <nav class="map-tools" aria-label="Map view">
            <a href="/map" class="button" data-testid="color-risk" aria-current=move || (!by_energy()).then_some("true")>"Risk"</a>
            <a href="/map?color=energised" class="button" data-testid="color-energised" aria-current=move || by_energy().then_some("true")>"Energised"</a>
            <button class="button" data-testid="zoom-in" aria-label="Zoom in" on:click=move |_| zoom.update(|z| *z = (*z * 1.5).min(20.0))>"+"</button>
            <button class="button" data-testid="zoom-out" aria-label="Zoom out" on:click=move |_| zoom.update(|z| *z = (*z / 1.5).max(1.0))>"−"</button>
            <button class="button" aria-label="Pan left" on:click=move |_| pan(-1.0, 0.0)>"←"</button>
            <button class="button" aria-label="Pan up" on:click=move |_| pan(0.0, -1.0)>"↑"</button>
            <button class="button" aria-label="Pan down" on:click=move |_| pan(0.0, 1.0)>"↓"</button>
            <button class="button" aria-label="Pan right" on:click=move |_| pan(1.0, 0.0)>"→"</button>
            <button class="button" data-testid="zoom-reset" on:click=move |_| { zoom.set(1.0); centre.set((500.0, 500.0)); }>"Reset"</button>
        </nav>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || map.get().map(|result| match result {
                Ok(m) => {
                    let energy = by_energy();
                    let colour = move |band, on: bool| if energy {
                        if on { "state-on" } else { "state-off" }.to_string()
                    } else {
                        format!("risk-{}", format::band_name(band))
                    };
                    let label = if m.geographic { "Grid map (real coordinates)" } else { "Grid one-line diagram (computed layout)" };
                    view! {
                        <p class="muted" data-testid="map-kind">
                            {if m.geographic { "Real coordinates (WGS84)." } else { "No coordinates in this grid: a layout computed from distance to the sources." }}
                            " Tap a bus to open it."
                        </p>
                        <svg class="grid-map" viewBox=view_box role="group" aria-label=label data-testid="grid-map">
                            <title>{label}</title>
                            <g class="branches">
                                {m.branches.into_iter().map(|b| view! {
                                    <line x1=b.from.0 y1=b.from.1 x2=b.to.0 y2=b.to.1 class=colour(b.band, b.energised) data-testid="map-branch">
                                        <title>{format!("{} ({})", b.id, b.kind.as_str())}</title>
                                    </line>
                                }).collect_view()}
                            </g>
                            <g class="buses">
                                {m.buses.into_iter().map(|b| view! {
                                    <a href=format!("/assets/{}", b.id) aria-label=b.name.clone()>
                                        <circle cx=b.x cy=b.y r="7" class=colour(b.band, b.energised) data-testid="map-bus" data-id=b.id.clone()>
                                            <title>{b.name.clone()}</title>
                                        </circle>
                                    </a>
                                }).collect_view()}
                            </g>
                        </svg>
                        <p class="legend muted">
                            {if energy { "Blue: energised · grey: no supply." } else { "Green: low · amber: medium · orange: high · red: critical risk." }}
                        </p>
                    }.into_any()
                }
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </Transition>
    }
}
