//! What the command-line subcommands do (besides `serve`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use app::domain::model::GridData;
use app::domain::topology::{SwitchMode, Topology};
use app::ports::GridStore;
use serde_json::json;

use crate::auth::{AccountError, Accounts, SignInLimits};
use crate::backup;
use crate::cli::{Analysis, Switches, UserCommand};
use crate::config::{Config, StoreChoice};
use crate::interchange;
use crate::store::neo4j::{Neo4j, Neo4jSettings};
use crate::store::{embedded::Embedded, AccountStore, Archive, Cached};
use app::api::auth::Role;

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code }
    }
}

/// The store the configuration selects. Neo4j connects lazily: the server starts (and
/// reports not ready) while the database is down, and recovers when it returns.
pub fn open_store(config: &Config) -> Result<Arc<dyn GridStore>, Failure> {
    let recheck = std::time::Duration::from_millis(config.store_recheck_millis);
    Ok(match open_raw(config)? {
        Raw::Embedded(s) => Arc::new(Cached::with_recheck(s, recheck)),
        Raw::Neo4j(s) => Arc::new(Cached::with_recheck(s, recheck)),
    })
}

/// The configured backend itself (no cache in front).
enum Raw {
    Embedded(Embedded),
    Neo4j(Neo4j),
}

fn open_raw(config: &Config) -> Result<Raw, Failure> {
    match config.store_choice() {
        StoreChoice::Neo4j => Ok(Raw::Neo4j(Neo4j::new(neo4j_settings(config)))),
        _ => Ok(Raw::Embedded(Embedded::open(&config.data_dir).map_err(|e| Failure::new(1, e.to_string()))?)),
    }
}

/// Where accounts and the audit log live: the same store as the grid (its own handle).
pub fn open_accounts(config: &Config) -> Result<Arc<dyn AccountStore>, Failure> {
    Ok(match open_raw(config)? {
        Raw::Embedded(s) => Arc::new(s),
        Raw::Neo4j(s) => Arc::new(s),
    })
}

/// The store's whole-store export and restore, for backups (its own handle).
pub fn open_archive(config: &Config) -> Result<Arc<dyn Archive>, Failure> {
    Ok(match open_raw(config)? {
        Raw::Embedded(s) => Arc::new(s),
        Raw::Neo4j(s) => Arc::new(s),
    })
}

/// Records a command-line action in the audit log (a failure to do so is logged, not fatal:
/// the action itself happened).
async fn audit_cli(config: &Config, action: &str, target: &Path, outcome: &str) {
    let entry = app::api::auth::AuditEntry {
        at: chrono::Utc::now(),
        actor: "cli".to_owned(),
        action: action.to_owned(),
        target: Some(target.display().to_string()),
        client: "cli".to_owned(),
        outcome: outcome.to_owned(),
    };
    let written = match open_accounts(config) {
        Ok(store) => store.append_audit(&entry).await.map_err(|e| e.to_string()),
        Err(f) => Err(f.message),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, action, "cannot write the audit log");
    }
}

/// `gridscope backup <path>`.
pub async fn backup(config: &Config, path: &Path) -> Result<String, Failure> {
    let archive = open_archive(config)?;
    match backup::create(archive.as_ref(), path).await {
        Ok(m) => {
            crate::metrics::backup("manual", true);
            audit_cli(config, "backup", path, "ok").await;
            Ok(format!(
                "backed up '{}' (revision {}: {} assets, {} maintenance records, {} incidents, {} accounts, {} audit entries) to {} ({} bytes, sha256 {})",
                m.grid_name,
                m.grid_revision,
                m.assets,
                m.maintenance,
                m.incidents,
                m.accounts,
                m.audit_entries,
                path.display(),
                m.compressed_bytes,
                m.sha256
            ))
        }
        Err(e) => Err(Failure::new(1, e.to_string())),
    }
}

/// `gridscope restore <path>`.
pub async fn restore(config: &Config, path: &Path, safety_backup: bool) -> Result<String, Failure> {
    let archive = open_archive(config)?;
    // Read and check the whole file before anything else (once), so a bad file costs nothing,
    // not even a safety copy.
    let (manifest, contents) =
        backup::read_checked(path).await.map_err(|e| Failure::new(1, e.to_string()))?;
    let mut saved = String::new();
    if safety_backup {
        let copy = config.backup_directory().join(format!(
            "gridscope-pre-restore-{}.{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            backup::EXTENSION
        ));
        backup::create(archive.as_ref(), &copy).await.map_err(|e| {
            Failure::new(
                1,
                format!("cannot back up the current data first ({e}); nothing was restored (--no-safety-backup skips this)"),
            )
        })?;
        saved = format!("; the data it replaced is in {}", copy.display());
    }
    match backup::restore_read(archive.as_ref(), contents).await {
        Ok(meta) => {
            let m = manifest;
            tracing::info!(file = %path.display(), revision = meta.revision, assets = m.assets, "backup restored");
            audit_cli(config, "restore", path, "ok").await;
            Ok(format!(
                "restored '{}' from {} (made {} by the {} store: {} assets, {} accounts, {} audit entries) as revision {}; every session ended{saved}",
                m.grid_name,
                path.display(),
                m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                m.source_store,
                m.assets,
                m.accounts,
                m.audit_entries,
                meta.revision
            ))
        }
        Err(e) => Err(Failure::new(1, e.to_string())),
    }
}

