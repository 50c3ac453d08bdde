//! Building blocks pages share.

use leptos::prelude::*;

use crate::error::AppError;
use crate::ui::pages::overview::ErrorNotice;

/// A card section whose body comes from a server call: "Loading…" until it arrives, the
/// error notice if it failed, else what `render` makes of it.
#[component]
pub fn ResourceCard<T, V, F>(
    /// The heading's id (the section is labelled by it).
    id: &'static str,
    title: &'static str,
    resource: Resource<Result<T, AppError>>,
    render: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    view! {
        <section class="card" aria-labelledby=id>
            <h2 id=id>{title}</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {
                    let render = render.clone();
                    move || resource.get().map(|result| match result {
                        Err(error) => view! { <ErrorNotice error=error/> }.into_any(),
                        Ok(value) => render(value).into_any(),
                    })
                }
            </Transition>
        </section>
    }
}

/// A table in a horizontally scrollable, keyboard-focusable region (narrow screens).
#[component]
pub fn ScrollTable(
    /// The region's accessible name.
    label: &'static str,
    /// `data-testid` of the table.
    testid: &'static str,
    /// Column headings.
    headings: &'static [&'static str],
    children: Children,
) -> impl IntoView {
    view! {
        <div class="scroll" tabindex="0" role="region" aria-label=label>
            <table class="table" data-testid=testid>
                <thead><tr>{headings.iter().map(|h| view! { <th>{*h}</th> }).collect_view()}</tr></thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}
