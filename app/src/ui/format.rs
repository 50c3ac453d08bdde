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

#[cfg(test)]
mod tests {
    use super::duration;

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
}
