//! Typed configuration, read from `GRIDSCOPE_*` environment variables and validated once at
//! start, so a bad value stops the process with a message naming the variable instead of
//! failing later at the first request.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::Serialized;
use figment::value::Value;
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The prefix of every variable the server reads.
pub const ENV_PREFIX: &str = "GRIDSCOPE_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `GRIDSCOPE_ADDR`: the address and port to listen on.
    pub addr: SocketAddr,
    /// `GRIDSCOPE_SITE_ROOT`: the folder with the built site (`pkg/`, favicon, manifest).
    pub site_root: PathBuf,
    /// `GRIDSCOPE_LOG_FORMAT`: `json` or `text`.
    pub log_format: LogFormat,
    /// `GRIDSCOPE_LOG_LEVEL`: a tracing filter such as `info` or `info,server=debug`.
    pub log_level: String,
    /// `GRIDSCOPE_SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may take to finish
    /// after SIGINT/SIGTERM before the process exits anyway.
    pub shutdown_grace_seconds: u64,
    /// `GRIDSCOPE_DATA_DIR`: where the embedded store keeps its database file.
    pub data_dir: PathBuf,
    /// `GRIDSCOPE_DEMO_GRID`: a grid (interchange folder) loaded at start when the store is
    /// empty; `none` to start empty.
    pub demo_grid: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: PathBuf::from("target/site"),
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            shutdown_grace_seconds: 20,
            data_dir: PathBuf::from("data/local"),
            demo_grid: "data/grids/mv_oberrhein".to_owned(),
        }
    }
}

/// A configuration problem, worded for the person starting the server.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration:\n{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// The variables this server reads, for the docs and for checks that they stay documented.
pub const VARIABLES: &[&str] = &[
    "GRIDSCOPE_ADDR",
    "GRIDSCOPE_SITE_ROOT",
    "GRIDSCOPE_LOG_FORMAT",
    "GRIDSCOPE_LOG_LEVEL",
    "GRIDSCOPE_SHUTDOWN_GRACE_SECONDS",
    "GRIDSCOPE_DATA_DIR",
    "GRIDSCOPE_DEMO_GRID",
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the given variables (only those with the `GRIDSCOPE_` prefix that this server
    /// knows; others, such as the test tooling's, are left alone).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for (name, value) in vars {
            if VARIABLES.contains(&name.as_str()) {
                let key = name[ENV_PREFIX.len()..].to_ascii_lowercase();
                figment = figment
                    .merge(Serialized::default(&key, value.parse::<Value>().unwrap_or(Value::from(value))));
            }
        }
        // Field by field, so that every bad variable is reported at once.
        let mut problems = Vec::new();
        let addr = typed(&figment, "addr", &mut problems);
        let site_root = typed(&figment, "site_root", &mut problems);
        let log_format = typed(&figment, "log_format", &mut problems);
        let log_level = typed(&figment, "log_level", &mut problems);
        let shutdown_grace_seconds = typed(&figment, "shutdown_grace_seconds", &mut problems);
        let data_dir = typed(&figment, "data_dir", &mut problems);
        let demo_grid = typed(&figment, "demo_grid", &mut problems);
        let (
            Some(addr),
            Some(site_root),
            Some(log_format),
            Some(log_level),
            Some(shutdown_grace_seconds),
            Some(data_dir),
            Some(demo_grid),
        ) = (addr, site_root, log_format, log_level, shutdown_grace_seconds, data_dir, demo_grid)
        else {
            return Err(ConfigError { problems });
        };
        let config =
            Config { addr, site_root, log_format, log_level, shutdown_grace_seconds, data_dir, demo_grid };
        config.validate()?;
        Ok(config)
    }

    /// The demo grid to load into an empty store, unless turned off.
    pub fn demo_grid_path(&self) -> Option<PathBuf> {
        let v = self.demo_grid.trim();
        (!v.is_empty() && v != "none").then(|| PathBuf::from(v))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            problems.push(format!("  GRIDSCOPE_LOG_LEVEL: not a valid filter ({e})"));
        }
        if self.shutdown_grace_seconds > 3_600 {
            problems.push("  GRIDSCOPE_SHUTDOWN_GRACE_SECONDS: at most 3600".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

fn var_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// Reads one field; on failure records the problem, naming the variable.
fn typed<T: serde::de::DeserializeOwned>(
    figment: &Figment,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    match figment.extract_inner::<T>(key) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("  {}: {}", var_name(key), e.kind));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        assert_eq!(Config::from_vars(vars(&[])).unwrap(), Config::default());
    }

    #[test]
    fn reads_each_variable() {
        let c = Config::from_vars(vars(&[
            ("GRIDSCOPE_ADDR", "0.0.0.0:8080"),
            ("GRIDSCOPE_SITE_ROOT", "/srv/site"),
            ("GRIDSCOPE_LOG_FORMAT", "json"),
            ("GRIDSCOPE_LOG_LEVEL", "debug,hyper=warn"),
            ("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS", "5"),
            ("GRIDSCOPE_DATA_DIR", "/var/lib/gridscope"),
            ("GRIDSCOPE_DEMO_GRID", "none"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.site_root, PathBuf::from("/srv/site"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_level, "debug,hyper=warn");
        assert_eq!(c.shutdown_grace_seconds, 5);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/gridscope"));
        assert_eq!(c.demo_grid_path(), None);
    }

    #[test]
    fn bad_values_are_refused_naming_each_variable() {
        let err =
            Config::from_vars(vars(&[("GRIDSCOPE_ADDR", "not-an-address"), ("GRIDSCOPE_LOG_FORMAT", "xml")]))
                .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("GRIDSCOPE_ADDR"), "{text}");
        assert!(text.contains("GRIDSCOPE_LOG_FORMAT"), "{text}");
    }

    #[test]
    fn a_negative_grace_period_is_refused() {
        let err = Config::from_vars(vars(&[("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS", "-1")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_SHUTDOWN_GRACE_SECONDS"), "{err}");
    }

    #[test]
    fn an_invalid_log_filter_is_refused() {
        let err = Config::from_vars(vars(&[("GRIDSCOPE_LOG_LEVEL", "info,[[[")])).unwrap_err();
        assert!(err.to_string().contains("GRIDSCOPE_LOG_LEVEL"), "{err}");
    }

    #[test]
    fn unrelated_variables_are_ignored() {
        let c = Config::from_vars(vars(&[("GRIDSCOPE_TEST_NEO4J_URI", "bolt://x"), ("PATH", "/bin")]));
        assert_eq!(c.unwrap(), Config::default());
    }
}
