//! The HTML shell, the router and the layout every page shares.

pub mod chart;
pub mod format;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path,
};

use pages::{
    asset::AssetPage,
    assets::Assets,
    map::MapPage,
    not_found::NotFound,
    outages::{ImpactExplorer, N1},
    overview::Overview,
};

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Effects run only in the browser, after hydration: the tests wait for this marker
    // before they interact with the page.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/gridscope.css"/>
        <Title formatter=|page: String| format!("{page} · Gridscope")/>
        <Meta name="description" content="Grid status, risk and outage impact for an energy grid."/>
        <Meta name="theme-color" content="#0f3d5e"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Link rel="manifest" href="/manifest.webmanifest"/>
        <Router>
            <div class="app" data-hydrated=move || if hydrated.get() { "true" } else { "false" }>
                <header class="topbar">
                    <a class="brand" href="/">"Gridscope"</a>
                    <nav class="nav" aria-label="Main">
                        <A href="/" exact=true>"Overview"</A>
                        <A href="/map">"Map"</A>
                        <A href="/assets">"Assets"</A>
                        <A href="/impact">"Impact"</A>
                        <A href="/n1">"N-1"</A>
                    </nav>
                </header>
                <main class="content" id="main">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=Overview/>
                        <Route path=path!("/assets") view=Assets/>
                        <Route path=path!("/assets/:id") view=AssetPage/>
                        <Route path=path!("/impact") view=ImpactExplorer/>
                        <Route path=path!("/map") view=MapPage/>
                        <Route path=path!("/n1") view=N1/>
                    </Routes>
                </main>
                <footer class="footer">
                    <span>"Gridscope"</span>
                </footer>
            </div>
        </Router>
    }
}
