//! The time a turn runs at, injectable so tests are deterministic, and today's date in Norway
//! (Europe/Oslo, by `elbatt::norway`) for the system prompt.

use time::{Date, OffsetDateTime};

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant (tests).
    Fixed(OffsetDateTime),
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(at) => *at,
        }
    }

    /// Today's date in Norway.
    pub fn today_oslo(&self) -> Date {
        elbatt::norway::date(self.now())
    }
}

/// "tirsdag 1. desember 2026 (2026-12-01)": the weekday and the ISO date too, so the model can
/// compare it with the registry's ISO dates.
pub fn date_nb(date: Date) -> String {
    format!("{} ({date})", elbatt::norway::long_date(date))
}

/// The line appended to the system prompt each turn.
pub fn today_line(date: Date) -> String {
    format!("Dagens dato i Norge (Europe/Oslo): {}.", date_nb(date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn the_date_is_written_in_norwegian_with_the_iso_date() {
        assert_eq!(
            date_nb(date!(2026 - 12 - 01)),
            "tirsdag 1. desember 2026 (2026-12-01)"
        );
        assert_eq!(
            today_line(date!(2026 - 01 - 01)),
            "Dagens dato i Norge (Europe/Oslo): torsdag 1. januar 2026 (2026-01-01)."
        );
    }

    #[test]
    fn a_fixed_clock_always_gives_its_instant() {
        let clock = Clock::Fixed(datetime!(2025-12-31 23:30 UTC));
        assert_eq!(clock.now(), datetime!(2025-12-31 23:30 UTC));
        assert_eq!(clock.today_oslo(), date!(2026 - 01 - 01));
    }
}
