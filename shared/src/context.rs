//! What a function is built from: its environment, and the services that functions running in
//! one process share (the runner and the all-in-one container mount plate-lookup and chat side
//! by side; they must share one vehicle cache, not build two).
//!
//! Shared services are built on first request by a constructor and then handed to every other
//! function built from the same context, so `health` alone never builds any of them.

use std::sync::{Arc, OnceLock};

use crate::config::{ConfigError, Env};
use crate::vehicle::service::VehicleService;

/// The one argument of every function's constructor ([`crate::http::Function::from_context`]).
#[derive(Debug, Default)]
pub struct Context {
    env: Env,
    vehicles: OnceLock<Result<Option<Arc<VehicleService>>, ConfigError>>,
}

impl Context {
    pub fn new(env: Env) -> Self {
        Context {
            env,
            vehicles: OnceLock::new(),
        }
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The vehicle lookup, `None` when `VEGVESEN_API_KEY` is unset. Built once per context.
    ///
    /// # Errors
    /// A Vegvesen or cache variable is malformed.
    pub fn vehicles(&self) -> Result<Option<Arc<VehicleService>>, ConfigError> {
        self.vehicles
            .get_or_init(|| VehicleService::from_env(&self.env))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_built_from_one_context_share_one_vehicle_service() {
        let ctx = Context::new(Env::from_pairs([("VEGVESEN_API_KEY", "k")]));
        let a = ctx.vehicles().unwrap().unwrap();
        let b = ctx.vehicles().unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Context::default().vehicles().unwrap().is_none());
    }

    #[test]
    fn a_malformed_variable_is_reported_every_time() {
        let ctx = Context::new(Env::from_pairs([
            ("VEGVESEN_API_KEY", "k"),
            ("PLATE_CACHE_CAPACITY", "0"),
        ]));
        assert_eq!(ctx.vehicles().unwrap_err().var, "PLATE_CACHE_CAPACITY");
        assert_eq!(ctx.vehicles().unwrap_err().var, "PLATE_CACHE_CAPACITY");
    }
}
