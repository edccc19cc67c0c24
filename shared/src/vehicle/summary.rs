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
use super::warranty::{self, WarrantyBasis};

/// The common warranty term for traction batteries of battery-electric and plug-in hybrid
/// cars the warranty table does not know, in years.
pub const BATTERY_WARRANTY_YEARS: u32 = super::warranty::COMMON_WARRANTY_YEARS;
/// The common warranty term for traction batteries, in km.
pub const BATTERY_WARRANTY_KM: u32 = super::warranty::COMMON_WARRANTY_KM;

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

/// The battery warranty estimated for this car's make, model and age (see
/// [`warranty`](super::warranty)): the manufacturer's published terms where Elbatt's table has
/// them, else the common term. Not the car's own contract. Years and km: whichever comes first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatteryWarranty {
    pub years: u32,
    /// `None`: no km limit.
    pub km: Option<u32>,
    /// The capacity (state of health) the battery is guaranteed to keep, where known.
    pub min_soh_percent: Option<u8>,
    /// A condition or detail of the terms, in Norwegian (e.g. a yearly battery check).
    pub condition_nb: Option<String>,
    /// Whether the terms are the make's own or the common term.
    pub basis: WarrantyBasis,
    /// The public page the manufacturer's terms were taken from.
    pub source: Option<String>,
    /// ISO date: first registration + `years` (29 February falls back to 28 February).
    pub estimated_end: String,
    /// `today` is after `estimated_end`.
    pub expired_by_age: bool,
    pub note: String,
}

