//! The time a turn runs at, injectable so tests are deterministic, and today's date in Norway
//! (Europe/Oslo) for the system prompt.
//!
//! Norway follows the EU summer-time rule: UTC+1, and UTC+2 from 01:00 UTC on the last Sunday
//! of March until 01:00 UTC on the last Sunday of October. The rule is written out here rather
//! than read from a time-zone database, which the Lambda and container images do not ship.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

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
        oslo_date(self.now())
    }
}

const WEEKDAYS_NB: [&str; 7] = [
    "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
];

const MONTHS_NB: [&str; 12] = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
];

/// The offset Norway uses at `at`: +2 in summer time, +1 otherwise.
pub fn oslo_offset(at: OffsetDateTime) -> UtcOffset {
    let utc = at.to_offset(UtcOffset::UTC);
    let year = utc.year();
    let switch = |month| {
        last_sunday(year, month).map(|day| {
            PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_utc() + time::Duration::hours(1)
        })
    };
    let summer = match (switch(Month::March), switch(Month::October)) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The calendar date in Norway at `at`.
pub fn oslo_date(at: OffsetDateTime) -> Date {
    at.to_offset(oslo_offset(at)).date()
}

fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    let back = last.weekday().number_days_from_sunday();
    last.checked_sub(time::Duration::days(i64::from(back)))
}

/// "tirsdag 1. desember 2026 (2026-12-01)": the weekday and the ISO date too, so the model can
/// compare it with the registry's ISO dates.
pub fn date_nb(date: Date) -> String {
    let weekday = WEEKDAYS_NB
        .get(usize::from(weekday_index(date.weekday())))
        .copied()
        .unwrap_or_default();
    let month = MONTHS_NB
        .get(usize::from(u8::from(date.month())) - 1)
        .copied()
        .unwrap_or_default();
    format!("{weekday} {}. {month} {} ({date})", date.day(), date.year())
}

fn weekday_index(weekday: Weekday) -> u8 {
    weekday.number_days_from_monday()
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
    fn winter_is_utc_plus_one_and_summer_utc_plus_two() {
        assert_eq!(
            oslo_offset(datetime!(2026-01-15 12:00 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            oslo_offset(datetime!(2026-07-15 12:00 UTC)).whole_hours(),
            2
        );
    }

    #[test]
    fn summer_time_starts_and_ends_at_one_utc_on_the_last_sundays() {
        // 2026: last Sunday of March is the 29th, of October the 25th.
        assert_eq!(
            oslo_offset(datetime!(2026-03-29 00:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            oslo_offset(datetime!(2026-03-29 01:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            oslo_offset(datetime!(2026-10-25 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            oslo_offset(datetime!(2026-10-25 01:00 UTC)).whole_hours(),
            1
        );
    }

    #[test]
    fn the_norwegian_date_can_be_a_day_ahead_of_utc() {
        assert_eq!(
            oslo_date(datetime!(2025-12-31 23:30 UTC)),
            date!(2026 - 01 - 01)
        );
        assert_eq!(
            oslo_date(datetime!(2026-06-30 22:15 UTC)),
            date!(2026 - 07 - 01)
        );
        assert_eq!(
            oslo_date(datetime!(2026-06-30 21:59 UTC)),
            date!(2026 - 06 - 30)
        );
    }

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
