//! Gridscope's server: the composition root and the adapters behind the app's ports.
//!
//! - [`config`]: typed configuration from `GRIDSCOPE_*` variables, validated at start.
//! - [`telemetry`]: structured logs.
//! - [`http`]: the router, middleware and the operational endpoints.
//! - [`interchange`]: reading grids in the interchange format (CSV), strictly.
//! - [`store`]: the embedded store (SQLite) behind the `GridStore` port.
//! - [`upstream`]: key-bearing upstream APIs (live conditions): limits, quota, breaker.
//! - [`metrics`]: Prometheus series and the status page's totals.
//! - [`backup`]: backup files and restore.
//! - [`shared`]: state shared between instances (Redis).
//! - [`cli`]: the `gridscope` command line.

pub mod auth;
pub mod backup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod interchange;
pub mod memory;
pub mod metrics;
pub mod shared;
pub mod store;
pub mod telemetry;
pub mod upstream;
