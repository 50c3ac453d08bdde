//! Standardisation of values exported by other systems: when a value does not parse, what it
//! most likely means. Only unambiguous rewrites are suggested (a date such as 03/04/2024 is
//! not: day and month could be either), and they are applied only when the operator accepts.

use app::domain::model::AssetKind;

/// A rewrite of `value` in `column`, and the rule's name, if one applies.
pub fn suggest(column: &str, value: &str) -> Option<(String, &'static str)> {
    match column {
        "kind" => kind(value),
        "closed" | "in_service" | "source" | "synthetic" => boolean(value),
        "date" => date(value),
        "started_at" | "restored_at" => time(value),
        "voltage_kv" => voltage(value),
        "rating_mva" | "p_mw" | "length_km" | "loading_pct" | "cost" | "lat" | "lon" => number(value),
        _ => None,
    }
}

/// Asset kinds and maintenance kinds: case and common synonyms.
fn kind(value: &str) -> Option<(String, &'static str)> {
    let lower = value.trim().to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "trafo" | "xfmr" | "transformer2w" | "2w transformer" | "power transformer" => "transformer",
        "gen" | "sgen" | "generating unit" | "ext_grid" | "external grid" => "generator",
        "sub" | "station" => "substation",
        "node" | "busbar" => "bus",
        "cable" | "branch" | "overhead line" | "ohl" => "line",
        "breaker" | "disconnector" | "circuit breaker" | "cb" => "switch",
        "demand" | "consumer" => "load",
        "inspect" | "check" => "inspection",
        "fix" | "corrective" => "repair",
        "replace" | "renewal" => "replacement",
        other => other,
    };
    let known = AssetKind::parse(canonical).is_some()
        || app::domain::model::MaintenanceKind::parse(canonical).is_some();
    (known && canonical != value).then(|| {
        let rule = if canonical == lower { "kind in lower case" } else { "kind synonym" };
        (canonical.to_owned(), rule)
    })
}

fn boolean(value: &str) -> Option<(String, &'static str)> {
    let answer = match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" | "ja" | "t" | "x" => "true",
        "no" | "n" | "off" | "nein" | "f" | "-" => "false",
        _ => return None,
    };
    Some((answer.to_owned(), "yes/no → true/false"))
}

fn ymd(y: &str, m: &str, d: &str) -> Option<String> {
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    chrono::NaiveDate::from_ymd_opt(y, m, d).map(|date| date.format("%Y-%m-%d").to_string())
}

/// DD.MM.YYYY, YYYY/MM/DD, YYYY.MM.DD, and DD/MM/YYYY or MM/DD/YYYY only when the day is
/// above 12 (else ambiguous).
fn date(value: &str) -> Option<(String, &'static str)> {
    let v = value.trim();
    let parts: Vec<&str> = v.split(['.', '/']).collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let fixed = if parts[0].len() == 4 {
        ymd(parts[0], parts[1], parts[2])
    } else if parts[2].len() == 4 && v.contains('.') {
        ymd(parts[2], parts[1], parts[0])
    } else if parts[2].len() == 4 {
        let (a, b): (u32, u32) = (parts[0].parse().ok()?, parts[1].parse().ok()?);
        match (a > 12, b > 12) {
            (true, false) => ymd(parts[2], parts[1], parts[0]),
            (false, true) => ymd(parts[2], parts[0], parts[1]),
            _ => None,
        }
    } else {
        None
    }?;
    Some((fixed, "date as YYYY-MM-DD"))
}

/// `YYYY-MM-DD HH:MM[:SS]` or a bare date, read as UTC.
fn time(value: &str) -> Option<(String, &'static str)> {
    let v = value.trim();
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, format) {
            return Some((t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "time without zone read as UTC"));
        }
    }
    let date = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    Some((format!("{date}T00:00:00Z"), "time without zone read as UTC"))
}

