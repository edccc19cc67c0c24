//! Answers already rendered, per plate: most lookups are cache hits, and serialising the
//! summary to JSON was more than a third of a hit's instructions (callgrind,
//! docs/performance.md). A rendered answer is reused only for the same summary (the same
//! `Arc`, or an equal value), so it can never be staler than the vehicle cache it mirrors. (An
//! equal value may differ in the sign of a zero, which `==` ignores and JSON writes as `0.0` or
//! `-0.0`: the same number to any reader.)
//!
//! Bounded: at most [`CAPACITY`] answers (about 1.5 KB each); a full map gives up one entry
//! for each new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use elbatt::plate::Plate;
use elbatt::vehicle::VehicleSummary;

/// Answers kept at most: the plates a busy instance is asked about again and again.
pub const CAPACITY: usize = 512;

/// Plate → its last answer and the summary it was rendered from.
#[derive(Debug, Default)]
pub struct Rendered {
    answers: Mutex<HashMap<Plate, (Arc<VehicleSummary>, Bytes)>>,
}

impl Rendered {
    /// The answer for `plate` about `vehicle`: the stored one if it was rendered from the same
    /// summary, else `render`'s (stored for next time). `None` when `render` fails.
    pub fn get_or_render(
        &self,
        plate: &Plate,
        vehicle: &Arc<VehicleSummary>,
        render: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        if let Some((from, body)) = self.lock().get(plate)
            && (Arc::ptr_eq(from, vehicle) || **from == **vehicle)
        {
            return Some(body.clone());
        }
        // Rendered outside the lock: another request may render the same answer meanwhile,
        // which costs time, never correctness.
        let body = render()?;
        let mut answers = self.lock();
        if answers.len() >= CAPACITY
            && !answers.contains_key(plate)
            && let Some(evicted) = answers.keys().next().cloned()
        {
            answers.remove(&evicted);
        }
        answers.insert(plate.clone(), (Arc::clone(vehicle), body.clone()));
        Some(body)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Plate, (Arc<VehicleSummary>, Bytes)>> {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn plate(text: &str) -> Plate {
        Plate::parse(text).unwrap()
    }

    fn car(make: &str) -> Arc<VehicleSummary> {
        Arc::new(VehicleSummary {
            make: Some(make.to_owned()),
            ..VehicleSummary::default()
        })
    }

    /// Renders `text`, counting the calls.
    fn render<'a>(calls: &'a Cell<u32>, text: &'static str) -> impl FnOnce() -> Option<Bytes> + 'a {
        move || {
            calls.set(calls.get() + 1);
            Some(Bytes::from_static(text.as_bytes()))
        }
    }

    #[test]
    fn the_same_summary_is_rendered_once() {
        let rendered = Rendered::default();
        let calls = Cell::new(0);
        let (p, kia) = (plate("EC47213"), car("KIA"));
        assert_eq!(
            rendered
                .get_or_render(&p, &kia, render(&calls, "a"))
                .unwrap(),
            "a"
        );
        assert_eq!(
            rendered
                .get_or_render(&p, &kia, render(&calls, "b"))
                .unwrap(),
            "a"
        );
        // An equal summary in another `Arc` (as `as_of` gives on a day that changed a flag).
        let again = car("KIA");
        assert_eq!(
            rendered
                .get_or_render(&p, &again, render(&calls, "c"))
                .unwrap(),
            "a"
        );
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn a_changed_summary_or_another_plate_is_rendered_again() {
        let rendered = Rendered::default();
        let calls = Cell::new(0);
        let p = plate("EC47213");
        rendered.get_or_render(&p, &car("KIA"), render(&calls, "kia"));
        let answer = rendered.get_or_render(&p, &car("TESLA"), render(&calls, "tesla"));
        assert_eq!(answer.unwrap(), "tesla");
        let other = rendered.get_or_render(&plate("DN61834"), &car("TESLA"), render(&calls, "dn"));
        assert_eq!(other.unwrap(), "dn");
        assert_eq!(calls.get(), 3);
        // The newest answer replaced the old one for the plate.
        assert_eq!(
            rendered
                .get_or_render(&p, &car("TESLA"), render(&calls, "x"))
                .unwrap(),
            "tesla"
        );
        assert_eq!(rendered.len(), 2);
    }

    #[test]
    fn a_failed_render_is_not_kept() {
        let rendered = Rendered::default();
        assert!(
            rendered
                .get_or_render(&plate("EC47213"), &car("KIA"), || None)
                .is_none()
        );
        assert!(rendered.is_empty());
    }

    #[test]
    fn the_map_is_bounded() {
        let rendered = Rendered::default();
        let kia = car("KIA");
        let calls = Cell::new(0);
        for n in 0..CAPACITY + 50 {
            let p = plate(&format!("EC{}", 10_000 + n));
            rendered.get_or_render(&p, &kia, render(&calls, "a"));
            assert!(rendered.len() <= CAPACITY);
        }
        assert_eq!(rendered.len(), CAPACITY);
        assert_eq!(calls.get(), u32::try_from(CAPACITY + 50).unwrap());
    }
}
