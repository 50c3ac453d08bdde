//! Small SVG charts, rendered on the server with the page (no chart library, CSP-safe), each
//! with a text alternative: a title and description for assistive technology and a data
//! table beside it.

use leptos::prelude::*;

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
    let description =
        values.iter().map(|(l, v)| format!("{l}: {v:.2} {unit}")).collect::<Vec<_>>().join("; ");
    let (title_id, desc_id) = (format!("{id}-title"), format!("{id}-desc"));
    let labelled_by = format!("{title_id} {desc_id}");
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
