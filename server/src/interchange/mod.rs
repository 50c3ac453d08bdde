//! The Gridscope interchange format (docs/interchange.md): a folder with `assets.csv` and,
//! optionally, `maintenance.csv` and `incidents.csv` — or a single assets CSV file.
//!
//! Reading is strict and total: every problem in every row is collected (up to
//! [`MAX_REPORTED`]) and reported with file, line and column; a grid is only returned when
//! there is none. Inputs are bounded: file size ([`MAX_FILE_BYTES`]), rows ([`MAX_ROWS`]) and
//! field length.

use app::domain::model::{
    valid_id, Asset, AssetKind, GeoPoint, GridData, Incident, MaintenanceKind, MaintenanceRecord,
    SyntheticFields, Table, MAX_TEXT_LEN,
};
use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub mod fixes;
pub mod upload;

pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
pub const MAX_ROWS: usize = 5_000_000;
pub const MAX_REPORTED: usize = 100;
const MAX_FIELD_CHARS: usize = 1000;

pub const ASSET_COLUMNS: &[&str] = app::domain::model::ASSET_FIELDS;
pub const MAINTENANCE_COLUMNS: &[&str] = &["id", "asset", "date", "kind", "cost", "notes", "synthetic"];
pub const INCIDENT_COLUMNS: &[&str] =
    &["id", "asset", "started_at", "restored_at", "customers_affected", "cause", "synthetic"];

/// One problem, located. `line` is the 1-based line in the file (the header is line 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportIssue {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl fmt::Display for ImportIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "{} line {}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{} line {}, column {}: {}", self.file, self.line, self.column, self.message)
        }
    }
}

/// Why an import was refused. Nothing has been written when this is returned.
#[derive(Debug)]
pub struct ImportRefused {
    pub issues: Vec<ImportIssue>,
    /// More issues than were kept.
    pub truncated: bool,
}

impl fmt::Display for ImportRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import refused, nothing written: {} problem(s)", self.issues.len())?;
        for issue in &self.issues {
            writeln!(f, "  {issue}")?;
        }
        if self.truncated {
            writeln!(f, "  … more problems not shown (only the first {MAX_REPORTED} are listed)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportRefused {}

/// What reading collects besides the records: problems, suggested or applied fixes, and
/// per-column fill counts (for the data-quality report).
#[derive(Default)]
pub(crate) struct Issues {
    list: Vec<ImportIssue>,
    truncated: bool,
    /// All problems found (also those beyond the report limit).
    total: u64,
    /// Apply the suggested fixes instead of reporting them.
    apply_fixes: bool,
    /// Rule → (how many values, one example).
    fixes: std::collections::BTreeMap<&'static str, (u64, String)>,
    /// Per file: data rows and, per header column, how many rows have a value.
    stats: Vec<(String, u64, Vec<(String, u64)>)>,
}

impl Issues {
    fn fix(&mut self, rule: &'static str, example: impl FnOnce() -> String) {
        let entry = self.fixes.entry(rule).or_insert_with(|| (0, example()));
        entry.0 += 1;
    }

    fn push(&mut self, file: &str, line: u64, column: &str, message: impl Into<String>) {
        self.total += 1;
        if self.list.len() >= MAX_REPORTED {
            self.truncated = true;
            return;
        }
        self.list.push(ImportIssue {
            file: file.into(),
            line,
            column: column.into(),
            message: message.into(),
        });
    }
}

/// Where the tables of a grid come from.
#[derive(Clone, Debug)]
pub struct Source {
    pub assets: PathBuf,
    pub maintenance: Option<PathBuf>,
    pub incidents: Option<PathBuf>,
}

impl Source {
    /// A folder (with `assets.csv`, optional `maintenance.csv` and `incidents.csv`) or a file.
    pub fn locate(path: &Path) -> Result<Source, ImportRefused> {
        let refused = |message: String| ImportRefused {
            issues: vec![ImportIssue {
                file: path.display().to_string(),
                line: 0,
                column: String::new(),
                message,
            }],
            truncated: false,
        };
        if path.is_dir() {
            let assets = path.join("assets.csv");
            if !assets.is_file() {
                return Err(refused("the folder has no assets.csv".into()));
            }
            let optional = |name: &str| Some(path.join(name)).filter(|p| p.is_file());
            Ok(Source {
                assets,
                maintenance: optional("maintenance.csv"),
                incidents: optional("incidents.csv"),
            })
        } else if path.is_file() {
            Ok(Source { assets: path.to_path_buf(), maintenance: None, incidents: None })
        } else {
            Err(refused("no such file or folder".into()))
        }
    }
}

/// The optional tables an import gives (a file, or the explicit choice to empty the table).
/// A table not given keeps its stored records: importing only `assets.csv` must not delete
/// the maintenance history and the incidents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Given {
    pub maintenance: bool,
    pub incidents: bool,
}

impl Given {
    /// Both tables given: the import replaces the whole grid.
    pub const ALL: Given = Given { maintenance: true, incidents: true };

    /// The tables an interchange folder or file gives.
    pub fn of(source: &Source) -> Given {
        Given { maintenance: source.maintenance.is_some(), incidents: source.incidents.is_some() }
    }

    /// The names of the tables kept as stored.
    pub fn kept(self) -> Vec<&'static str> {
        [("maintenance", self.maintenance), ("incidents", self.incidents)]
            .into_iter()
            .filter(|(_, given)| !given)
            .map(|(table, _)| table)
            .collect()
    }
}

