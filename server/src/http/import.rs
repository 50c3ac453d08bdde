//! Operator data import in the browser (operators only):
//!
//! - `POST /import/preview` (multipart: files `assets`, `maintenance`, `incidents`; `replace`
//!   = `maintenance` or `incidents` to empty a table given no file; or `token` of an earlier
//!   upload; `fixes=true` to apply the suggested fixes): checks everything and answers the
//!   data-quality report and what applying would change. A table without a file keeps its
//!   stored records. Writes nothing; the upload is kept (30 minutes, for its uploader) under
//!   the returned token.
//! - `POST /import/apply` (form: `token`, `fixes`, `base_revision`, `confirm_removals`): checks
//!   again and replaces the grid in one transaction. An import that removes records needs
//!   `confirm_removals=true`. One import at a time (409 `conflict` for a second), and only onto
//!   the grid the preview was made against (409 when it changed since).
//! - `GET /import/report.csv?token=…&fixes=…`: the report's problems as CSV.

use std::sync::Arc;
use std::time::Duration;

use app::api::auth::{Principal, Role};
use app::api::import::{ImportApplied, ImportPreview, TABLES};
use app::error::{AppError, ErrorCode};
use app::ports::ClientId;
use axum::extract::{Multipart, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::errors::error_response;
use super::security::{body_refusal, UPLOAD_MAX_BYTES};
use super::AppState;
use crate::interchange::upload::{self, UploadedFile};
use crate::interchange::Given;

/// Every import path: operators only, checked before any body is read ([`gate`]).
pub const PATHS: [&str; 3] =
    [super::limits::IMPORT_PREVIEW, super::limits::IMPORT_APPLY, super::limits::IMPORT_REPORT];

/// Uploads kept between preview and apply.
pub struct Staging {
    uploads: moka::sync::Cache<String, Arc<Staged>>,
    /// Checking an upload builds the whole grid it describes in memory (a 56 MB file of
    /// 500,000 rows: about 150 MB): one check at a time, so that several operators previewing
    /// at once wait their turn instead of adding up.
    checks: tokio::sync::Semaphore,
    /// Who is applying an import now, and since when.
    applying: tokio::sync::Mutex<()>,
    applier: std::sync::Mutex<Option<(String, chrono::DateTime<chrono::Utc>)>>,
}

pub struct Staged {
    owner: String,
    files: Vec<UploadedFile>,
    /// The optional tables this upload gives (a file, or asked to be emptied); the others
    /// keep their stored records.
    given: Given,
    sha256: String,
    /// The grid revision the last preview of this upload was made against: the server's
    /// record, so applying never trusts the revision a client sends.
    previewed_against: std::sync::Mutex<Option<u64>>,
}

impl Default for Staging {
    fn default() -> Self {
        Staging {
            uploads: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(30 * 60))
                // At most 256 MiB of staged uploads on disk (an upload dropped from here is
                // gone from the disk too: its files are unnamed).
                .weigher(|_, s: &Arc<Staged>| {
                    s.files.iter().map(|f| f.len).sum::<u64>().min(u32::MAX as u64) as u32
                })
                .max_capacity(256 * 1024 * 1024)
                .build(),
            checks: tokio::sync::Semaphore::new(1),
            applying: tokio::sync::Mutex::new(()),
            applier: std::sync::Mutex::new(None),
        }
    }
}

/// Operators and admins only (401 when not signed in, 403 for a lower role).
pub(super) fn operator(principal: &Principal) -> Result<String, Response> {
    match &principal.username {
        Some(name) if principal.can(Role::Operator) => Ok(name.clone()),
        Some(_) => Err(error_response(AppError::new(
            ErrorCode::Forbidden,
            "Importing data needs the operator role.",
        ))),
        None => Err(error_response(AppError::new(
            ErrorCode::Unauthorized,
            "Sign in as an operator to import data.",
        ))),
    }
}

/// Layer outside the body limits: every import path is for operators, decided before the
/// body (or a query) is read or decoded (anyone else is answered 401 or 403 at once, whatever
/// the body's size). A signed-in account refused here is recorded in the audit log; anonymous
/// refusals are only counted and logged, as for every other path.
pub async fn gate(
    State(accounts): State<Arc<crate::auth::Accounts>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if !PATHS.contains(&path) {
        return next.run(request).await;
    }
    let anonymous = Principal::viewer();
    let principal = request.extensions().get::<Principal>().unwrap_or(&anonymous);
    match operator(principal) {
        Ok(_) => next.run(request).await,
        Err(refusal) => {
            if principal.username.is_some() {
                let client = request
                    .extensions()
                    .get::<ClientId>()
                    .cloned()
                    .unwrap_or_else(|| ClientId(String::new()));
                record_import(&accounts, principal, path, &client, "forbidden").await;
            }
            refusal
        }
    }
}

