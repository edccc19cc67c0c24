//! [`summarize`]: turns one registry record into a [`VehicleSummary`], the flat, English,
//! buyer-oriented view that `plate-lookup` returns and `chat` hands to the model.
//!
//! Rules follow docs/upstreams/vegvesen.md (#response, #powertrain). Decisions branch on code
//! values (`kodeVerdi`)
//! only, never on the Norwegian display texts, which the registry may reword. A value the
//! record lacks stays `None`; nothing is guessed, and a zero where a physical quantity
//! belongs (0 km range, 0 kg) is read as "not given".

use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

use super::model::{
    Drivstoff, ForbrukOgUtslipp, Kjoretoydata, Kjoretoyklassifisering, KodeverkType,
    MiljoOgDrivstoffGruppe, Motor, MotorOgDrivverk, TekniskeData, WltpKjoretoyspesifikk,
};

/// The common warranty term for traction batteries of electric and hybrid cars, in years.
pub const BATTERY_WARRANTY_YEARS: u32 = 8;
/// The common warranty term for traction batteries of electric and hybrid cars, in km.
pub const BATTERY_WARRANTY_KM: u32 = 160_000;

const FUEL_ELECTRIC: &str = "5";
const FUEL_PETROL: &str = "1";
const FUEL_DIESEL: &str = "2";
const HYBRID_NONE: &str = "INGEN";
const HYBRID_PLUG_IN: &str = "LADBAR";

/// `Default` is a record with nothing known (every field `None`, powertrain `Unknown`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VehicleSummary {
    /// As the registry displays it, e.g. "EK 39085".
    pub plate: Option<String>,
    pub vin: Option<String>,
    /// "VOLKSWAGEN".
    pub make: Option<String>,
    /// The trade name, "GOLF"; the registry does not say "e-Golf".
    pub model: Option<String>,
    /// "M1" (passenger car), "N1" (van), ...
    pub vehicle_class: Option<String>,
    /// ISO date of the first registration anywhere, else of the first in Norway.
    pub first_registration: Option<String>,
    /// ISO date of the first registration in Norway (later for used imports).
    pub first_registration_norway: Option<String>,
    /// The code, e.g. "REGISTRERT" / "AVREGISTRERT".
    pub registration_status: Option<String>,
    /// The registry's text for it, e.g. "Registrert" (Norwegian).
    pub registration_status_text: Option<String>,
    /// ISO date the vehicle was deregistered.
    pub deregistered_since: Option<String>,
    /// "electric", "petrol", "diesel", in record order without repeats; other fuels as the
    /// registry's own text in lower case.
    pub fuel_types: Vec<String>,
    pub powertrain: Powertrain,
    /// Battery-electric only; a plug-in hybrid is `false`.
    pub is_electric: bool,
    /// `hybridKategori` code as given: "INGEN", "LADBAR", ...
    pub hybrid_category: Option<String>,
    pub is_plug_in_hybrid: bool,
    /// Sum over the motors of each motor's rating, kW; see `power()` in this module for what it means.
    pub power_kw: Option<f64>,
    /// "max_net_power" or "max_hourly_power": which rating `power_kw` is built from.
    pub power_source: Option<String>,
    /// Electric range, km.
    pub range_km: Option<u32>,
    /// "wltp" or "nedc" (the older, more optimistic measurement).
    pub range_standard: Option<String>,
    /// Electric energy use, Wh/km (127 = 12.7 kWh/100 km).
    pub energy_use_wh_per_km: Option<u32>,
    pub curb_weight_kg: Option<u32>,
    /// Maximum permitted total weight.
    pub max_weight_kg: Option<u32>,
    /// The registry's colour name (Norwegian), e.g. "Grå".
    pub colour: Option<String>,
    pub seats: Option<u32>,
    /// ISO date: next EU-kontroll (periodic roadworthiness test) due by.
    pub eu_control_deadline: Option<String>,
    /// ISO date the last EU-kontroll was passed.
    pub eu_control_last_approved: Option<String>,
    /// An estimate for cars with a traction battery; `None` for combustion and unknown
    /// powertrains and when no first-registration date is known.
    pub battery_warranty: Option<BatteryWarranty>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Powertrain {
    BatteryElectric,
    PlugInHybrid,
    /// A hybrid that is not plug-in (any `hybridKategori` other than INGEN and LADBAR).
    Hybrid,
    Combustion,
    /// The record has no fuel or hybrid codes we can decide on.
    #[default]
    Unknown,
}

