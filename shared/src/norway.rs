//! Time and dates as people in Norway read them: today's date in Europe/Oslo, and dates written
//! in bokmål. Used for the EU-kontroll deadline, the warranty's age and the date chat tells the
//! model each turn.
//!
//! Norway follows the EU summer-time rule: UTC+1, and UTC+2 from 01:00 UTC on the last Sunday of
//! March until 01:00 UTC on the last Sunday of October. The rule is written out rather than read
//! from a time-zone database, which the Lambda and container images do not ship.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
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

/// Weekday names, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
];

/// The offset Norway uses at `at`: +2 in summer time, +1 otherwise.
pub fn offset(at: OffsetDateTime) -> UtcOffset {
    let utc = at.to_offset(UtcOffset::UTC);
    let switch = |month: Month| {
        let year = utc.year();
        let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
        let sunday = last.checked_sub(time::Duration::days(i64::from(
            last.weekday().number_days_from_sunday(),
        )))?;
        Some(PrimitiveDateTime::new(sunday, Time::from_hms(1, 0, 0).ok()?).assume_utc())
    };
    let summer = match (switch(Month::March), switch(Month::October)) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The calendar date in Norway at `at`.
pub fn date(at: OffsetDateTime) -> Date {
    at.checked_to_offset(offset(at)).unwrap_or(at).date()
}

/// Today's date in Norway.
pub fn today() -> Date {
    date(OffsetDateTime::now_utc())
}

/// "tirsdag 1. desember 2026".
pub fn long_date(date: Date) -> String {
    let weekday = WEEKDAYS[usize::from(date.weekday().number_days_from_monday())];
    let month = MONTHS[usize::from(u8::from(date.month())) - 1];
    format!("{weekday} {}. {month} {}", date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn winter_is_utc_plus_one_and_summer_utc_plus_two() {
        assert_eq!(offset(datetime!(2026-01-15 12:00 UTC)).whole_hours(), 1);
        assert_eq!(offset(datetime!(2026-07-15 12:00 UTC)).whole_hours(), 2);
    }

    #[test]
    fn summer_time_starts_and_ends_at_one_utc_on_the_last_sundays() {
        // 2026: the last Sunday of March is the 29th, of October the 25th.
        for (at, hours) in [
            (datetime!(2026-03-29 00:59 UTC), 1),
            (datetime!(2026-03-29 01:00 UTC), 2),
            (datetime!(2026-10-25 00:59 UTC), 2),
            (datetime!(2026-10-25 01:00 UTC), 1),
        ] {
            assert_eq!(offset(at).whole_hours(), hours, "{at}");
        }
    }

    #[test]
    fn the_date_in_norway_can_be_a_day_ahead_of_utc_whatever_the_input_offset() {
        for (at, expected) in [
            (datetime!(2025-12-31 23:30 UTC), date!(2026 - 01 - 01)),
            (datetime!(2026-06-30 22:15 UTC), date!(2026 - 07 - 01)),
            (datetime!(2026-06-30 21:59 UTC), date!(2026 - 06 - 30)),
            (datetime!(2026-03-28 22:59 UTC), date!(2026 - 03 - 28)),
            (datetime!(2026-03-28 23:00 UTC), date!(2026 - 03 - 29)),
            (datetime!(2026-10-24 21:59 UTC), date!(2026 - 10 - 24)),
            (datetime!(2026-10-24 22:00 UTC), date!(2026 - 10 - 25)),
            (datetime!(2026-10-25 22:59 UTC), date!(2026 - 10 - 25)),
            (datetime!(2026-10-25 23:00 UTC), date!(2026 - 10 - 26)),
            (datetime!(2026-12-01 00:30 +01:00), date!(2026 - 12 - 01)),
            (datetime!(2026-11-30 18:30 -05:00), date!(2026 - 12 - 01)),
        ] {
            assert_eq!(date(at), expected, "{at}");
        }
    }

    #[test]
    fn dates_are_written_in_bokmal() {
        assert_eq!(long_date(date!(2026 - 12 - 01)), "tirsdag 1. desember 2026");
        assert_eq!(long_date(date!(2026 - 01 - 04)), "søndag 4. januar 2026");
    }
}
