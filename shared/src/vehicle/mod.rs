//! Vehicles from Statens vegvesen: the response model, the summary we return, and (added by the
//! plate-lookup work) the HTTP client and the in-process cache.

pub mod model;
pub mod summary;

pub use summary::{BatteryWarranty, Powertrain, VehicleSummary, summarize};
