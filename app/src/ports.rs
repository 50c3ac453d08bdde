//! What the server must provide to the app, reached by server functions via `use_context`.
//!
//! The composition root (`server`) provides these in the context of every request; tests can
//! provide fakes. Nothing here is compiled into the browser bundle.

use std::time::{Duration, Instant};

/// Facts about the running process.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: &'static str,
    pub started: Instant,
}

impl ServerInfo {
    pub fn starting_now() -> Self {
        Self { version: env!("CARGO_PKG_VERSION"), started: Instant::now() }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