/// A number with a decimal comma, or with a unit after it.
fn number(value: &str) -> Option<(String, &'static str)> {
    let v = value.trim();
    let stripped = v.trim_end_matches(|c: char| c.is_alphabetic() || c == '%' || c == ' ');
    if stripped.len() < v.len() && stripped.parse::<f64>().is_ok_and(f64::is_finite) {
        return Some((stripped.to_owned(), "unit removed"));
    }
    let dotted = v.replacen(',', ".", 1);
    (v.matches(',').count() == 1 && !v.contains('.') && dotted.parse::<f64>().is_ok_and(f64::is_finite))
        .then_some((dotted, "decimal comma"))
}

/// Voltages with a unit (`20 kV`, `20000 V`) or given in volts (above 1500 "kV").
fn voltage(value: &str) -> Option<(String, &'static str)> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    if let Some(kv) =
        lower.strip_suffix("kv").map(str::trim).and_then(|n| n.replace(',', ".").parse::<f64>().ok())
    {
        return Some((trim_number(kv), "unit removed"));
    }
    let volts = lower.strip_suffix('v').map(str::trim).and_then(|n| n.replace(',', ".").parse::<f64>().ok());
    let volts = volts.or_else(|| v.parse::<f64>().ok().filter(|x| *x > MAX_KV));
    volts.filter(|x| x.is_finite()).map(|x| (trim_number(x / 1000.0), "V → kV"))
}

/// The highest AC transmission voltage in service is 1150 kV: above this it is volts.
pub const MAX_KV: f64 = 1500.0;

fn trim_number(x: f64) -> String {
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Text that a spreadsheet would run as a formula when the value is opened there.
pub fn formula_like(value: &str) -> bool {
    value.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// The value without the characters that make it a formula.
pub fn defuse(value: &str) -> String {
    value.trim_start_matches(['=', '+', '-', '@', '\t', '\r']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unambiguous_rewrites_are_suggested() {
        assert_eq!(suggest("kind", "Trafo"), Some(("transformer".into(), "kind synonym")));
        assert_eq!(suggest("kind", "BUS"), Some(("bus".into(), "kind in lower case")));
        assert_eq!(suggest("kind", "Inspect"), Some(("inspection".into(), "kind synonym")));
        assert_eq!(suggest("kind", "spaceship"), None);
        assert_eq!(suggest("closed", "Yes").unwrap().0, "true");
        assert_eq!(suggest("date", "01.03.2024").unwrap().0, "2024-03-01");
        assert_eq!(suggest("date", "2024/03/01").unwrap().0, "2024-03-01");
        assert_eq!(suggest("date", "25/03/2024").unwrap().0, "2024-03-25");
        assert_eq!(suggest("date", "03/25/2024").unwrap().0, "2024-03-25");
        assert_eq!(suggest("date", "03/04/2024"), None, "day and month could be either");
        assert_eq!(suggest("date", "31.02.2024"), None, "no such day");
        assert_eq!(suggest("started_at", "2024-05-01 12:00").unwrap().0, "2024-05-01T12:00:00Z");
        assert_eq!(suggest("voltage_kv", "20 kV").unwrap().0, "20");
        assert_eq!(suggest("voltage_kv", "20000 V"), Some(("20".into(), "V → kV")));
        assert_eq!(suggest("voltage_kv", "110000"), Some(("110".into(), "V → kV")));
        assert_eq!(suggest("voltage_kv", "380"), None);
        assert_eq!(suggest("length_km", "12,5"), Some(("12.5".into(), "decimal comma")));
        assert_eq!(suggest("length_km", "1,234,5"), None);
        assert_eq!(suggest("rating_mva", "40 MVA"), Some(("40".into(), "unit removed")));
        assert!(formula_like("=HYPERLINK(\"x\")") && formula_like("@SUM(A1)") && !formula_like("Line 7"));
        assert_eq!(defuse("=cmd|'/c calc'!A0"), "cmd|'/c calc'!A0");
    }
}
