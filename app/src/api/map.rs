//! The grid drawn: bus positions (real or computed) and the branches between them, each with
//! its risk band and whether it is energised.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::model::AssetKind;
use crate::domain::risk::RiskBand;
use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapBus {
    pub id: String,
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub band: RiskBand,
    pub energised: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapBranch {
    pub id: String,
    pub kind: AssetKind,
    pub from: (f64, f64),
    pub to: (f64, f64),
    pub band: RiskBand,
    /// In service with both ends energised.
    pub energised: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridMap {
    /// `true`: real coordinates; `false`: a computed schematic layout.
    pub geographic: bool,
    pub size: f64,
    pub buses: Vec<MapBus>,
    pub branches: Vec<MapBranch>,
    /// Buses and branches in the grid, drawn or not.
    pub total_buses: usize,
    pub total_branches: usize,
    /// Set when the grid is too large to draw whole (see [`MAX_MAP_ITEMS`]): only the buses
    /// at this voltage (kV) and above are drawn, with the branches between them.
    pub min_voltage_kv: Option<f64>,
}

/// The most buses and branches one map draws. Beyond this a drawing is unreadable, a phone
/// struggles to render it, and the answer runs to megabytes: ACTIVSg70k whole is 153,000
/// items, 22 MB of JSON and about 47 MB of server memory per request. A larger grid is drawn
/// from its highest voltage down to the lowest level that fits.
pub const MAX_MAP_ITEMS: usize = 10_000;

#[server(endpoint = "map")]
pub async fn get_map() -> Result<GridMap, AppError> {
    let snapshot = super::grid_snapshot().await?;
    let scores = snapshot.risk_scores(chrono::Utc::now().date_naive(), &super::conditions());
    // Drawn once per set of scores (energised states follow the snapshot, bands the scores).
    let map = snapshot.derived_for(scores.key, || draw(&snapshot, scores.scores(), MAX_MAP_ITEMS));
    match &map.value {
        Some(map) => Ok(map.clone()),
        None => Err(AppError::invalid_input(format!(
            "This grid's highest voltage level alone has more than {MAX_MAP_ITEMS} buses and branches: \
             too many to draw. The asset list and the impact explorer cover the whole grid."
        ))),
    }
}

/// The map of `snapshot` under the risk `scores` (in asset order) in at most `cap` buses and
/// branches; `None` when not even its highest voltage level fits.
#[cfg(feature = "ssr")]
fn draw(snapshot: &crate::ports::GridSnapshot, scores: &[f64], cap: usize) -> Option<GridMap> {
    use crate::domain::layout::{bus_positions, voltage_floor, Floor, LayoutKind, SIZE};
    let assets = &snapshot.data.assets;
    let energised = |id: &str| snapshot.topology.is_energised(id) == Some(true);
    let level = |voltage: crate::domain::model::Measure| voltage.get().unwrap_or(f64::NEG_INFINITY);
    let bus_level = |id: Option<&str>| {
        id.and_then(|id| snapshot.index_of(id)).map_or(f64::NEG_INFINITY, |i| level(assets[i].voltage_kv))
    };
    // A branch is drawn when both its ends are: its level is the lower of theirs.
    let branch_level = |a: &crate::domain::model::Asset| {
        bus_level(a.from_bus.as_deref()).min(bus_level(a.to_bus.as_deref()))
    };
    let bus_levels: Vec<f64> =
        assets.iter().filter(|a| a.kind == AssetKind::Bus).map(|a| level(a.voltage_kv)).collect();
    let branch_levels: Vec<f64> = assets.iter().filter(|a| a.kind.is_branch()).map(branch_level).collect();
    let (total_buses, total_branches) = (bus_levels.len(), branch_levels.len());
    let floor = match voltage_floor(bus_levels, branch_levels, cap) {
        Floor::Nothing => return None,
        Floor::All => f64::NEG_INFINITY,
        Floor::From(kv) => kv,
    };
    let (kind, positions) = bus_positions(&snapshot.data);
    let mut buses = Vec::new();
    let mut branches = Vec::new();
    for (a, &score) in assets.iter().zip(scores) {
        let band = crate::domain::risk::RiskBand::of(score);
        if a.kind == AssetKind::Bus && level(a.voltage_kv) >= floor {
            if let Some(&(x, y)) = positions.get(a.id.as_str()) {
                buses.push(MapBus {
                    id: a.id.to_string(),
                    name: a.name.to_string(),
                    x,
                    y,
                    band,
                    energised: energised(&a.id),
                });
            }
        } else if a.kind.is_branch() {
            let (Some(f), Some(t)) = (a.from_bus.as_deref(), a.to_bus.as_deref()) else { continue };
            if branch_level(a) < floor {
                continue;
            }
            if let (Some(&from), Some(&to)) = (positions.get(f), positions.get(t)) {
                branches.push(MapBranch {
                    id: a.id.to_string(),
                    kind: a.kind,
                    from,
                    to,
                    band,
                    energised: a.in_service && energised(f) && energised(t),
                });
            }
        }
    }
    Some(GridMap {
        geographic: kind == LayoutKind::Geographic,
        size: SIZE,
        buses,
        branches,
        total_buses,
        total_branches,
        min_voltage_kv: (floor > f64::NEG_INFINITY).then_some(floor),
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::domain::model::{Asset, GridData, Measure};
    use crate::ports::{GridMeta, GridSnapshot};

    /// 345 kV: b1, b2 (a source at b1, line l12); a transformer t23 down to 138 kV: b3, b4
    /// (line l34); a line l45 to b5 at 13.8 kV.
    fn snapshot() -> GridSnapshot {
        let bus = |id: &str, kv: f64| Asset {
            voltage_kv: Measure::from(Some(kv)),
            ..Asset::new(id, AssetKind::Bus)
        };
        let branch = |id: &str, kind, a: &str, b: &str| Asset {
            from_bus: Some(a.into()),
            to_bus: Some(b.into()),
            ..Asset::new(id, kind)
        };
        let assets = vec![
            bus("b1", 345.0),
            bus("b2", 345.0),
            bus("b3", 138.0),
            bus("b4", 138.0),
            bus("b5", 13.8),
            Asset { bus: Some("b1".into()), source: true, ..Asset::new("g1", AssetKind::Generator) },
            branch("l12", AssetKind::Line, "b1", "b2"),
            branch("t23", AssetKind::Transformer, "b2", "b3"),
            branch("l34", AssetKind::Line, "b3", "b4"),
            branch("l45", AssetKind::Line, "b4", "b5"),
        ];
        let meta = GridMeta { name: "t".into(), revision: 1, imported_at: None };
        GridSnapshot::new(meta, GridData { assets, ..GridData::default() })
    }

    fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
        items.iter().map(|i| id(i).to_owned()).collect()
    }

    #[test]
    fn a_grid_that_fits_is_drawn_whole() {
        let s = snapshot();
        let map = draw(&s, &vec![0.0; s.data.assets.len()], 9).unwrap();
        assert_eq!(ids(&map.buses, |b| &b.id), ["b1", "b2", "b3", "b4", "b5"]);
        assert_eq!(ids(&map.branches, |b| &b.id), ["l12", "t23", "l34", "l45"]);
        assert_eq!((map.total_buses, map.total_branches, map.min_voltage_kv), (5, 4, None));
        assert!(map.buses.iter().all(|b| b.energised));
    }

    #[test]
    fn a_larger_grid_is_drawn_from_its_highest_voltage_down_to_the_level_that_fits() {
        let s = snapshot();
        let map = draw(&s, &vec![0.0; s.data.assets.len()], 8).unwrap();
        assert_eq!(ids(&map.buses, |b| &b.id), ["b1", "b2", "b3", "b4"]);
        assert_eq!(ids(&map.branches, |b| &b.id), ["l12", "t23", "l34"]);
        assert_eq!((map.total_buses, map.total_branches, map.min_voltage_kv), (5, 4, Some(138.0)));
        // Not even 345 kV (2 buses, 1 line) fits in 2 items.
        assert_eq!(draw(&s, &vec![0.0; s.data.assets.len()], 2), None);
    }
}
