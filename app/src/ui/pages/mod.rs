//! One module per route.

pub mod admin;
pub mod analyst;
pub mod asset;
pub mod assets;
pub mod import;
pub mod login;
pub mod maintenance;
pub mod map;
pub mod not_found;
pub mod outages;
pub mod overview;
pub mod status;
