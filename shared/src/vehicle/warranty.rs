//! Traction-battery warranty terms by make, model and first-registration year, and the
//! estimate [`summarize`](super::summarize) gives for a car.
//!
//! Every row of [`WARRANTY_TABLE`] names the public page it was taken from (docs/warranty.md
//! lists them with what could not be sourced). A car that matches no row gets the common term,
//! 8 years or 160,000 km, but only if it is battery-electric or a plug-in hybrid: the batteries
//! of hybrids that cannot be plugged in (self-charging and mild hybrids) are covered on other
//! terms, so they get no estimate at all.
//!
//! Rows are matched in order, the first match wins, so narrower rows (one model, some years)
//! come before the make's general row.

use serde::{Deserialize, Serialize};
use time::Date;

use super::summary::Powertrain;

/// The common warranty term for traction batteries, in years; used for battery-electric and
/// plug-in hybrid cars that match no row of the table.
pub const COMMON_WARRANTY_YEARS: u32 = 8;
/// The common warranty term for traction batteries, in km.
pub const COMMON_WARRANTY_KM: u32 = 160_000;

/// Which cars a row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// Battery-electric and plug-in hybrid.
    Chargeable,
    BatteryElectric,
    PlugInHybrid,
}

impl Drive {
    fn covers(self, powertrain: Powertrain) -> bool {
        match self {
            Drive::Chargeable => matches!(
                powertrain,
                Powertrain::BatteryElectric | Powertrain::PlugInHybrid
            ),
            Drive::BatteryElectric => powertrain == Powertrain::BatteryElectric,
            Drive::PlugInHybrid => powertrain == Powertrain::PlugInHybrid,
        }
    }
}

/// One manufacturer's battery warranty for some models and first-registration years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarrantyRow {
    /// The make as the registry writes it, upper case ("NISSAN").
    pub make: &'static str,
    /// Model names that start with this, compared in upper case without spaces or punctuation
    /// ("MODEL3" matches "Model 3"; "ID" matches "ID.3" and "ID.4"). Empty: every model.
    pub model_prefixes: &'static [&'static str],
    /// First and last year of first registration the row applies to (inclusive). Model years
    /// and registration years can differ by a few months around a change.
    pub from_year: Option<i32>,
    pub to_year: Option<i32>,
    pub drive: Drive,
    pub years: u32,
    /// `None`: no km limit.
    pub km: Option<u32>,
    /// The capacity the battery is guaranteed to keep, where the source states it.
    pub min_soh_percent: Option<u8>,
    /// A condition or detail in Norwegian, e.g. a yearly battery check.
    pub condition_nb: Option<&'static str>,
    /// The public page the row is taken from.
    pub source: &'static str,
}

