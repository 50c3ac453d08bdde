//! Where to draw each bus: projected WGS84 coordinates when every bus has them, otherwise a
//! layered schematic (breadth-first distance from the sources across, order within a layer
//! down), scaled into a `SIZE`×`SIZE` box with a margin.

use std::collections::{HashMap, VecDeque};

use super::model::{AssetKind, GridData};

pub const SIZE: f64 = 1000.0;
const MARGIN: f64 = 30.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutKind {
    /// Real positions (equirectangular projection around the grid's centre).
    Geographic,
    /// Computed: distance from the sources across.
    Schematic,
}

pub fn bus_positions(grid: &GridData) -> (LayoutKind, HashMap<String, (f64, f64)>) {
    // Every bus's point, read once; `None` when any bus has none.
    let points: Option<Vec<_>> = (grid.assets.iter().filter(|a| a.kind == AssetKind::Bus))
        .map(|b| b.location.get().map(|p| (b.id.as_str(), p)))
        .collect();
    let (kind, raw) = match points.filter(|p| !p.is_empty()) {
        Some(points) => {
            let mean_lat = points.iter().map(|(_, p)| p.lat).sum::<f64>() / points.len() as f64;
            let k = mean_lat.to_radians().cos();
            // North up: y grows downwards in SVG.
            let raw = points.into_iter().map(|(id, p)| (id.to_string(), (p.lon * k, -p.lat))).collect();
            (LayoutKind::Geographic, raw)
        }
        None => (LayoutKind::Schematic, schematic(grid)),
    };
    (kind, fit(raw))
}

/// How much of a grid a drawing limited to `cap` items (buses plus branches) shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Floor {
    /// Everything fits.
    All,
    /// The buses at this voltage (kV) and above, and the branches between them.
    From(f64),
    /// Not even the highest voltage level fits.
    Nothing,
}

/// The lowest voltage level down to which a drawing stays within `cap` items. `buses`: each
/// bus's voltage; `branches`: each branch's level, the lower voltage of its two end buses (a
/// branch is drawn when both ends are). An unknown voltage is `f64::NEG_INFINITY` (drawn
/// only when everything fits). O(n log n) in the number of items; sorts the lists it is given.
pub fn voltage_floor(mut buses: Vec<f64>, mut branches: Vec<f64>, cap: usize) -> Floor {
    if buses.len() + branches.len() <= cap {
        return Floor::All;
    }
    for levels in [&mut buses, &mut branches] {
        levels.sort_unstable_by(|a, b| b.total_cmp(a));
    }
    let (mut drawn_buses, mut drawn_branches, mut floor) = (0, 0, Floor::Nothing);
    while let Some(&level) = buses.get(drawn_buses).filter(|v| v.is_finite()) {
        while buses.get(drawn_buses) == Some(&level) {
            drawn_buses += 1;
        }
        while branches.get(drawn_branches).is_some_and(|&b| b >= level) {
            drawn_branches += 1;
        }
        if drawn_buses + drawn_branches > cap {
            break;
        }
        floor = Floor::From(level);
    }
    floor
}

fn schematic(grid: &GridData) -> HashMap<String, (f64, f64)> {
    let mut adjacency: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in grid.assets.iter().filter(|a| a.kind.is_branch()) {
        if let (Some(x), Some(y)) = (a.from_bus.as_deref(), a.to_bus.as_deref()) {
            adjacency.entry(x).or_default().push(y);
            adjacency.entry(y).or_default().push(x);
        }
    }
    let buses: Vec<&str> =
        grid.assets.iter().filter(|a| a.kind == AssetKind::Bus).map(|a| a.id.as_str()).collect();
    let sources: Vec<&str> =
        grid.assets.iter().filter(|a| a.source).filter_map(|a| a.bus.as_deref()).collect();
    let mut layer: HashMap<&str, usize> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for start in sources.iter().chain(buses.iter()) {
        if layer.contains_key(start) {
            continue;
        }
        layer.insert(start, 0);
        let mut queue = VecDeque::from([*start]);
        while let Some(u) = queue.pop_front() {
            order.push(u);
            for &v in adjacency.get(u).map(Vec::as_slice).unwrap_or(&[]) {
                if !layer.contains_key(v) {
                    layer.insert(v, layer[u] + 1);
                    queue.push_back(v);
                }
            }
        }
    }
    let mut filled: HashMap<usize, usize> = HashMap::new();
    order
        .into_iter()
        .map(|b| {
            let l = layer[b];
            let row = filled.entry(l).or_default();
            *row += 1;
            (b.to_string(), (l as f64, *row as f64))
        })
        .collect()
}