/// The common battery warranty term applied to this car's age. Not the car's own contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatteryWarranty {
    pub years: u32,
    pub km: u32,
    /// ISO date: first registration + `years` (29 February falls back to 28 February).
    pub estimated_end: String,
    /// `today` is after `estimated_end`.
    pub expired_by_age: bool,
    pub note: String,
}

/// Spells out the two constants above; the e-Golf fixture test checks they agree.
const BATTERY_WARRANTY_NOTE: &str = "Estimate only: 8 years or 160,000 km, whichever comes \
    first, is the common warranty term for the traction batteries of electric and hybrid cars, \
    not this car's own contract. \
    The end date counts from first registration; the km limit may end the warranty sooner. \
    Check the car's warranty papers or ask the manufacturer.";

/// Maps one registry record to a summary. `today` decides whether the battery warranty has
/// run out; it is passed in so the result is deterministic.
pub fn summarize(record: &Kjoretoydata, today: Date) -> VehicleSummary {
    let teknisk = record
        .godkjenning
        .as_ref()
        .and_then(|g| g.teknisk_godkjenning.as_ref());
    let data = teknisk.and_then(|t| t.tekniske_data.as_ref());
    let generelt = data.and_then(|d| d.generelt.as_ref());
    let drivverk = data.and_then(|d| d.motor_og_drivverk.as_ref());
    let motors: &[Motor] = drivverk.map_or(&[], |m| &m.motor);
    let fuel_groups: &[MiljoOgDrivstoffGruppe] = data
        .and_then(|d| d.miljodata.as_ref())
        .map_or(&[], |m| &m.miljo_og_drivstoff_gruppe);
    let registrering = record.registrering.as_ref();
    let status = registrering.and_then(|r| r.registreringsstatus.as_ref());
    let kontroll = record.periodisk_kjoretoy_kontroll.as_ref();

    let first_registration_norway = record
        .forstegangsregistrering
        .as_ref()
        .and_then(|f| date(f.registrert_forstegang_norge_dato.as_deref()));
    let first_registration = record
        .godkjenning
        .as_ref()
        .and_then(|g| g.forstegangs_godkjenning.as_ref())
        .and_then(|f| date(f.forstegang_registrert_dato.as_deref()))
        .or(first_registration_norway);

    let fuel_codes = fuel_codes(fuel_groups, motors);
    let powertrain = powertrain(drivverk, &fuel_codes);
    let hybrid_category = drivverk
        .and_then(|m| m.hybrid_kategori.as_ref())
        .and_then(|k| k.kode_verdi.clone());
    let (power_kw, power_source) = match power(motors) {
        Some((kw, source)) => (Some(kw), Some(source.to_owned())),
        None => (None, None),
    };
    let electric = electric_figures(fuel_groups);
    let vekter = data.and_then(|d| d.vekter.as_ref());

    let battery_warranty = match powertrain {
        Powertrain::BatteryElectric | Powertrain::PlugInHybrid | Powertrain::Hybrid => {
            first_registration.and_then(|first| battery_warranty(first, today))
        }
        Powertrain::Combustion | Powertrain::Unknown => None,
    };

    VehicleSummary {
        plate: plate(record),
        vin: record
            .kjoretoy_id
            .as_ref()
            .and_then(|id| id.understellsnummer.clone()),
        make: generelt.and_then(|g| g.merke.iter().find_map(|m| m.merke.clone())),
        model: generelt.and_then(|g| g.handelsbetegnelse.first().cloned()),
        vehicle_class: vehicle_class(
            teknisk.and_then(|t| t.kjoretoyklassifisering.as_ref()),
            data,
        ),
        first_registration: first_registration.map(iso),
        first_registration_norway: first_registration_norway.map(iso),
        registration_status: status.and_then(|s| s.kode_verdi.clone()),
        registration_status_text: status
            .and_then(KodeverkType::display_text)
            .map(str::to_owned),
        deregistered_since: registrering
            .and_then(|r| date(r.avregistrert_siden_dato.as_deref()))
            .map(iso),
        fuel_types: fuel_types(fuel_groups, motors),
        powertrain,
        is_electric: powertrain == Powertrain::BatteryElectric,
        hybrid_category,
        is_plug_in_hybrid: powertrain == Powertrain::PlugInHybrid,
        power_kw,
        power_source,
        range_km: electric.range_km,
        range_standard: electric.range_standard.map(str::to_owned),
        energy_use_wh_per_km: electric.energy_use_wh_per_km,
        curb_weight_kg: vekter.and_then(|v| whole(v.egenvekt)),
        max_weight_kg: vekter.and_then(|v| whole(v.tillatt_totalvekt)),
        colour: data
            .and_then(|d| d.karosseri_og_lasteplan.as_ref())
            .and_then(|k| k.r_farge.iter().find_map(KodeverkType::display_text))
            .map(str::to_owned),
        seats: data
            .and_then(|d| d.persontall.as_ref())
            .and_then(|p| whole(p.sitteplasser_totalt)),
        eu_control_deadline: kontroll
            .and_then(|k| date(k.kontrollfrist.as_deref()))
            .map(iso),
        eu_control_last_approved: kontroll
            .and_then(|k| date(k.sist_godkjent.as_deref()))
            .map(iso),
        battery_warranty,
    }
}