/// Records an import action of `principal` in the audit log.
async fn record_import(
    accounts: &crate::auth::Accounts,
    principal: &Principal,
    target: &str,
    client: &ClientId,
    outcome: &str,
) {
    app::ports::AccountService::record(accounts, principal, "import", Some(target), client, outcome).await
}

fn invalid(message: impl Into<String>) -> Response {
    error_response(AppError::invalid_input(message))
}

fn staged(state: &AppState, token: &str, owner: &str) -> Result<Arc<Staged>, Response> {
    match state.staging.uploads.get(token) {
        Some(s) if s.owner == owner => Ok(s),
        _ => Err(error_response(AppError::new(
            ErrorCode::NotFound,
            "This upload is no longer kept (30 minutes): upload the files again.",
        ))),
    }
}

/// The caller's staged upload `token`: operators only, and only their own upload.
fn owned_upload(
    state: &AppState,
    principal: &Principal,
    token: &str,
) -> Result<(String, Arc<Staged>), Response> {
    let owner = operator(principal)?;
    let upload = staged(state, token, &owner)?;
    Ok((owner, upload))
}

/// An upload that could not be read: over the limit (413), stalled (408) or malformed (400).
fn unreadable(e: &axum::extract::multipart::MultipartError) -> Response {
    body_refusal(e, UPLOAD_MAX_BYTES).unwrap_or_else(|| invalid(format!("The upload could not be read: {e}")))
}

fn is_true(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "on" | "1"))
}

pub async fn preview(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    mut multipart: Multipart,
) -> Response {
    let owner = match operator(&principal) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (mut files, mut token, mut fixes) = (Vec::new(), None, false);
    let mut given = Given::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return unreadable(&e),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        match (name.as_str(), file_name) {
            (table, Some(file)) => {
                let Some((table, _)) = TABLES.iter().find(|(t, _)| *t == table) else {
                    return invalid(format!(
                        "Unknown upload field '{table}': assets, maintenance or incidents."
                    ));
                };
                let (kept, len) = match spool(field, &state.config.data_dir).await {
                    Ok(spooled) => spooled,
                    Err(refusal) => return refusal,
                };
                // A file input left empty is sent as an empty part without a name.
                if file.is_empty() && len == 0 {
                    continue;
                }
                let file = if file.is_empty() { format!("{table}.csv") } else { file };
                files.push(UploadedFile {
                    table,
                    name: file.chars().take(200).collect(),
                    file: Arc::new(kept),
                    len,
                });
            }
            (field_name, None) => {
                let value = match field.bytes().await {
                    Ok(value) => value,
                    Err(e) => return unreadable(&e),
                };
                match field_name {
                    "token" => token = Some(String::from_utf8_lossy(&value).trim().to_owned()),
                    "replace" => match std::str::from_utf8(&value).map(str::trim) {
                        Ok("maintenance") => given.maintenance = true,
                        Ok("incidents") => given.incidents = true,
                        _ => return invalid("'replace' is maintenance or incidents."),
                    },
                    "fixes" => fixes = is_true(std::str::from_utf8(&value).ok().map(str::trim)),
                    other => return invalid(format!("Unknown form field '{other}'.")),
                }
            }
        }
    }
    let (staged, token) = if files.is_empty() {
        match token {
            Some(token) => match staged(&state, &token, &owner) {
                Ok(s) => (s, token),
                Err(r) => return r,
            },
            None => return invalid("Choose at least the assets file."),
        }
    } else {
        let sha256 = match tokio::task::spawn_blocking({
            let files = files.clone();
            move || fingerprint(&files)
        })
        .await
        {
            Ok(Ok(sha256)) => sha256,
            _ => return error_response(AppError::internal()),
        };
        given.maintenance |= files.iter().any(|f| f.table == "maintenance");
        given.incidents |= files.iter().any(|f| f.table == "incidents");
        let staged = Arc::new(Staged { owner, files, given, sha256, previewed_against: Default::default() });
        let token = uuid::Uuid::new_v4().simple().to_string();
        state.staging.uploads.insert(token.clone(), staged.clone());
        tracing::info!(sha256 = %staged.sha256, "import: upload staged");
        (staged, token)
    };
    match build_preview(&state, &staged, fixes, token).await {
        Ok((preview, _)) => {
            *staged.previewed_against.lock().unwrap_or_else(|p| p.into_inner()) = Some(preview.base_revision);
            Json(preview).into_response()
        }
        Err(r) => r,
    }
}