/// Spells out the two constants above; the battery-electric fixture test checks they agree.
const BATTERY_WARRANTY_NOTE: &str = "Estimate only: 8 years or 160,000 km, whichever comes \
    first, is the common warranty term for the traction batteries of battery-electric and \
    plug-in hybrid cars; this make and model are not in Elbatt's table of manufacturer terms, so \
    it is not this car's own contract. \
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

    // Only battery-electric and plug-in hybrid cars get an estimate: hybrids that cannot be
    // plugged in have other battery terms (see the warranty module).
    let make = generelt.and_then(|g| g.merke.iter().find_map(|m| m.merke.clone()));
    let model = generelt.and_then(|g| g.handelsbetegnelse.first().cloned());
    let battery_warranty = first_registration.and_then(|first| {
        let (basis, row) =
            warranty::terms_for(make.as_deref(), model.as_deref(), first.year(), powertrain)?;
        let end = warranty::end_date(first, row.years)?;
        Some(warranty_estimate(basis, &row, end, today))
    });

    VehicleSummary {
        plate: plate(record),
        vin: record
            .kjoretoy_id
            .as_ref()
            .and_then(|id| id.understellsnummer.clone()),
        make,
        model,
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
#[cfg(test)]
fn battery_warranty(first_registration: Date, today: Date) -> Option<BatteryWarranty> {
    let end = warranty::end_date(first_registration, BATTERY_WARRANTY_YEARS)?;
    Some(warranty_estimate(
        WarrantyBasis::CommonTerm,
        &warranty::COMMON_ROW,
        end,
        today,
    ))
}

/// The estimate for terms `row` ending on `end`.
fn warranty_estimate(
    basis: WarrantyBasis,
    row: &warranty::WarrantyRow,
    end: Date,
    today: Date,
) -> BatteryWarranty {
    let note = match basis {
        WarrantyBasis::CommonTerm => BATTERY_WARRANTY_NOTE.to_owned(),
        WarrantyBasis::Manufacturer => {
            let km = row.km.map_or_else(
                || "no km limit".to_owned(),
                |km| format!("{} km, whichever comes first", thousands_en(km)),
            );
            let soh = row
                .min_soh_percent
                .map(|p| format!(", with at least {p} % of the capacity kept"))
                .unwrap_or_default();
            format!(
                "Estimate from the manufacturer's published terms for this make, model and \
                 year: {} years or {km}{soh}. Not this car's own contract: the end date counts \
                 from first registration, and the km limit may end the warranty sooner. Check \
                 the car's warranty papers or ask the manufacturer. Source: {}",
                row.years, row.source
            )
        }
    };
    BatteryWarranty {
        years: row.years,
        km: row.km,
        min_soh_percent: row.min_soh_percent,
        condition_nb: row.condition_nb.map(str::to_owned),
        basis,
        source: (!row.source.is_empty()).then(|| row.source.to_owned()),
        estimated_end: iso(end),
        expired_by_age: today > end,
        note,
    }
}

/// "160,000": English thousands, as in the notes.
fn thousands_en(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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
                "/tests/fixtures/vegvesen/",
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

    /// The common-term estimate ending on `end`, as of [`TODAY`].
    fn warranty_until(end: &str) -> Option<BatteryWarranty> {
        let end = date(Some(end)).expect("an ISO date");
        Some(warranty_estimate(
            WarrantyBasis::CommonTerm,
            &warranty::COMMON_ROW,
            end,
            TODAY,
        ))
    }

    /// The estimate from the warranty table's row for this car, ending on `end`.
    fn table_warranty_until(
        make: &str,
        model: &str,
        year: i32,
        end: &str,
    ) -> Option<BatteryWarranty> {
        let (basis, row) =
            warranty::terms_for(Some(make), Some(model), year, Powertrain::BatteryElectric)
                .expect("a chargeable car");
        assert_eq!(
            basis,
            WarrantyBasis::Manufacturer,
            "{make} {model} is in the table"
        );
        let end = date(Some(end)).expect("an ISO date");
        Some(warranty_estimate(basis, &row, end, TODAY))
    }

    #[test]
    fn the_battery_electric_fixture_maps_to_a_battery_electric_summary() {
        let summary = summary_of(fixture!("bev-kia-niro-ec47213.json"));
        let expected = VehicleSummary {
            plate: s("EC 47213"),
            vin: s("KNACC81GFL5291746"),
            make: s("KIA"),
            model: s("NIRO"),
            vehicle_class: s("M1"),
            first_registration: s("2020-09-14"),
            first_registration_norway: s("2020-09-14"),
            registration_status: s("REGISTRERT"),
            registration_status_text: s("Registrert"),
            deregistered_since: None,
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: s("INGEN"),
            is_plug_in_hybrid: false,
            // The motor has both ratings; the net one is used.
            power_kw: Some(150.0),
            power_source: s("max_net_power"),
            range_km: Some(455),
            range_standard: s("wltp"),
            energy_use_wh_per_km: Some(159),
            curb_weight_kg: Some(1757),
            max_weight_kg: Some(2230),
            colour: s("Hvit"),
            seats: Some(5),
            eu_control_deadline: s("2026-09-30"),
            eu_control_last_approved: s("2024-09-20"),
            // Kia's own terms: 7 years or 150,000 km.
            battery_warranty: table_warranty_until("KIA", "NIRO", 2020, "2027-09-14"),
        };
        assert_eq!(summary, expected);
        let warranty = summary.battery_warranty.expect("a BEV with a date");
        assert_eq!((warranty.years, warranty.km), (7, Some(150_000)));
        assert_eq!(warranty.min_soh_percent, Some(70));
        assert_eq!(warranty.basis, WarrantyBasis::Manufacturer);
        assert!(!warranty.expired_by_age);
        assert!(
            warranty
                .note
                .contains("7 years or 150,000 km, whichever comes first")
                && warranty.note.contains("at least 70 %")
                && warranty.note.contains("Source: https://"),
            "{}",
            warranty.note
        );
    }

    #[test]
    fn the_plug_in_hybrid_fixture_maps_to_a_plug_in_hybrid_summary() {
        let summary = summary_of(fixture!("phev-skoda-superb-dn61834.json"));
        let expected = VehicleSummary {
            plate: s("DN 61834"),
            vin: s("TMBJR9NP3L7402815"),
            make: s("SKODA"),
            model: s("SUPERB"),
            vehicle_class: s("M1"),
            first_registration: s("2020-03-02"),
            first_registration_norway: s("2020-03-02"),
            registration_status: s("REGISTRERT"),
            registration_status_text: s("Registrert"),
            deregistered_since: None,
            fuel_types: vec!["petrol".to_owned(), "electric".to_owned()],
            powertrain: Powertrain::PlugInHybrid,
            is_electric: false,
            hybrid_category: s("LADBAR"),
            is_plug_in_hybrid: true,
            // Engine 110 kW net + e-motor 85 kW net (its 40 kW hourly figure is not used).
            power_kw: Some(195.0),
            power_source: s("max_net_power"),
            range_km: Some(62),
            range_standard: s("nedc"),
            energy_use_wh_per_km: Some(145),
            curb_weight_kg: Some(1720),
            max_weight_kg: Some(2260),
            colour: s("Grå"),
            seats: Some(5),
            eu_control_deadline: s("2027-02-28"),
            eu_control_last_approved: s("2025-02-11"),
            battery_warranty: warranty_until("2028-03-02"),
        };
        assert_eq!(summary, expected);
    }

    #[test]
    fn the_hybrid_fixture_maps_to_a_hybrid_without_electric_range() {
        let summary = summary_of(fixture!("hybrid-toyota-yaris-kh20577.json"));
        let expected = VehicleSummary {
            plate: s("KH 20577"),
            vin: s("VNKKG3D380A214693"),
            make: s("TOYOTA"),
            model: s("YARIS"),
            vehicle_class: s("M1"),
            first_registration: s("2019-05-27"),
            first_registration_norway: s("2019-05-27"),
            registration_status: s("REGISTRERT"),
            registration_status_text: s("Registrert"),
            deregistered_since: None,
            fuel_types: vec!["petrol".to_owned(), "electric".to_owned()],
            powertrain: Powertrain::Hybrid,
            is_electric: false,
            hybrid_category: s("IKKE_LADBAR"),
            is_plug_in_hybrid: false,
            power_kw: Some(99.0),
            power_source: s("max_net_power"),
            range_km: None,
            range_standard: None,
            energy_use_wh_per_km: None,
            curb_weight_kg: Some(1100),
            max_weight_kg: Some(1565),
            colour: s("Rød"),
            seats: Some(5),
            eu_control_deadline: s("2027-05-31"),
            eu_control_last_approved: s("2025-05-14"),
            // A hybrid that cannot be plugged in: other battery terms, so no estimate.
            battery_warranty: None,
        };
        assert_eq!(summary, expected);
    }

    #[test]
    fn the_used_import_fixture_keeps_both_first_registrations() {
        let summary = summary_of(fixture!("bruktimport-audi-etron-ef38260.json"));
        let expected = VehicleSummary {
            plate: s("EF 38260"),
            vin: s("WAUZZZGE5LB930417"),
            make: s("AUDI"),
            model: s("E-TRON"),
            vehicle_class: s("M1"),
            // Abroad first; the warranty counts from there.
            first_registration: s("2019-11-21"),
            first_registration_norway: s("2022-01-17"),
            registration_status: s("REGISTRERT"),
            registration_status_text: s("Registrert"),
            deregistered_since: None,
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: s("INGEN"),
            is_plug_in_hybrid: false,
            power_kw: Some(265.0),
            power_source: s("max_net_power"),
            range_km: Some(417),
            range_standard: s("wltp"),
            energy_use_wh_per_km: Some(237),
            curb_weight_kg: Some(2490),
            max_weight_kg: Some(3130),
            colour: s("Blå"),
            seats: Some(5),
            eu_control_deadline: s("2027-11-30"),
            eu_control_last_approved: s("2025-11-20"),
            battery_warranty: warranty_until("2027-11-21"),
        };
        assert_eq!(summary, expected);
    }

    #[test]
    fn the_taxi_fixture_maps_to_a_battery_electric_summary() {
        let summary = summary_of(fixture!("drosje-tesla-modely-eh91427.json"));
        let expected = VehicleSummary {
            plate: s("EH 91427"),
            vin: s("XP7YGCEK2PB318564"),
            make: s("TESLA"),
            model: s("MODEL Y"),
            vehicle_class: s("M1"),
            first_registration: s("2023-06-12"),
            first_registration_norway: s("2023-06-12"),
            registration_status: s("REGISTRERT"),
            registration_status_text: s("Registrert"),
            deregistered_since: None,
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: s("INGEN"),
            is_plug_in_hybrid: false,
            power_kw: Some(378.0),
            power_source: s("max_net_power"),
            range_km: Some(533),
            range_standard: s("wltp"),
            energy_use_wh_per_km: Some(168),
            curb_weight_kg: Some(1979),
            max_weight_kg: Some(2524),
            colour: s("Svart"),
            seats: Some(5),
            eu_control_deadline: s("2026-11-30"),
            eu_control_last_approved: s("2025-11-25"),
            battery_warranty: warranty_until("2031-06-12"),
        };
        assert_eq!(summary, expected);
    }

    #[test]
    fn the_trimmed_deregistered_fixture_keeps_what_it_has_and_invents_nothing() {
        let summary = summary_of(fixture!("avregistrert-trimmet-nissan-leaf-eb73051.json"));
        let expected = VehicleSummary {
            plate: s("EB 73051"),
            vin: s("SJNFAAZE1U5028413"),
            make: s("NISSAN"),
            model: s("LEAF"),
            vehicle_class: None,
            // No first registration abroad: falls back to the Norwegian date.
            first_registration: s("2019-10-04"),
            first_registration_norway: s("2019-10-04"),
            // The sample has the status text but no code.
            registration_status: None,
            registration_status_text: s("Avregistrert"),
            deregistered_since: s("2026-03-18"),
            // Its fuel has a text but no code: shown, but not used to decide the powertrain.
            fuel_types: vec!["elektrisk".to_owned()],
            powertrain: Powertrain::Unknown,
            is_electric: false,
            hybrid_category: None,
            is_plug_in_hybrid: false,
            power_kw: None,
            power_source: None,
            range_km: None,
            range_standard: None,
            energy_use_wh_per_km: None,
            curb_weight_kg: Some(1580),
            max_weight_kg: Some(1995),
            colour: None,
            seats: Some(5),
            eu_control_deadline: s("2027-10-31"),
            eu_control_last_approved: s("2025-10-02"),
            battery_warranty: None,
        };
        assert_eq!(summary, expected);
    }

    #[test]
    fn the_minimal_fixture_maps_what_it_has_and_leaves_the_rest_unknown() {
        let summary = summary_of(fixture!("minimal-lj58016.json"));
        let expected = VehicleSummary {
            plate: s("LJ 58016"),
            vin: s("VF1RJA00X68240391"),
            make: s("RENAULT"),
            model: s("ZOE"),
            first_registration: s("2015-04-09"),
            first_registration_norway: s("2015-04-09"),
            registration_status: s("REGISTRERT"),
            registration_status_text: s("Registrert"),
            // Everything else: not in the record, so not in the summary.
            ..VehicleSummary::default()
        };
        assert_eq!(summary, expected);
    }

    #[test]
    fn the_error_and_empty_fixtures_have_no_records() {
        let response: KjoretoydataResponse =
            serde_json::from_str(fixture!("error-400-ugyldig-format.json")).expect("valid JSON");
        assert_eq!(
            response.feilmelding.as_deref(),
            Some("UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE")
        );
        assert!(response.kjoretoydata_liste.is_empty());
        let response: KjoretoydataResponse =
            serde_json::from_str(fixture!("ok-200-tom-liste.json")).expect("valid JSON");
        assert_eq!(response, KjoretoydataResponse::default());
        let response: KjoretoydataResponse =
            serde_json::from_str(fixture!("ok-200-feilmelding-tom-liste.json"))
                .expect("valid JSON");
        assert!(response.feilmelding.is_some());
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
        assert_eq!(
            summary.battery_warranty, None,
            "not a plug-in: other battery terms"
        );
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