/// The current plate: `kjoretoyId.kjennemerke`, else the first plate in `kjennemerke[]` that
/// has not been taken off the vehicle.
fn plate(record: &Kjoretoydata) -> Option<String> {
    record
        .kjoretoy_id
        .as_ref()
        .and_then(|id| id.kjennemerke.clone())
        .or_else(|| {
            record
                .kjennemerke
                .iter()
                .filter(|k| k.til_tidspunkt.is_none())
                .find_map(|k| k.kjennemerke.clone())
        })
}

fn vehicle_class(
    klassifisering: Option<&Kjoretoyklassifisering>,
    data: Option<&TekniskeData>,
) -> Option<String> {
    klassifisering
        .and_then(|k| k.teknisk_kode.as_ref())
        .and_then(|k| k.kode_verdi.clone())
        .or_else(|| {
            data.and_then(|d| d.generelt.as_ref())
                .and_then(|g| g.teknisk_kode.as_ref())
                .and_then(|k| k.kode_verdi.clone())
        })
}

/// Every fuel code entry in record order: the environment groups first, then each motor's
/// fuels. Entries without a code are kept (as `None` codes) so their text can still be shown.
fn fuel_entries<'a>(
    groups: &'a [MiljoOgDrivstoffGruppe],
    motors: &'a [Motor],
) -> impl Iterator<Item = &'a KodeverkType> {
    let from_groups = groups
        .iter()
        .filter_map(|g| g.drivstoff_kode_miljodata.as_ref());
    let from_motors = motors
        .iter()
        .flat_map(|m| &m.drivstoff)
        .filter_map(|d| d.drivstoff_kode.as_ref());
    from_groups.chain(from_motors)
}

fn fuel_codes<'a>(groups: &'a [MiljoOgDrivstoffGruppe], motors: &'a [Motor]) -> Vec<&'a str> {
    fuel_entries(groups, motors)
        .filter_map(|k| k.kode_verdi.as_deref())
        .collect()
}

