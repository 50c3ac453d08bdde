//! `gridscope`: the server binary.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use server::cli::{Cli, Command};
use server::config::Config;
use server::http::{router, AppState};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gridscope: {e}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gridscope stopped with an error");
            eprintln!("gridscope: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> std::io::Result<()> {
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.addr)))?;
    let addr = listener.local_addr()?;
    let app = router(AppState::new(config));
    tracing::info!(%addr, url = %format!("http://{addr}/"), "gridscope listening");

    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!(grace_seconds = grace.as_secs(), "shutting down: draining in-flight requests");
        let _ = signalled_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });

    // After the signal, in-flight requests get `grace` to finish.
    tokio::select! {
        result = server => result.map_err(std::io::Error::other)??,
        _ = async { let _ = signalled_rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!("grace period over; exiting with requests still in flight");
        }
    }
    tracing::info!("gridscope stopped");
    Ok(())
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