/// What an import stores: `new`, and for each optional table it does not give, the stored
/// records that still refer to one of its assets. A stored record whose asset the import
/// removes cannot stay (it would refer to nothing): it counts as removed, which the preview
/// states and applying asks to confirm.
pub fn keep_stored(new: &mut GridData, stored: &GridData, given: Given) {
    if given == Given::ALL {
        return;
    }
    let ids: std::collections::HashSet<&str> = new.assets.iter().map(|a| a.id.as_str()).collect();
    if !given.maintenance {
        new.maintenance =
            stored.maintenance.iter().filter(|m| ids.contains(m.asset.as_str())).cloned().collect();
    }
    if !given.incidents {
        new.incidents = stored.incidents.iter().filter(|i| ids.contains(i.asset.as_str())).cloned().collect();
    }
}

/// Read and validate a grid; every issue found is reported, and nothing is returned unless
/// the whole grid is acceptable.
pub fn read_grid(path: &Path) -> Result<GridData, ImportRefused> {
    read_source(&Source::locate(path)?)
}

/// [`read_grid`] of tables already located.
pub fn read_source(source: &Source) -> Result<GridData, ImportRefused> {
    let mut issues = Issues::default();
    let mut open = |path: &Path| -> Option<(String, std::fs::File)> {
        let file = file_name(path);
        let handle = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                issues.push(&file, 0, "", format!("cannot open: {e}"));
                return None;
            }
        };
        if handle.metadata().is_ok_and(|m| m.len() > MAX_FILE_BYTES) {
            issues.push(&file, 0, "", format!("larger than the limit of {} MiB", MAX_FILE_BYTES >> 20));
            return None;
        }
        Some((file, handle))
    };
    let assets = open(&source.assets);
    let maintenance = source.maintenance.as_deref().and_then(&mut open);
    let incidents = source.incidents.as_deref().and_then(&mut open);
    let inputs = Inputs {
        assets: assets.map(|(name, f)| (name, f.take(MAX_FILE_BYTES), 0)),
        maintenance: maintenance.map(|(name, f)| (name, f.take(MAX_FILE_BYTES), 0)),
        incidents: incidents.map(|(name, f)| (name, f.take(MAX_FILE_BYTES), 0)),
    };
    let grid = read_inputs(inputs, MAX_ROWS, &mut issues);
    match grid {
        Some(grid) if issues.list.is_empty() => Ok(grid),
        _ => Err(ImportRefused { issues: issues.list, truncated: issues.truncated }),
    }
}

/// The readers of a dataset's tables, each with its file name and how many rows it may hold
/// (0 when not known: reading then grows its lists as it goes).
pub(crate) struct Inputs<R> {
    pub assets: Option<(String, R, usize)>,
    pub maintenance: Option<(String, R, usize)>,
    pub incidents: Option<(String, R, usize)>,
}

