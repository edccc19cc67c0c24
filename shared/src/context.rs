//! What a function is built from: its environment, and the services that functions running in
//! one process share (the runner and the all-in-one container mount plate-lookup and chat side
//! by side; they must share one vehicle cache, not build two).
//!
//! Shared services are built on first request by a constructor and then handed to every other
//! function built from the same context, so `health` alone never builds any of them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::{ConfigError, Env};
use crate::vehicle::service::VehicleService;

/// The one argument of every function's constructor ([`crate::http::Function::from_context`]).
#[derive(Default)]
pub struct Context {
    env: Env,
    vehicles: OnceLock<Result<Option<Arc<VehicleService>>, ConfigError>>,
    /// Services of crates this one does not know (the store), one per type, so that a binary
    /// that never asks for one (health) never links or builds it.
    shared: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(env: Env) -> Self {
        Context {
            env,
            vehicles: OnceLock::new(),
            shared: Mutex::default(),
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

    /// The one `T` of this context: built by `init` the first time any function asks, then
    /// cloned to every other (make `T` an `Arc` or a `Result` of one).
    pub fn shared<T, F>(&self, init: F) -> T
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce(&Env) -> T,
    {
        let mut map = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = map
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
        {
            return found.clone();
        }
        let value = init(&self.env);
        map.insert(TypeId::of::<T>(), Box::new(value.clone()));
        value
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
    fn a_shared_service_is_built_once_per_context() {
        let ctx = Context::default();
        let builds = std::sync::atomic::AtomicUsize::new(0);
        let make = |_: &Env| {
            builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Arc::new(7_u32)
        };
        let a = ctx.shared(make);
        let b = ctx.shared(make);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(builds.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_ne!(
            Arc::as_ptr(&Context::default().shared(make)),
            Arc::as_ptr(&a)
        );
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
