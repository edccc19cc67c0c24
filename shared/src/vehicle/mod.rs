//! Vehicles from Statens vegvesen: the response model, the summary we return, and (added by the
//! plate-lookup work) the HTTP client, the in-process cache and the lookup service over both.

pub mod cache;
pub mod client;
pub mod model;
pub mod service;
pub mod shared_cache;
pub mod summary;
pub mod warranty;

pub use service::VARIABLES;
pub use summary::{
    BatteryWarranty, MotorKind, MotorPower, Powertrain, Towing, Usage, UsageKind, UsedImport,
    VehicleSummary, norway_date, summarize,
};
pub use warranty::WarrantyBasis;
