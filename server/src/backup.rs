//! Backups: a consistent copy of a store (grid, accounts, audit log) in one file, and its
//! restore into either store.
//!
//! The file format (version 1) is two parts:
//!
//! 1. one line of JSON, the [`Manifest`]: format name and version, when and from which store
//!    it was made, counts, and the length and SHA-256 of part 2 (`head -1 file` shows it);
//! 2. the contents as gzip-compressed JSON.
//!
//! Reading checks the manifest, the length and the checksum before decompressing (bounded),
//! then parses everything and checks the counts, all before the store is touched: a corrupt,
//! truncated or incompatible file is refused with a clear message and the current data stays
//! as it was. Files are written to a temporary name, synced and renamed, so a crash never
//! leaves a half-written file under the final name.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Archive, StoreContents};
use app::ports::GridMeta;

pub const FORMAT: &str = "gridscope-backup";
pub const VERSION: u32 = 1;
/// The file name ending of backups.
pub const EXTENSION: &str = "gsbackup";
/// Largest manifest line read.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Largest decompressed contents accepted (a guard against decompression bombs).
const MAX_CONTENTS_BYTES: u64 = 8 << 30;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created_at: DateTime<Utc>,
    /// The Gridscope version that wrote it.
    pub app_version: String,
    /// `embedded` or `neo4j`.
    pub source_store: String,
    pub grid_name: String,
    pub grid_revision: u64,
    pub assets: usize,
    pub maintenance: usize,
    pub incidents: usize,
    pub accounts: usize,
    pub audit_entries: usize,
    /// Length of the compressed contents after the manifest line.
    pub compressed_bytes: u64,
    /// SHA-256 of those bytes, lower-case hex.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    #[error("{path} is not a usable Gridscope backup: {reason}; nothing was restored")]
    Refused { path: String, reason: String },
    #[error("the store failed: {0}")]
    Store(#[from] app::ports::StoreError),
}

fn io(context: impl std::fmt::Display) -> impl Fn(std::io::Error) -> BackupError {
    move |e| BackupError::Io(format!("{context}: {e}"))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a backup of `archive` to `path` (which must not exist).
pub async fn create(archive: &dyn Archive, path: &Path) -> Result<Manifest, BackupError> {
    let started = std::time::Instant::now();
    let contents = archive.export_all().await?;
    let read_seconds = started.elapsed().as_secs_f64();
    let source = archive.backend_name();
    let path = path.to_path_buf();
    let manifest = tokio::task::spawn_blocking(move || write_file(&path, source, &contents))
        .await
        .map_err(|e| BackupError::Io(format!("backup task failed: {e}")))??;
    tracing::info!(
        assets = manifest.assets,
        accounts = manifest.accounts,
        bytes = manifest.compressed_bytes,
        read_seconds,
        seconds = started.elapsed().as_secs_f64(),
        "backup written"
    );
    Ok(manifest)
}

fn write_file(path: &Path, source: &str, contents: &StoreContents) -> Result<Manifest, BackupError> {
    if path.exists() {
        return Err(BackupError::Io(format!("{} exists already; choose a new file name", path.display())));
    }
    // Fast compression: a grid's JSON still shrinks ~20×, at several times the speed of the
    // default level; buffered, so the compressor gets large pieces.
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, encoder);
    serde_json::to_writer(&mut buffered, contents)
        .map_err(|e| BackupError::Io(format!("cannot encode: {e}")))?;
    let encoder =
        buffered.into_inner().map_err(|e| BackupError::Io(format!("cannot compress: {}", e.error())))?;
    let compressed = encoder.finish().map_err(io("cannot compress"))?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: VERSION,
        created_at: Utc::now(),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
        source_store: source.to_owned(),
        grid_name: contents.grid_name.clone(),
        grid_revision: contents.grid_revision,
        assets: contents.grid.assets.len(),
        maintenance: contents.grid.maintenance.len(),
        incidents: contents.grid.incidents.len(),
        accounts: contents.accounts.len(),
        audit_entries: contents.audit.len(),
        compressed_bytes: compressed.len() as u64,
        sha256: sha256_hex(&compressed),
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let mut file = tempfile::Builder::new()
        .prefix(".gridscope-backup-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io(format!("cannot write in {}", dir.display())))?;
    let line = serde_json::to_string(&manifest).map_err(|e| BackupError::Io(e.to_string()))?;
    let written = (|| {
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(&compressed)?;
        file.as_file().sync_all()
    })();
    written.map_err(io(format!("cannot write {}", path.display())))?;
    file.persist_noclobber(path)
        .map_err(|e| BackupError::Io(format!("cannot write {}: {}", path.display(), e.error)))?;
    // The rename itself is durable once the folder is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(manifest)
}

/// Reads and checks a whole backup file without touching any store.
pub fn read(path: &Path) -> Result<(Manifest, StoreContents), BackupError> {
    let refused = |reason: String| BackupError::Refused { path: path.display().to_string(), reason };
    let file = std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    (&mut reader)
        .take(MAX_MANIFEST_BYTES)
        .read_until(b'\n', &mut line)
        .map_err(io(format!("cannot read {}", path.display())))?;
    if line.last() != Some(&b'\n') {
        return Err(refused("it does not start with a Gridscope backup manifest".to_owned()));
    }
    let value: serde_json::Value = serde_json::from_slice(&line)
        .map_err(|_| refused("it does not start with a Gridscope backup manifest".to_owned()))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(refused("it does not start with a Gridscope backup manifest".to_owned()));
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) if v > u64::from(VERSION) => {
            return Err(refused(format!(
                "it is format version {v}, made by a newer Gridscope; this one reads version {VERSION}"
            )))
        }
        other => return Err(refused(format!("unknown format version {other:?}"))),
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| refused(format!("its manifest is damaged ({e})")))?;
    let mut compressed = Vec::new();
    (&mut reader)
        .take(manifest.compressed_bytes.saturating_add(1))
        .read_to_end(&mut compressed)
        .map_err(io(format!("cannot read {}", path.display())))?;
    if compressed.len() as u64 != manifest.compressed_bytes {
        return Err(refused(format!(
            "it holds {} bytes of contents where its manifest says {} (truncated or appended to)",
            compressed.len(),
            manifest.compressed_bytes
        )));
    }
    if sha256_hex(&compressed) != manifest.sha256 {
        return Err(refused("its checksum does not match its contents (the file is corrupt)".to_owned()));
    }
    let decoder = flate2::read::GzDecoder::new(compressed.as_slice()).take(MAX_CONTENTS_BYTES);
    let contents: StoreContents = serde_json::from_reader(BufReader::new(decoder))
        .map_err(|e| refused(format!("its contents cannot be read ({e})")))?;
    let counts = (
        contents.grid.assets.len(),
        contents.grid.maintenance.len(),
        contents.grid.incidents.len(),
        contents.accounts.len(),
        contents.audit.len(),
    );
    if counts
        != (
            manifest.assets,
            manifest.maintenance,
            manifest.incidents,
            manifest.accounts,
            manifest.audit_entries,
        )
    {
        return Err(refused("its contents do not match the counts in its manifest".to_owned()));
    }
    Ok((manifest, contents))
}