/// Reads and validates every table; the grid when the tables could be read (check `issues`
/// before using it: it is only acceptable when there are none).
pub(crate) fn read_inputs<R: Read>(
    inputs: Inputs<R>,
    max_rows: usize,
    issues: &mut Issues,
) -> Option<GridData> {
    let mut names = [String::new(), String::new(), String::new()];
    let (assets, asset_lines) = match inputs.assets {
        Some((name, r, rows)) => {
            names[0] = name.clone();
            read_table(&name, r, rows, ASSET_COLUMNS, &["id", "kind"], max_rows, issues, parse_asset)
        }
        None => return None,
    };
    let (maintenance, maintenance_lines) = match inputs.maintenance {
        Some((name, r, rows)) => {
            names[1] = name.clone();
            read_table(
                &name,
                r,
                rows,
                MAINTENANCE_COLUMNS,
                &["id", "asset", "date", "kind"],
                max_rows,
                issues,
                parse_maintenance,
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let (incidents, incident_lines) = match inputs.incidents {
        Some((name, r, rows)) => {
            names[2] = name.clone();
            read_table(
                &name,
                r,
                rows,
                INCIDENT_COLUMNS,
                &["id", "asset", "started_at"],
                max_rows,
                issues,
                parse_incident,
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let grid = GridData { assets, maintenance, incidents };
    if issues.list.is_empty() {
        for issue in grid.validate() {
            let (file, lines) = match issue.table {
                Table::Assets => (&names[0], &asset_lines),
                Table::Maintenance => (&names[1], &maintenance_lines),
                Table::Incidents => (&names[2], &incident_lines),
            };
            issues.push(file, lines[issue.index], issue.column, issue.message);
        }
    }
    Some(grid)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// One row being parsed: typed access to its fields, recording every problem.
/// A control character (other than tab and line breaks) or a bidirectional embedding,
/// override or isolate. Plain direction marks (LRM, RLM, ALM) stay allowed: Arabic text uses them.
pub fn hidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

struct Row<'a> {
    file: &'a str,
    line: u64,
    header: &'a [usize],
    columns: &'a [&'static str],
    record: &'a csv::StringRecord,
    issues: &'a mut Issues,
}

impl Row<'_> {
    fn raw(&self, column: &str) -> Option<&str> {
        let wanted = self.columns.iter().position(|c| *c == column)?;
        let at = self.header.iter().position(|&h| h == wanted)?;
        self.record.get(at).map(str::trim).filter(|v| !v.is_empty())
    }

    fn fail(&mut self, column: &str, message: String) {
        self.issues.push(self.file, self.line, column, message);
    }

    fn text(&mut self, column: &str) -> Option<String> {
        let mut value = self.raw(column)?.to_string();
        if value.chars().count() > MAX_TEXT_LEN {
            self.fail(column, format!("longer than {MAX_TEXT_LEN} characters"));
            return None;
        }
        // Characters that act instead of showing: terminal escapes, bells, and the direction
        // overrides that make text read differently from what it holds (in exports, logs, the map).
        if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| hidden_control(*c)) {
            self.fail(
                column,
                format!(
                    "character {} is a control character (U+{:04X}) that cannot be shown: remove it",
                    at + 1,
                    c as u32
                ),
            );
            return None;
        }
        // Hostile content: a cell a spreadsheet would run when the data is exported and opened.
        if fixes::formula_like(&value) {
            let defused = fixes::defuse(&value);
            if self.issues.apply_fixes {
                let (file, line) = (self.file.to_owned(), self.line);
                self.issues.fix("formula prefix removed", || {
                    format!("'{value}' → '{defused}' ({file} line {line}, {column})")
                });
                value = defused;
            } else {
                self.issues.fix("formula prefix removed", || format!("'{value}' → '{defused}'"));
                self.fail(
                    column,
                    format!("'{value}' starts like a spreadsheet formula; suggested fix: '{defused}' (formula prefix removed)"),
                );
                return None;
            }
        }
        Some(value)
    }

    fn reference(&mut self, column: &str) -> Option<String> {
        let value = self.raw(column)?.to_string();
        if !valid_id(&value) {
            self.fail(column, format!("'{value}' is not a valid id"));
            return None;
        }
        Some(value)
    }

    /// Parses a value; one that does not parse but has an unambiguous standard form is
    /// rewritten (when fixes are applied) or reported with that form as the suggested fix.
    fn parse<T>(&mut self, column: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let value = self.raw(column)?.to_string();
        let parsed = parse(&value);
        let out_of_range = column == "voltage_kv" && value.parse::<f64>().is_ok_and(|v| v > fixes::MAX_KV);
        if parsed.is_some() && !out_of_range {
            return parsed;
        }
        let suggestion = fixes::suggest(column, &value).filter(|(fixed, _)| parse(fixed).is_some());
        match suggestion {
            Some((fixed, rule)) if self.issues.apply_fixes => {
                let (file, line) = (self.file.to_owned(), self.line);
                self.issues.fix(rule, || format!("'{value}' → '{fixed}' ({file} line {line}, {column})"));
                parse(&fixed)
            }
            Some((fixed, rule)) => {
                self.issues.fix(rule, || format!("'{value}' → '{fixed}'"));
                let problem = if out_of_range {
                    format!("{value} kV is not a voltage in kV")
                } else {
                    format!("'{value}' is not {what}")
                };
                self.fail(column, format!("{problem}; suggested fix: '{fixed}' ({rule})"));
                None
            }
            None => {
                self.fail(column, format!("'{value}' is not {what}"));
                None
            }
        }
    }

    fn number(&mut self, column: &str) -> Option<f64> {
        self.parse(column, "a number", |v| v.parse::<f64>().ok().filter(|x| x.is_finite()))
    }

    fn boolean(&mut self, column: &str) -> Option<bool> {
        self.parse(column, "true or false", |v| match v {
            "true" | "TRUE" | "True" | "1" => Some(true),
            "false" | "FALSE" | "False" | "0" => Some(false),
            _ => None,
        })
    }

    fn integer<T: std::str::FromStr>(&mut self, column: &str, what: &str) -> Option<T> {
        self.parse(column, what, |v| v.parse::<T>().ok())
    }

    fn required(&mut self, column: &str) -> String {
        match self.raw(column) {
            Some(v) => v.to_string(),
            None => {
                self.fail(column, "is required".into());
                String::new()
            }
        }
    }
}

/// Read one CSV table. Returns the parsed records and, for each, its line in the file.
/// `expected` rows are reserved at once (at most `max_rows`).
#[allow(clippy::too_many_arguments)]
fn read_table<T>(
    file: &str,
    input: impl Read,
    expected: usize,
    columns: &'static [&'static str],
    required: &[&str],
    max_rows: usize,
    issues: &mut Issues,
    parse: fn(&mut Row) -> Option<T>,
) -> (Vec<T>, Vec<u64>) {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header_record = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            issues.push(file, 1, "", format!("cannot read the header: {e}"));
            return (Vec::new(), Vec::new());
        }
    };
    let mut header = Vec::with_capacity(header_record.len());
    let mut header_ok = true;
    for name in header_record.iter().map(str::trim) {
        match columns.iter().position(|c| *c == name) {
            Some(i) if header.contains(&i) => {
                issues.push(file, 1, name, "column appears twice");
                header_ok = false;
            }
            Some(i) => header.push(i),
            None => {
                issues.push(file, 1, name, format!("unknown column (known: {})", columns.join(", ")));
                header_ok = false;
            }
        }
    }
    for column in required {
        if !header_record.iter().any(|h| h.trim() == *column) {
            issues.push(file, 1, column, "required column is missing");
            header_ok = false;
        }
    }
    if !header_ok {
        return (Vec::new(), Vec::new());
    }
    let mut filled = vec![0u64; header.len()];
    let mut rows = 0u64;
    let mut out = Vec::with_capacity(expected.min(max_rows));
    let mut lines = Vec::with_capacity(expected.min(max_rows));
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!(
                        "this row has {len} fields where the header has {expected_len} (a missing or extra comma, or an unquoted comma in a value)"
                    ),
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8 text: save the file as UTF-8".to_owned(),
                    _ => format!("malformed CSV: {e}"),
                };
                issues.push(file, line, "", message);
                break;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if out.len() >= max_rows || rows as usize >= max_rows {
            issues.push(
                file,
                line,
                "",
                format!("more than {max_rows} rows: split the file or import it on the command line"),
            );
            break;
        }
        rows += 1;
        for (count, field) in filled.iter_mut().zip(record.iter()) {
            if !field.trim().is_empty() {
                *count += 1;
            }
        }
        if let Some(i) = record.iter().position(|f| f.chars().count() > MAX_FIELD_CHARS) {
            issues.push(
                file,
                line,
                header_record.get(i).unwrap_or(""),
                format!("field longer than {MAX_FIELD_CHARS} characters"),
            );
            continue;
        }
        let mut row = Row { file, line, header: &header, columns, record: &record, issues };
        if let Some(item) = parse(&mut row) {
            out.push(item);
            lines.push(line);
        }
    }
    let stats = header.iter().zip(filled).map(|(&i, n)| (columns[i].to_owned(), n)).collect();
    issues.stats.push((file.to_owned(), rows, stats));
    (out, lines)
}

