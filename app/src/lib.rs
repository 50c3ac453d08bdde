//! Gridscope's Leptos app, compiled twice: for the server (`ssr`) and for the browser
//! (`hydrate`).
//!
//! - [`domain`]: the grid model and its analysis (pure, no I/O).
//! - [`error`]: the public error codes every server function answers with.
//! - [`api`]: server functions, thin shims over the ports the server provides.
//! - [`ports`] (server only): what the composition root must put in context.
//! - [`ui`]: the HTML shell, router, layout and pages; no business rules.

pub mod api;
pub mod domain;
pub mod error;
#[cfg(feature = "ssr")]
pub mod ports;
pub mod ui;

pub use ui::{shell, App};
