//! Crash safety of the embedded store: `kill -9` in the middle of a large import leaves the
//! store holding either all of the old grid or all of the new one, never a mix.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app::domain::model::GridData;
use server::store::{embedded::Embedded, Backend};

/// A radial grid of `n` buses: a source, a chain of lines, a load on every bus.
fn write_big_grid(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,kind,name,bus,from_bus,to_bus,source,voltage_kv,customers,condition").unwrap();
    writeln!(f, "g,generator,Source,n0,,,true,,,").unwrap();
    for i in 0..n {
        writeln!(f, "n{i},bus,Node {i},,,,,20,,{}", i % 101).unwrap();
        writeln!(f, "d{i},load,Load {i},n{i},,,,,{},", i % 50 + 1).unwrap();
        if i > 0 {
            writeln!(f, "l{i},line,Line {i},,n{},n{i},,,,", i - 1).unwrap();
        }
    }
}

fn load(data: &Path) -> (String, GridData) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Embedded::open(data).unwrap();
        let (meta, grid) = store.load().await.unwrap();
        (meta.name, grid)
    })
}

fn import(data: &Path, file: &Path, name: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gridscope"))
        .args(["import", "--name", name, file.to_str().unwrap()])
        .env("GRIDSCOPE_DATA_DIR", data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_during_a_large_import_leaves_the_old_or_the_new_grid_never_a_mix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let old_file = dir.path().join("old.csv");
    write_big_grid(&old_file, 50);
    let new_file = dir.path().join("new.csv");
    write_big_grid(&new_file, 100_000);
    let old_grid = server::interchange::read_grid(&old_file).unwrap();
    let new_grid = server::interchange::read_grid(&new_file).unwrap();

    let mut killed_while_writing = 0;
    let mut outcomes = Vec::new();
    for delay_ms in [0u64, 30, 100, 250, 600, 1200] {
        // Start every round from the old grid.
        std::fs::remove_dir_all(&data).ok();
        assert!(import(&data, &old_file, "old").wait().unwrap().success());

        let mut child = import(&data, &new_file, "new");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        // Wait until the import has validated everything and started writing.
        loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "import ended before writing");
            if line.contains("writing") {
                break;
            }
        }
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // Anything printed so far? "committed" means the transaction had finished.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
            let _ = tx.send(rest);
        });
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let after = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let committed = after.contains("committed");
        if !committed {
            killed_while_writing += 1;
        }

        let (name, stored) = load(&data);
        let outcome = match name.as_str() {
            "old" => {
                assert!(stored == old_grid, "kill after {delay_ms} ms: named old but not the old grid");
                "old"
            }
            "new" => {
                assert!(stored == new_grid, "kill after {delay_ms} ms: named new but not the whole new grid");
                "new"
            }
            other => panic!("kill after {delay_ms} ms: unexpected grid name '{other}'"),
        };
        if committed {
            assert_eq!(outcome, "new", "a committed import must survive the kill");
        }
        outcomes.push((delay_ms, started.elapsed().as_millis(), committed, outcome));
    }
    eprintln!("(delay ms, ms after 'writing', committed before kill, store holds): {outcomes:?}");
    assert!(killed_while_writing >= 2, "the kills must land during the write: {outcomes:?}");
}
