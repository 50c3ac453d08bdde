//! The HTML shell, the router and the layout every page shares.

pub mod card;
pub mod chart;
#[cfg(feature = "ssr")]
pub mod csp;
pub mod format;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path, SsrMode,
};

use crate::api::auth::{Principal, Role};
use pages::{
    admin::Admin,
    analyst::Analyst,
    asset::AssetPage,
    assets::Assets,
    import::Import,
    login::Login,
    maintenance::Maintenance,
    map::MapPage,
    not_found::NotFound,
    outages::{ImpactExplorer, N1},
    overview::Overview,
    status::Status,
};

/// The document around the app, rendered on the server only. Its response carries the
/// Content-Security-Policy with this response's nonce (the one on the hydration scripts).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    {
        if let Ok(value) = http::HeaderValue::from_str(&csp::page_policy(&nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=current_theme()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Starts the download of a lazy island's WebAssembly with the page's own: the server names
/// the island's module and the chunks it needs in `<link rel="preload">` tags, so the browser
/// fetches them alongside the main module instead of after it has run. `island` is the island's
/// name in snake case (`status_view` for `StatusView`); the build gives each lazy module a name
/// that starts with it (see the split manifest). Only `#[island(lazy)]` islands have one: for
/// an eager island the call would find no module and do nothing.
pub(crate) fn preload_island(island: &'static str) {
    #[cfg(feature = "ssr")]
    {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        // The manifest's key for each island, found once (the manifest is fixed per build).
        static KEYS: OnceLock<Mutex<HashMap<&'static str, Option<&'static str>>>> = OnceLock::new();
        let Some(manifest) = use_context::<leptos::WasmSplitManifest>() else {
            return;
        };
        let prefix = format!("{island}_loader_");
        let key = *KEYS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(island)
            .or_insert_with(|| {
                manifest.0.with_value(|(_, modules, _)| {
                    modules.keys().find(|k| k.starts_with(&prefix)).map(|k| &*k.clone().leak())
                })
            });
        if let Some(key) = key {
            leptos::prefetch_lazy_fn_on_server(key);
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = island;
}

/// The chosen colour theme (`dark` or `light`), or `None` to follow the system: on the
/// server from the request's cookie, in the browser from the page the server rendered.
fn current_theme() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| crate::api::prefs::theme_from_headers(&parts.headers))
            .map(str::to_owned)
    }
    #[cfg(not(feature = "ssr"))]
    {
        document().document_element().and_then(|html| html.get_attribute("data-theme"))
    }
}

/// A button cycling the colour theme: system → dark → light. The page changes at once; the
/// choice is saved in a cookie by the server.
#[island]
fn ThemeToggle() -> impl IntoView {
    use crate::api::prefs::SetTheme;
    let theme = RwSignal::new(current_theme().unwrap_or_else(|| "auto".into()));
    let save = ServerAction::<SetTheme>::new();
    let label = move || match theme.get().as_str() {
        "dark" => "Theme: dark",
        "light" => "Theme: light",
        _ => "Theme: system",
    };
    view! {
        <button
            class="theme-toggle"
            type="button"
            data-testid="theme-toggle"
            data-theme=move || theme.get()
            title="Change the colour theme"
            on:click=move |_| {
                let next = match theme.get_untracked().as_str() {
                    "auto" => "dark",
                    "dark" => "light",
                    _ => "auto",
                };
                if let Some(html) = document().document_element() {
                    let _ = if next == "auto" {
                        html.remove_attribute("data-theme")
                    } else {
                        html.set_attribute("data-theme", next)
                    };
                }
                theme.set(next.to_owned());
                save.dispatch(SetTheme { theme: next.to_owned() });
            }
        >
            {label}
        </button>
    }
}

/// Who is using the app, loaded once per page load (a sign-in or sign-out reloads the page).
#[derive(Clone, Copy)]
pub struct Me(pub Resource<Result<Principal, crate::error::AppError>>);

impl Me {
    /// The caller's role once known (viewer until then, and on error).
    pub fn role(self) -> Role {
        self.0.get().and_then(Result::ok).map_or(Role::Viewer, |p| p.role)
    }
}

/// Sign-in state in the header: a link to sign in, or who is signed in and a sign-out button.
#[component]
fn Account() -> impl IntoView {
    let me = expect_context::<Me>();
    view! {
        <Transition fallback=|| ()>
            {move || me.0.get().map(|me| match me {
                Ok(Principal { username: Some(name), role }) => view! {
                    <span class="account" data-testid="signed-in-as" data-role=role.as_str()>
                        {name} " (" {role.as_str()} ")"
                    </span>
                    <SignOut/>
                }.into_any(),
                _ => view! { <a class="account" href="/login" data-testid="sign-in-link">"Sign in"</a> }.into_any(),
            })}
        </Transition>
    }
}

/// The sign-out button: a form that works without JavaScript; with it, the overview is loaded
/// once the session has ended.
#[island]
fn SignOut() -> impl IntoView {
    use crate::api::auth::Logout;
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().assign("/");
        }
    });
    view! {
        <ActionForm action=logout attr:class="inline">
            <button class="link-button" type="submit" data-testid="sign-out">"Sign out"</button>
        </ActionForm>
    }
}

