//! Server status: the version and uptime of the process serving the dashboard.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub version: String,
    pub uptime_seconds: u64,
}

#[server(endpoint = "service_status")]
pub async fn get_service_status() -> Result<ServiceStatus, AppError> {
    let info = use_context::<crate::ports::ServerInfo>().ok_or_else(AppError::internal)?;
    Ok(ServiceStatus { version: info.version.to_owned(), uptime_seconds: info.uptime().as_secs() })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::ports::ServerInfo;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn reports_version_and_uptime_from_context() {
        let owner = Owner::new();
        owner.set();
        let started = Instant::now() - Duration::from_secs(90);
        provide_context(ServerInfo { version: "9.9.9", started });
        let status = get_service_status().await.unwrap();
        assert_eq!(status.version, "9.9.9");
        assert!((90..95).contains(&status.uptime_seconds), "{status:?}");
    }

    #[tokio::test]
    async fn without_server_context_it_is_an_internal_error() {
        let owner = Owner::new();
        owner.set();
        let err = get_service_status().await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InternalError);
    }
}