/// Reads a new password: prompted twice without echo on a terminal, else one line of stdin.
fn read_new_password() -> Result<String, Failure> {
    use std::io::IsTerminal;
    let unreadable = |e: std::io::Error| Failure::new(1, format!("cannot read the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(unreadable)?;
        let again = rpassword::prompt_password("Repeat it: ").map_err(unreadable)?;
        if first != again {
            return Err(Failure::new(2, "the passwords differ"));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line).map_err(unreadable)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `gridscope user …`: what it did, for stdout.
pub async fn user(config: &Config, command: UserCommand) -> Result<String, Failure> {
    let accounts = Accounts::new(open_accounts(config)?, SignInLimits::from_config(config));
    let refused = |e: AccountError| {
        Failure::new(if matches!(e, AccountError::Store(_)) { 1 } else { 2 }, e.to_string())
    };
    match command {
        UserCommand::Add { username, role } => {
            let role = Role::parse_account_role(&role)
                .ok_or_else(|| Failure::new(2, format!("unknown role '{role}': operator or admin")))?;
            let password = read_new_password()?;
            let account = accounts.add(&username, role, &password, "cli").await.map_err(refused)?;
            Ok(format!("added {} ({})", account.username, role.as_str()))
        }
        UserCommand::SetPassword { username } => {
            let password = read_new_password()?;
            accounts.set_password(&username, &password, "cli").await.map_err(refused)?;
            Ok(format!("password of {} changed; its sessions ended", username.trim().to_ascii_lowercase()))
        }
        UserCommand::Disable { username } => {
            accounts.enable(&username, false, "cli", "cli").await.map_err(refused)?;
            Ok(format!("disabled {}", username.trim().to_ascii_lowercase()))
        }
        UserCommand::Enable { username } => {
            accounts.enable(&username, true, "cli", "cli").await.map_err(refused)?;
            Ok(format!("enabled {}", username.trim().to_ascii_lowercase()))
        }
        UserCommand::List => {
            let list = accounts.list().await.map_err(refused)?;
            let mut out = format!("{:<24} {:<9} {:<9} {}", "USER", "ROLE", "STATE", "LAST SIGN-IN");
            for a in list {
                let state = if !a.enabled {
                    "disabled"
                } else if a.locked_until.is_some_and(|t| t > chrono::Utc::now()) {
                    "locked"
                } else {
                    "active"
                };
                let last = a
                    .last_sign_in
                    .map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
                out.push_str(&format!("\n{:<24} {:<9} {:<9} {}", a.username, a.role.as_str(), state, last));
            }
            Ok(out)
        }
    }
}

pub fn neo4j_settings(config: &Config) -> Neo4jSettings {
    Neo4jSettings {
        uri: config.neo4j_uri.clone().unwrap_or_default(),
        user: config.neo4j_user.clone(),
        password: config.neo4j_password.clone(),
        database: config.neo4j_database.clone(),
        max_connections: config.neo4j_max_connections,
        fetch_size: config.neo4j_fetch_size,
        timeout: std::time::Duration::from_secs(config.neo4j_timeout_seconds),
        import_timeout: std::time::Duration::from_secs(config.neo4j_import_timeout_seconds),
    }
}

fn default_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| "grid".into(), |n| n.to_string_lossy().into_owned())
}

/// Read, validate and (unless a dry run) write a grid; returns the summary for stdout.
pub async fn import(
    config: &Config,
    path: &Path,
    name: Option<String>,
    dry_run: bool,
    replace_all: bool,
) -> Result<String, Failure> {
    let store = if dry_run { None } else { Some(open_store(config)?) };
    import_into(store.as_deref(), path, name, replace_all).await
}

/// [`import`] into `store` (`None`: a dry run that writes nothing), e.g. the running
/// server's own store, whose snapshot then follows at once. A table without a file keeps its
/// stored records (those still referring to an imported asset) unless `replace_all`.
pub async fn import_into(
    store: Option<&dyn GridStore>,
    path: &Path,
    name: Option<String>,
    replace_all: bool,
) -> Result<String, Failure> {
    let started = Instant::now();
    let owned = path.to_path_buf();
    let (mut grid, given) = tokio::task::spawn_blocking(move || {
        let source = interchange::Source::locate(&owned)?;
        interchange::read_source(&source).map(|grid| (grid, interchange::Given::of(&source)))
    })
    .await
    .map_err(|e| Failure::new(1, e.to_string()))?
    .map_err(|refused| Failure::new(1, refused.to_string()))?;
    let given = if replace_all { interchange::Given::ALL } else { given };
    let read_seconds = started.elapsed().as_secs_f64();
    let kept = given.kept();
    let Some(store) = store else {
        let counts = counts(&grid);
        let kept = if kept.is_empty() {
            String::new()
        } else {
            format!("; {} would keep their stored records (no file given)", kept.join(" and "))
        };
        return Ok(format!("dry run: {} is valid ({counts}){kept}; nothing written", path.display()));
    };
    let stored = store.snapshot().await.map_err(|e| Failure::new(1, e.to_string()))?;
    interchange::keep_stored(&mut grid, &stored.data, given);
    let removed = app::api::import::removals(&interchange::upload::changes(&stored.data, &grid));
    let counts = counts(&grid);
    let name = name.unwrap_or_else(|| default_name(path));
    tracing::info!(%counts, read_seconds, "import: read and validated; writing");
    let meta = store.replace_grid(&name, grid).await.map_err(|e| Failure::new(1, e.to_string()))?;
    tracing::info!(revision = meta.revision, "import: committed");
    let mut summary = format!(
        "imported '{}' ({counts}) as revision {} in {:.2} s",
        meta.name,
        meta.revision,
        started.elapsed().as_secs_f64()
    );
    if !kept.is_empty() {
        summary.push_str(&format!("; {} kept as stored (no file given)", kept.join(" and ")));
    }
    if !removed.is_empty() {
        summary.push_str(&format!("; removed: {}", removed.join(", ")));
    }
    Ok(summary)
}

fn counts(grid: &GridData) -> String {
    format!(
        "{} assets, {} maintenance records, {} incidents",
        grid.assets.len(),
        grid.maintenance.len(),
        grid.incidents.len()
    )
}

/// Load the grid to analyse: a given interchange folder/file, or the stored grid.
async fn grid_for_analysis(config: &Config, grid: Option<&Path>) -> Result<GridData, Failure> {
    match grid {
        Some(path) => interchange::read_grid(path).map_err(|refused| Failure::new(1, refused.to_string())),
        None => {
            let store = open_store(config)?;
            let snapshot = store.snapshot().await.map_err(|e| Failure::new(1, e.to_string()))?;
            if snapshot.is_empty() {
                return Err(Failure::new(
                    1,
                    "the store holds no grid; import one first (gridscope import <folder>)",
                ));
            }
            Ok(snapshot.data.clone())
        }
    }
}

pub async fn analyze(
    config: &Config,
    analysis: Analysis,
    grid: Option<&Path>,
    switches: Switches,
    as_json: bool,
) -> Result<String, Failure> {
    let data = grid_for_analysis(config, grid).await?;
    let mode = match switches {
        Switches::Respect => SwitchMode::Respect,
        Switches::Ignore => SwitchMode::Ignore,
    };
    let topology = Topology::build(&data, mode);
    let out = match analysis {
        Analysis::N1 => {
            let outages = topology.n1_outages();
            if as_json {
                json!({ "outages": outages }).to_string()
            } else {
                let mut text = format!("{} single branch outages island buses:\n", outages.len());
                for o in &outages {
                    text.push_str(&format!("  {}: {} buses\n", o.element, o.islanded_buses.len()));
                }
                text
            }
        }
        Analysis::Structure => {
            let (bridges, cut) = (topology.bridges(), topology.articulation_points());
            if as_json {
                json!({ "bridges": bridges, "articulation_points": cut }).to_string()
            } else {
                format!(
                    "{} bridges: {}\n{} articulation points: {}\n",
                    bridges.len(),
                    bridges.join(" "),
                    cut.len(),
                    cut.join(" ")
                )
            }
        }
        Analysis::Islands => {
            let islands = topology.islands();
            if as_json {
                json!({ "islands": islands }).to_string()
            } else {
                let mut text = format!("{} islands:\n", islands.len());
                for i in &islands {
                    let state = if i.energised { "energised" } else { "de-energised" };
                    text.push_str(&format!("  {} buses, {state}, from {}\n", i.buses.len(), i.buses[0]));
                }
                text
            }
        }
        Analysis::Impact { assets } => {
            let ids: Vec<&str> = assets.iter().map(String::as_str).collect();
            let impact = topology.impact_of_outage(&ids).map_err(|e| Failure::new(1, e.to_string()))?;
            if as_json {
                serde_json::to_string(&impact).map_err(|e| Failure::new(1, e.to_string()))?
            } else {
                format!(
                    "outage of {}: {} buses and {} assets de-energised, {} of {} customers lose supply\n",
                    impact.outaged.join(", "),
                    impact.deenergised_buses.len(),
                    impact.deenergised_assets.len(),
                    impact.customers_lost,
                    impact.customers_total
                )
            }
        }
    };
    Ok(out)
}

/// `gridscope healthcheck`: asks the running server's `/healthz`.
pub async fn healthcheck(config: &Config, url: Option<String>) -> Result<String, Failure> {
    let url = url.unwrap_or_else(|| {
        let mut addr = config.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}/healthz")
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| Failure::new(1, e.to_string()))?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(format!("{url}: {}", r.status())),
        Ok(r) => Err(Failure::new(1, format!("{url}: {}", r.status()))),
        Err(e) => Err(Failure::new(1, format!("{url}: {e}"))),
    }
}
