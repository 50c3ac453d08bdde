//! `gridscope import` end to end: the binary against a real embedded store on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GOOD: &str = "\
id,kind,name,bus,from_bus,to_bus,element,closed,source,voltage_kv,customers
b1,bus,Bus 1,,,,,,,20,
b2,bus,Bus 2,,,,,,,20,
g1,generator,Grid,b1,,,,,true,,
l1,line,Line 1,,b1,b2,,,,,
d2,load,Load 2,b2,,,,,,,120
";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn gridscope(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridscope"))
        .args(args)
        .env("GRIDSCOPE_DATA_DIR", data)
        .env("GRIDSCOPE_LOG_LEVEL", "warn")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The store's grid as JSON from `analyze islands` (a cheap full read).
fn stored_islands(data: &Path) -> String {
    let o = gridscope(data, &["analyze", "islands", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_good_grid_is_imported_and_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tiny.csv", GOOD);
    let o = gridscope(&dir.path().join("data"), &["import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("imported 'tiny' (5 assets"), "{}", stdout(&o));
    let o = gridscope(&dir.path().join("data"), &["analyze", "n1", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json, serde_json::json!({"outages": [{"element": "l1", "islanded_buses": ["b2"]}]}));
    let o = gridscope(&dir.path().join("data"), &["analyze", "impact", "l1"]);
    assert!(stdout(&o).contains("120 of 120 customers lose supply"), "{}", stdout(&o));
}

/// Each bad file is refused with file, line and column named, and the stored grid is untouched.
#[test]
fn bad_input_is_refused_naming_line_and_column_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = write(dir.path(), "good.csv", GOOD);
    assert!(gridscope(&data, &["import", good.to_str().unwrap()]).status.success());
    let before = stored_islands(&data);
    // GOOD with one more (empty) column, set to `value` on the row starting with `row`.
    let with_column = |column: &str, row: &str, value: &str| {
        let widened = GOOD.replacen("customers\n", &format!("customers,{column}\n"), 1).replace('\n', ",\n");
        widened.replacen(",\n", "\n", 1).replacen(row, &format!("{row}{value}"), 1)
    };
    let cases: &[(&str, String, &str)] = &[
        (
            "unknown column",
            GOOD.replacen("customers", "customer_count", 1),
            "line 1, column customer_count: unknown column",
        ),
        (
            "wrong type",
            GOOD.replacen("Bus 2,,,,,,,20", "Bus 2,,,,,,,twenty", 1),
            "line 3, column voltage_kv: 'twenty' is not a number",
        ),
        (
            "dangling reference",
            GOOD.replacen("l1,line,Line 1,,b1,b2", "l1,line,Line 1,,b1,b9", 1),
            "line 5, column to_bus: 'b9' does not exist",
        ),
        ("duplicate id", GOOD.replacen("d2,load", "b1,load", 1), "line 6, column id: duplicate id 'b1'"),
        (
            "unknown kind",
            GOOD.replacen("g1,generator", "g1,powerplant", 1),
            "line 4, column kind: 'powerplant' is not an asset kind",
        ),
        (
            "wrong kind referenced",
            GOOD.replacen("d2,load,Load 2,b2", "d2,load,Load 2,l1", 1),
            "line 6, column bus: 'l1' is a line, expected bus",
        ),
        (
            "ragged row",
            GOOD.replacen("b2,bus,Bus 2,,,,,,,20,", "b2,bus,Bus 2,,,20,", 1),
            "line 3: this row has 7 fields where the header has 11",
        ),
        (
            "more circuits than a line holds",
            with_column("circuits", "l1,line,Line 1,,b1,b2,,,,,,", "70000"),
            "line 5, column circuits: '70000' is not a whole number of circuits",
        ),
        (
            "a year out of range",
            with_column("commissioning_year", "b1,bus,Bus 1,,,,,,,20,,", "40000"),
            "line 2, column commissioning_year: '40000' is not a year",
        ),
    ];
    for (what, text, expected) in cases {
        let file = write(dir.path(), "bad.csv", text);
        let o = gridscope(&data, &["import", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{what}: should fail");
        let err = stderr(&o);
        assert!(err.contains(&format!("bad.csv {expected}")), "{what}: expected «{expected}» in:\n{err}");
        assert!(err.contains("nothing written"), "{what}: {err}");
        assert_eq!(stored_islands(&data), before, "{what}: the stored grid changed");
    }
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD.replacen("Bus 2,,,,,,,20", "Bus 2,,,,,,,x", 1).replacen(
        "d2,load,Load 2,b2,,,,,,,120",
        "d2,load,Load 2,b2,,,,,,,many",
        1,
    );
    let file = write(dir.path(), "two.csv", &text);
    let o = gridscope(&dir.path().join("data"), &["import", "--dry-run", file.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(err.contains("line 3, column voltage_kv") && err.contains("line 6, column customers"), "{err}");
}

#[test]
fn history_files_are_checked_against_the_assets() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("grid");
    std::fs::create_dir(&grid).unwrap();
    write(&grid, "assets.csv", GOOD);
    write(
        &grid,
        "maintenance.csv",
        "id,asset,date,kind,cost\nm1,l1,2024-02-30,repair,100\nm2,l7,2024-02-01,repair,100\n",
    );
    write(&grid, "incidents.csv", "id,asset,started_at,restored_at,customers_affected\ni1,l1,2024-01-01T10:00:00Z,2024-01-01T09:00:00Z,5\n");
    let o = gridscope(&dir.path().join("data"), &["import", "--dry-run", grid.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(err.contains("maintenance.csv line 2, column date: '2024-02-30' is not a date"), "{err}");
    // Cross-reference checks run once every row parses; this file has a parse error, so fix it.
    write(
        &grid,
        "maintenance.csv",
        "id,asset,date,kind,cost\nm1,l1,2024-02-28,repair,100\nm2,l7,2024-02-01,repair,100\n",
    );
    let err = stderr(&gridscope(&dir.path().join("data"), &["import", "--dry-run", grid.to_str().unwrap()]));
    assert!(err.contains("maintenance.csv line 3, column asset: 'l7' does not exist"), "{err}");
    assert!(err.contains("incidents.csv line 2, column restored_at: restored before it started"), "{err}");
}

#[test]
fn the_demo_grids_import_cleanly() {
    for case in ["case118", "mv_oberrhein"] {
        let dir = tempfile::tempdir().unwrap();
        let grid = root().join("data/grids").join(case);
        let o = gridscope(dir.path(), &["import", grid.to_str().unwrap()]);
        assert!(o.status.success(), "{case}: {}", stderr(&o));
        assert!(stdout(&o).contains(&format!("imported '{case}'")), "{}", stdout(&o));
    }
}
