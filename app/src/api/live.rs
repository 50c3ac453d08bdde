//! Live conditions (weather and the like, from a key-bearing upstream API polled by the
//! server). The provider itself comes with the live-conditions work; until a provider is
//! configured the overview says so instead of showing made-up data.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// No provider configured on this server.
    NotConfigured,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveConditions {
    pub state: LiveState,
}

#[server(endpoint = "live_conditions")]
pub async fn get_live_conditions() -> Result<LiveConditions, AppError> {
    Ok(LiveConditions { state: LiveState::NotConfigured })
}