/// The table. Keep docs/warranty.md in step with it.
pub const WARRANTY_TABLE: &[WarrantyRow] = &[
    WarrantyRow {
        make: "BMW",
        model_prefixes: &["I3"],
        from_year: None,
        to_year: Some(2019),
        drive: Drive::BatteryElectric,
        years: 8,
        km: Some(100_000),
        min_soh_percent: None,
        condition_nb: Some(
            "BMW økte kilometergrensen for nye i3 i Europa til 160 000 km i januar 2020.",
        ),
        source: "https://www.electrive.com/2020/01/05/bmw-extends-european-i3-battery-guarantee-to-160000-km/",
    },
    WarrantyRow {
        make: "BMW",
        model_prefixes: &["I3"],
        from_year: Some(2020),
        to_year: None,
        drive: Drive::BatteryElectric,
        years: 8,
        km: Some(160_000),
        min_soh_percent: None,
        condition_nb: None,
        source: "https://www.electrive.com/2020/01/05/bmw-extends-european-i3-battery-guarantee-to-160000-km/",
    },
    WarrantyRow {
        make: "NISSAN",
        model_prefixes: &["LEAF"],
        from_year: None,
        to_year: Some(2015),
        drive: Drive::BatteryElectric,
        years: 5,
        km: Some(100_000),
        min_soh_percent: None,
        condition_nb: Some(
            "Kapasitetsgarantien for 24 kWh-batteriet gjelder så lenge bilen viser minst 9 av 12 kapasitetsstreker.",
        ),
        source: "https://www.bnh.no/garanti/",
    },
    WarrantyRow {
        make: "NISSAN",
        model_prefixes: &["LEAF"],
        from_year: Some(2016),
        to_year: Some(2017),
        drive: Drive::BatteryElectric,
        years: 5,
        km: Some(100_000),
        min_soh_percent: None,
        condition_nb: Some(
            "Gjelder 24 kWh-batteriet (minst 9 av 12 kapasitetsstreker). Med 30 kWh-batteri er garantien 8 år eller 160 000 km mot tap av mer enn 3 av 12 streker; registeret sier ikke hvilket batteri bilen har.",
        ),
        source: "https://www.bnh.no/garanti/",
    },
    WarrantyRow {
        make: "TESLA",
        model_prefixes: &["MODELS", "MODELX"],
        from_year: None,
        to_year: Some(2018),
        drive: Drive::BatteryElectric,
        years: 8,
        km: None,
        min_soh_percent: None,
        condition_nb: Some("Ingen kapasitetsgaranti for disse årgangene, bare garanti mot feil."),
        source: "https://pressreader.com/norway/faedrelandsvennen/20180222/281895888723528",
    },
    WarrantyRow {
        make: "TESLA",
        model_prefixes: &["MODEL3"],
        from_year: None,
        to_year: None,
        drive: Drive::BatteryElectric,
        years: 8,
        km: Some(160_000),
        min_soh_percent: Some(70),
        condition_nb: Some(
            "Gjelder Standard Range; med Long Range-batteri er grensen 192 000 km. Registeret sier ikke hvilket batteri bilen har.",
        ),
        source: "https://insideevs.com/news/335364/tesla-model-3-battery-warranty-includes-70-retention-guarantee/",
    },
    WarrantyRow {
        make: "TOYOTA",
        model_prefixes: &["BZ4X"],
        from_year: None,
        to_year: None,
        drive: Drive::BatteryElectric,
        years: 10,
        km: Some(1_000_000),
        min_soh_percent: Some(70),
        condition_nb: Some(
            "Grunngarantien er 8 år eller 160 000 km; en årlig batterisjekk hos Toyota forlenger den til inntil 10 år eller 1 000 000 km.",
        ),
        source: "https://pp.latribuneauto.com/evaluations-automobiles/TOYO-BZ4X-TT-23-146317/qualite",
    },
    WarrantyRow {
        make: "LEXUS",
        model_prefixes: &["UX"],
        from_year: None,
        to_year: None,
        drive: Drive::BatteryElectric,
        years: 10,
        km: Some(1_000_000),
        min_soh_percent: Some(70),
        condition_nb: Some("Forutsetter de jevnlige batterisjekkene i serviceprogrammet."),
        source: "https://insideevs.com/news/420681/lexus-ux-300e-battery-warranty/",
    },
    WarrantyRow {
        make: "VOLKSWAGEN",
        model_prefixes: &["ID"],
        from_year: None,
        to_year: None,
        drive: Drive::BatteryElectric,
        years: 8,
        km: Some(160_000),
        min_soh_percent: Some(70),
        condition_nb: None,
        source: "https://www.autoevolution.com/news/volkswagen-id3-batteries-to-be-70-percent-usable-after-160000-km-135256.html",
    },
    WarrantyRow {
        make: "HYUNDAI",
        model_prefixes: &[],
        from_year: None,
        to_year: None,
        drive: Drive::Chargeable,
        years: 8,
        km: Some(160_000),
        min_soh_percent: Some(70),
        condition_nb: None,
        source: "https://www.hyundai.com/no/no/service/garanti/nybilgaranti.html",
    },
    WarrantyRow {
        make: "KIA",
        model_prefixes: &[],
        from_year: None,
        to_year: None,
        drive: Drive::Chargeable,
        years: 7,
        km: Some(150_000),
        min_soh_percent: Some(70),
        condition_nb: Some("Kias europeiske vilkår; lokale norske vilkår kan avvike."),
        source: "https://kia.com/is/nyir-bilar/ev6/upplifdu",
    },
    WarrantyRow {
        make: "VOLVO",
        model_prefixes: &[],
        from_year: None,
        to_year: None,
        drive: Drive::PlugInHybrid,
        years: 8,
        km: Some(160_000),
        min_soh_percent: Some(70),
        condition_nb: None,
        source: "https://www.volvocars.com/no/own/maintenance/warranties/garanti-for-hybridbatteriet",
    },
];