/// The upload's SHA-256 (over each file's table, length and bytes), read from disk in pieces.
fn fingerprint(files: &[UploadedFile]) -> std::io::Result<String> {
    let mut hash = Sha256::new();
    for f in files {
        hash.update(f.table.as_bytes());
        hash.update(f.len.to_le_bytes());
        std::io::copy(&mut f.reader(0), &mut hash)?;
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes an uploaded file to an unnamed file under the data folder as it arrives: a staged
/// upload is on disk, never on the heap, and checking it reads it in pieces (the body
/// reaches here unread, within the upload limit: see `bound_body`). The file and its length.
async fn spool(
    mut field: axum::extract::multipart::Field<'_>,
    data_dir: &std::path::Path,
) -> Result<(std::fs::File, u64), Response> {
    use tokio::io::AsyncWriteExt;
    let cannot_keep = |e: std::io::Error| {
        tracing::error!(error = %e, "import: cannot keep an upload on disk");
        error_response(AppError::new(ErrorCode::InternalError, "The upload cannot be kept on the server."))
    };
    let dir = data_dir.join("uploads");
    let file = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        tempfile::tempfile_in(&dir)
    })
    .await
    .map_err(|e| cannot_keep(std::io::Error::other(e)))?
    .map_err(cannot_keep)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                written += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(cannot_keep)?;
            }
            Ok(None) => break,
            Err(e) => return Err(unreadable(&e)),
        }
    }
    file.flush().await.map_err(cannot_keep)?;
    Ok((file.into_std().await, written))
}

/// Checks the staged files (on the blocking pool) and compares them with the stored grid.
async fn build_preview(
    state: &AppState,
    staged: &Arc<Staged>,
    fixes: bool,
    token: String,
) -> Result<(ImportPreview, Option<app::domain::model::GridData>), Response> {
    let _turn = state.staging.checks.acquire().await.map_err(|_| error_response(AppError::internal()))?;
    let snapshot = state.store.snapshot().await.map_err(|e| error_response(AppError::from(e)))?;
    let (checked, changes) = tokio::task::spawn_blocking({
        let (staged, snapshot) = (staged.clone(), snapshot.clone());
        move || {
            let mut checked = upload::check(&staged.files, fixes);
            if let Some(grid) = checked.grid.as_mut() {
                crate::interchange::keep_stored(grid, &snapshot.data, staged.given);
            }
            let changes =
                checked.grid.as_ref().map(|g| upload::changes(&snapshot.data, g)).unwrap_or_default();
            (checked, changes)
        }
    })
    .await
    .map_err(|_| error_response(AppError::internal()))?;
    let unchanged = checked.grid.is_some() && changes.iter().all(|c| c.created + c.changed + c.removed == 0);
    let preview = ImportPreview {
        token,
        files: checked.files,
        issues: checked.issues,
        issues_total: checked.issues_total,
        fixes: checked.fixes,
        fixes_applied: fixes,
        valid: checked.grid.is_some(),
        changes,
        base_revision: snapshot.meta.revision,
        unchanged,
        kept: staged.given.kept().into_iter().map(str::to_owned).collect(),
        sha256: staged.sha256.clone(),
    };
    Ok((preview, checked.grid))
}

#[derive(Deserialize)]
pub struct ApplyForm {
    token: String,
    #[serde(default)]
    fixes: Option<String>,
    /// What the client believes it previewed against; checked too, but the server's record
    /// of the preview decides.
    #[serde(default)]
    base_revision: Option<u64>,
    /// The operator saw what applying removes and wants it removed.
    #[serde(default)]
    confirm_removals: Option<String>,
}

pub async fn apply(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<ClientId>,
    Form(form): Form<ApplyForm>,
) -> Response {
    let (owner, staged) = match owned_upload(&state, &principal, &form.token) {
        Ok(found) => found,
        Err(r) => {
            // An upload that is gone (30 minutes) or another operator's: recorded, so that
            // guessing at tokens shows in the audit log.
            let target = format!("token:{}", form.token.chars().take(32).collect::<String>());
            record_import(&state.accounts, &principal, &target, &client, "not_found").await;
            return r;
        }
    };
    let target = format!("sha256:{}", staged.sha256);
    let audit = |outcome: String| {
        let (accounts, principal, client, target) = (&state.accounts, &principal, &client, &target);
        async move { record_import(accounts, principal, target, client, &outcome).await }
    };
    let Ok(_guard) = state.staging.applying.try_lock() else {
        let holder = state.staging.applier.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let who = holder
            .map_or_else(String::new, |(by, at)| format!(" (by {by} since {})", at.format("%H:%M:%S UTC")));
        audit("conflict".into()).await;
        return error_response(
            AppError::new(
                ErrorCode::Conflict,
                format!("Another import is being applied{who}: wait for it, then preview again."),
            )
            .retry_after(5),
        );
    };
    *state.staging.applier.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((owner.clone(), chrono::Utc::now()));
    let previewed = *staged.previewed_against.lock().unwrap_or_else(|p| p.into_inner());
    let result = match previewed {
        Some(previewed) if form.base_revision.is_none_or(|sent| sent == previewed) => {
            apply_locked(&state, &staged, &form, previewed).await
        }
        Some(previewed) => Err((
            "grid_changed",
            error_response(AppError::new(
                ErrorCode::Conflict,
                format!("This upload was last previewed against revision {previewed}: preview again."),
            )),
        )),
        None => Err(("not_previewed", invalid("Preview the upload before applying it."))),
    };
    *state.staging.applier.lock().unwrap_or_else(|p| p.into_inner()) = None;
    match result {
        Ok(applied) => {
            let outcome = if applied.unchanged {
                "unchanged".to_owned()
            } else {
                format!("ok: revision {}", applied.revision)
            };
            audit(outcome).await;
            Json(applied).into_response()
        }
        Err((outcome, response)) => {
            audit(outcome.to_owned()).await;
            response
        }
    }
}

