//! The grid domain: pure types and algorithms, no I/O.
//!
//! - [`model`]: assets, maintenance records, incidents, and the validation of a whole grid.
//! - [`topology`]: the bus graph (switch states respected or ignored), islands, impact of
//!   outages, N-1 screening and downstream traces, all linear in the grid size.
//! - [`catalog`]: search, filters, sort and paging of assets.
//! - [`reliability`]: SAIFI, SAIDI, CAIDI per year from incidents.
//! - [`layout`]: where to draw each bus (geographic or schematic).
//! - [`risk`]: explainable risk scores (each factor and weight returned with the score).
//! - [`planner`]: the maintenance plan under a budget and crew limits.
//! - [`analyst`]: what a question asks, the grid facts that answer it, the offline answer.
//! - [`conditions`]: live weather readings, their freshness, and the wind/heat/ice factors.
//! - [`sparse`]: a number per asset for the few assets that have one.
//! - [`text`]: the grid's strings, one pointer wide, packed into shared blocks when read in bulk.

pub mod analyst;
pub mod catalog;
pub mod conditions;
pub mod layout;
pub mod model;
pub mod planner;
pub mod reliability;
pub mod risk;
pub mod sparse;
pub mod text;
pub mod topology;

pub use model::{Asset, AssetKind, GeoPoint, GridData, Incident, MaintenanceKind, MaintenanceRecord, Place};
pub use topology::{SwitchMode, Topology};