/// Where an estimate's terms come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarrantyBasis {
    /// A row of the table: the make's published terms for this model and year.
    Manufacturer,
    /// No row matched: the common term for battery-electric and plug-in hybrid cars.
    CommonTerm,
}

/// The terms that apply to a car, from the table or the common term; `None` for hybrids that
/// cannot be plugged in, combustion cars and unknown powertrains.
pub fn terms_for(
    make: Option<&str>,
    model: Option<&str>,
    first_registration_year: i32,
    powertrain: Powertrain,
) -> Option<(WarrantyBasis, WarrantyRow)> {
    if !Drive::Chargeable.covers(powertrain) {
        return None;
    }
    let make = make.map(|m| m.trim().to_uppercase()).unwrap_or_default();
    let model = model.map(squash).unwrap_or_default();
    let row = WARRANTY_TABLE.iter().find(|row| {
        row.make == make
            && row.drive.covers(powertrain)
            && (row.model_prefixes.is_empty()
                || row.model_prefixes.iter().any(|p| model.starts_with(p)))
            && row
                .from_year
                .is_none_or(|from| first_registration_year >= from)
            && row.to_year.is_none_or(|to| first_registration_year <= to)
    });
    Some(match row {
        Some(row) => (WarrantyBasis::Manufacturer, *row),
        None => (WarrantyBasis::CommonTerm, COMMON_ROW),
    })
}

/// The common term as a row, for cars the table does not know.
pub const COMMON_ROW: WarrantyRow = WarrantyRow {
    make: "",
    model_prefixes: &[],
    from_year: None,
    to_year: None,
    drive: Drive::Chargeable,
    years: COMMON_WARRANTY_YEARS,
    km: Some(COMMON_WARRANTY_KM),
    min_soh_percent: None,
    condition_nb: None,
    source: "",
};

