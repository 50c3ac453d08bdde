//! Finding assets: search, filters, sort and paging over the grid and its risk scores.
//! Pure, so the assets page, its CSV/JSON export and tests share one definition.

use serde::{Deserialize, Serialize};

use super::model::{Asset, AssetKind, Text};
use super::risk::RiskBand;

/// Rows per page, and the most a client may ask for.
pub const DEFAULT_PER_PAGE: u32 = 25;
pub const MAX_PER_PAGE: u32 = 200;
/// Longest search text accepted.
pub const MAX_QUERY_CHARS: usize = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Highest risk first (the default: what needs attention).
    #[default]
    Risk,
    Id,
    Name,
    Voltage,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [SortKey::Risk, SortKey::Id, SortKey::Name, SortKey::Voltage];

    pub fn parse(text: &str) -> Option<SortKey> {
        match text {
            "risk" => Some(SortKey::Risk),
            "id" => Some(SortKey::Id),
            "name" => Some(SortKey::Name),
            "voltage" => Some(SortKey::Voltage),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetQuery {
    /// Case-insensitive substring of id or name.
    pub text: Option<String>,
    pub kind: Option<AssetKind>,
    pub band: Option<RiskBand>,
    pub region: Option<String>,
    pub min_kv: Option<f64>,
    pub max_kv: Option<f64>,
    pub sort: SortKey,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetRow {
    pub id: String,
    pub name: String,
    pub kind: AssetKind,
    pub voltage_kv: Option<f64>,
    pub region: Option<String>,
    pub risk: f64,
    pub band: RiskBand,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetPage {
    /// Matching assets in all pages.
    pub total: usize,
    pub page: u32,
    pub per_page: u32,
    pub items: Vec<AssetRow>,
}

impl AssetPage {
    pub fn pages(&self) -> u32 {
        (self.total as u32).div_ceil(self.per_page.max(1)).max(1)
    }
}

impl AssetQuery {
    /// The search text, trimmed and lower-cased; `None` when there is none.
    fn search_text(&self) -> Option<String> {
        self.text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_lowercase)
    }

    /// Whether any filter is set (the sort and the page are not filters).
    fn filters(&self) -> bool {
        // Destructured so that a new field must be placed on one side or the other.
        let AssetQuery { text: _, kind, band, region, min_kv, max_kv, sort: _, page: _, per_page: _ } = self;
        kind.is_some()
            || band.is_some()
            || region.is_some()
            || min_kv.is_some()
            || max_kv.is_some()
            || self.search_text().is_some()
    }

    /// The query from URL parameters (`q`, `kind`, `band`, `region`, `min_kv`, `max_kv`,
    /// `sort`, `page`); unknown or malformed values are ignored rather than failing.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> AssetQuery {
        let mut q = AssetQuery { page: 1, ..Default::default() };
        for (k, v) in pairs {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match k {
                "q" => q.text = Some(v.chars().take(MAX_QUERY_CHARS).collect()),
                "kind" => q.kind = AssetKind::parse(v),
                "band" => q.band = RiskBand::parse(v),
                "region" => q.region = Some(v.to_string()),
                "min_kv" => q.min_kv = v.parse().ok().filter(|x: &f64| x.is_finite()),
                "max_kv" => q.max_kv = v.parse().ok().filter(|x: &f64| x.is_finite()),
                "sort" => q.sort = SortKey::parse(v).unwrap_or_default(),
                "page" => q.page = v.parse().unwrap_or(1),
                _ => {}
            }
        }
        q
    }
}

/// The page of assets matching `query`; `scores[i]` is the risk of `assets[i]` and `order`
/// every position in `query.sort`'s order (from [`sorted`], which a caller can keep while
/// the scores stay the same: filtering keeps the order, so no sort is needed per query).
/// Only the rows of the page are built.
pub fn find_assets(order: &[u32], assets: &[Asset], scores: &[f64], query: &AssetQuery) -> AssetPage {
    let per_page = if query.per_page == 0 { DEFAULT_PER_PAGE } else { query.per_page.min(MAX_PER_PAGE) };
    let page_of = |total: usize| query.page.clamp(1, (total as u32).div_ceil(per_page).max(1));
    let rows = |positions: &mut dyn Iterator<Item = usize>, page: u32| -> Vec<AssetRow> {
        positions
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .map(|i| row(&assets[i], scores[i]))
            .collect()
    };
    if !query.filters() {
        // Every asset matches: the page is a slice of the order.
        let total = order.len();
        let page = page_of(total);
        let items = rows(&mut order.iter().map(|&i| i as usize), page);
        return AssetPage { total, page, per_page, items };
    }
    // One pass counts the matches and keeps the requested page; a page past the end (the
    // count was not known) takes a second pass for the last one.
    let wanted = query.page.max(1);
    let start = ((wanted - 1) * per_page) as usize;
    let mut total = 0;
    let mut items = Vec::new();
    for i in matching(order, assets, scores, query) {
        if total >= start && items.len() < per_page as usize {
            items.push(row(&assets[i], scores[i]));
        }
        total += 1;
    }
    let page = page_of(total);
    if page != wanted {
        items = rows(&mut matching(order, assets, scores, query), page);
    }
    AssetPage { total, page, per_page, items }
}

/// Every asset matching `query` (all pages), in `order` (as for [`find_assets`]): what an
/// export contains.
pub fn matching_rows(order: &[u32], assets: &[Asset], scores: &[f64], query: &AssetQuery) -> Vec<AssetRow> {
    matching(order, assets, scores, query).map(|i| row(&assets[i], scores[i])).collect()
}

fn row(a: &Asset, risk: f64) -> AssetRow {
    AssetRow {
        id: a.id.to_string(),
        name: a.name.to_string(),
        kind: a.kind,
        voltage_kv: a.voltage_kv.get(),
        region: a.region.as_ref().map(|r| r.to_string()),
        risk,
        band: RiskBand::of(risk),
    }
}

/// Every position, in the order `sort` lists assets (ties by id).
pub fn sorted(assets: &[Asset], scores: &[f64], sort: SortKey) -> Vec<u32> {
    let mut order: Vec<u32> = (0..assets.len().min(scores.len()) as u32).collect();
    let id = |i: u32| assets[i as usize].id.as_str();
    let kv = |i: u32| assets[i as usize].voltage_kv.get().unwrap_or(-1.0);
    let score = |i: u32| scores[i as usize];
    match sort {
        SortKey::Risk => order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then_with(|| id(a).cmp(id(b)))),
        SortKey::Id => order.sort_by(|&a, &b| id(a).cmp(id(b))),
        SortKey::Name => order.sort_by(|&a, &b| {
            assets[a as usize].name.cmp(&assets[b as usize].name).then_with(|| id(a).cmp(id(b)))
        }),
        SortKey::Voltage => order.sort_by(|&a, &b| kv(b).total_cmp(&kv(a)).then_with(|| id(a).cmp(id(b)))),
    }
    order
}

/// The positions in `order` of the assets matching `query`'s filters.
fn matching<'a>(
    order: &'a [u32],
    assets: &'a [Asset],
    scores: &'a [f64],
    query: &'a AssetQuery,
) -> impl Iterator<Item = usize> + 'a {
    // The text, spaces normalised ('+' is a space, as a form writes it in a URL), found in the
    // name, the id, or the id read with its separators as spaces: "Line 193" finds `line-193`.
    let phrase: Option<String> = query.search_text().map(|t| {
        t.split(|c: char| c.is_whitespace() || c == '+')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let found = move |a: &Asset| {
        phrase.as_deref().is_none_or(|p| {
            let id = a.id.to_lowercase();
            id.contains(p)
                || a.name.to_lowercase().contains(p)
                || id.replace(['-', '_', '.', ':'], " ").contains(p)
        })
    };
    order.iter().map(|&i| i as usize).filter(move |&i| {
        let a = &assets[i];
        query.kind.is_none_or(|k| a.kind == k)
            && query.band.is_none_or(|b| RiskBand::of(scores[i]) == b)
            && query.region.as_deref().is_none_or(|r| a.region.as_deref() == Some(r))
            && query.min_kv.is_none_or(|v| a.voltage_kv.get().is_some_and(|kv| kv >= v))
            && query.max_kv.is_none_or(|v| a.voltage_kv.get().is_some_and(|kv| kv <= v))
            && found(a)
    })
}

/// The assets directly related to `asset`, each with the relation in words, in grid order.
pub fn neighbours<'a>(assets: &'a [Asset], asset: &Asset) -> Vec<(&'static str, &'a Asset)> {
    let id = asset.id.as_str();
    let is = |field: &Option<Text>| field.as_deref() == Some(id);
    let named = |field: &Option<Text>, a: &Asset| field.as_deref() == Some(a.id.as_str());
    assets
        .iter()
        .filter(|a| a.id != id)
        .filter_map(|a| {
            let relation = if named(&asset.from_bus, a) {
                "from bus"
            } else if named(&asset.to_bus, a) {
                "to bus"
            } else if named(&asset.bus, a) {
                "on bus"
            } else if named(&asset.element, a) {
                "switch on"
            } else if named(&asset.substation, a) {
                "in substation"
            } else if is(&a.from_bus) || is(&a.to_bus) {
                "connected branch"
            } else if is(&a.bus) {
                "connected here"
            } else if is(&a.element) {
                "switch on it"
            } else if is(&a.substation) {
                "bus in it"
            } else {
                return None;
            };
            Some((relation, a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (Vec<Asset>, Vec<f64>) {
        let mut assets = Vec::new();
        let mut scores = Vec::new();
        for i in 0..60 {
            let kind = if i % 3 == 0 { AssetKind::Line } else { AssetKind::Bus };
            assets.push(Asset {
                name: format!("Asset {i:02}").into(),
                voltage_kv: Some(if i % 2 == 0 { 20.0 } else { 110.0 }).into(),
                region: Some(if i < 30 { "North".into() } else { "South".into() }),
                ..Asset::new(format!("a-{i:02}"), kind)
            });
            scores.push(f64::from(i));
        }
        (assets, scores)
    }

    fn run(query: AssetQuery) -> AssetPage {
        let (assets, scores) = fixture();
        find_assets(&sorted(&assets, &scores, query.sort), &assets, &scores, &query)
    }

    #[test]
    fn default_is_highest_risk_first_in_pages() {
        let page = run(AssetQuery::default());
        assert_eq!((page.total, page.page, page.per_page, page.pages()), (60, 1, 25, 3));
        assert_eq!(page.items[0].id, "a-59");
        let last = run(AssetQuery { page: 3, ..Default::default() });
        assert_eq!(last.items.len(), 10);
        // Past the end clamps to the last page rather than showing nothing.
        assert_eq!(run(AssetQuery { page: 99, ..Default::default() }).page, 3);
    }

    /// The text is found in the id or the name, whatever the id's separators: "Asset 07" and
    /// "a 07" find `a-07` ("Asset 07"), and so does "asset+07" as a form writes it in a URL.
    #[test]
    fn search_finds_names_and_ids_written_either_way() {
        for text in ["Asset 07", "a 07", "asset+07", "A-07", "  asset   07 "] {
            let page = run(AssetQuery { text: Some(text.into()), ..Default::default() });
            let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, ["a-07"], "{text}");
        }
        assert_eq!(run(AssetQuery { text: Some("asset 99".into()), ..Default::default() }).total, 0);
    }

    #[test]
    fn filters_combine() {
        let page = run(AssetQuery {
            kind: Some(AssetKind::Line),
            region: Some("South".into()),
            min_kv: Some(100.0),
            sort: SortKey::Id,
            ..Default::default()
        });
        let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["a-33", "a-39", "a-45", "a-51", "a-57"]);
        let critical = run(AssetQuery { band: Some(RiskBand::High), ..Default::default() });
        assert_eq!(critical.total, 10, "scores 50..=59 are high (50 ≤ high < 75)");
    }

    #[test]
    fn filtered_pages_are_slices_of_every_match_and_past_the_end_is_the_last_page() {
        let (assets, scores) = fixture();
        let filter = AssetQuery { kind: Some(AssetKind::Bus), per_page: 7, ..Default::default() };
        let order = sorted(&assets, &scores, filter.sort);
        let every: Vec<String> =
            matching_rows(&order, &assets, &scores, &filter).into_iter().map(|r| r.id).collect();
        assert_eq!(every.len(), 40);
        for (asked, shown) in [(1, 1), (2, 2), (6, 6), (0, 1), (7, 6), (99, 6)] {
            let page = find_assets(&order, &assets, &scores, &AssetQuery { page: asked, ..filter.clone() });
            assert_eq!((page.total, page.page), (40, shown), "page {asked}");
            let start = (shown as usize - 1) * 7;
            let ids: Vec<String> = page.items.into_iter().map(|r| r.id).collect();
            assert_eq!(ids, every[start..(start + 7).min(40)], "page {asked}");
        }
        let none = find_assets(&order, &assets, &scores, &AssetQuery { text: Some("zzz".into()), ..filter });
        assert_eq!((none.total, none.page, none.items.len()), (0, 1, 0));
    }

    #[test]
    fn a_query_reads_from_url_parameters_and_ignores_junk() {
        let q = AssetQuery::from_pairs([
            ("q", " Bus "),
            ("kind", "line"),
            ("band", "critical"),
            ("page", "3"),
            ("sort", "x"),
            ("min_kv", "nan"),
        ]);
        assert_eq!(q.text.as_deref(), Some("Bus"));
        assert_eq!(
            (q.kind, q.band, q.page, q.sort, q.min_kv),
            (Some(AssetKind::Line), Some(RiskBand::Critical), 3, SortKey::Risk, None)
        );
        assert_eq!(AssetQuery::from_pairs([]).page, 1);
    }

    #[test]
    fn neighbours_name_their_relation() {
        let bus = |id: &str| Asset::new(id, AssetKind::Bus);
        let line = Asset {
            from_bus: Some("a".into()),
            to_bus: Some("b".into()),
            ..Asset::new("l", AssetKind::Line)
        };
        let load = Asset { bus: Some("b".into()), ..Asset::new("d", AssetKind::Load) };
        let assets = vec![bus("a"), bus("b"), line.clone(), load, bus("c")];
        let of = |id: &str| -> Vec<(&str, &str)> {
            let a = assets.iter().find(|a| a.id == id).unwrap();
            neighbours(&assets, a).into_iter().map(|(r, n)| (r, n.id.as_str())).collect()
        };
        assert_eq!(of("l"), vec![("from bus", "a"), ("to bus", "b")]);
        assert_eq!(of("b"), vec![("connected branch", "l"), ("connected here", "d")]);
        assert_eq!(of("c"), vec![]);
    }

    #[test]
    fn text_matches_id_or_name_ignoring_case() {
        assert_eq!(run(AssetQuery { text: Some("ASSET 4".into()), ..Default::default() }).total, 10);
        assert_eq!(run(AssetQuery { text: Some("a-07".into()), ..Default::default() }).total, 1);
        assert_eq!(run(AssetQuery { text: Some("   ".into()), ..Default::default() }).total, 60);
    }
}
