//! The `gridscope` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Replace the stored grid with one in the interchange format (a folder with assets.csv,
    /// maintenance.csv and incidents.csv, or one assets CSV file). A table without a file
    /// keeps its stored records (those whose asset is still in the grid) unless --replace-all.
    /// All or nothing: on any problem nothing is written and every problem is listed with
    /// file, line and column.
    Import {
        /// The folder or CSV file to import.
        path: PathBuf,
        /// A name for the grid (default: the folder or file name).
        #[arg(long)]
        name: Option<String>,
        /// Read and validate only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace every table: one without a file (maintenance, incidents) is emptied.
        #[arg(long)]
        replace_all: bool,
    },
    /// Write a consistent backup of the configured store (grid, accounts, audit log) to a new
    /// file, checksummed (format: docs/operations.md).
    Backup {
        /// The file to write; it must not exist.
        path: PathBuf,
    },
    /// Replace everything in the configured store with a backup, in one transaction. The file
    /// is checked completely first; a corrupt or incompatible file changes nothing. A backup
    /// of the current data is written to the backup folder first.
    Restore {
        /// The backup file.
        path: PathBuf,
        /// Do not back up the current data first (for a store that cannot be read any more).
        #[arg(long)]
        no_safety_backup: bool,
    },
    /// Exit 0 if the server on GRIDSCOPE_ADDR (or --url) answers /healthz, else 1: for
    /// container HEALTHCHECKs, where no curl is installed.
    Healthcheck {
        /// The URL to check (default: http://<GRIDSCOPE_ADDR>/healthz, loopback for 0.0.0.0).
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage operator and admin accounts in the configured store.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Analyse the stored grid (or a grid folder given with --grid) and print the result.
    Analyze {
        #[command(subcommand)]
        analysis: Analysis,
        /// Analyse this interchange folder or file instead of the stored grid.
        #[arg(long, global = true)]
        grid: Option<PathBuf>,
        /// Whether open switches disconnect (respect) or every switch counts as closed (ignore).
        #[arg(long, global = true, value_enum, default_value_t = Switches::Respect)]
        switches: Switches,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
}

/// Account management. Passwords are read from standard input (one line), or prompted for
/// without echo on a terminal; never from the command line, where `ps` would show them.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account.
    Add {
        username: String,
        /// `operator` or `admin`.
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// Set a new password (also clears its failed sign-ins and ends its sessions).
    SetPassword { username: String },
    /// Disable an account (ends its sessions; it cannot sign in until enabled).
    Disable { username: String },
    /// Enable a disabled or locked account.
    Enable { username: String },
    /// List the accounts.
    List,
}

#[derive(Debug, Subcommand)]
pub enum Analysis {
    /// Single branch outages (one circuit of a line, or one transformer) that separate buses
    /// from every source, with the buses each one islands.
    N1,
    /// Bridges and articulation points of the bus graph.
    Structure,
    /// Connected groups of buses, energised or not.
    Islands,
    /// What the simultaneous outage of the given assets de-energises.
    Impact {
        #[arg(required = true)]
        assets: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Switches {
    Respect,
    Ignore,
}