/// Upper case without spaces or punctuation: "Model 3" → "MODEL3", "ID.4" → "ID4".
fn squash(model: &str) -> String {
    model
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// `first_registration` plus `years` (29 February falls back to 28 February); `None` only
/// outside the calendar `time` supports.
pub fn end_date(first_registration: Date, years: u32) -> Option<Date> {
    let end_year = first_registration
        .year()
        .checked_add(i32::try_from(years).ok()?)?;
    first_registration
        .replace_year(end_year)
        .or_else(|_| {
            // Only 29 February can fail here: the end year is not a leap year.
            let month = first_registration.month();
            Date::from_calendar_date(end_year, month, month.length(end_year))
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(
        make: &str,
        model: &str,
        year: i32,
        p: Powertrain,
    ) -> Option<(WarrantyBasis, WarrantyRow)> {
        terms_for(Some(make), Some(model), year, p)
    }

    #[test]
    fn every_row_names_an_https_source_and_sane_terms() {
        for row in WARRANTY_TABLE {
            assert!(row.source.starts_with("https://"), "{row:?}");
            assert!((1..=15).contains(&row.years), "{row:?}");
            assert!(row.km.is_none_or(|km| km >= 50_000), "{row:?}");
            assert!(
                row.min_soh_percent.is_none_or(|p| (50..=90).contains(&p)),
                "{row:?}"
            );
            assert_eq!(row.make, row.make.to_uppercase(), "{row:?}");
            assert!(
                row.model_prefixes.iter().all(|p| *p == squash(p)),
                "{row:?}"
            );
        }
    }

    #[test]
    fn a_known_make_model_and_year_gets_the_makes_terms() {
        let (basis, row) = terms("BMW", "I3", 2017, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!(basis, WarrantyBasis::Manufacturer);
        assert_eq!((row.years, row.km), (8, Some(100_000)));
        let (_, row) = terms("BMW", "i3s", 2021, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!((row.years, row.km), (8, Some(160_000)));

        let (_, leaf) = terms("NISSAN", "LEAF", 2013, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!((leaf.years, leaf.km), (5, Some(100_000)));
        assert!(leaf.condition_nb.is_some_and(|c| c.contains("9 av 12")));

        let (_, model_s) =
            terms("TESLA", "MODEL S", 2016, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!((model_s.years, model_s.km), (8, None), "no km limit");

        let (_, model_3) =
            terms("Tesla", "Model 3", 2022, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!(model_3.min_soh_percent, Some(70));

        let (_, bz4x) = terms("TOYOTA", "BZ4X", 2023, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!((bz4x.years, bz4x.km), (10, Some(1_000_000)));
        assert!(
            bz4x.condition_nb
                .is_some_and(|c| c.contains("årlig batterisjekk"))
        );

        let (_, id4) = terms("VOLKSWAGEN", "ID.4", 2021, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!(id4.min_soh_percent, Some(70));
        let (_, kia) = terms("KIA", "EV6", 2022, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!((kia.years, kia.km), (7, Some(150_000)));
    }

    #[test]
    fn unknown_battery_electric_and_plug_in_cars_get_the_common_term() {
        for (make, model, p) in [
            ("VOLKSWAGEN", "GOLF", Powertrain::BatteryElectric),
            ("VOLKSWAGEN", "PASSAT", Powertrain::PlugInHybrid),
            ("POLESTAR", "2", Powertrain::BatteryElectric),
            // A Tesla Model S after the years the table knows.
            ("TESLA", "MODEL S", Powertrain::BatteryElectric),
        ] {
            let (basis, row) = terms(make, model, 2021, p).expect("chargeable");
            assert_eq!(basis, WarrantyBasis::CommonTerm, "{make} {model}");
            assert_eq!((row.years, row.km), (8, Some(160_000)));
            assert_eq!(row.min_soh_percent, None);
        }
        let (basis, _) = terms_for(None, None, 2020, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!(basis, WarrantyBasis::CommonTerm);
    }

    #[test]
    fn hybrids_that_cannot_be_plugged_in_get_no_estimate() {
        assert_eq!(terms("TOYOTA", "YARIS", 2020, Powertrain::Hybrid), None);
        assert_eq!(terms("HYUNDAI", "TUCSON", 2022, Powertrain::Hybrid), None);
        assert_eq!(
            terms("LEXUS", "UX", 2021, Powertrain::Hybrid),
            None,
            "UX 250h"
        );
        assert_eq!(terms("VOLVO", "XC60", 2020, Powertrain::Combustion), None);
        assert_eq!(terms("KIA", "NIRO", 2020, Powertrain::Unknown), None);
    }

    #[test]
    fn a_row_for_one_drive_does_not_catch_the_other() {
        // Volvo's row is for its plug-in hybrids; an electric Volvo gets the common term.
        let (basis, _) = terms("VOLVO", "XC40", 2022, Powertrain::BatteryElectric).expect("BEV");
        assert_eq!(basis, WarrantyBasis::CommonTerm);
        let (basis, _) = terms("VOLVO", "XC60", 2022, Powertrain::PlugInHybrid).expect("PHEV");
        assert_eq!(basis, WarrantyBasis::Manufacturer);
    }

    #[test]
    fn end_dates_fall_back_to_28_february() {
        use time::macros::date;
        assert_eq!(
            end_date(date!(2020 - 02 - 29), 5),
            Some(date!(2025 - 02 - 28))
        );
        assert_eq!(
            end_date(date!(2020 - 02 - 29), 8),
            Some(date!(2028 - 02 - 29))
        );
        assert_eq!(
            end_date(date!(2017 - 06 - 06), 8),
            Some(date!(2025 - 06 - 06))
        );
    }
}
