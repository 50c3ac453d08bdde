//! The analyst's grounding: which assets a question names, what it asks, the facts from the
//! grid that answer it, and the offline answer built from those facts alone.
//!
//! The same [`Facts`] are what a language model gets (as data, beside a fixed system prompt),
//! so an online answer and the offline one rest on the same numbers. Answers cite assets as
//! `[asset-id]`; [`segments`] turns those into links, but only for ids the facts contain, so
//! a model cannot make the page link to something that does not exist.

use serde::{Deserialize, Serialize};

use super::model::{valid_id, AssetKind};
use super::risk::RiskBand;

/// Longest accepted question, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Most assets a question may name (more are ignored).
pub const MAX_MENTIONED: usize = 5;
/// How many of the riskiest assets the facts list.
pub const TOP_RISKS: usize = 10;
/// How many maintenance candidates and single points of failure the facts list.
pub const TOP_ITEMS: usize = 5;

/// What a question asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Which assets are riskiest.
    TopRisks,
    /// What happens if the named asset(s) fail.
    WhatIfFails,
    /// What to maintain first.
    MaintainFirst,
    /// Which single failures cut customers off (N-1).
    SinglePoints,
    /// About the named asset(s) in general.
    AboutAssets,
    /// None of the above.
    Unknown,
}

/// The question, trimmed, if acceptable: not empty, at most [`MAX_QUESTION_CHARS`], no
/// control characters other than line breaks and tabs.
pub fn validate_question(question: &str) -> Result<&str, String> {
    let q = question.trim();
    if q.is_empty() {
        return Err("Ask a question.".into());
    }
    if q.chars().count() > MAX_QUESTION_CHARS {
        return Err(format!("Questions are limited to {MAX_QUESTION_CHARS} characters."));
    }
    if q.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("The question contains control characters.".into());
    }
    Ok(q)
}

/// The asset ids a question names (that `exists` knows), in order of appearance, at most
/// [`MAX_MENTIONED`]. Ids may be written bare or in brackets; trailing punctuation is ignored.
pub fn mentioned_assets(question: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    for token in question.split(|c: char| !is_id_char(c)) {
        let token = token.trim_end_matches(['.', ':']);
        if valid_id(token) && exists(token) && !found.iter().any(|f| f == token) {
            found.push(token.to_owned());
            if found.len() == MAX_MENTIONED {
                break;
            }
        }
    }
    found
}

/// What the question asks, from its words and whether it names assets.
pub fn classify(question: &str, names_assets: bool) -> Intent {
    let q = question.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| q.contains(w));
    if names_assets
        && has(&[
            "fail",
            "outage",
            "trip",
            "lose",
            "lost",
            "out of service",
            "what if",
            "what happens",
            "goes down",
            "impact",
        ])
    {
        Intent::WhatIfFails
    } else if has(&[
        "maintain",
        "maintenance",
        "repair",
        "replace",
        "fix first",
        "priorit",
        "invest",
        "budget",
    ]) {
        Intent::MaintainFirst
    } else if has(&[
        "single point",
        "single failure",
        "cut customers off",
        "cut off",
        "n-1",
        "n1",
        "spof",
        "weak point",
        "bottleneck",
    ]) {
        Intent::SinglePoints
    } else if names_assets {
        Intent::AboutAssets
    } else if has(&["risk", "worst", "danger", "critical", "weakest", "most likely to fail", "attention"]) {
        Intent::TopRisks
    } else {
        Intent::Unknown
    }
}

/// One risky asset, with the factors that weigh most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskFact {
    pub id: String,
    pub name: String,
    pub kind: AssetKind,
    pub score: f64,
    pub band: RiskBand,
    /// Explanations of the largest contributions, largest first.
    pub reasons: Vec<String>,
}

/// What the outage of the named assets would do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpactFact {
    pub outaged: Vec<String>,
    pub deenergised_buses: usize,
    pub customers_lost: u64,
    pub customers_total: u64,
    pub islands: usize,
    /// A few of the de-energised buses, for citing.
    pub example_buses: Vec<String>,
}

/// A maintenance job worth doing, by risk removed per cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceFact {
    pub id: String,
    pub name: String,
    /// `repair` or `replacement`.
    pub work: String,
    pub cost: f64,
    pub risk_reduction: f64,
    pub reduction_per_10k: f64,
}