/// Restores `path` into `archive`: the file is read and checked completely first; the
/// restore is one transaction. Every account's session generation moves past both the
/// current and the restored value, so no session made before the restore stays valid.
pub async fn restore(archive: &dyn Archive, path: &Path) -> Result<(Manifest, GridMeta), BackupError> {
    let (manifest, contents) = read_checked(path).await?;
    let meta = restore_read(archive, contents).await?;
    tracing::info!(file = %path.display(), revision = meta.revision, assets = manifest.assets, "backup restored");
    Ok((manifest, meta))
}

/// [`read`] on the blocking pool.
pub async fn read_checked(path: &Path) -> Result<(Manifest, StoreContents), BackupError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || read(&owned))
        .await
        .map_err(|e| BackupError::Io(format!("restore task failed: {e}")))?
}

/// Restores contents already read and checked by [`read`]. Only the current accounts are
/// read (for their session generations), not the whole store.
pub async fn restore_read(
    archive: &dyn Archive,
    mut contents: StoreContents,
) -> Result<GridMeta, BackupError> {
    let current = archive.accounts().await.unwrap_or_default();
    for account in &mut contents.accounts {
        let now = current.iter().find(|a| a.username == account.username).map_or(0, |a| a.generation);
        account.generation = account.generation.max(now) + 1;
    }
    Ok(archive.restore_all(&contents).await?)
}

/// The name of a scheduled backup made at `at`.
pub fn scheduled_name(at: DateTime<Utc>) -> String {
    format!("gridscope-{}.{EXTENSION}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Deletes the oldest scheduled backups in `dir` beyond the newest `keep`; returns how many.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("gridscope-")
                    && n.ends_with(&format!(".{EXTENSION}"))
                    && !n.contains("pre-restore")
            })
        })
        .collect();
    // The names sort by time.
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(excess)
}

/// Scheduled backups while serving: one every `interval` into `dir`, keeping `keep`, made
/// only while `lease` is held (with several instances, by one of them). Stops when `stop` is
/// cancelled; a backup under way is tracked by `jobs`, so shutdown waits for it.
pub fn spawn_schedule(
    archive: std::sync::Arc<dyn Archive>,
    dir: PathBuf,
    interval: Duration,
    keep: usize,
    lease: crate::shared::Lease,
    jobs: tokio_util::task::TaskTracker,
    stop: tokio_util::sync::CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if !lease.held() {
                tracing::debug!("scheduled backup left to the instance holding the lease");
                continue;
            }
            let (archive, dir) = (archive.clone(), dir.clone());
            let run = jobs.track_future(async move {
                let path = dir.join(scheduled_name(Utc::now()));
                match create(archive.as_ref(), &path).await {
                    Ok(_) => {
                        crate::metrics::backup("scheduled", true);
                        match prune(&dir, keep) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(deleted = n, keep, "old scheduled backups deleted"),
                            Err(e) => tracing::warn!(error = %e, "cannot delete old backups"),
                        }
                    }
                    Err(e) => {
                        crate::metrics::backup("scheduled", false);
                        tracing::error!(error = %e, file = %path.display(), "scheduled backup failed");
                    }
                }
            });
            run.await;
        }
    });
}