/// The document title of a page: "<page> · Gridscope".
///
/// On the server the text is escaped here, because leptos_meta writes the `<title>` it streams
/// into the head as it is: a page titled with stored text (an asset's name) could otherwise
/// close the element and add markup of its own. In the browser the title is set as text.
fn page_title(page: String) -> String {
    let title = format!("{page} · Gridscope");
    #[cfg(feature = "ssr")]
    let title = html_escape::encode_text(&title).into_owned();
    title
}

/// The pages in the navigation, most used first: the first four are the phone's tab bar, the
/// others its "More" sheet; operators and admins see theirs.
#[component]
fn NavLinks(first: bool, rest: bool) -> AnyView {
    let me = expect_context::<Me>();
    // Type-erased: the app's view type is otherwise too deep for the compiler's query limit.
    view! {
        {first.then(|| view! {
            <A href="/" exact=true>"Overview"</A>
            <A href="/map">"Map"</A>
            <A href="/assets">"Assets"</A>
            <A href="/impact">"Impact"</A>
        })}
        {rest.then(|| view! {
            <A href="/n1">"N-1"</A>
            <A href="/maintenance">"Maintenance"</A>
            <Transition fallback=|| ()>
                {move || (me.role() >= Role::Operator).then(|| view! { <A href="/analyst">"Analyst"</A> })}
                {move || (me.role() >= Role::Operator).then(|| view! { <A href="/import">"Import"</A> })}
                {move || (me.role() >= Role::Operator).then(|| view! { <A href="/status">"Status"</A> })}
                {move || (me.role() >= Role::Admin).then(|| view! { <A href="/admin">"Admin"</A> })}
            </Transition>
        })}
    }
    .into_any()
}

/// On a phone, the navigation is a bar at the bottom of the screen, within reach of a thumb:
/// the four most used pages and "More", a sheet with the others (choosing one loads its page).
/// Hidden on wider screens, where the top bar shows every page.
#[component]
fn TabBar() -> AnyView {
    view! {
        <nav class="tabbar" aria-label="Pages" data-testid="tabbar">
            <NavLinks first=true rest=false/>
            <details class="more" data-testid="nav-more">
                <summary>"More"</summary>
                <div class="sheet">
                    <NavLinks first=false rest=true/>
                </div>
            </details>
        </nav>
    }
    .into_any()
}

/// Marks the page interactive (`data-hydrated` on `.app`), for the tests and for scripts:
/// islands hydrate in document order, and this one is the last.
#[island]
fn Hydrated() -> impl IntoView {
    Effect::new(move |_| {
        if let Ok(Some(app)) = document().query_selector(".app") {
            let _ = app.set_attribute("data-hydrated", "true");
        }
    });
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let me = Me(Resource::new(|| (), |_| crate::api::auth::whoami()));
    provide_context(me);

    view! {
        <Title formatter=page_title/>
        <Meta name="description" content="Grid status, risk and outage impact for an energy grid."/>
        <Meta name="theme-color" content="#0f3d5e"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Link rel="manifest" href="/manifest.webmanifest"/>
        <Router>
            <div class="app" data-hydrated="false">
                <header class="topbar">
                    <a class="skip-link" href="#main" rel="external" data-testid="skip-link">"Skip to content"</a>
                    <a class="brand" href="/">"Gridscope"</a>
                    <nav class="nav" aria-label="Main">
                        <NavLinks first=true rest=true/>
                    </nav>
                    <Account/>
                    <ThemeToggle/>
                </header>
                <main class="content" id="main" tabindex="-1">
                    // Async: each page is sent once its data is in, so what the first HTML shows
                    // is what stays (no "Loading…" replaced a moment later, no layout shift).
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=Overview ssr=SsrMode::Async/>
                        <Route path=path!("/assets") view=Assets ssr=SsrMode::Async/>
                        <Route path=path!("/assets/:id") view=AssetPage ssr=SsrMode::Async/>
                        <Route path=path!("/impact") view=ImpactExplorer ssr=SsrMode::Async/>
                        <Route path=path!("/map") view=MapPage ssr=SsrMode::Async/>
                        <Route path=path!("/n1") view=N1 ssr=SsrMode::Async/>
                        <Route path=path!("/maintenance") view=Maintenance ssr=SsrMode::Async/>
                        <Route path=path!("/analyst") view=Analyst ssr=SsrMode::Async/>
                        <Route path=path!("/login") view=Login ssr=SsrMode::Async/>
                        <Route path=path!("/admin") view=Admin ssr=SsrMode::Async/>
                        <Route path=path!("/status") view=Status ssr=SsrMode::Async/>
                        <Route path=path!("/import") view=Import ssr=SsrMode::Async/>
                    </Routes>
                </main>
                <footer class="footer">
                    <span>"Gridscope"</span>
                </footer>
                <TabBar/>
                <Hydrated/>
            </div>
        </Router>
    }
}