/// A single failure that cuts customers off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinglePointFact {
    pub id: String,
    pub name: String,
    pub customers: u64,
}

/// Everything an answer may rest on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub grid: String,
    pub assets: usize,
    pub customers_total: u64,
    pub top_risks: Vec<RiskFact>,
    /// The named assets' own risk.
    pub asked: Vec<RiskFact>,
    pub impact: Option<ImpactFact>,
    pub maintain_first: Vec<MaintenanceFact>,
    pub single_points: Vec<SinglePointFact>,
}

impl Facts {
    /// Every asset id these facts mention: the only ids an answer may link.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .top_risks
            .iter()
            .chain(&self.asked)
            .map(|r| r.id.clone())
            .chain(self.maintain_first.iter().map(|m| m.id.clone()))
            .chain(self.single_points.iter().map(|s| s.id.clone()))
            .chain(self.impact.iter().flat_map(|i| i.outaged.iter().chain(&i.example_buses).cloned()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

fn risk_fact(asset: &super::model::Asset, score: &super::risk::RiskScore) -> RiskFact {
    let mut factors: Vec<&super::risk::RiskFactor> =
        score.factors.iter().filter(|f| f.contribution > 0.5).collect();
    factors.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    RiskFact {
        id: asset.id.to_string(),
        name: asset.name.to_string(),
        kind: asset.kind,
        score: score.score,
        band: score.band,
        reasons: factors.iter().take(3).map(|f| f.explanation.clone()).collect(),
    }
}

/// The facts for a question naming `mentioned` (ids that exist in `grid`), from the grid,
/// its topology and risk scores in asset order (`scores[i]` scores `grid.assets[i]`);
/// `explain(i)` gives the explained score of asset `i`.
pub fn gather_facts(
    grid_name: &str,
    grid: &super::model::GridData,
    topology: &super::topology::Topology,
    scores: &[f64],
    explain: &dyn Fn(usize) -> super::risk::RiskScore,
    mentioned: &[String],
    intent: Intent,
    today: chrono::NaiveDate,
) -> Facts {
    let mut order: Vec<usize> = (0..grid.assets.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(grid.assets[a].id.cmp(&grid.assets[b].id)));
    let top_risks = order.iter().take(TOP_RISKS).map(|&i| risk_fact(&grid.assets[i], &explain(i))).collect();
    let index: std::collections::HashMap<&str, usize> =
        grid.assets.iter().enumerate().map(|(i, a)| (a.id.as_str(), i)).collect();
    let position = |id: &str| index.get(id).copied();
    let asked = mentioned
        .iter()
        .filter_map(|id| position(id))
        .map(|i| risk_fact(&grid.assets[i], &explain(i)))
        .collect();
    let impact = if mentioned.is_empty() {
        None
    } else {
        let ids: Vec<&str> = mentioned.iter().map(String::as_str).collect();
        topology.impact_of_outage(&ids).ok().map(|i| ImpactFact {
            deenergised_buses: i.deenergised_buses.len(),
            customers_lost: i.customers_lost,
            customers_total: i.customers_total,
            islands: i.islands.len(),
            example_buses: i.deenergised_buses.iter().take(5).cloned().collect(),
            outaged: i.outaged,
        })
    };
    let maintain_first = if intent == Intent::MaintainFirst {
        let mut candidates = super::planner::candidates(grid, topology, today);
        candidates.sort_by(|a, b| {
            b.reduction_per_10k().total_cmp(&a.reduction_per_10k()).then(a.asset.cmp(&b.asset))
        });
        candidates
            .into_iter()
            .filter(|c| c.reduction() > 0.0)
            .take(TOP_ITEMS)
            .map(|c| MaintenanceFact {
                reduction_per_10k: c.reduction_per_10k(),
                risk_reduction: c.reduction(),
                work: c.intervention.as_str().to_owned(),
                cost: c.cost,
                name: c.name,
                id: c.asset,
            })
            .collect()
    } else {
        Vec::new()
    };
    let single_points = if intent == Intent::SinglePoints {
        topology
            .n1_ranked()
            .into_iter()
            .filter(|(_, customers)| *customers > 0)
            .filter_map(|(o, customers)| {
                let i = position(&o.element)?;
                Some(SinglePointFact { id: o.element, name: grid.assets[i].name.to_string(), customers })
            })
            .take(TOP_ITEMS)
            .collect()
    } else {
        Vec::new()
    };
    Facts {
        grid: grid_name.to_owned(),
        assets: grid.assets.len(),
        customers_total: topology.customers_total(),
        top_risks,
        asked,
        impact,
        maintain_first,
        single_points,
    }
}

fn risk_line(r: &RiskFact) -> String {
    let why = if r.reasons.is_empty() { String::new() } else { format!(": {}", r.reasons.join("; ")) };
    format!("[{}] {} ({}), risk {:.0} ({}){why}", r.id, r.name, r.kind.as_str(), r.score, r.band.as_str())
}

/// The offline answer: the facts for the question's intent, in words, citing ids.
pub fn offline_answer(intent: Intent, facts: &Facts) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match intent {
        Intent::TopRisks | Intent::Unknown => {
            if intent == Intent::Unknown {
                line("I can answer: which assets are riskiest, what happens if an asset fails (name its id), what to maintain first, and which single failures cut customers off. Here are the riskiest assets:".into());
            } else {
                line(format!("The riskiest assets of {} ({} assets):", facts.grid, facts.assets));
            }
            for (i, r) in facts.top_risks.iter().take(5).enumerate() {
                line(format!("{}. {}", i + 1, risk_line(r)));
            }
        }
        Intent::WhatIfFails => match &facts.impact {
            Some(i) => {
                let names = i.outaged.iter().map(|id| format!("[{id}]")).collect::<Vec<_>>().join(", ");
                if i.customers_lost == 0 && i.deenergised_buses == 0 {
                    line(format!("If {names} fails, no bus loses supply: the grid has another path (or the asset feeds nothing)."));
                } else {
                    let share = 100.0 * i.customers_lost as f64 / i.customers_total.max(1) as f64;
                    line(format!(
                        "If {names} fails, {} buses lose supply in {} island(s), and {} of {} customers ({share:.1} %) are cut off.",
                        i.deenergised_buses, i.islands, i.customers_lost, i.customers_total
                    ));
                    if !i.example_buses.is_empty() {
                        let buses =
                            i.example_buses.iter().map(|b| format!("[{b}]")).collect::<Vec<_>>().join(", ");
                        line(format!("De-energised buses include {buses}."));
                    }
                }
                for r in &facts.asked {
                    line(format!("Its own risk: {}", risk_line(r)));
                }
            }
            None => line("Name an asset by its id to see what its failure would do.".into()),
        },
        Intent::MaintainFirst => {
            line("Maintain first (most risk removed per cost):".into());
            for (i, m) in facts.maintain_first.iter().enumerate() {
                line(format!(
                    "{}. [{}] {}: {} for {:.0}, removing {:.1} risk points ({:.1} per 10 000)",
                    i + 1,
                    m.id,
                    m.name,
                    m.work,
                    m.cost,
                    m.risk_reduction,
                    m.reduction_per_10k
                ));
            }
            if facts.maintain_first.is_empty() {
                line("No asset is due for work.".into());
            }
        }
        Intent::SinglePoints => {
            if facts.single_points.is_empty() {
                line("No single failure cuts customers off: every customer has a second path.".into());
            } else {
                line("Single failures that cut customers off, most customers first:".into());
                for (i, s) in facts.single_points.iter().enumerate() {
                    line(format!("{}. [{}] {}: {} customers", i + 1, s.id, s.name, s.customers));
                }
            }
        }
        Intent::AboutAssets => {
            for r in &facts.asked {
                line(risk_line(r));
            }
            if let Some(i) = &facts.impact {
                line(format!(
                    "Its failure would cut off {} customers ({} buses).",
                    i.customers_lost, i.deenergised_buses
                ));
            }
        }
    }
    out.trim_end().to_owned()
}

/// A piece of an answer: text, or a cited asset that exists in the facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    Text(String),
    Asset(String),
}

/// Splits an answer at `[id]` citations; only ids in `known` become links, anything else
/// stays text exactly as written.
pub fn segments(answer: &str, known: &[String]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if known.iter().any(|k| k == &after[..close]) => {
                text.push_str(&rest[..open]);
                if !text.is_empty() {
                    out.push(Segment::Text(std::mem::take(&mut text)));
                }
                out.push(Segment::Asset(after[..close].to_owned()));
                rest = &after[close + 1..];
            }
            _ => {
                text.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_bounded() {
        assert_eq!(validate_question("  Which line is riskiest?  "), Ok("Which line is riskiest?"));
        assert!(validate_question("   ").is_err());
        assert!(validate_question(&"x".repeat(MAX_QUESTION_CHARS + 1)).is_err());
        assert!(validate_question(&"é".repeat(MAX_QUESTION_CHARS)).is_ok(), "characters, not bytes");
        assert!(validate_question("risk\u{0}").is_err());
    }

    #[test]
    fn named_assets_are_found_whatever_the_punctuation() {
        let exists = |id: &str| ["line-3", "bus-12", "trafo:1"].contains(&id);
        let found = mentioned_assets("What if line-3 fails? And [bus-12], trafo:1. Also bus-99.", exists);
        assert_eq!(found, ["line-3", "bus-12", "trafo:1"]);
        assert!(mentioned_assets("what is at risk", exists).is_empty());
    }

    #[test]
    fn intents_follow_the_words() {
        assert_eq!(classify("What happens if line-3 fails?", true), Intent::WhatIfFails);
        assert_eq!(classify("What should we maintain first?", false), Intent::MaintainFirst);
        assert_eq!(classify("Which assets are at highest risk?", false), Intent::TopRisks);
        assert_eq!(classify("Show the N-1 single points of failure", false), Intent::SinglePoints);
        assert_eq!(classify("Which single failures cut customers off?", false), Intent::SinglePoints);
        assert_eq!(classify("Tell me about bus-12", true), Intent::AboutAssets);
        assert_eq!(classify("What is the weather like?", false), Intent::Unknown);
    }

    fn facts() -> Facts {
        let risk = |id: &str, score: f64| RiskFact {
            id: id.into(),
            name: format!("Asset {id}"),
            kind: AssetKind::Line,
            score,
            band: RiskBand::of(score),
            reasons: vec!["condition 20 of 100".into()],
        };
        Facts {
            grid: "demo".into(),
            assets: 10,
            customers_total: 200,
            top_risks: vec![risk("l1", 80.0), risk("l2", 60.0)],
            asked: vec![risk("l2", 60.0)],
            impact: Some(ImpactFact {
                outaged: vec!["l2".into()],
                deenergised_buses: 3,
                customers_lost: 50,
                customers_total: 200,
                islands: 1,
                example_buses: vec!["b7".into()],
            }),
            maintain_first: vec![MaintenanceFact {
                id: "l1".into(),
                name: "Asset l1".into(),
                work: "repair".into(),
                cost: 20_000.0,
                risk_reduction: 12.0,
                reduction_per_10k: 6.0,
            }],
            single_points: vec![],
        }
    }

    #[test]
    fn offline_answers_state_the_facts_and_cite_ids() {
        let f = facts();
        let what_if = offline_answer(Intent::WhatIfFails, &f);
        assert!(
            what_if.contains(
                "If [l2] fails, 3 buses lose supply in 1 island(s), and 50 of 200 customers (25.0 %)"
            ),
            "{what_if}"
        );
        assert!(what_if.contains("[b7]"));
        let top = offline_answer(Intent::TopRisks, &f);
        assert!(top.starts_with("The riskiest assets of demo"), "{top}");
        assert!(top.find("[l1]").unwrap() < top.find("[l2]").unwrap(), "highest first");
        let first = offline_answer(Intent::MaintainFirst, &f);
        assert!(
            first.contains("[l1] Asset l1: repair for 20000, removing 12.0 risk points (6.0 per 10 000)"),
            "{first}"
        );
        assert!(offline_answer(Intent::SinglePoints, &f).contains("second path"));
        assert_eq!(f.ids(), ["b7", "l1", "l2"]);
    }

    #[test]
    fn only_known_ids_become_links() {
        let known = vec!["l1".to_owned(), "b7".to_owned()];
        let s = segments("Fix [l1] then [made-up] and [b7].", &known);
        assert_eq!(
            s,
            vec![
                Segment::Text("Fix ".into()),
                Segment::Asset("l1".into()),
                Segment::Text(" then [made-up] and ".into()),
                Segment::Asset("b7".into()),
                Segment::Text(".".into()),
            ]
        );
        assert_eq!(segments("no citations [", &known), vec![Segment::Text("no citations [".into())]);
    }
}
