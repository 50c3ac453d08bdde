//! `gridscope`: the server binary.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use server::cli::{Cli, Command};
use server::commands::{self, Failure};
use server::config::Config;
use server::http::{router, AppState};

/// mimalloc: fewer bytes per small allocation than the system allocator (the grid holds
/// millions of short strings) and no lock contention between worker threads under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Before `main`: the Rust runtime allocates before `main` runs (see
/// `server::memory::configure_allocator`).
#[ctor::ctor(unsafe)]
fn configure_allocator() {
    server::memory::configure_allocator();
}

fn main() -> ExitCode {
    server::memory::disable_huge_pages();
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gridscope: {e}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(server::memory::collect_idle_thread)
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config).await.map_err(|e| Failure { message: e.to_string(), code: 1 }),
            Command::Import { path, name, dry_run, replace_all } => {
                commands::import(&config, &path, name, dry_run, replace_all)
                    .await
                    .map(|out| println!("{out}"))
            }
            Command::Backup { path } => commands::backup(&config, &path).await.map(|out| println!("{out}")),
            Command::Restore { path, no_safety_backup } => {
                commands::restore(&config, &path, !no_safety_backup).await.map(|out| println!("{out}"))
            }
            Command::Healthcheck { url } => {
                commands::healthcheck(&config, url).await.map(|out| println!("{out}"))
            }
            Command::User { command } => commands::user(&config, command).await.map(|out| println!("{out}")),
            Command::Analyze { analysis, grid, switches, json } => {
                commands::analyze(&config, analysis, grid.as_deref(), switches, json)
                    .await
                    .map(|out| println!("{out}"))
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, code }) => {
            tracing::debug!(error = %message, "gridscope stopped with an error");
            eprintln!("gridscope: {}", message.trim_end());
            ExitCode::from(code)
        }
    }
}

async fn serve(config: Config) -> std::io::Result<()> {
    let limits = server::http::serve::ConnectionLimits::from_config(&config);
    let bind = |addr: std::net::SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
    };
    let listener = bind(config.addr).await?;
    let admin_listener = match config.metrics_address().map_err(std::io::Error::other)? {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let addr = listener.local_addr()?;
    server::metrics::install();
    let store = commands::open_store(&config).map_err(|f| std::io::Error::other(f.message))?;
    load_demo_grid(&config, store.as_ref()).await;
    // One Redis connection per instance (when configured), and the lease for the
    // background work, shared by everything below.
    let redis = server::shared::Redis::from_config(&config).map_err(std::io::Error::other)?;
    let lease = server::shared::Lease::from_config(redis.as_ref(), server::http::BACKGROUND_LEASE, &config);
    let live = server::upstream::live::start(&config, store.clone(), redis.clone(), lease.clone())?;
    let model = server::upstream::llm::start(&config, redis.clone())?;
    // Work that shutdown waits for (a backup under way), and the signal to stop.
    let jobs = tokio_util::task::TaskTracker::new();
    let stop = tokio_util::sync::CancellationToken::new();
    if config.backup_interval_seconds > 0 {
        let archive = commands::open_archive(&config).map_err(|f| std::io::Error::other(f.message))?;
        let dir = config.backup_directory();
        tracing::info!(dir = %dir.display(), every_seconds = config.backup_interval_seconds, keep = config.backup_keep, "scheduled backups on");
        server::backup::spawn_schedule(
            archive,
            dir,
            Duration::from_secs(config.backup_interval_seconds),
            config.backup_keep as usize,
            lease.clone(),
            jobs.clone(),
            stop.clone(),
        );
    }
    let keeper = lease.keep(stop.clone());
    let state = AppState::assemble(config, store, live, redis, lease)?.with_model(model);
    spawn_session_cleanup(state.sessions.clone());
    spawn_metrics_upkeep();
    let admin = admin_listener.map(|listener| {
        let app = server::http::admin_router(state.clone());
        let stopped = stop.clone();
        let limits = limits.clone();
        let admin_addr = listener.local_addr().ok();
        tracing::info!(addr = ?admin_addr, "admin listener (metrics, health) up");
        tokio::spawn(async move {
            server::http::serve::serve(listener, app, limits, stopped.cancelled_owned()).await
        })
    });
    let app = router(state);
    tracing::info!(%addr, url = %format!("http://{addr}/"), "gridscope listening");
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal.cancel();
    });
    server::http::serve::serve(listener, app, limits, stop.clone().cancelled_owned()).await?;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    // Hands the background work over to another instance at once.
    let _ = keeper.await;
    jobs.close();
    if !jobs.is_empty() {
        tracing::info!("waiting for the backup under way to finish");
    }
    jobs.wait().await;
    tracing::info!("gridscope stopped");
    Ok(())
}

/// Keeps the metrics' histogram storage bounded.
fn spawn_metrics_upkeep() {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            server::metrics::upkeep();
        }
    });
}

/// Deletes expired session records every ten minutes.
fn spawn_session_cleanup(sessions: server::auth::sessions::Sessions) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match sessions.delete_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot delete expired sessions"),
            }
        }
    });
}

/// An empty store gets the demo grid, so a first run has something to show.
async fn load_demo_grid(config: &Config, store: &dyn app::ports::GridStore) {
    let Some(path) = config.demo_grid_path() else { return };
    match store.snapshot().await {
        Ok(s) if !s.is_empty() => return,
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read the store; demo grid not loaded");
            return;
        }
    }
    match commands::import_into(Some(store), &path, None, true).await {
        Ok(summary) => tracing::info!(grid = %path.display(), %summary, "store was empty: demo grid loaded"),
        Err(f) => tracing::error!(grid = %path.display(), error = %f.message, "demo grid not loaded"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async { tokio::signal::ctrl_c().await.expect("SIGINT handler") };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
