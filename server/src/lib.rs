//! Gridscope's server: the composition root and the adapters behind the app's ports.
//!
//! - [`config`]: typed configuration from `GRIDSCOPE_*` variables, validated at start.
//! - [`telemetry`]: structured logs.
//! - [`http`]: the router, middleware and the operational endpoints.
//! - [`cli`]: the `gridscope` command line.

pub mod cli;
pub mod config;
pub mod http;
pub mod telemetry;
