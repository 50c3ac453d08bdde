//! Small SVG charts, rendered on the server with the page (no chart library, CSP-safe), each
//! with a text alternative: a title and description for assistive technology and a data
//! table beside it.

use leptos::prelude::*;

/// The ids of a chart's title and description, and its `aria-labelledby`.
fn ids(id: &str) -> (String, String, String) {
    let (title_id, desc_id) = (format!("{id}-title"), format!("{id}-desc"));
    let labelled_by = format!("{title_id} {desc_id}");
    (title_id, desc_id, labelled_by)
}

/// Every point in words: the description read by assistive technology.
fn describe(values: &[(String, f64)], unit: &str, decimals: usize) -> String {
    values.iter().map(|(l, v)| format!("{l}: {v:.decimals$} {unit}")).collect::<Vec<_>>().join("; ")
}

/// A bar chart of `(label, value)` pairs, scaled to its largest value.
#[component]
pub fn BarChart(
    /// Used for element ids; unique on the page.
    id: &'static str,
    title: String,
    /// Unit of the values, for the description.
    unit: &'static str,
    values: Vec<(String, f64)>,
) -> impl IntoView {
    const WIDTH: f64 = 320.0;
    const HEIGHT: f64 = 140.0;
    const BASE: f64 = 120.0;
    let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let slot = WIDTH / values.len().max(1) as f64;
    let description = describe(&values, unit, 2);
    let (title_id, desc_id, labelled_by) = ids(id);
    view! {
        <svg
            class="chart"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            aria-labelledby=labelled_by
            data-testid=id
            preserveAspectRatio="xMidYMid meet"
        >
            <title id=title_id>{title}</title>
            <desc id=desc_id>{description}</desc>
            <line x1="0" y1=BASE x2=WIDTH y2=BASE class="axis"/>
            {values.into_iter().enumerate().map(|(i, (label, value))| {
                let h = (value / max) * (BASE - 14.0);
                let x = i as f64 * slot + slot * 0.15;
                view! {
                    <rect x=x y=BASE - h width=slot * 0.7 height=h class="bar"/>
                    <text x=x + slot * 0.35 y=BASE + 14.0 text-anchor="middle" class="tick">{label}</text>
                    <text x=x + slot * 0.35 y=BASE - h - 3.0 text-anchor="middle" class="tick">{format!("{value:.0}")}</text>
                }
            }).collect_view()}
        </svg>
    }
}

/// A line chart of `(label, value)` points in order, scaled between their extremes; every
/// fourth label is drawn on the axis, all of them are in the description.
#[component]
pub fn LineChart(
    id: &'static str,
    title: String,
    unit: &'static str,
    values: Vec<(String, f64)>,
) -> impl IntoView {
    const WIDTH: f64 = 320.0;
    const HEIGHT: f64 = 120.0;
    const TOP: f64 = 14.0;
    const BASE: f64 = 100.0;
    const LEFT: f64 = 34.0;
    let lo = values.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
    let hi = values.iter().map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = (WIDTH - LEFT - 6.0) / (values.len().max(2) - 1) as f64;
    let point = move |i: usize, v: f64| (LEFT + step * i as f64, BASE - (v - lo) / span * (BASE - TOP));
    let path = values
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let (x, y) = point(i, *v);
            format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" })
        })
        .collect::<String>();
    let description = describe(&values, unit, 1);
    let (title_id, desc_id, labelled_by) = ids(id);
    view! {
        <svg class="chart line" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-labelledby=labelled_by data-testid=id preserveAspectRatio="xMidYMid meet">
            <title id=title_id>{title}</title>
            <desc id=desc_id>{description}</desc>
            <line x1=LEFT y1=BASE x2=WIDTH y2=BASE class="axis"/>
            <text x="0" y=TOP + 4.0 class="tick">{format!("{hi:.0} {unit}")}</text>
            <text x="0" y=BASE class="tick">{format!("{lo:.0} {unit}")}</text>
            <path d=path class="series"/>
            {values.iter().enumerate().filter(|(i, _)| i % 4 == 0).map(|(i, (label, _))| {
                let (x, _) = point(i, lo);
                view! { <text x=x y=BASE + 14.0 text-anchor="middle" class="tick">{label.clone()}</text> }
            }).collect_view()}
        </svg>
    }
}

/// One bar of a [`Timeline`]: a row (crew), a span of slots (working days) and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub row: u32,
    pub start: u32,
    pub len: u32,
    /// CSS class of the bar (`repair`, `replacement`).
    pub class: &'static str,
    /// What the bar is, for its tooltip and the description.
    pub label: String,
}

/// A timeline (Gantt) of spans in rows over `slots` columns, with `ticks` (slot, label) on
/// the time axis.
#[component]
pub fn Timeline(
    id: &'static str,
    title: String,
    /// A summary in words; the data table beside the chart has the detail.
    description: String,
    rows: u32,
    slots: u32,
    spans: Vec<Span>,
    ticks: Vec<(u32, String)>,
) -> impl IntoView {
    const WIDTH: f64 = 1000.0;
    const LEFT: f64 = 70.0;
    const ROW: f64 = 22.0;
    const TOP: f64 = 18.0;
    let height = TOP + ROW * f64::from(rows.max(1)) + 6.0;
    let per_slot = (WIDTH - LEFT - 10.0) / f64::from(slots.max(1));
    let x = move |slot: u32| LEFT + per_slot * f64::from(slot);
    let (title_id, desc_id, labelled_by) = ids(id);
    view! {
        <svg
            class="chart timeline"
            viewBox=format!("0 0 {WIDTH} {height}")
            role="img"
            aria-labelledby=labelled_by
            data-testid=id
            preserveAspectRatio="xMinYMin meet"
        >
            <title id=title_id>{title}</title>
            <desc id=desc_id>{description}</desc>
            {ticks.into_iter().map(|(slot, label)| view! {
                <line x1=x(slot) y1=TOP - 4.0 x2=x(slot) y2=height - 6.0 class="axis"/>
                <text x=x(slot) + 2.0 y=TOP - 6.0 class="tick">{label}</text>
            }).collect_view()}
            {(0..rows).map(|r| view! {
                <text x="0" y=TOP + ROW * f64::from(r) + 15.0 class="tick">{format!("Crew {}", r + 1)}</text>
            }).collect_view()}
            {spans.into_iter().map(|s| view! {
                <rect
                    x=x(s.start)
                    y=TOP + ROW * f64::from(s.row) + 3.0
                    width=(per_slot * f64::from(s.len) - 1.0).max(1.0)
                    height=ROW - 6.0
                    class=format!("span {}", s.class)
                    data-testid="timeline-span"
                >
                    <title>{s.label}</title>
                </rect>
            }).collect_view()}
        </svg>
    }
}