fn parse_asset(row: &mut Row) -> Option<Asset> {
    let id = row.required("id");
    if row.raw("kind").is_none() {
        row.fail("kind", "is required".into());
    }
    let known: Vec<&str> = AssetKind::ALL.iter().map(|k| k.as_str()).collect();
    let kind = row.parse("kind", &format!("an asset kind ({})", known.join(", ")), AssetKind::parse);
    let name = row.text("name");
    let lat = row.parse("lat", "a latitude in degrees", |v| v.parse::<f64>().ok().filter(|x| x.is_finite()));
    let lon = row.parse("lon", "a longitude in degrees", |v| v.parse::<f64>().ok().filter(|x| x.is_finite()));
    let location = match (lat, lon) {
        (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
        (None, None) => None,
        (Some(_), None) => {
            if row.raw("lon").is_none() {
                row.fail("lon", "lat is given, so lon is required".into());
            }
            None
        }
        (None, Some(_)) => {
            if row.raw("lat").is_none() {
                row.fail("lat", "lon is given, so lat is required".into());
            }
            None
        }
    };
    let mut synthetic = SyntheticFields::default();
    let listed = row.raw("synthetic").unwrap_or_default().to_owned();
    for field in listed.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        if !synthetic.insert(field) {
            row.fail("synthetic", format!("'{field}' is not a column"));
        }
    }
    let asset = Asset {
        name: name.unwrap_or_else(|| id.clone()).into(),
        substation: row.reference("substation").map(Into::into),
        bus: row.reference("bus").map(Into::into),
        from_bus: row.reference("from_bus").map(Into::into),
        to_bus: row.reference("to_bus").map(Into::into),
        element: row.reference("element").map(Into::into),
        closed: row.boolean("closed"),
        in_service: row.boolean("in_service").unwrap_or(true),
        source: row.boolean("source").unwrap_or(false),
        voltage_kv: row.number("voltage_kv").into(),
        rating_mva: row.number("rating_mva").into(),
        p_mw: row.number("p_mw").into(),
        circuits: row.integer("circuits", "a whole number of circuits").unwrap_or(1),
        length_km: row.number("length_km").into(),
        loading_pct: row.number("loading_pct").into(),
        commissioning_year: row.integer("commissioning_year", "a year"),
        condition: row.integer("condition", "a condition from 0 to 100"),
        customers: row.integer("customers", "a whole number of customers"),
        region: row.text("region").map(Into::into),
        location: location.into(),
        synthetic,
        id: id.into(),
        kind: kind?,
    };
    Some(asset)
}

