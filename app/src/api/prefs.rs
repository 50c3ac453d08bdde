//! Preferences kept in a cookie: the colour theme (so the server renders the page in it and
//! nothing flashes on load).

use leptos::prelude::*;

use crate::error::AppError;

pub const THEME_COOKIE: &str = "gridscope_theme";
/// `auto` follows the system preference.
pub const THEMES: [&str; 3] = ["auto", "dark", "light"];

/// The theme a `Cookie` header asks for, if it is one we know (`auto` counts as none).
pub fn theme_from_cookie_header(header: &str) -> Option<&'static str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == THEME_COOKIE)
        .and_then(|(_, value)| THEMES.into_iter().find(|t| *t == value.trim()))
        .filter(|t| *t != "auto")
}

/// The theme a request's `Cookie` headers ask for (see [`theme_from_cookie_header`]).
#[cfg(feature = "ssr")]
pub fn theme_from_headers(headers: &http::HeaderMap) -> Option<&'static str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .find_map(|v| v.to_str().ok().and_then(theme_from_cookie_header))
}

#[server(endpoint = "set_theme")]
pub async fn set_theme(theme: String) -> Result<(), AppError> {
    use http::header::{HeaderValue, SET_COOKIE};
    if !THEMES.contains(&theme.as_str()) {
        return Err(AppError::invalid_input("Theme must be auto, dark or light."));
    }
    let cookie = if theme == "auto" {
        format!("{THEME_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax")
    } else {
        format!("{THEME_COOKIE}={theme}; Path=/; Max-Age=31536000; SameSite=Lax")
    };
    let response = expect_context::<leptos_axum::ResponseOptions>();
    response.append_header(SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| AppError::internal())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::theme_from_cookie_header;

    #[test]
    fn reads_only_known_themes_from_the_cookie() {
        assert_eq!(theme_from_cookie_header("a=1; gridscope_theme=dark"), Some("dark"));
        assert_eq!(theme_from_cookie_header("gridscope_theme=light"), Some("light"));
        assert_eq!(theme_from_cookie_header("gridscope_theme=auto"), None);
        assert_eq!(theme_from_cookie_header("gridscope_theme=\"><script>"), None);
        assert_eq!(theme_from_cookie_header("other_theme=dark"), None);
    }
}
