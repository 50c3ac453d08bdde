//! Map / one-line view: the grid as SVG (no third-party tiles, CSP-safe), coloured by risk
//! band or by energised state (`?color=energised`). Pan by dragging (one finger or the
//! mouse), zoom by pinching, and buttons for both (keyboard). A tap or click on a bus selects
//! it and shows what it is, with links to its page and to its outage impact. The buses are
//! also a list (one tab stop until opened, by name): keyboards and screen readers choose there,
//! and without WebAssembly each entry is a plain link to the bus's page.
//!
//! The drawing and the list are rendered on the server, in the page's first HTML; the island
//! around them ([`MapControls`]) only moves the view box, marks the selected bus and shows what
//! it is, reading the bus from the element that was tapped: none of the drawing code is in the
//! browser's download. The island is small enough to be in the main module (1.3 KB brotli):
//! as a lazy module it cost the page its own round of requests (docs/benchmarks.md).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::map::{get_map, GridMap, MapBus, MAX_MAP_ITEMS};
use crate::ui::format;
use crate::ui::pages::overview::ErrorNotice;

/// The view box of the whole map (zoom 1, centred), as the island writes it.
const FULL_VIEW: &str = "0.0 0.0 1000.0 1000.0";

#[component]
pub fn MapPage() -> impl IntoView {
    let params = use_query_map();
    let by_energy = params.with_untracked(|p| p.get("color").as_deref() == Some("energised"));
    view! {
        <Title text="Map"/>
        <h1>"Map"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {Suspend::new(async move {
                match get_map().await {
                    Ok(m) => drawing(m, by_energy),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The map as the server draws it, inside its controls.
fn drawing(m: GridMap, energy: bool) -> AnyView {
    let colour = move |band, on: bool| {
        if energy {
            if on { "state-on" } else { "state-off" }.to_string()
        } else {
            format!("risk-{}", format::band_name(band))
        }
    };
    let label =
        if m.geographic { "Grid map (real coordinates)" } else { "Grid one-line diagram (computed layout)" };
    let partial = m.min_voltage_kv.map(|kv| format!(
        "This grid is too large to draw whole: {} of {} buses and {} of {} branches are shown, those at {kv} kV and above (a map draws at most {MAX_MAP_ITEMS} items). The asset list covers every asset.",
        m.buses.len(), m.total_buses, m.branches.len(), m.total_branches,
    ));
    let listed = m.buses.clone();
    view! {
        <MapControls by_energy=energy>
            <p class="muted" data-testid="map-kind">
                {if m.geographic { "Real coordinates (WGS84)." } else { "No coordinates in this grid: a layout computed from distance to the sources." }}
                " Tap a bus to select it; drag to pan, pinch to zoom."
            </p>
            {partial.map(|text| view! { <p class="notice" role="status" data-testid="map-partial">{text}</p> })}
            <svg class="grid-map" viewBox=FULL_VIEW role="group" aria-label=label data-testid="grid-map" data-zoom="1.000">
                <title>{label}</title>
                <g class="branches">
                    {m.branches.into_iter().map(|b| view! {
                        <line x1=b.from.0 y1=b.from.1 x2=b.to.0 y2=b.to.1 class=colour(b.band, b.energised) data-testid="map-branch">
                            <title>{format!("{} ({})", b.id, b.kind.as_str())}</title>
                        </line>
                    }).collect_view()}
                </g>
                <g class="buses">
                    // Circles, not links: 179 links were 179 tab stops. Keyboards and screen
                    // readers choose from the list below instead.
                    {m.buses.into_iter().map(|b| view! {
                        <circle cx=b.x cy=b.y r="7" class=colour(b.band, b.energised) data-testid="map-bus"
                            data-id=b.id.clone() data-band=format::band_name(b.band)
                            data-energised=b.energised.to_string()>
                            <title>{b.name.clone()}</title>
                        </circle>
                    }).collect_view()}
                </g>
            </svg>
            {bus_list(listed)}
        </MapControls>
        <p class="legend muted">
            {if energy { "Blue: energised · grey: no supply." } else { "Green: low · amber: medium · orange: high · red: critical risk." }}
        </p>
    }
    .into_any()
}

/// Every bus on the map by name, folded: one tab stop instead of one per circle. Choosing a
/// bus selects it as a tap on the map does (each is a link to its page without WebAssembly).
fn bus_list(mut buses: Vec<MapBus>) -> AnyView {
    // Numbers in names in their order: Bus 4 before Bus 39.
    let key = |name: &str| -> Vec<(String, u64)> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut number: Option<u64> = None;
        for c in name.chars() {
            match (c.to_digit(10), number) {
                (Some(d), n) => number = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(d))),
                (None, Some(n)) => {
                    parts.push((std::mem::take(&mut text), n));
                    number = None;
                    text.push(c);
                }
                (None, None) => text.push(c),
            }
        }
        parts.push((text, number.unwrap_or(0)));
        parts
    };
    buses.sort_by_cached_key(|b| (key(&b.name.to_lowercase()), b.id.clone()));
    let count = buses.len();
    view! {
        <details class="bus-list card" data-testid="bus-list">
            <summary>{format!("All {count} buses on the map, by name")}</summary>
            <ul>
                {buses.into_iter().map(|b| view! {
                    <li>
                        <a href=format!("/assets/{}", b.id) data-testid="bus-list-item" data-id=b.id.clone()
                            data-band=format::band_name(b.band) data-energised=b.energised.to_string()>
                            {b.name.clone()}
                        </a>
                        " " <span class="muted id">{b.id.clone()}</span>
                    </li>
                }).collect_view()}
            </ul>
        </details>
    }
    .into_any()
}

/// A bus as the page describes it on its circle (name in its `<title>`) and its list entry
/// (name as its text).
#[derive(Clone, Debug, PartialEq)]
struct Selected {
    id: String,
    name: String,
    band: String,
    energised: bool,
}

impl Selected {
    fn from_element(element: &leptos::web_sys::Element) -> Option<Self> {
        Some(Selected {
            id: element.get_attribute("data-id")?,
            name: element.text_content().unwrap_or_default().trim().to_owned(),
            band: element.get_attribute("data-band").unwrap_or_default(),
            energised: element.get_attribute("data-energised").as_deref() == Some("true"),
        })
    }
}

/// The map's controls around the server-rendered drawing (`children`): colouring links, zoom
/// and pan buttons, pointer gestures, and the selected bus. The view box, the zoom and the
/// "selected" mark are set on the drawing's elements.
#[island]
fn MapControls(by_energy: bool, children: Children) -> impl IntoView {
    // Zoom level 1 = whole grid; the view stays centred on (cx, cy).
    let zoom = RwSignal::new(1.0_f64);
    let centre = RwSignal::new((500.0_f64, 500.0_f64));
    let selected = RwSignal::new(None::<Selected>);
    let area = NodeRef::<leptos::html::Div>::new();
    let gesture = Gesture::new(zoom, centre, area);
    let pan = move |dx: f64, dy: f64| {
        centre.update(|(x, y)| {
            let step = 150.0 / zoom.get_untracked();
            *x += dx * step;
            *y += dy * step;
        })
    };
    Effect::new(move |_| {
        let (cx, cy) = centre.get();
        let z = zoom.get();
        if let Some(svg) = gesture.svg() {
            let w = 1000.0 / z;
            let _ = svg.set_attribute(
                "viewBox",
                &format!("{:.1} {:.1} {:.1} {:.1}", cx - w / 2.0, cy - w / 2.0, w, w),
            );
            let _ = svg.set_attribute("data-zoom", &format!("{z:.3}"));
            let _ = svg.class_list().toggle_with_force("zoomed", z > 1.0);
        }
    });
    Effect::new(move |_| {
        let Some(area) = area.get() else { return };
        let id = selected.with(|s| s.as_ref().map(|s| s.id.clone()));
        if let Ok(Some(before)) = area.query_selector("[data-testid=\"map-bus\"].selected") {
            let _ = before.class_list().remove_1("selected");
        }
        if let Some(id) = id {
            let css = format!("[data-testid=\"map-bus\"][data-id=\"{}\"]", id.replace(['"', '\\'], ""));
            if let Ok(Some(now)) = area.query_selector(&css) {
                let _ = now.class_list().add_1("selected");
            }
        }
    });
    // One listener for every bus, on the circles and in the list.
    let choose = move |ev: leptos::ev::MouseEvent| {
        use leptos::wasm_bindgen::JsCast;
        let Some(target) = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok()) else {
            return;
        };
        let Ok(Some(hit)) = target.closest("[data-testid=\"map-bus\"], [data-testid=\"bus-list-item\"]")
        else {
            return;
        };
        if hit.get_attribute("data-testid").as_deref() == Some("bus-list-item") {
            ev.prevent_default();
        } else if gesture.was_drag() {
            // A drag that ended on a bus is not a tap.
            return;
        }
        selected.set(Selected::from_element(&hit));
    };
    view! {
        <nav class="map-tools" aria-label="Map view">
            <a href="/map" class="button" data-testid="color-risk" aria-current=(!by_energy).then_some("true")>"Risk"</a>
            <a href="/map?color=energised" class="button" data-testid="color-energised" aria-current=by_energy.then_some("true")>"Energised"</a>
            <button class="button" data-testid="zoom-in" aria-label="Zoom in" on:click=move |_| zoom.update(|z| *z = (*z * 1.5).min(MAX_ZOOM))>"+"</button>
            <button class="button" data-testid="zoom-out" aria-label="Zoom out" on:click=move |_| zoom.update(|z| *z = (*z / 1.5).max(1.0))>"−"</button>
            <button class="button" aria-label="Pan left" on:click=move |_| pan(-1.0, 0.0)>"←"</button>
            <button class="button" aria-label="Pan up" on:click=move |_| pan(0.0, -1.0)>"↑"</button>
            <button class="button" aria-label="Pan down" on:click=move |_| pan(0.0, 1.0)>"↓"</button>
            <button class="button" aria-label="Pan right" on:click=move |_| pan(1.0, 0.0)>"→"</button>
            <button class="button" data-testid="zoom-reset" on:click=move |_| { zoom.set(1.0); centre.set((500.0, 500.0)); }>"Reset"</button>
        </nav>
        <div class="map-area" node_ref=area
            on:click=choose
            on:pointerdown=move |ev| gesture.down(&ev)
            on:pointermove=move |ev| gesture.moved(&ev)
            on:pointerup=move |ev| gesture.up(&ev)
            on:pointercancel=move |ev| gesture.up(&ev)
        >
            {children()}
        </div>
        <div class="selected-bus" aria-live="polite" data-testid="selected-bus">
            {move || selected.get().map(|b| view! {
                <p>
                    <strong data-testid="selected-name">{b.name.clone()}</strong>
                    " "
                    <span class="muted id">{b.id.clone()}</span>
                    " · "
                    <span class=format!("band band-{}", b.band)>{format::capitalise(&b.band)}</span>
                    " risk · "
                    {if b.energised { "energised" } else { "no supply" }}
                </p>
                <p class="actions">
                    <a class="button" href=format!("/assets/{}", b.id) data-testid="open-selected">"Open asset"</a>
                    " "
                    <a class="button" href=format!("/impact?out={}", b.id) data-testid="impact-selected">"Simulate outage"</a>
                    " "
                    <button class="button" type="button" on:click=move |_| selected.set(None)>"Clear"</button>
                </p>
            })}
        </div>
    }
}

/// Pointer gestures on the map: one pointer pans, two pinch-zoom. Pointers are tracked by
/// id in screen pixels; movement is turned into view-box units from the map's width.
#[derive(Clone, Copy)]
struct Gesture {
    /// Around the drawing: gestures count only on the drawing itself.
    area: NodeRef<leptos::html::Div>,
    zoom: RwSignal<f64>,
    centre: RwSignal<(f64, f64)>,
    pointers: StoredValue<Vec<(i32, f64, f64)>>,
    /// Screen pixels moved since the first pointer went down.
    travel: StoredValue<f64>,
}

/// Pixels a pointer may move and still count as a tap.
const TAP_SLOP: f64 = 8.0;
pub const MAX_ZOOM: f64 = 20.0;

impl Gesture {
    fn new(zoom: RwSignal<f64>, centre: RwSignal<(f64, f64)>, area: NodeRef<leptos::html::Div>) -> Self {
        Gesture { area, zoom, centre, pointers: StoredValue::new(Vec::new()), travel: StoredValue::new(0.0) }
    }

    /// The drawing (server-rendered, inside the area).
    fn svg(&self) -> Option<leptos::web_sys::Element> {
        self.area.get_untracked()?.query_selector("svg.grid-map").ok().flatten()
    }

    fn on_drawing(&self, ev: &leptos::ev::PointerEvent) -> bool {
        use leptos::wasm_bindgen::JsCast;
        ev.target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .is_some_and(|t| t.closest("svg.grid-map").ok().flatten().is_some())
    }

    fn was_drag(&self) -> bool {
        self.travel.get_value() > TAP_SLOP
    }

    fn down(&self, ev: &leptos::ev::PointerEvent) {
        if !self.on_drawing(ev) {
            return;
        }
        if self.pointers.with_value(Vec::is_empty) {
            self.travel.set_value(0.0);
        }
        self.pointers.update_value(|p| {
            p.retain(|(id, _, _)| *id != ev.pointer_id());
            p.push((ev.pointer_id(), f64::from(ev.client_x()), f64::from(ev.client_y())));
        });
    }

    fn moved(&self, ev: &leptos::ev::PointerEvent) {
        let (x, y) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
        let before = self.pointers.get_value();
        let Some(index) = before.iter().position(|(id, _, _)| *id == ev.pointer_id()) else {
            return;
        };
        let (_, px, py) = before[index];
        let mut after = before.clone();
        after[index] = (ev.pointer_id(), x, y);
        self.pointers.set_value(after.clone());
        match before.len() {
            1 => {
                let (dx, dy) = (x - px, y - py);
                self.travel.update_value(|t| *t += dx.abs() + dy.abs());
                if self.was_drag() {
                    // From now on the map owns the pointer, even if it leaves the map.
                    if let Some(svg) = self.svg() {
                        let _ = svg.set_pointer_capture(ev.pointer_id());
                    }
                    let units = self.units_per_pixel();
                    self.centre.update(|(cx, cy)| {
                        *cx -= dx * units;
                        *cy -= dy * units;
                    });
                }
            }
            2 => {
                let spread =
                    |p: &[(i32, f64, f64)]| ((p[0].1 - p[1].1).powi(2) + (p[0].2 - p[1].2).powi(2)).sqrt();
                let (old, new) = (spread(&before), spread(&after));
                self.travel.set_value(TAP_SLOP + 1.0);
                if old > 1.0 && new > 1.0 {
                    self.zoom.update(|z| *z = (*z * new / old).clamp(1.0, MAX_ZOOM));
                }
            }
            _ => {}
        }
    }

    fn up(&self, ev: &leptos::ev::PointerEvent) {
        self.pointers.update_value(|p| p.retain(|(id, _, _)| *id != ev.pointer_id()));
    }

    fn units_per_pixel(&self) -> f64 {
        let width = self.svg().map_or(1000, |svg| svg.client_width()).max(1);
        (1000.0 / self.zoom.get_untracked()) / f64::from(width)
    }
}
