//! Operator data import in the browser: what the server reports about an uploaded dataset
//! (the data-quality report, suggested fixes, the preview of changes) and what applying it did.
//! The upload itself is a multipart POST to `/import/preview` (raw bytes, no re-encoding);
//! applying is a POST to `/import/apply`. Both need the operator role.

use serde::{Deserialize, Serialize};

/// The tables a dataset may hold, one CSV file each.
pub const TABLES: [(&str, &str); 3] =
    [("assets", "assets.csv"), ("maintenance", "maintenance.csv"), ("incidents", "incidents.csv")];

/// Largest upload accepted (all files together), bytes.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Most data rows per uploaded file.
pub const MAX_UPLOAD_ROWS: usize = 500_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStat {
    pub name: String,
    /// Rows with a value in this column.
    pub filled: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// `assets`, `maintenance` or `incidents`.
    pub table: String,
    /// The name the file was uploaded under.
    pub file: String,
    pub bytes: u64,
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub columns: Vec<ColumnStat>,
}

/// One problem, located: `line` is the line in the file (the header is line 1; 0: the file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueReport {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub message: String,
}

/// A standardisation the server can apply, with how many values it concerns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixReport {
    pub rule: String,
    pub count: u64,
    /// One instance, e.g. `'Trafo' → 'transformer'` (file, line and column).
    pub example: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableChange {
    pub table: String,
    pub created: u64,
    pub changed: u64,
    pub removed: u64,
    pub unchanged: u64,
    /// A few ids of each (for the preview).
    pub created_ids: Vec<String>,
    pub changed_ids: Vec<String>,
    pub removed_ids: Vec<String>,
}

/// The dry run of an upload: nothing has been written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportPreview {
    /// Refers to the staged upload (for applying it, or previewing it with the fixes).
    pub token: String,
    pub files: Vec<FileReport>,
    pub issues: Vec<IssueReport>,
    /// All issues found (more than listed when `issues` was cut at the report limit).
    pub issues_total: u64,
    /// Fixes the server suggests (not applied) or applied (`fixes_applied`).
    pub fixes: Vec<FixReport>,
    pub fixes_applied: bool,
    /// No issues: the dataset can be applied.
    pub valid: bool,
    /// What applying would do to the stored grid (when valid).
    pub changes: Vec<TableChange>,
    /// The stored grid's revision the preview was made against.
    pub base_revision: u64,
    /// Applying would change nothing (for instance, the same files were applied before).
    pub unchanged: bool,
    /// SHA-256 of the uploaded files (as uploaded), for the audit log.
    pub sha256: String,
    /// Optional tables given no file: their stored records are kept (those still referring
    /// to an asset of the upload).
    #[serde(default)]
    pub kept: Vec<String>,
}

/// What one row and several rows of a table are called.
pub fn row_names(table: &str) -> (&'static str, &'static str) {
    match table {
        "assets" => ("asset", "assets"),
        "maintenance" => ("maintenance record", "maintenance records"),
        "incidents" => ("incident", "incidents"),
        _ => ("record", "records"),
    }
}

/// What applying removes, in words per table (`3 assets`, `12 maintenance records`); empty
/// when it removes nothing.
pub fn removals(changes: &[TableChange]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.removed > 0)
        .map(|c| {
            let (one, many) = row_names(&c.table);
            format!("{} {}", c.removed, if c.removed == 1 { one } else { many })
        })
        .collect()
}

/// What applying did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportApplied {
    pub revision: u64,
    pub changes: Vec<TableChange>,
    /// Nothing was written: the grid already held exactly this data.
    pub unchanged: bool,
}

/// Sends the upload form (`assets`, `maintenance`, `incidents` files; `fixes`) for a dry run.
#[cfg(feature = "hydrate")]
pub async fn send_preview(form: web_sys::FormData) -> Result<ImportPreview, crate::error::AppError> {
    let request = gloo_net::http::Request::post("/import/preview").body(form).map_err(|_| offline())?;
    answer(request.send().await).await
}

/// Applies a previewed upload.
#[cfg(feature = "hydrate")]
pub async fn send_apply(
    token: &str,
    fixes: bool,
    base_revision: u64,
    confirm_removals: bool,
) -> Result<ImportApplied, crate::error::AppError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("fixes", if fixes { "true" } else { "false" })
        .append_pair("base_revision", &base_revision.to_string())
        .append_pair("confirm_removals", if confirm_removals { "true" } else { "false" })
        .finish();
    let request = gloo_net::http::Request::post("/import/apply")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .map_err(|_| offline())?;
    answer(request.send().await).await
}

#[cfg(feature = "hydrate")]
fn offline() -> crate::error::AppError {
    crate::error::AppError::new(
        crate::error::ErrorCode::SourceUnavailable,
        "The server could not be reached.",
    )
    .retry_after(5)
}

#[cfg(feature = "hydrate")]
async fn answer<T: serde::de::DeserializeOwned>(
    response: Result<gloo_net::http::Response, gloo_net::Error>,
) -> Result<T, crate::error::AppError> {
    let response = response.map_err(|_| offline())?;
    if response.ok() {
        response.json::<T>().await.map_err(|_| crate::error::AppError::internal())
    } else {
        Err(response
            .json::<crate::error::AppError>()
            .await
            .unwrap_or_else(|_| crate::error::AppError::internal()))
    }
}