fn fuel_types(groups: &[MiljoOgDrivstoffGruppe], motors: &[Motor]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for entry in fuel_entries(groups, motors) {
        let name = match entry.kode_verdi.as_deref() {
            Some(FUEL_ELECTRIC) => Some("electric".to_owned()),
            Some(FUEL_PETROL) => Some("petrol".to_owned()),
            Some(FUEL_DIESEL) => Some("diesel".to_owned()),
            // A code we have no English name for (hydrogen, gas, ...) or no code at all: the
            // registry's own word is more useful than nothing.
            _ => entry.display_text().map(str::to_lowercase),
        };
        if let Some(name) = name
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

fn powertrain(drivverk: Option<&MotorOgDrivverk>, fuel_codes: &[&str]) -> Powertrain {
    let only_electric = drivverk.and_then(|m| m.utelukkende_elektrisk_drift);
    let hybrid = drivverk
        .and_then(|m| m.hybrid_kategori.as_ref())
        .and_then(|k| k.kode_verdi.as_deref());
    let has = |code: &str| fuel_codes.contains(&code);
    let has_combustion = has(FUEL_PETROL) || has(FUEL_DIESEL);

    if only_electric == Some(true) {
        return Powertrain::BatteryElectric;
    }
    match hybrid {
        Some(HYBRID_PLUG_IN) => return Powertrain::PlugInHybrid,
        // The non-plug-in code is not confirmed (docs/upstreams/vegvesen.md#open-questions), so
        // any other value counts.
        Some(code) if code != HYBRID_NONE => return Powertrain::Hybrid,
        _ => {}
    }
    if has(FUEL_ELECTRIC) && has_combustion {
        Powertrain::PlugInHybrid
    } else if !fuel_codes.is_empty()
        && fuel_codes.iter().all(|&c| c == FUEL_ELECTRIC)
        // A record that says outright it is not only electric overrides the fuel codes.
        && only_electric != Some(false)
    {
        Powertrain::BatteryElectric
    } else if !fuel_codes.is_empty()
        && fuel_codes
            .iter()
            .all(|&c| c == FUEL_PETROL || c == FUEL_DIESEL)
    {
        Powertrain::Combustion
    } else {
        Powertrain::Unknown
    }
}

/// Total power in kW and which rating it is built from.
///
/// Each motor contributes its best figure: the maximum net power (`maksNettoEffekt`) if the
/// registry has one, else the maximum 60-minute power (`maksEffektPrTime`, which is lower than
/// an electric motor's peak). Within a motor, several fuel entries describe the same motor
/// running on different fuels, so the highest is taken, not the sum. The source is
/// "max_net_power" only if every motor used it; any hourly figure makes it "max_hourly_power".
///
/// For a plug-in hybrid the result is the engine's rating plus the electric motor's: an upper
/// bound, since the two rarely peak together, and usually above the manufacturer's combined
/// system output. If any motor has no figure at all the total would be too low, so it is
/// `None`.
fn power(motors: &[Motor]) -> Option<(f64, &'static str)> {
    if motors.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut all_net = true;
    for motor in motors {
        let best = |pick: fn(&Drivstoff) -> Option<f64>| {
            motor
                .drivstoff
                .iter()
                .filter_map(pick)
                .filter(|kw| *kw > 0.0)
                .reduce(f64::max)
        };
        match best(|d| d.maks_netto_effekt) {
            Some(kw) => total += kw,
            None => {
                total += best(|d| d.maks_effekt_pr_time)?;
                all_net = false;
            }
        }
    }
    let source = if all_net {
        "max_net_power"
    } else {
        "max_hourly_power"
    };
    Some((total, source))
}

#[derive(Debug, Default)]
struct ElectricFigures {
    range_km: Option<u32>,
    range_standard: Option<&'static str>,
    energy_use_wh_per_km: Option<u32>,
}

/// Range and energy use from the electric fuel group (code 5): the WLTP figure where the
/// record has one, else the older figure. Range and energy use are chosen independently, so
/// `range_standard` describes the range only.
fn electric_figures(groups: &[MiljoOgDrivstoffGruppe]) -> ElectricFigures {
    let Some(group) = groups.iter().find(|g| {
        g.drivstoff_kode_miljodata
            .as_ref()
            .and_then(|k| k.kode_verdi.as_deref())
            == Some(FUEL_ELECTRIC)
    }) else {
        return ElectricFigures::default();
    };
    let entries: &[ForbrukOgUtslipp] = &group.forbruk_og_utslipp;
    let wltp = |pick: fn(&WltpKjoretoyspesifikk) -> Option<f64>| {
        entries
            .iter()
            .filter_map(|e| e.wltp_kjoretoyspesifikk.as_ref())
            .find_map(|w| whole(pick(w)))
    };
    let older =
        |pick: fn(&ForbrukOgUtslipp) -> Option<f64>| entries.iter().find_map(|e| whole(pick(e)));

    let (range_km, range_standard) = match wltp(|w| w.rekkevidde_km_blandetkjoring) {
        Some(km) => (Some(km), Some("wltp")),
        None => match older(|e| e.rekkevidde_km) {
            Some(km) => (Some(km), Some("nedc")),
            None => (None, None),
        },
    };
    ElectricFigures {
        range_km,
        range_standard,
        energy_use_wh_per_km: wltp(|w| w.el_energiforbruk)
            .or_else(|| older(|e| e.el_energiforbruk)),
    }
}

/// A positive quantity as a whole number; zero, negative or absurd values are "not given".
fn whole(value: Option<f64>) -> Option<u32> {
    let value = value?.round();
    // The range check makes the cast exact: no truncation or saturation can happen.
    (value >= 1.0 && value <= f64::from(u32::MAX)).then_some(value as u32)
}

/// The date part of a registry date (`2017-06-06`) or date-time
/// (`2026-06-11T18:03:14.17+02:00`). The date is kept as written, in Norwegian local time,
/// rather than converted to UTC, which could move it to the day before.
fn date(text: Option<&str>) -> Option<Date> {
    let day = text?.trim().get(..10)?;
    Date::parse(day, format_description!("[year]-[month]-[day]")).ok()
}

fn iso(date: Date) -> String {
    // `Date`'s Display is ISO 8601 (`2017-06-06`) for the four-digit years parsing allows.
    date.to_string()
}

/// The common battery warranty term counted from `first_registration`; `None` only if the
/// end date would fall outside the calendar `time` supports.
fn battery_warranty(first_registration: Date, today: Date) -> Option<BatteryWarranty> {
    let end_year = first_registration
        .year()
        .checked_add(i32::try_from(BATTERY_WARRANTY_YEARS).ok()?)?;
    let estimated_end = first_registration.replace_year(end_year).or_else(|_| {
        // Only 29 February can fail here: the end year is not a leap year.
        let month = first_registration.month();
        Date::from_calendar_date(end_year, month, month.length(end_year))
    });
    let estimated_end = estimated_end.ok()?;
    Some(BatteryWarranty {
        years: BATTERY_WARRANTY_YEARS,
        km: BATTERY_WARRANTY_KM,
        estimated_end: iso(estimated_end),
        expired_by_age: today > estimated_end,
        note: BATTERY_WARRANTY_NOTE.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vehicle::model::KjoretoydataResponse;
    use time::macros::date;

    const TODAY: Date = date!(2024 - 01 - 15);

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/vegvesen/",
                $name
            ))
        };
    }

    fn only_record(json: &str) -> Kjoretoydata {
        let response: KjoretoydataResponse = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(response.kjoretoydata_liste.len(), 1, "one record expected");
        response
            .kjoretoydata_liste
            .into_iter()
            .next()
            .expect("one record")
    }

    fn summary_of(json: &str) -> VehicleSummary {
        summarize(&only_record(json), TODAY)
    }

    fn s(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn the_e_golf_fixture_maps_to_a_battery_electric_summary() {
        let summary = summary_of(fixture!("bev-vw-egolf-ek39085.json"));
        assert_eq!(summary.plate, s("EK 39085"));
        assert_eq!(summary.vin, s("WVWZZZAUZH8950429"));
        assert_eq!(summary.make, s("VOLKSWAGEN"));
        assert_eq!(summary.model, s("GOLF"));
        assert_eq!(summary.vehicle_class, s("M1"));
        assert_eq!(summary.first_registration, s("2017-06-06"));
        assert_eq!(summary.first_registration_norway, s("2017-06-06"));
        assert_eq!(summary.registration_status, s("REGISTRERT"));
        assert_eq!(summary.registration_status_text, s("Registrert"));
        assert_eq!(summary.deregistered_since, None);
        assert_eq!(summary.fuel_types, vec!["electric".to_owned()]);
        assert_eq!(summary.powertrain, Powertrain::BatteryElectric);
        assert!(summary.is_electric);
        assert_eq!(summary.hybrid_category, s("INGEN"));
        assert!(!summary.is_plug_in_hybrid);
        assert_eq!(summary.power_kw, Some(100.0));
        assert_eq!(summary.power_source, s("max_hourly_power"));
        assert_eq!(summary.range_km, Some(300));
        assert_eq!(summary.range_standard, s("nedc"));
        assert_eq!(summary.energy_use_wh_per_km, Some(127));
        assert_eq!(summary.curb_weight_kg, Some(1540));
        assert_eq!(summary.max_weight_kg, Some(2020));
        assert_eq!(summary.colour, s("Grå"));
        assert_eq!(summary.seats, Some(5));
        assert_eq!(summary.eu_control_deadline, s("2023-05-31"));
        assert_eq!(summary.eu_control_last_approved, s("2021-05-20"));
        let warranty = summary
            .battery_warranty
            .expect("a BEV with a registration date");
        assert_eq!(warranty.years, 8);
        assert_eq!(warranty.km, 160_000);
        assert_eq!(warranty.estimated_end, "2025-06-06");
        assert!(!warranty.expired_by_age);
        assert!(
            warranty.note.contains("8 years or 160,000 km"),
            "{}",
            warranty.note
        );
    }

    #[test]
    fn the_passat_gte_fixture_maps_to_a_plug_in_hybrid_summary() {
        let summary = summary_of(fixture!("phev-vw-passat-gte-be12335.json"));
        assert_eq!(summary.plate, s("BE 12335"));
        assert_eq!(summary.vin, s("WVWZZZ3CZHE177932"));
        assert_eq!(summary.make, s("VOLKSWAGEN"));
        assert_eq!(summary.model, s("PASSAT"));
        assert_eq!(summary.vehicle_class, s("M1"));
        assert_eq!(summary.first_registration, s("2017-04-24"));
        assert_eq!(summary.first_registration_norway, s("2017-04-24"));
        assert_eq!(summary.registration_status, s("REGISTRERT"));
        assert_eq!(summary.registration_status_text, s("Registrert"));
        assert_eq!(summary.deregistered_since, None);
        assert_eq!(
            summary.fuel_types,
            vec!["petrol".to_owned(), "electric".to_owned()]
        );
        assert_eq!(summary.powertrain, Powertrain::PlugInHybrid);
        assert!(!summary.is_electric);
        assert_eq!(summary.hybrid_category, s("LADBAR"));
        assert!(summary.is_plug_in_hybrid);
        // Engine 115 kW net + e-motor 85 kW net (its 55 kW hourly figure is not used).
        assert_eq!(summary.power_kw, Some(200.0));
        assert_eq!(summary.power_source, s("max_net_power"));
        assert_eq!(summary.range_km, Some(50));
        assert_eq!(summary.range_standard, s("nedc"));
        assert_eq!(summary.energy_use_wh_per_km, Some(132));
        assert_eq!(summary.curb_weight_kg, Some(1660));
        assert_eq!(summary.max_weight_kg, Some(2250));
        assert_eq!(summary.colour, s("Sølv"));
        assert_eq!(summary.seats, Some(5));
        assert_eq!(summary.eu_control_deadline, s("2025-05-31"));
        assert_eq!(summary.eu_control_last_approved, s("2023-04-17"));
        let warranty = summary
            .battery_warranty
            .expect("a PHEV with a registration date");
        assert_eq!(warranty.estimated_end, "2025-04-24");
        assert!(!warranty.expired_by_age);
    }

    #[test]
    fn the_trimmed_deregistered_fixture_keeps_what_it_has_and_invents_nothing() {
        let summary = summary_of(fixture!("trimmed-avregistrert-ev12138.json"));
        assert_eq!(summary.plate, s("EV 12138"));
        assert_eq!(summary.vin, s("WVWZZZ1"));
        assert_eq!(summary.make, s("VOLKSWAGEN"));
        assert_eq!(summary.model, s("GOLF"));
        assert_eq!(summary.vehicle_class, None);
        // No first registration abroad: falls back to the Norwegian date.
        assert_eq!(summary.first_registration, s("2018-08-08"));
        assert_eq!(summary.first_registration_norway, s("2018-08-08"));
        // The sample has the status text but no code.
        assert_eq!(summary.registration_status, None);
        assert_eq!(summary.registration_status_text, s("Avregistrert"));
        assert_eq!(summary.deregistered_since, s("2026-06-11"));
        // Its fuel has a text but no code: shown, but not used to decide the powertrain.
        assert_eq!(summary.fuel_types, vec!["elektrisk".to_owned()]);
        assert_eq!(summary.powertrain, Powertrain::Unknown);
        assert!(!summary.is_electric);
        assert_eq!(summary.hybrid_category, None);
        assert!(!summary.is_plug_in_hybrid);
        assert_eq!(summary.power_kw, None);
        assert_eq!(summary.power_source, None);
        assert_eq!(summary.range_km, None);
        assert_eq!(summary.range_standard, None);
        assert_eq!(summary.energy_use_wh_per_km, None);
        assert_eq!(summary.curb_weight_kg, Some(1540));
        assert_eq!(summary.max_weight_kg, Some(2020));
        assert_eq!(summary.colour, None);
        assert_eq!(summary.seats, Some(5));
        assert_eq!(summary.eu_control_deadline, s("2028-08-31"));
        assert_eq!(summary.eu_control_last_approved, s("2026-08-10"));
        assert_eq!(summary.battery_warranty, None);
    }

    #[test]
    fn the_error_fixture_has_a_message_and_no_records() {
        let response: KjoretoydataResponse =
            serde_json::from_str(fixture!("error-400-ugyldig-format.json")).expect("valid JSON");
        assert_eq!(
            response.feilmelding.as_deref(),
            Some("UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE")
        );
        assert!(response.kjoretoydata_liste.is_empty());
    }

    /// A newer battery-electric record with both measurements, as the schema describes it.
    const WLTP_RECORD: &str = r#"{"kjoretoydataListe": [{
        "kjoretoyId": {"kjennemerke": "EH 12345"},
        "forstegangsregistrering": {"registrertForstegangNorgeDato": "2023-03-01"},
        "godkjenning": {
            "forstegangsGodkjenning": {"forstegangRegistrertDato": "2022-11-20"},
            "tekniskGodkjenning": {"tekniskeData": {
                "motorOgDrivverk": {
                    "utelukkendeElektriskDrift": true,
                    "motor": [
                        {"drivstoff": [{"drivstoffKode": {"kodeVerdi": "5"}, "maksNettoEffekt": 150.0}]},
                        {"drivstoff": [{"drivstoffKode": {"kodeVerdi": "5"}, "maksEffektPrTime": 70}]}
                    ]
                },
                "miljodata": {"miljoOgdrivstoffGruppe": [{
                    "drivstoffKodeMiljodata": {"kodeVerdi": "5", "kodeNavn": "Elektrisk"},
                    "forbrukOgUtslipp": [{
                        "rekkeviddeKm": 520,
                        "elEnergiforbruk": 150,
                        "wltpKjoretoyspesifikk": {
                            "rekkeviddeKmBlandetkjoring": 455,
                            "rekkeviddeKmBykjoring": 600,
                            "elEnergiforbruk": 168
                        }
                    }]
                }]}
            }}
        }
    }]}"#;

    #[test]
    fn wltp_figures_win_over_the_older_ones() {
        let summary = summary_of(WLTP_RECORD);
        assert_eq!(summary.range_km, Some(455));
        assert_eq!(summary.range_standard, s("wltp"));
        assert_eq!(summary.energy_use_wh_per_km, Some(168));
    }

    #[test]
    fn only_electric_drive_marks_a_battery_electric_car_even_without_hybrid_category() {
        let summary = summary_of(WLTP_RECORD);
        assert_eq!(summary.powertrain, Powertrain::BatteryElectric);
        assert!(summary.is_electric);
        assert_eq!(summary.hybrid_category, None);
    }

    #[test]
    fn first_registration_abroad_wins_over_the_norwegian_date() {
        let summary = summary_of(WLTP_RECORD);
        assert_eq!(summary.first_registration, s("2022-11-20"));
        assert_eq!(summary.first_registration_norway, s("2023-03-01"));
        let warranty = summary.battery_warranty.expect("BEV with a date");
        assert_eq!(warranty.estimated_end, "2030-11-20");
    }

    #[test]
    fn mixed_power_ratings_are_summed_and_reported_as_hourly() {
        let summary = summary_of(WLTP_RECORD);
        assert_eq!(summary.power_kw, Some(220.0));
        assert_eq!(summary.power_source, s("max_hourly_power"));
    }

    #[test]
    fn a_motor_without_any_power_figure_leaves_power_unknown() {
        let record: Kjoretoydata = serde_json::from_str(
            r#"{"godkjenning": {"tekniskGodkjenning": {"tekniskeData": {"motorOgDrivverk": {
                "motor": [
                    {"drivstoff": [{"drivstoffKode": {"kodeVerdi": "1"}, "maksNettoEffekt": 110}]},
                    {"drivstoff": [{"drivstoffKode": {"kodeVerdi": "5"}, "maksNettoEffekt": "-"}]}
                ]}}}}}"#,
        )
        .expect("valid JSON");
        let summary = summarize(&record, TODAY);
        assert_eq!(summary.power_kw, None);
        assert_eq!(summary.power_source, None);
    }

    #[test]
    fn a_record_with_everything_missing_maps_to_an_empty_summary() {
        for json in [
            "{}",
            r#"{"kjoretoyId": null, "godkjenning": {}, "registrering": "-",
                "kjennemerke": [], "periodiskKjoretoyKontroll": {"kontrollfrist": ""}}"#,
        ] {
            let record: Kjoretoydata = serde_json::from_str(json).expect("valid JSON");
            let summary = summarize(&record, TODAY);
            assert_eq!(summary, VehicleSummary::default(), "input {json}");
        }
    }

    /// A record with the given fuel codes (as environment groups) and hybrid category.
    fn with_fuels(codes: &[&str], hybrid: Option<&str>) -> Kjoretoydata {
        let groups: Vec<String> = codes
            .iter()
            .map(|c| format!(r#"{{"drivstoffKodeMiljodata": {{"kodeVerdi": "{c}", "kodeNavn": "Navn {c}"}}}}"#))
            .collect();
        let hybrid = hybrid.map_or(String::new(), |h| {
            format!(r#""hybridKategori": {{"kodeVerdi": "{h}"}},"#)
        });
        let json = format!(
            r#"{{"forstegangsregistrering": {{"registrertForstegangNorgeDato": "2020-02-29"}},
                "godkjenning": {{"tekniskGodkjenning": {{"tekniskeData": {{
                "motorOgDrivverk": {{{hybrid} "motor": []}},
                "miljodata": {{"miljoOgdrivstoffGruppe": [{}]}}}}}}}}}}"#,
            groups.join(",")
        );
        serde_json::from_str(&json).expect("valid JSON")
    }

    #[test]
    fn electric_with_petrol_or_diesel_is_a_plug_in_hybrid_even_without_category() {
        for other in ["1", "2"] {
            let summary = summarize(&with_fuels(&["5", other], None), TODAY);
            assert_eq!(summary.powertrain, Powertrain::PlugInHybrid, "fuel {other}");
            assert!(summary.is_plug_in_hybrid);
            assert!(!summary.is_electric);
        }
    }

    #[test]
    fn an_unrecognised_hybrid_category_is_a_hybrid() {
        let summary = summarize(&with_fuels(&["1"], Some("IKKE_LADBAR")), TODAY);
        assert_eq!(summary.powertrain, Powertrain::Hybrid);
        assert_eq!(summary.hybrid_category, s("IKKE_LADBAR"));
        assert!(!summary.is_plug_in_hybrid);
        assert!(summary.battery_warranty.is_some());
    }

    #[test]
    fn a_diesel_car_is_combustion_without_a_battery_warranty() {
        let summary = summarize(&with_fuels(&["2"], Some("INGEN")), TODAY);
        assert_eq!(summary.powertrain, Powertrain::Combustion);
        assert_eq!(summary.fuel_types, vec!["diesel".to_owned()]);
        assert_eq!(summary.battery_warranty, None);
    }

    #[test]
    fn unknown_fuel_codes_show_the_registry_text_and_leave_the_powertrain_unknown() {
        let summary = summarize(&with_fuels(&["9", "5", "9"], None), TODAY);
        assert_eq!(
            summary.fuel_types,
            vec!["navn 9".to_owned(), "electric".to_owned()]
        );
        assert_eq!(summary.powertrain, Powertrain::Unknown);
        assert_eq!(summary.battery_warranty, None);
    }

    #[test]
    fn an_electric_car_without_a_registration_date_has_no_warranty_estimate() {
        let mut record = with_fuels(&["5"], Some("INGEN"));
        record.forstegangsregistrering = None;
        let summary = summarize(&record, TODAY);
        assert_eq!(summary.powertrain, Powertrain::BatteryElectric);
        assert_eq!(summary.battery_warranty, None);
    }

    #[test]
    fn the_warranty_runs_until_the_end_date_inclusive() {
        let first = date!(2016 - 06 - 06);
        let on_the_day = battery_warranty(first, date!(2024 - 06 - 06)).expect("in range");
        assert_eq!(on_the_day.estimated_end, "2024-06-06");
        assert!(!on_the_day.expired_by_age);
        let day_after = battery_warranty(first, date!(2024 - 06 - 07)).expect("in range");
        assert!(day_after.expired_by_age);
    }

    #[test]
    fn a_leap_day_registration_ends_on_the_leap_day_when_there_is_one() {
        let summary = summarize(&with_fuels(&["5"], Some("INGEN")), TODAY);
        let warranty = summary.battery_warranty.expect("BEV with a date");
        assert_eq!(warranty.estimated_end, "2028-02-29");
    }

    #[test]
    fn a_leap_day_registration_ends_on_28_february_in_a_common_year() {
        // 2100 is not a leap year, so this is the one case eight years can hit.
        let warranty = battery_warranty(date!(2092 - 02 - 29), TODAY).expect("in range");
        assert_eq!(warranty.estimated_end, "2100-02-28");
    }

    #[test]
    fn dates_are_read_from_dates_and_date_times_and_garbage_is_dropped() {
        assert_eq!(date(Some("2017-06-06")), Some(date!(2017 - 06 - 06)));
        assert_eq!(
            date(Some("2026-06-11T18:03:14.17+02:00")),
            Some(date!(2026 - 06 - 11))
        );
        assert_eq!(
            date(Some("2026-06-11T00:30:00+02:00")),
            Some(date!(2026 - 06 - 11))
        );
        for bad in [
            "",
            "-",
            "2017-13-01",
            "2017-02-30",
            "06.06.2017",
            "2017-6-6",
            "ØØØØØØ",
        ] {
            assert_eq!(date(Some(bad)), None, "input {bad:?}");
        }
    }

    #[test]
    fn zero_and_negative_quantities_are_not_given() {
        assert_eq!(whole(Some(0.0)), None);
        assert_eq!(whole(Some(-5.0)), None);
        assert_eq!(whole(Some(f64::from(u32::MAX) * 2.0)), None);
        assert_eq!(whole(Some(127.4)), Some(127));
        assert_eq!(whole(None), None);
    }

    #[test]
    fn powertrain_serialises_in_snake_case() {
        let json = serde_json::to_string(&Powertrain::PlugInHybrid).expect("serialise");
        assert_eq!(json, "\"plug_in_hybrid\"");
        let json = serde_json::to_string(&Powertrain::BatteryElectric).expect("serialise");
        assert_eq!(json, "\"battery_electric\"");
    }
}
