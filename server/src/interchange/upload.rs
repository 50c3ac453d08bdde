//! Datasets uploaded in the browser: the bytes are checked before any CSV parsing (UTF-8 with or
//! without BOM; UTF-16, other encodings and NUL bytes refused, with the line), then read by the
//! same strict reader as `gridscope import`, with row limits for uploads, per-column fill
//! counts for the data-quality report, and suggested fixes (applied only when asked).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use app::api::import::{ColumnStat, FileReport, FixReport, IssueReport, TableChange, MAX_UPLOAD_ROWS};
use app::domain::model::GridData;

use super::{read_inputs, Inputs, Issues};

/// One uploaded file: its table (`assets`, `maintenance`, `incidents`), name and contents,
/// kept in a file on disk (never whole in memory: checking reads it in small pieces).
#[derive(Clone, Debug)]
pub struct UploadedFile {
    pub table: &'static str,
    pub name: String,
    pub file: Arc<std::fs::File>,
    pub len: u64,
}

impl UploadedFile {
    /// The bytes from `start` to the end, read where they are (no shared file position, so
    /// several readers of one upload never disturb each other).
    pub fn reader(&self, start: u64) -> At<'_> {
        At { file: &self.file, pos: start.min(self.len), end: self.len }
    }
}

/// A reader of a byte range of a file, by position.
pub struct At<'a> {
    file: &'a std::fs::File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = buf.len().min((self.end - self.pos).try_into().unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += read as u64;
        Ok(read)
    }
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

/// A file that is acceptable text: where its text starts (after a byte-order mark) and how
/// many lines it has (to size what reading it makes).
struct Text {
    start: u64,
    lines: u64,
}

/// Reads a file once, in pieces, to tell whether it is acceptable text (UTF-8 with or without
/// BOM, no NUL byte), or why not with the line.
fn text_of(file: &UploadedFile) -> Result<Text, (u64, String)> {
    let unreadable = |e: std::io::Error| (0, format!("cannot be read on the server: {e}"));
    let mut head = Vec::with_capacity(UTF8_BOM.len());
    file.reader(0).take(UTF8_BOM.len() as u64).read_to_end(&mut head).map_err(unreadable)?;
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err((0, "UTF-16 text: save the file as UTF-8 (CSV UTF-8 in spreadsheet programs)".into()));
    }
    let start = if head == UTF8_BOM { 3 } else { 0 };
    let mut reader = file.reader(start);
    // Read so far (after the BOM), lines so far, and the bytes of a character cut by the end
    // of the last piece.
    let (mut offset, mut lines, mut carry) = (0u64, 1u64, Vec::with_capacity(4));
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        let kept = carry.len();
        piece[..kept].copy_from_slice(&carry);
        let read = reader.read(&mut piece[kept..]).map_err(unreadable)?;
        if read == 0 {
            if kept > 0 {
                return Err((
                    lines,
                    format!("not UTF-8 text (byte {} cannot be read): save the file as UTF-8", offset + 1),
                ));
            }
            return Ok(Text { start, lines });
        }
        let bytes = &piece[..kept + read];
        let line_at = |at: usize| lines + bytes[..at].iter().filter(|b| **b == b'\n').count() as u64;
        if let Some(at) = bytes.iter().position(|b| *b == 0) {
            return Err((line_at(at), "contains a NUL byte: this is not a text file".into()));
        }
        let valid = match std::str::from_utf8(bytes) {
            Ok(_) => bytes.len(),
            // A character cut by the end of the piece: read it whole with the next one.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                let at = e.valid_up_to();
                return Err((
                    line_at(at),
                    format!(
                        "not UTF-8 text (byte {} cannot be read): save the file as UTF-8",
                        offset + at as u64 + 1
                    ),
                ));
            }
        };
        lines = line_at(valid);
        offset += valid as u64;
        carry.clear();
        carry.extend_from_slice(&bytes[valid..]);
    }
}

/// Checks an upload completely; nothing is written anywhere.
pub fn check(files: &[UploadedFile], apply_fixes: bool) -> Checked {
    let mut issues = Issues { apply_fixes, ..Issues::default() };
    let mut texts: HashMap<&str, (String, At<'_>, usize)> = HashMap::new();
    for file in files {
        if texts.contains_key(file.table) {
            issues.push(&file.name, 0, "", format!("a second {} file: upload one per table", file.table));
            continue;
        }
        match text_of(file) {
            Ok(text) => {
                // Rows are at most the lines after the header: reading reserves that much
                // once instead of growing (and copying) its lists as it goes.
                let rows = usize::try_from(text.lines.saturating_sub(1)).unwrap_or(usize::MAX);
                texts.insert(file.table, (file.name.clone(), file.reader(text.start), rows));
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
                bytes: f.len,
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn upload(bytes: &[u8]) -> UploadedFile {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        UploadedFile {
            table: "assets",
            name: "assets.csv".into(),
            file: Arc::new(file),
            len: bytes.len() as u64,
        }
    }

    /// Text is read in 64 KiB pieces: a character cut by a piece's end is read whole, and a
    /// problem far into the file is reported at its line, as when the file was read at once.
    #[test]
    fn text_is_checked_across_pieces() {
        let piece = 64 * 1024;
        // "é" (two bytes) straddling the first piece's end, with lines before it.
        let mut text = "id,kind\n".repeat(10).into_bytes();
        text.resize(piece - 1, b'x');
        text.extend_from_slice("é\nlast\n".as_bytes());
        let read = text_of(&upload(&text)).unwrap();
        assert_eq!((read.start, read.lines), (0, 13));
        // With a byte-order mark, the text starts after it.
        let mut marked = UTF8_BOM.to_vec();
        marked.extend_from_slice(&text);
        assert_eq!(text_of(&upload(&marked)).unwrap().start, 3);
        // A stray byte in the third piece, on line 3 of the file.
        let mut bad = b"a\nb\n".to_vec();
        bad.resize(2 * piece + 100, b'y');
        bad.push(0xE9);
        let (line, message) = text_of(&upload(&bad)).err().unwrap();
        assert_eq!(line, 3);
        assert!(message.contains(&format!("byte {}", 2 * piece + 101)), "{message}");
        // A character cut by the end of the file.
        let (_, message) = text_of(&upload("ab\u{e9}".as_bytes().split_last().unwrap().1)).err().unwrap();
        assert!(message.contains("byte 3"), "{message}");
        // NUL in a later piece, and UTF-16.
        let mut nul = vec![b'\n'; piece + 5];
        nul.push(0);
        assert_eq!(text_of(&upload(&nul)).err().unwrap().0, piece as u64 + 6);
        assert_eq!(text_of(&upload(b"\xFF\xFEa\0")).err().unwrap().0, 0);
    }
}