/// Scale into the drawing box, keeping the aspect ratio.
fn fit(raw: HashMap<String, (f64, f64)>) -> HashMap<String, (f64, f64)> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in raw.values() {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let span = (x1 - x0).max(y1 - y0).max(f64::MIN_POSITIVE);
    let scale = (SIZE - 2.0 * MARGIN) / span;
    raw.into_iter().map(|(id, (x, y))| (id, (MARGIN + (x - x0) * scale, MARGIN + (y - y0) * scale))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_floor_is_the_lowest_voltage_level_that_fits() {
        let inf = f64::NEG_INFINITY;
        // Two 345 kV buses with a line between them, three 138 kV buses with two lines (and
        // two transformers down from 345 kV), four 13.8 kV buses, one bus of unknown voltage.
        let buses = [345.0, 345.0, 138.0, 138.0, 138.0, 13.8, 13.8, 13.8, 13.8, inf];
        let branches = [345.0, 138.0, 138.0, 138.0, 138.0, 13.8, 13.8, 13.8, inf];
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 19), Floor::All);
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 18), Floor::From(13.8));
        // 13.8 kV and up: 9 buses and 8 branches; 138 kV and up: 5 buses and 5 branches.
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 17), Floor::From(13.8));
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 16), Floor::From(138.0));
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 10), Floor::From(138.0));
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 9), Floor::From(345.0));
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 3), Floor::From(345.0));
        assert_eq!(voltage_floor(buses.to_vec(), branches.to_vec(), 2), Floor::Nothing);
        // Only unknown voltages: all or nothing.
        assert_eq!(voltage_floor(vec![inf, inf], vec![inf], 2), Floor::Nothing);
        assert_eq!(voltage_floor(vec![inf, inf], vec![inf], 3), Floor::All);
    }

    use super::*;
    use crate::domain::model::{Asset, GeoPoint};

    #[test]
    fn geographic_positions_keep_north_up_and_fit_the_box() {
        let bus = |id: &str, lat, lon| Asset {
            location: GeoPoint { lat, lon }.into(),
            ..Asset::new(id, AssetKind::Bus)
        };
        let grid = GridData {
            assets: vec![bus("s", 48.0, 7.0), bus("n", 48.1, 7.0), bus("e", 48.0, 7.2)],
            ..Default::default()
        };
        let (kind, p) = bus_positions(&grid);
        assert_eq!(kind, LayoutKind::Geographic);
        assert!(p["n"].1 < p["s"].1, "north is up");
        assert!(p["e"].0 > p["s"].0, "east is right");
        assert!(p.values().all(|&(x, y)| (0.0..=SIZE).contains(&x) && (0.0..=SIZE).contains(&y)));
    }

    #[test]
    fn schematic_layers_follow_distance_from_the_source() {
        let mut assets: Vec<Asset> = ["a", "b", "c"].iter().map(|i| Asset::new(*i, AssetKind::Bus)).collect();
        assets.push(Asset { bus: Some("a".into()), source: true, ..Asset::new("g", AssetKind::Generator) });
        for (id, x, y) in [("l1", "a", "b"), ("l2", "b", "c")] {
            assets.push(Asset {
                from_bus: Some(x.into()),
                to_bus: Some(y.into()),
                ..Asset::new(id, AssetKind::Line)
            });
        }
        let (kind, p) = bus_positions(&GridData { assets, ..Default::default() });
        assert_eq!(kind, LayoutKind::Schematic);
        assert!(p["a"].0 < p["b"].0 && p["b"].0 < p["c"].0);
    }
}
