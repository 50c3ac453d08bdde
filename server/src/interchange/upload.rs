//! Datasets uploaded in the browser: the bytes are checked before any CSV parsing (UTF-8 with or
//! without BOM; UTF-16, other encodings and NUL bytes refused, with the line), then read by the
//! same strict reader as `gridscope import`, with row limits for uploads, per-column fill
//! counts for the data-quality report, and suggested fixes (applied only when asked).

use std::collections::HashMap;

use app::api::import::{ColumnStat, FileReport, FixReport, IssueReport, TableChange, MAX_UPLOAD_ROWS};
use app::domain::model::GridData;

use super::{read_inputs, Inputs, Issues};

/// One uploaded file: its table (`assets`, `maintenance`, `incidents`), name and bytes.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    pub table: &'static str,
    pub name: String,
    pub bytes: bytes::Bytes,
}

/// What checking an upload found. `grid` is set only when there are no issues.
#[derive(Debug, Default)]
pub struct Checked {
    pub files: Vec<FileReport>,
    pub issues: Vec<IssueReport>,
    pub issues_total: u64,
    pub fixes: Vec<FixReport>,
    pub grid: Option<GridData>,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The 1-based line of byte `at`.
fn line_of(bytes: &[u8], at: usize) -> u64 {
    bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1
}

/// The text of a file, or why it is not acceptable text.
fn text_of(bytes: &[u8]) -> Result<&[u8], (u64, String)> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err((0, "UTF-16 text: save the file as UTF-8 (CSV UTF-8 in spreadsheet programs)".into()));
    }
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if let Some(at) = body.iter().position(|b| *b == 0) {
        return Err((line_of(body, at), "contains a NUL byte: this is not a text file".into()));
    }
    if let Err(e) = std::str::from_utf8(body) {
        let at = e.valid_up_to();
        return Err((
            line_of(body, at),
            format!("not UTF-8 text (byte {} cannot be read): save the file as UTF-8", at + 1),
        ));
    }
    Ok(body)
}

/// Checks an upload completely; nothing is written anywhere.
pub fn check(files: &[UploadedFile], apply_fixes: bool) -> Checked {
    let mut issues = Issues { apply_fixes, ..Issues::default() };
    let mut texts: HashMap<&str, (String, &[u8])> = HashMap::new();
    for file in files {
        if texts.contains_key(file.table) {
            issues.push(&file.name, 0, "", format!("a second {} file: upload one per table", file.table));
            continue;
        }
        match text_of(&file.bytes) {
            Ok(text) => {
                texts.insert(file.table, (file.name.clone(), text));
            }
            Err((line, message)) => issues.push(&file.name, line, "", message),
        }
    }
    if !files.iter().any(|f| f.table == "assets") {
        issues.push(
            "assets.csv",
            0,
            "",
            "the assets file is required (maintenance and incidents are optional)",
        );
    }
    let mut grid = None;
    if issues.list.is_empty() {
        let mut take = |table: &str| texts.remove(table);
        let inputs =
            Inputs { assets: take("assets"), maintenance: take("maintenance"), incidents: take("incidents") };
        grid = read_inputs(inputs, MAX_UPLOAD_ROWS, &mut issues).filter(|_| issues.list.is_empty());
    }
    let reports = files
        .iter()
        .map(|f| {
            let stats = issues.stats.iter().find(|(name, _, _)| *name == f.name);
            FileReport {
                table: f.table.to_owned(),
                file: f.name.clone(),
                bytes: f.bytes.len() as u64,
                rows: stats.map_or(0, |s| s.1),
                columns: stats.map_or_else(Vec::new, |s| {
                    s.2.iter()
                        .map(|(name, filled)| ColumnStat { name: name.clone(), filled: *filled })
                        .collect()
                }),
            }
        })
        .collect();
    Checked {
        files: reports,
        issues: issues
            .list
            .iter()
            .map(|i| IssueReport {
                file: i.file.clone(),
                line: i.line,
                column: i.column.clone(),
                message: i.message.clone(),
            })
            .collect(),
        issues_total: issues.total,
        fixes: issues
            .fixes
            .iter()
            .map(|(rule, (count, example))| FixReport {
                rule: (*rule).to_owned(),
                count: *count,
                example: example.clone(),
            })
            .collect(),
        grid,
    }
}

/// What replacing `old` with `new` creates, changes and removes, per table.
pub fn changes(old: &GridData, new: &GridData) -> Vec<TableChange> {
    fn diff<T: PartialEq>(table: &str, old: &[T], new: &[T], id: impl Fn(&T) -> &str) -> TableChange {
        const SAMPLE: usize = 10;
        let before: HashMap<&str, &T> = old.iter().map(|r| (id(r), r)).collect();
        let after: HashMap<&str, &T> = new.iter().map(|r| (id(r), r)).collect();
        let mut change = TableChange { table: table.to_owned(), ..TableChange::default() };
        for record in new {
            match before.get(id(record)) {
                None => {
                    change.created += 1;
                    if change.created_ids.len() < SAMPLE {
                        change.created_ids.push(id(record).to_owned());
                    }
                }
                Some(old) if *old != record => {
                    change.changed += 1;
                    if change.changed_ids.len() < SAMPLE {
                        change.changed_ids.push(id(record).to_owned());
                    }
                }
                Some(_) => change.unchanged += 1,
            }
        }
        for record in old {
            if !after.contains_key(id(record)) {
                change.removed += 1;
                if change.removed_ids.len() < SAMPLE {
                    change.removed_ids.push(id(record).to_owned());
                }
            }
        }
        change
    }
    vec![
        diff("assets", &old.assets, &new.assets, |a| a.id.as_str()),
        diff("maintenance", &old.maintenance, &new.maintenance, |m| m.id.as_str()),
        diff("incidents", &old.incidents, &new.incidents, |i| i.id.as_str()),
    ]
}