fn synthetic_flag(row: &mut Row) -> bool {
    row.boolean("synthetic").unwrap_or(false)
}

fn parse_maintenance(row: &mut Row) -> Option<MaintenanceRecord> {
    let id = row.required("id");
    let asset = row.required("asset");
    let date = row.parse("date", "a date (YYYY-MM-DD)", |v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
    let kind = row.parse("kind", "inspection, repair or replacement", MaintenanceKind::parse);
    if row.raw("date").is_none() {
        row.fail("date", "is required".into());
    }
    if row.raw("kind").is_none() {
        row.fail("kind", "is required".into());
    }
    Some(MaintenanceRecord {
        cost: row.number("cost").into(),
        notes: row.text("notes").unwrap_or_default().into(),
        synthetic: synthetic_flag(row),
        id: id.into(),
        asset: asset.into(),
        date: date?,
        kind: kind?,
    })
}

fn timestamp(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_incident(row: &mut Row) -> Option<Incident> {
    let id = row.required("id");
    let asset = row.required("asset");
    let started_at = row.parse("started_at", "an RFC 3339 time (2024-05-01T12:00:00Z)", timestamp);
    if row.raw("started_at").is_none() {
        row.fail("started_at", "is required".into());
    }
    Some(Incident {
        restored_at: row.parse("restored_at", "an RFC 3339 time (2024-05-01T12:00:00Z)", timestamp),
        customers_affected: row.integer("customers_affected", "a whole number of customers").unwrap_or(0),
        cause: row.text("cause").unwrap_or_default().into(),
        synthetic: synthetic_flag(row),
        id: id.into(),
        asset: asset.into(),
        started_at: started_at?,
    })
}