async fn apply_locked(
    state: &AppState,
    staged: &Arc<Staged>,
    form: &ApplyForm,
    base_revision: u64,
) -> Result<ImportApplied, (&'static str, Response)> {
    let (fixes, token) = (is_true(form.fixes.as_deref()), form.token.as_str());
    let (preview, grid) =
        build_preview(state, staged, fixes, token.to_owned()).await.map_err(|r| ("store_unavailable", r))?;
    let Some(grid) = grid else {
        return Err((
            "invalid",
            invalid(format!(
                "The files have {} problem(s): preview them and correct the files.",
                preview.issues_total
            )),
        ));
    };
    if preview.base_revision != base_revision {
        return Err((
            "grid_changed",
            error_response(AppError::new(
                ErrorCode::Conflict,
                format!(
                    "The grid changed since your preview (revision {base_revision} → {}): preview again.",
                    preview.base_revision
                ),
            )),
        ));
    }
    if preview.unchanged {
        return Ok(ImportApplied { revision: base_revision, changes: preview.changes, unchanged: true });
    }
    let removals = app::api::import::removals(&preview.changes);
    if !removals.is_empty() && !is_true(form.confirm_removals.as_deref()) {
        return Err((
            "removals_not_confirmed",
            invalid(format!("Applying removes {}: confirm the removal to apply it.", removals.join(", "))),
        ));
    }
    let name = staged
        .files
        .iter()
        .find(|f| f.table == "assets")
        .map(|f| f.name.trim_end_matches(".csv").to_owned())
        .unwrap_or_else(|| "upload".to_owned());
    let started = std::time::Instant::now();
    let meta = state
        .store
        .replace_grid(&name, grid)
        .await
        .map_err(|e| ("store_failed", error_response(AppError::from(e))))?;
    tracing::info!(revision = meta.revision, seconds = started.elapsed().as_secs_f64(), sha256 = %staged.sha256, "import: applied");
    Ok(ImportApplied { revision: meta.revision, changes: preview.changes, unchanged: false })
}

#[derive(Deserialize)]
pub struct ReportQuery {
    token: String,
    #[serde(default)]
    fixes: Option<String>,
}

/// The data-quality report's problems as CSV (spreadsheet-safe).
pub async fn report_csv(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let staged = match owned_upload(&state, &principal, &query.token) {
        Ok((_, staged)) => staged,
        Err(r) => return r,
    };
    let fixes = is_true(query.fixes.as_deref());
    let Ok(_turn) = state.staging.checks.acquire().await else {
        return error_response(AppError::internal());
    };
    let Ok(checked) = tokio::task::spawn_blocking(move || upload::check(&staged.files, fixes)).await else {
        return error_response(AppError::internal());
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut ok = writer.write_record(["file", "line", "column", "problem"]).is_ok();
    for issue in &checked.issues {
        let line = issue.line.to_string();
        let cells = [issue.file.as_str(), line.as_str(), issue.column.as_str(), issue.message.as_str()];
        ok &= writer.write_record(cells.map(super::export::spreadsheet_safe)).is_ok();
    }
    for file in &checked.files {
        for column in &file.columns {
            let row = [
                file.file.clone(),
                String::new(),
                column.name.clone(),
                format!("filled in {} of {} rows", column.filled, file.rows),
            ];
            ok &= writer.write_record(row.iter().map(|c| super::export::spreadsheet_safe(c))).is_ok();
        }
    }
    match writer.into_inner() {
        Ok(bytes) if ok => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"gridscope-import-report.csv\""),
            ],
            bytes,
        )
            .into_response(),
        _ => error_response(AppError::internal()),
    }
}
