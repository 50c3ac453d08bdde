//! Formatting of numbers for display, shared by the pages.

/// A duration in seconds as operators read it: `45 s`, `12 min 03 s`, `5 h 07 min`, `3 d 04 h`.
pub fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s:02} s"),
        (0, _, _) => format!("{h} h {m:02} min"),
        _ => format!("{d} d {h:02} h"),
    }
}

/// A kind of asset in the plural, capitalised, for labels.
pub fn plural_kind(kind: crate::domain::model::AssetKind) -> &'static str {
    use crate::domain::model::AssetKind::*;
    match kind {
        Substation => "Substations",
        Bus => "Buses",
        Line => "Lines",
        Transformer => "Transformers",
        Generator => "Generators",
        Load => "Loads",
        Switch => "Switches",
    }
}

/// A risk band's name, as used in URLs, CSS classes and labels.
pub fn band_name(band: crate::domain::risk::RiskBand) -> &'static str {
    band.as_str()
}

/// "critical" → "Critical".
pub fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Money without decimals and with thin grouping: `1 234 567`.
pub fn money(amount: f64) -> String {
    let digits = format!("{:.0}", amount.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if amount < -0.5 {
        out.insert(0, '−');
    }
    out
}

/// `path` with the non-empty URL parameters named in `keys` carried over, then `extra`:
/// how the pages link to another page of a list or to an export of what they show.
pub fn href_with(
    path: &str,
    params: &leptos_router::params::ParamsMap,
    keys: &[&str],
    extra: Option<(&str, String)>,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for k in keys {
        if let Some(v) = params.get(k).filter(|v| !v.is_empty()) {
            query.append_pair(k, &v);
        }
    }
    if let Some((k, v)) = extra {
        query.append_pair(k, &v);
    }
    format!("{path}?{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::{duration, money};

    #[test]
    fn picks_the_two_largest_units() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(60), "1 min 00 s");
        assert_eq!(duration(723), "12 min 03 s");
        assert_eq!(duration(3_600), "1 h 00 min");
        assert_eq!(duration(18_420), "5 h 07 min");
        assert_eq!(duration(86_399), "23 h 59 min");
        assert_eq!(duration(86_400 * 3 + 3_600 * 4 + 59), "3 d 04 h");
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(0.0), "0");
        assert_eq!(money(999.4), "999");
        assert_eq!(money(1234567.0), "1\u{202f}234\u{202f}567");
        assert_eq!(money(-25000.0), "−25\u{202f}000");
    }
}

/// A moment as operators read it in tables: `2026-11-26 14:05 UTC`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
