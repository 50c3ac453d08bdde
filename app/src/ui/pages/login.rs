//! Sign-in for operators and admins. Works without JavaScript (the form posts to the server
//! function, which sends the browser back here); with it, a successful sign-in reloads the
//! page it was asked from (`?next=`), so every part of the page is rendered for the new role.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{Login as LoginFn, Principal};
use crate::ui::pages::overview::ErrorNotice;
use crate::ui::Me;

/// Where to go after signing in: only a path on this site (never `//host` or a URL), so the
/// sign-in page cannot be used to send people elsewhere.
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.len() <= 512)
        .unwrap_or_else(|| "/".to_owned())
}

#[component]
pub fn Login() -> impl IntoView {
    let me = expect_context::<Me>();
    let params = use_query_map();
    let next = safe_next(params.get_untracked().get("next"));
    let continue_to = next.clone();
    view! {
        <Title text="Sign in"/>
        <h1>"Sign in"</h1>
        <Transition fallback=|| ()>
            {move || me.0.get().map(|me| match me {
                Ok(Principal { username: Some(name), role }) => view! {
                    <p data-testid="already-signed-in">
                        "Signed in as " <strong>{name}</strong> " (" {role.as_str()} "). "
                        <a href=continue_to.clone()>"Continue"</a>
                    </p>
                }.into_any(),
                _ => ().into_any(),
            })}
        </Transition>
        <LoginForm next/>
        <p class="muted">"Viewing the grid needs no account. Operators and admins get their accounts from an admin."</p>
    }
}

/// The form, with the server's answer shown in place; a successful sign-in goes on to `next`.
#[island]
fn LoginForm(next: String) -> impl IntoView {
    let login = ServerAction::<LoginFn>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = login.value().get() {
            let _ = window().location().assign(&next);
        }
    });
    view! {
        <ActionForm action=login attr:class="card login" attr:aria-label="Sign in">
            <label for="username">"User name"</label>
            <input id="username" name="username" type="text" autocomplete="username" required
                maxlength="64" autocapitalize="none" spellcheck="false" data-testid="username"/>
            <label for="password">"Password"</label>
            <input id="password" name="password" type="password" autocomplete="current-password"
                required maxlength="1024" data-testid="password"/>
            <button class="button" type="submit" data-testid="sign-in"
                disabled=move || login.pending().get()>"Sign in"</button>
        </ActionForm>
        {move || login.value().get().and_then(Result::err).map(|error| view! {
            <div data-testid="sign-in-error"><ErrorNotice error=error/></div>
        })}
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(safe_next(Some("/analyst?q=x".into())), "/analyst?q=x");
        assert_eq!(safe_next(Some("//evil.example/".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example/".into())), "/");
        assert_eq!(safe_next(Some("/\\evil.example".into())), "/");
        assert_eq!(safe_next(None), "/");
    }
}
