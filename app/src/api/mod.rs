//! Server functions, one area per file. Each is a thin shim: check the caller, validate,
//! call a port, map errors to [`crate::error::AppError`].

pub mod assets;
pub mod grid;
pub mod map;
pub mod outages;
pub mod status;
