//! The `gridscope` command line.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "gridscope", version, about = "Gridscope: energy-grid operations dashboard")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard (configured by GRIDSCOPE_* environment variables).
    Serve,
}
