//! [`summarize`]: turns one registry record into a [`VehicleSummary`], the flat, English,
//! buyer-oriented view that `plate-lookup` returns and `chat` hands to the model.
//!
//! Rules follow docs/upstreams/vegvesen.md (#response, #powertrain). Decisions branch on code
//! values (`kodeVerdi`)
//! only, never on the Norwegian display texts, which the registry may reword. A value the
//! record lacks stays `None`; nothing is guessed, and a zero where a physical quantity
//! belongs (0 km range, 0 kg) is read as "not given" (except towing weights, where the
//! registry's 0 means "not approved for towing").
//!
//! Power is reported per motor, never summed: a plug-in hybrid's engine and electric motor
//! rarely peak together, and the registry has no figure for the combined system output.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::model::{
    Drivstoff, ForbrukOgUtslipp, Kjoretoydata, Kjoretoyklassifisering, KodeverkType,
    MiljoOgDrivstoffGruppe, Motor, MotorOgDrivverk, Registrering, TekniskeData, Vekter,
    WltpKjoretoyspesifikk,
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
const PRINCIPLE_ELECTRIC: &str = "ELEKTRISK";

/// `Default` is a record with nothing known (every field `None`, powertrain `Unknown`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VehicleSummary {
    /// As the registry displays it, e.g. "EC 47213".
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
    /// What the vehicle is registered for (`kjoringensArt`): own transport, taxi, rental, ...
    pub usage: Option<Usage>,
    /// Present only for a used import (`bruktimport`).
    pub used_import: Option<UsedImport>,
    /// "electric", "petrol", "diesel", in record order without repeats; other fuels as the
    /// registry's own text in lower case.
    pub fuel_types: Vec<String>,
    pub powertrain: Powertrain,
    /// Battery-electric only; a plug-in hybrid is `false`.
    pub is_electric: bool,
    /// `hybridKategori` code as given: "INGEN", "LADBAR", ...
    pub hybrid_category: Option<String>,
    pub is_plug_in_hybrid: bool,
    /// Each motor's own power ratings, in record order (a plug-in hybrid has an engine and an
    /// electric motor). Never add them up: the system output is lower than the sum.
    #[serde(default)]
    pub motors: Vec<MotorPower>,
    /// kW, only for a vehicle with exactly one motor: its maximum net power, else its maximum
    /// 60-minute power. `None` with several motors (see `motors`).
    pub power_kw: Option<f64>,
    /// "max_net_power" or "max_hourly_power": which rating `power_kw` is.
    pub power_source: Option<String>,
    /// Electric range, km.
    pub range_km: Option<u32>,
    /// How `range_km` was measured, as the record says: "wltp" (from the WLTP block or a
    /// `malemetode` of WLTP), "nedc" (only when `malemetode` says NEDC), "other" (any other
    /// method, e.g. the registry's `ANNEN`), "unknown" (no method given). `None` without a range.
    pub range_standard: Option<String>,
    /// The registry's `malemetode` code for the range as given ("WLTP", "NEDC", "ANNEN").
    pub range_test_method: Option<String>,
    /// Electric energy use, Wh/km (127 = 12.7 kWh/100 km).
    pub energy_use_wh_per_km: Option<u32>,
    pub curb_weight_kg: Option<u32>,
    /// Maximum permitted total weight.
    pub max_weight_kg: Option<u32>,
    /// Permitted trailer weights; `None` when the record gives neither.
    pub towing: Option<Towing>,
    /// The registry's colour name (Norwegian), e.g. "Grå".
    pub colour: Option<String>,
    pub seats: Option<u32>,
    /// ISO date: next EU-kontroll (periodic roadworthiness test) due by.
    pub eu_control_deadline: Option<String>,
    /// ISO date the last EU-kontroll was passed.
    pub eu_control_last_approved: Option<String>,
    /// The EU-kontroll deadline has passed: `today` (in Norway) is after it. The deadline day
    /// itself is not overdue. `None` without a deadline. As of the day of the answer: a cached
    /// summary is brought up to date with [`VehicleSummary::as_of`] each time it is served.
    pub eu_control_overdue: Option<bool>,
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

/// One motor's power ratings as the registry gives them, in kW.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MotorPower {
    /// From `arbeidsprinsipp` (`ELEKTRISK` or a combustion principle such as `OTTO`), else from
    /// the motor's fuel codes; `None` when neither says.
    pub kind: Option<MotorKind>,
    /// The motor's fuels, named as in `fuel_types`.
    #[serde(default)]
    pub fuels: Vec<String>,
    /// Maximum net power (`maksNettoEffekt`): the peak rating.
    pub max_net_power_kw: Option<f64>,
    /// Maximum 60-minute power (`maksEffektPrTime`): an electric motor's sustained rating,
    /// lower than its peak.
    pub max_hourly_power_kw: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MotorKind {
    Electric,
    Combustion,
}

/// What the vehicle is registered for (`kjoringensArt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// The code as given, e.g. "EGENTRANSP_ANNEN", "DROSJE_…".
    pub code: Option<String>,
    /// The registry's text (Norwegian), which can be a long legal description.
    pub text: Option<String>,
    pub kind: UsageKind,
}

/// The family of a `kjoringensArt` code, decided on the code alone (the text is only shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// `EGENTRANSP*`: private or a company's own transport.
    OwnTransport,
    /// `DROSJE*`.
    Taxi,
    /// `UTLEIE*`.
    Rental,
    /// A code naming a driving school (`*SKOLE*`, `OVINGS*`, `OPPLAER*`).
    DrivingSchool,
    /// `DIPLOMAT*`.
    Diplomatic,
    /// `FORSVAR*`.
    Defence,
    /// Any other code.
    Other,
    /// The record has a text but no code.
    Unknown,
}

/// A used import (`forstegangsGodkjenning.bruktimport`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsedImport {
    /// The country it was imported from, as the registry names it (Norwegian), e.g. "Tyskland".
    pub country: Option<String>,
    /// The odometer reading when it was imported, km. The registry has no later reading.
    pub odometer_km_at_import: Option<u32>,
}

/// Permitted trailer weights, kg. `0` means the vehicle is not approved for that kind of
/// trailer (the registry's own convention), unlike other weights, where 0 reads as "not given".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Towing {
    /// Trailer with its own brakes (`tillattTilhengervektMedBrems`).
    pub braked_kg: Option<u32>,
    /// Trailer without brakes (`tillattTilhengervektUtenBrems`).
    pub unbraked_kg: Option<u32>,
}

impl VehicleSummary {
    /// This summary as it reads on `today` (in Norway): `eu_control_overdue` and the warranty's
    /// `expired_by_age` worked out again from the stored dates, so a summary cached on an
    /// earlier day is not stale. The same `Arc` when nothing changed.
    pub fn as_of(self: &Arc<Self>, today: Date) -> Arc<Self> {
        let overdue = match self
            .eu_control_deadline
            .as_deref()
            .and_then(|d| date(Some(d)))
        {
            Some(deadline) => Some(today > deadline),
            None => self.eu_control_overdue,
        };
        let expired = self
            .battery_warranty
            .as_ref()
            .map(|w| date(Some(&w.estimated_end)).map_or(w.expired_by_age, |end| today > end));
        if overdue == self.eu_control_overdue
            && expired == self.battery_warranty.as_ref().map(|w| w.expired_by_age)
        {
            return Arc::clone(self);
        }
        let mut fresh = VehicleSummary::clone(self);
        fresh.eu_control_overdue = overdue;
        if let (Some(w), Some(expired)) = (fresh.battery_warranty.as_mut(), expired) {
            w.expired_by_age = expired;
        }
        Arc::new(fresh)
    }
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

/// Maps one registry record to a summary. `today` (the date in Norway, see [`norway_date`])
/// decides whether the battery warranty has run out and the EU-kontroll is overdue; it is
/// passed in so the result is deterministic.
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
    let (power_kw, power_source) = match single_motor_power(motors) {
        Some((kw, source)) => (Some(kw), Some(source.to_owned())),
        None => (None, None),
    };
    let eu_control_deadline = kontroll.and_then(|k| date(k.kontrollfrist.as_deref()));
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
        usage: registrering.and_then(usage),
        used_import: record
            .godkjenning
            .as_ref()
            .and_then(|g| g.forstegangs_godkjenning.as_ref())
            .and_then(|f| f.bruktimport.as_ref())
            .map(|b| UsedImport {
                country: b.importland.as_ref().and_then(|l| l.land_navn.clone()),
                odometer_km_at_import: whole(b.kilometerstand),
            }),
        fuel_types: fuel_types(fuel_groups, motors),
        powertrain,
        is_electric: powertrain == Powertrain::BatteryElectric,
        hybrid_category,
        is_plug_in_hybrid: powertrain == Powertrain::PlugInHybrid,
        motors: motors.iter().map(motor_power).collect(),
        power_kw,
        power_source,
        range_km: electric.range_km,
        range_standard: electric.range_standard.map(str::to_owned),
        range_test_method: electric.range_test_method,
        energy_use_wh_per_km: electric.energy_use_wh_per_km,
        curb_weight_kg: vekter.and_then(|v| whole(v.egenvekt)),
        max_weight_kg: vekter.and_then(|v| whole(v.tillatt_totalvekt)),
        towing: vekter.and_then(towing),
        colour: data
            .and_then(|d| d.karosseri_og_lasteplan.as_ref())
            .and_then(|k| k.r_farge.iter().find_map(KodeverkType::display_text))
            .map(str::to_owned),
        seats: data
            .and_then(|d| d.persontall.as_ref())
            .and_then(|p| whole(p.sitteplasser_totalt)),
        eu_control_deadline: eu_control_deadline.map(iso),
        eu_control_last_approved: kontroll
            .and_then(|k| date(k.sist_godkjent.as_deref()))
            .map(iso),
        eu_control_overdue: eu_control_deadline.map(|deadline| today > deadline),
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

/// The highest positive figure `pick` finds among a motor's fuel entries. Several entries
/// describe the same motor on different fuels, so the highest is taken, never the sum.
fn motor_rating(motor: &Motor, pick: fn(&Drivstoff) -> Option<f64>) -> Option<f64> {
    motor
        .drivstoff
        .iter()
        .filter_map(pick)
        .filter(|kw| *kw > 0.0)
        .reduce(f64::max)
}

/// The power of a vehicle with exactly one motor, and which rating it is: the maximum net
/// power (`maksNettoEffekt`) if the registry has one, else the maximum 60-minute power
/// (`maksEffektPrTime`, lower than an electric motor's peak). With several motors there is no
/// single figure: adding them up overstates the system output, so it is `None` and
/// `VehicleSummary::motors` has each motor's own ratings.
fn single_motor_power(motors: &[Motor]) -> Option<(f64, &'static str)> {
    let [motor] = motors else {
        return None;
    };
    match motor_rating(motor, |d| d.maks_netto_effekt) {
        Some(kw) => Some((kw, "max_net_power")),
        None => motor_rating(motor, |d| d.maks_effekt_pr_time).map(|kw| (kw, "max_hourly_power")),
    }
}

/// One motor's ratings, kind and fuels.
fn motor_power(motor: &Motor) -> MotorPower {
    let codes: Vec<&str> = motor
        .drivstoff
        .iter()
        .filter_map(|d| d.drivstoff_kode.as_ref())
        .filter_map(|k| k.kode_verdi.as_deref())
        .collect();
    let kind = match motor
        .arbeidsprinsipp
        .as_ref()
        .and_then(|k| k.kode_verdi.as_deref())
    {
        Some(code) if code.eq_ignore_ascii_case(PRINCIPLE_ELECTRIC) => Some(MotorKind::Electric),
        Some(_) => Some(MotorKind::Combustion),
        None if !codes.is_empty() && codes.iter().all(|&c| c == FUEL_ELECTRIC) => {
            Some(MotorKind::Electric)
        }
        None if !codes.is_empty()
            && codes.iter().all(|&c| c == FUEL_PETROL || c == FUEL_DIESEL) =>
        {
            Some(MotorKind::Combustion)
        }
        None => None,
    };
    MotorPower {
        kind,
        fuels: fuel_types(&[], std::slice::from_ref(motor)),
        max_net_power_kw: motor_rating(motor, |d| d.maks_netto_effekt),
        max_hourly_power_kw: motor_rating(motor, |d| d.maks_effekt_pr_time),
    }
}

/// `kjoringensArt`, with its family decided on the code alone. The codes the registry is known
/// to use are `EGENTRANSP_ANNEN`, `DROSJE_*`, `DIPLOMAT` and `FORSVARET`
/// (docs/upstreams/vegvesen.md); rental and driving-school codes are matched on the words they
/// would contain.
fn usage(registrering: &Registrering) -> Option<Usage> {
    let art = registrering.kjoringens_art.as_ref()?;
    let code = art.kode_verdi.clone();
    let text = art
        .kode_navn
        .clone()
        .or_else(|| art.kode_beskrivelse.clone());
    if code.is_none() && text.is_none() {
        return None;
    }
    let kind = match code.as_deref().map(str::to_ascii_uppercase) {
        None => UsageKind::Unknown,
        Some(c) if c.starts_with("EGENTRANSP") => UsageKind::OwnTransport,
        Some(c) if c.starts_with("DROSJE") => UsageKind::Taxi,
        Some(c) if c.starts_with("UTLEIE") => UsageKind::Rental,
        Some(c) if c.contains("SKOLE") || c.starts_with("OVINGS") || c.starts_with("OPPLAER") => {
            UsageKind::DrivingSchool
        }
        Some(c) if c.starts_with("DIPLOMAT") => UsageKind::Diplomatic,
        Some(c) if c.starts_with("FORSVAR") => UsageKind::Defence,
        Some(_) => UsageKind::Other,
    };
    Some(Usage { code, text, kind })
}

/// Trailer weights, keeping the registry's 0 ("not approved for towing").
fn towing(vekter: &Vekter) -> Option<Towing> {
    let kg = |value: Option<f64>| {
        if value == Some(0.0) {
            Some(0)
        } else {
            whole(value)
        }
    };
    let towing = Towing {
        braked_kg: kg(vekter.tillatt_tilhengervekt_med_brems),
        unbraked_kg: kg(vekter.tillatt_tilhengervekt_uten_brems),
    };
    (towing.braked_kg.is_some() || towing.unbraked_kg.is_some()).then_some(towing)
}

#[derive(Debug, Default)]
struct ElectricFigures {
    range_km: Option<u32>,
    range_standard: Option<&'static str>,
    range_test_method: Option<String>,
    energy_use_wh_per_km: Option<u32>,
}

/// The range standard a `malemetode` code names: only WLTP and NEDC are told apart; any other
/// code is "other" and a missing one "unknown", so no figure is called NEDC unless the record
/// says so.
fn range_standard(method: Option<&str>) -> &'static str {
    match method.map(str::to_ascii_uppercase) {
        None => "unknown",
        Some(code) if code.starts_with("WLTP") => "wltp",
        Some(code) if code.starts_with("NEDC") => "nedc",
        Some(_) => "other",
    }
}

fn method_code(entry: &ForbrukOgUtslipp) -> Option<&str> {
    entry
        .malemetode
        .as_ref()
        .and_then(|m| m.kode_verdi.as_deref())
}

/// Range and energy use from the electric fuel group (code 5): the WLTP block's figure where
/// the record has one, else the plain figure, labelled with the method its entry states.
/// Range and energy use are chosen independently, so `range_standard` describes the range
/// only.
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

    let from_wltp = entries.iter().find_map(|e| {
        let km = whole(
            e.wltp_kjoretoyspesifikk
                .as_ref()?
                .rekkevidde_km_blandetkjoring,
        )?;
        Some((km, "wltp", method_code(e)))
    });
    let from_plain = || {
        entries.iter().find_map(|e| {
            let km = whole(e.rekkevidde_km)?;
            Some((km, range_standard(method_code(e)), method_code(e)))
        })
    };
    let (range_km, range_standard, range_test_method) = match from_wltp.or_else(from_plain) {
        Some((km, standard, method)) => (Some(km), Some(standard), method.map(str::to_owned)),
        None => (None, None, None),
    };
    ElectricFigures {
        range_km,
        range_standard,
        range_test_method,
        energy_use_wh_per_km: wltp(|w| w.el_energiforbruk)
            .or_else(|| older(|e| e.el_energiforbruk)),
    }
}

/// The calendar date in Norway (Europe/Oslo) at `now`, for `summarize`'s `today`; see
/// [`crate::norway`].
pub fn norway_date(now: OffsetDateTime) -> Date {
    crate::norway::date(now)
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
    // `YYYY-MM-DD` read by hand: `time`'s format-description parser cost about 750
    // instructions a date, and every cached answer reads two (`VehicleSummary::as_of`).
    let day = text?.trim().as_bytes().get(..10)?;
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u16, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u16::from(b - b'0'))
        })
    };
    if day[4] != b'-' || day[7] != b'-' {
        return None;
    }
    let year = i32::from(number(&day[..4])?);
    let month = time::Month::try_from(u8::try_from(number(&day[5..7])?).ok()?).ok()?;
    let dom = u8::try_from(number(&day[8..10])?).ok()?;
    Date::from_calendar_date(year, month, dom).ok()
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
            let term = row.km.map_or_else(
                || format!("{} years with no km limit", row.years),
                |km| {
                    format!(
                        "{} years or {} km, whichever comes first",
                        row.years,
                        thousands_en(km)
                    )
                },
            );
            let soh = row
                .min_soh_percent
                .map(|p| format!(", with at least {p} % of the capacity kept"))
                .unwrap_or_default();
            format!(
                "Estimate from the manufacturer's published terms for this make, model and \
                 year: {term}{soh}. Not this car's own contract: the end date counts \
                 from first registration, and the km limit may end the warranty sooner. Check \
                 the car's warranty papers or ask the manufacturer. Source: {}",
                row.source
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
            usage: Some(Usage {
                code: s("EGENTRANSP_ANNEN"),
                text: s("Egentransport"),
                kind: UsageKind::OwnTransport,
            }),
            used_import: None,
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: s("INGEN"),
            is_plug_in_hybrid: false,
            motors: vec![MotorPower {
                kind: Some(MotorKind::Electric),
                fuels: vec!["electric".to_owned()],
                max_net_power_kw: Some(150.0),
                max_hourly_power_kw: Some(35.0),
            }],
            // The motor has both ratings; the net one is used.
            power_kw: Some(150.0),
            power_source: s("max_net_power"),
            range_km: Some(455),
            range_standard: s("wltp"),
            range_test_method: s("WLTP"),
            energy_use_wh_per_km: Some(159),
            curb_weight_kg: Some(1757),
            max_weight_kg: Some(2230),
            towing: Some(Towing {
                braked_kg: Some(750),
                unbraked_kg: Some(300),
            }),
            colour: s("Hvit"),
            seats: Some(5),
            eu_control_deadline: s("2026-09-30"),
            eu_control_last_approved: s("2024-09-20"),
            eu_control_overdue: Some(false),
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
            usage: Some(Usage {
                code: s("EGENTRANSP_ANNEN"),
                text: s("Egentransport"),
                kind: UsageKind::OwnTransport,
            }),
            used_import: None,
            fuel_types: vec!["petrol".to_owned(), "electric".to_owned()],
            powertrain: Powertrain::PlugInHybrid,
            is_electric: false,
            hybrid_category: s("LADBAR"),
            is_plug_in_hybrid: true,
            motors: vec![
                MotorPower {
                    kind: Some(MotorKind::Combustion),
                    fuels: vec!["petrol".to_owned()],
                    max_net_power_kw: Some(110.0),
                    max_hourly_power_kw: None,
                },
                MotorPower {
                    kind: Some(MotorKind::Electric),
                    fuels: vec!["electric".to_owned()],
                    max_net_power_kw: Some(85.0),
                    max_hourly_power_kw: Some(40.0),
                },
            ],
            // Two motors: no single figure, each motor has its own (never summed).
            power_kw: None,
            power_source: None,
            range_km: Some(62),
            range_standard: s("nedc"),
            range_test_method: s("NEDC"),
            energy_use_wh_per_km: Some(145),
            curb_weight_kg: Some(1720),
            max_weight_kg: Some(2260),
            towing: Some(Towing {
                braked_kg: Some(1800),
                unbraked_kg: Some(750),
            }),
            colour: s("Grå"),
            seats: Some(5),
            eu_control_deadline: s("2027-02-28"),
            eu_control_last_approved: s("2025-02-11"),
            eu_control_overdue: Some(false),
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
            usage: Some(Usage {
                code: s("EGENTRANSP_ANNEN"),
                text: s("Egentransport"),
                kind: UsageKind::OwnTransport,
            }),
            used_import: None,
            fuel_types: vec!["petrol".to_owned(), "electric".to_owned()],
            powertrain: Powertrain::Hybrid,
            is_electric: false,
            hybrid_category: s("IKKE_LADBAR"),
            is_plug_in_hybrid: false,
            motors: vec![
                MotorPower {
                    kind: Some(MotorKind::Combustion),
                    fuels: vec!["petrol".to_owned()],
                    max_net_power_kw: Some(54.0),
                    max_hourly_power_kw: None,
                },
                MotorPower {
                    kind: Some(MotorKind::Electric),
                    fuels: vec!["electric".to_owned()],
                    max_net_power_kw: Some(45.0),
                    max_hourly_power_kw: None,
                },
            ],
            power_kw: None,
            power_source: None,
            range_km: None,
            range_standard: None,
            range_test_method: None,
            energy_use_wh_per_km: None,
            curb_weight_kg: Some(1100),
            max_weight_kg: Some(1565),
            towing: Some(Towing {
                braked_kg: Some(450),
                unbraked_kg: Some(450),
            }),
            colour: s("Rød"),
            seats: Some(5),
            eu_control_deadline: s("2027-05-31"),
            eu_control_last_approved: s("2025-05-14"),
            eu_control_overdue: Some(false),
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
            usage: Some(Usage {
                code: s("EGENTRANSP_ANNEN"),
                text: s("Egentransport"),
                kind: UsageKind::OwnTransport,
            }),
            used_import: Some(UsedImport {
                country: s("Tyskland"),
                odometer_km_at_import: Some(48_210),
            }),
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: s("INGEN"),
            is_plug_in_hybrid: false,
            motors: vec![
                MotorPower {
                    kind: Some(MotorKind::Electric),
                    fuels: vec!["electric".to_owned()],
                    max_net_power_kw: Some(125.0),
                    max_hourly_power_kw: Some(35.0),
                },
                MotorPower {
                    kind: Some(MotorKind::Electric),
                    fuels: vec!["electric".to_owned()],
                    max_net_power_kw: Some(140.0),
                    max_hourly_power_kw: Some(45.0),
                },
            ],
            power_kw: None,
            power_source: None,
            range_km: Some(417),
            range_standard: s("wltp"),
            range_test_method: s("WLTP"),
            energy_use_wh_per_km: Some(237),
            curb_weight_kg: Some(2490),
            max_weight_kg: Some(3130),
            towing: Some(Towing {
                braked_kg: Some(1800),
                unbraked_kg: Some(750),
            }),
            colour: s("Blå"),
            seats: Some(5),
            eu_control_deadline: s("2027-11-30"),
            eu_control_last_approved: s("2025-11-20"),
            eu_control_overdue: Some(false),
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
            usage: Some(Usage {
                code: s("DROSJE_LOYVE"),
                text: s("Drosje"),
                kind: UsageKind::Taxi,
            }),
            used_import: None,
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: s("INGEN"),
            is_plug_in_hybrid: false,
            motors: vec![
                MotorPower {
                    kind: Some(MotorKind::Electric),
                    fuels: vec!["electric".to_owned()],
                    max_net_power_kw: Some(158.0),
                    max_hourly_power_kw: Some(60.0),
                },
                MotorPower {
                    kind: Some(MotorKind::Electric),
                    fuels: vec!["electric".to_owned()],
                    max_net_power_kw: Some(220.0),
                    max_hourly_power_kw: Some(75.0),
                },
            ],
            power_kw: None,
            power_source: None,
            range_km: Some(533),
            range_standard: s("wltp"),
            range_test_method: s("WLTP"),
            energy_use_wh_per_km: Some(168),
            curb_weight_kg: Some(1979),
            max_weight_kg: Some(2524),
            towing: Some(Towing {
                braked_kg: Some(1600),
                unbraked_kg: Some(750),
            }),
            colour: s("Svart"),
            seats: Some(5),
            eu_control_deadline: s("2026-11-30"),
            eu_control_last_approved: s("2025-11-25"),
            eu_control_overdue: Some(false),
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
            usage: Some(Usage {
                code: None,
                text: s("Utleievogn."),
                kind: UsageKind::Unknown,
            }),
            used_import: None,
            // Its fuel has a text but no code: shown, but not used to decide the powertrain.
            fuel_types: vec!["elektrisk".to_owned()],
            powertrain: Powertrain::Unknown,
            is_electric: false,
            hybrid_category: None,
            is_plug_in_hybrid: false,
            motors: vec![MotorPower {
                kind: None,
                fuels: vec!["elektrisk".to_owned()],
                max_net_power_kw: None,
                max_hourly_power_kw: None,
            }],
            power_kw: None,
            power_source: None,
            range_km: None,
            range_standard: None,
            range_test_method: None,
            energy_use_wh_per_km: None,
            curb_weight_kg: Some(1580),
            max_weight_kg: Some(1995),
            towing: None,
            colour: None,
            seats: Some(5),
            eu_control_deadline: s("2027-10-31"),
            eu_control_last_approved: s("2025-10-02"),
            eu_control_overdue: Some(false),
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

    /// The date the fixtures' EU-kontroll deadlines are chosen around.
    const EU_CHECK_DAY: Date = date!(2026 - 12 - 01);

    #[test]
    fn each_motor_of_the_plug_in_hybrid_fixture_keeps_its_own_ratings_and_none_are_summed() {
        let summary = summary_of(fixture!("phev-skoda-superb-dn61834.json"));
        let engine = &summary.motors[0];
        assert_eq!(engine.kind, Some(MotorKind::Combustion));
        assert_eq!(engine.fuels, vec!["petrol".to_owned()]);
        assert_eq!(engine.max_net_power_kw, Some(110.0));
        assert_eq!(engine.max_hourly_power_kw, None);
        let electric = &summary.motors[1];
        assert_eq!(electric.kind, Some(MotorKind::Electric));
        assert_eq!(electric.fuels, vec!["electric".to_owned()]);
        assert_eq!(electric.max_net_power_kw, Some(85.0));
        assert_eq!(electric.max_hourly_power_kw, Some(40.0));
        assert_eq!(summary.motors.len(), 2);
        // No 195 kW anywhere: the system output is not in the record.
        assert_eq!(summary.power_kw, None);
        assert_eq!(summary.power_source, None);
        let json = serde_json::to_value(&summary).expect("serialise");
        assert_eq!(json["motors"][0]["kind"], "combustion");
        assert_eq!(json["motors"][1]["max_hourly_power_kw"], 40.0);
    }

    #[test]
    fn a_single_motor_gives_power_kw_with_its_net_rating() {
        let summary = summary_of(fixture!("bev-kia-niro-ec47213.json"));
        assert_eq!(summary.power_kw, Some(150.0));
        assert_eq!(summary.power_source, s("max_net_power"));
        assert_eq!(summary.motors[0].max_hourly_power_kw, Some(35.0));
    }

    #[test]
    fn the_range_test_method_is_the_one_the_fixture_states() {
        let bev = summary_of(fixture!("bev-kia-niro-ec47213.json"));
        assert_eq!(
            (bev.range_km, bev.range_standard, bev.range_test_method),
            (Some(455), s("wltp"), s("WLTP"))
        );
        let phev = summary_of(fixture!("phev-skoda-superb-dn61834.json"));
        assert_eq!(
            (phev.range_km, phev.range_standard, phev.range_test_method),
            (Some(62), s("nedc"), s("NEDC"))
        );
        // The used import's WLTP figure is in the WLTP block.
        let import = summary_of(fixture!("bruktimport-audi-etron-ef38260.json"));
        assert_eq!(
            (import.range_km, import.range_standard),
            (Some(417), s("wltp"))
        );
        let hybrid = summary_of(fixture!("hybrid-toyota-yaris-kh20577.json"));
        assert_eq!(
            (
                hybrid.range_km,
                hybrid.range_standard,
                hybrid.range_test_method
            ),
            (None, None, None)
        );
    }

    /// An electric group with one plain range entry and the given `malemetode` JSON.
    fn plain_range(method: &str) -> VehicleSummary {
        let json = format!(
            r#"{{"godkjenning": {{"tekniskGodkjenning": {{"tekniskeData": {{"miljodata": {{
                "miljoOgdrivstoffGruppe": [{{"drivstoffKodeMiljodata": {{"kodeVerdi": "5"}},
                "forbrukOgUtslipp": [{{"rekkeviddeKm": 300 {method}}}]}}]}}}}}}}}}}"#
        );
        summarize(&serde_json::from_str(&json).expect("valid JSON"), TODAY)
    }

    #[test]
    fn a_range_is_never_called_nedc_unless_the_record_says_so() {
        let other = plain_range(
            r#", "malemetode": {"kodeVerdi": "ANNEN", "kodeNavn": "MALEMETODETYPE_ANNEN"}"#,
        );
        assert_eq!(other.range_standard, s("other"));
        assert_eq!(other.range_test_method, s("ANNEN"));
        let unstated = plain_range("");
        assert_eq!(unstated.range_km, Some(300));
        assert_eq!(unstated.range_standard, s("unknown"));
        assert_eq!(unstated.range_test_method, None);
        let nedc = plain_range(r#", "malemetode": {"kodeVerdi": "nedc"}"#);
        assert_eq!(nedc.range_standard, s("nedc"));
        let wltp = plain_range(r#", "malemetode": {"kodeVerdi": "WLTP"}"#);
        assert_eq!(wltp.range_standard, s("wltp"));
    }

    #[test]
    fn eu_control_is_overdue_in_the_fixtures_whose_deadline_passed_before_2026_12_01() {
        let on = |json: &str| summarize(&only_record(json), EU_CHECK_DAY).eu_control_overdue;
        // Due 2026-09-30.
        assert_eq!(on(fixture!("bev-kia-niro-ec47213.json")), Some(true));
        // Due 2026-11-30: one day late.
        assert_eq!(on(fixture!("drosje-tesla-modely-eh91427.json")), Some(true));
        // Due 2027-02-28.
        assert_eq!(on(fixture!("phev-skoda-superb-dn61834.json")), Some(false));
        // No EU-kontroll data at all.
        assert_eq!(on(fixture!("minimal-lj58016.json")), None);
    }

    #[test]
    fn dates_read_by_hand_agree_with_times_parser() {
        let by_time = |text: &str| {
            let day = text.trim().get(..10)?;
            Date::parse(
                day,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .ok()
        };
        for text in [
            "2017-06-06",
            "2026-06-11T18:03:14.17+02:00",
            " 2024-02-29 ",
            "2023-02-29",
            "2017-13-01",
            "2017-00-10",
            "2017-06-31",
            "0000-01-01",
            "9999-12-31",
            "2017/06/06",
            "2017-6-06xx",
            "2017-06-0",
            "+2017-06-06",
            "abcd-ef-gh",
            "2017-06-0\u{e6}",
            "\u{e6}017-06-06",
            "",
        ] {
            assert_eq!(date(Some(text)), by_time(text), "{text:?}");
        }
        assert_eq!(date(None), None);
    }

    #[test]
    fn as_of_works_the_date_flags_out_again_for_the_day_of_the_answer() {
        let record = only_record(fixture!("bev-kia-niro-ec47213.json"));
        // Looked up on the deadline day (2026-09-30): in time.
        let cached = Arc::new(summarize(&record, date!(2026 - 09 - 30)));
        assert_eq!(cached.eu_control_overdue, Some(false));
        let warranty_end = cached
            .battery_warranty
            .as_ref()
            .map(|w| w.estimated_end.clone())
            .expect("a warranty estimate");
        // The same day: nothing changes, no copy.
        assert!(Arc::ptr_eq(&cached, &cached.as_of(date!(2026 - 09 - 30))));
        // The next day it is overdue; the rest is the same.
        let next_day = cached.as_of(date!(2026 - 10 - 01));
        assert_eq!(next_day.eu_control_overdue, Some(true));
        assert_eq!(
            *next_day,
            VehicleSummary {
                eu_control_overdue: Some(true),
                ..VehicleSummary::clone(&cached)
            }
        );
        assert_eq!(
            cached.eu_control_overdue,
            Some(false),
            "the cached value is untouched"
        );
        // The warranty's expiry follows the day too.
        let end = Date::parse(
            &warranty_end,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap();
        let after_end = cached.as_of(end.next_day().unwrap());
        assert!(after_end.battery_warranty.as_ref().unwrap().expired_by_age);
        assert!(
            !cached
                .as_of(end)
                .battery_warranty
                .as_ref()
                .unwrap()
                .expired_by_age
        );
        // Without a deadline there is nothing to work out.
        let none = Arc::new(VehicleSummary::default());
        assert_eq!(none.as_of(date!(2030 - 01 - 01)).eu_control_overdue, None);
    }

    /// A record whose only data is an EU-kontroll deadline.
    fn deadline(text: &str) -> Kjoretoydata {
        serde_json::from_str(&format!(
            r#"{{"periodiskKjoretoyKontroll": {{"kontrollfrist": "{text}"}}}}"#
        ))
        .expect("valid JSON")
    }

    #[test]
    fn eu_control_is_overdue_from_the_day_after_the_deadline() {
        let record = deadline("2026-11-30");
        let overdue = |today| summarize(&record, today).eu_control_overdue;
        assert_eq!(overdue(date!(2026 - 11 - 29)), Some(false));
        // The deadline day itself is still in time.
        assert_eq!(overdue(date!(2026 - 11 - 30)), Some(false));
        assert_eq!(overdue(date!(2026 - 12 - 01)), Some(true));
        assert_eq!(overdue(date!(2030 - 01 - 01)), Some(true));
        // Across a year end and a leap day.
        let record = deadline("2027-12-31");
        assert_eq!(
            summarize(&record, date!(2027 - 12 - 31)).eu_control_overdue,
            Some(false)
        );
        assert_eq!(
            summarize(&record, date!(2028 - 01 - 01)).eu_control_overdue,
            Some(true)
        );
        let record = deadline("2028-02-29");
        assert_eq!(
            summarize(&record, date!(2028 - 02 - 29)).eu_control_overdue,
            Some(false)
        );
        assert_eq!(
            summarize(&record, date!(2028 - 03 - 01)).eu_control_overdue,
            Some(true)
        );
    }

    #[test]
    fn eu_control_overdue_is_unknown_without_a_readable_deadline() {
        for text in ["", "-", "31.05.2026", "2026-02-30"] {
            let summary = summarize(&deadline(text), EU_CHECK_DAY);
            assert_eq!(summary.eu_control_deadline, None, "{text:?}");
            assert_eq!(summary.eu_control_overdue, None, "{text:?}");
        }
        // A date-time deadline counts by its date as written.
        let summary = summarize(&deadline("2026-12-01T00:00:00+01:00"), EU_CHECK_DAY);
        assert_eq!(summary.eu_control_overdue, Some(false));
        // The calendar's ends do not panic.
        assert_eq!(
            summarize(&deadline("2026-12-01"), Date::MIN).eu_control_overdue,
            Some(false)
        );
        assert_eq!(
            summarize(&deadline("2026-12-01"), Date::MAX).eu_control_overdue,
            Some(true)
        );
    }

    #[test]
    fn the_taxi_fixture_is_registered_for_taxi_use() {
        let usage = summary_of(fixture!("drosje-tesla-modely-eh91427.json"))
            .usage
            .expect("kjoringensArt");
        assert_eq!(usage.kind, UsageKind::Taxi);
        assert_eq!(usage.code, s("DROSJE_LOYVE"));
        assert_eq!(usage.text, s("Drosje"));
        // The trimmed rental sample has only the text: shown, but no kind is guessed from it.
        let usage = summary_of(fixture!("avregistrert-trimmet-nissan-leaf-eb73051.json"))
            .usage
            .expect("kjoringensArt text");
        assert_eq!(usage.kind, UsageKind::Unknown);
        assert_eq!(usage.text, s("Utleievogn."));
        assert_eq!(summary_of(fixture!("minimal-lj58016.json")).usage, None);
    }

    #[test]
    fn usage_kinds_are_decided_on_the_code() {
        for (code, kind) in [
            ("EGENTRANSP_ANNEN", UsageKind::OwnTransport),
            ("DROSJE_LOYVE", UsageKind::Taxi),
            ("UTLEIEVOGN", UsageKind::Rental),
            ("TRAFIKKSKOLE", UsageKind::DrivingSchool),
            ("DIPLOMAT", UsageKind::Diplomatic),
            ("FORSVARET", UsageKind::Defence),
            ("NOE_NYTT", UsageKind::Other),
        ] {
            let record: Kjoretoydata = serde_json::from_str(&format!(
                r#"{{"registrering": {{"kjoringensArt": {{"kodeVerdi": "{code}",
                    "kodeBeskrivelse": "Drosje"}}}}}}"#
            ))
            .expect("valid JSON");
            let usage = summarize(&record, TODAY).usage.expect("a code");
            assert_eq!(usage.kind, kind, "{code}");
            assert_eq!(usage.code.as_deref(), Some(code));
        }
    }

    #[test]
    fn the_used_import_fixture_has_the_country_and_the_odometer_at_import() {
        let summary = summary_of(fixture!("bruktimport-audi-etron-ef38260.json"));
        assert_eq!(
            summary.used_import,
            Some(UsedImport {
                country: s("Tyskland"),
                odometer_km_at_import: Some(48_210),
            })
        );
        let json = serde_json::to_value(&summary).expect("serialise");
        assert_eq!(json["used_import"]["odometer_km_at_import"], 48_210);
        // Not an import: no block, no field.
        assert_eq!(
            summary_of(fixture!("bev-kia-niro-ec47213.json")).used_import,
            None
        );
    }

    #[test]
    fn towing_weights_come_from_the_fixtures_and_zero_means_not_approved() {
        let towing = |json: &str| summary_of(json).towing;
        let both = |braked, unbraked| {
            Some(Towing {
                braked_kg: Some(braked),
                unbraked_kg: Some(unbraked),
            })
        };
        assert_eq!(
            towing(fixture!("bev-kia-niro-ec47213.json")),
            both(750, 300)
        );
        assert_eq!(
            towing(fixture!("phev-skoda-superb-dn61834.json")),
            both(1800, 750)
        );
        assert_eq!(
            towing(fixture!("hybrid-toyota-yaris-kh20577.json")),
            both(450, 450)
        );
        assert_eq!(
            towing(fixture!("avregistrert-trimmet-nissan-leaf-eb73051.json")),
            None
        );
        let record: Kjoretoydata = serde_json::from_str(
            r#"{"godkjenning": {"tekniskGodkjenning": {"tekniskeData": {"vekter": {
                "tillattTilhengervektMedBrems": 0, "tillattTilhengervektUtenBrems": "-"}}}}}"#,
        )
        .expect("valid JSON");
        assert_eq!(
            summarize(&record, TODAY).towing,
            Some(Towing {
                braked_kg: Some(0),
                unbraked_kg: None,
            })
        );
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
    fn several_motors_have_no_single_power_figure_and_each_keeps_its_ratings() {
        let summary = summary_of(WLTP_RECORD);
        assert_eq!(summary.power_kw, None);
        assert_eq!(summary.power_source, None);
        let ratings: Vec<(Option<f64>, Option<f64>)> = summary
            .motors
            .iter()
            .map(|m| (m.max_net_power_kw, m.max_hourly_power_kw))
            .collect();
        assert_eq!(ratings, [(Some(150.0), None), (None, Some(70.0))]);
        // No arbeidsprinsipp, but only electric fuel codes.
        assert!(
            summary
                .motors
                .iter()
                .all(|m| m.kind == Some(MotorKind::Electric))
        );
    }

    #[test]
    fn a_single_motor_with_only_an_hourly_rating_reports_it_as_hourly() {
        let record: Kjoretoydata = serde_json::from_str(
            r#"{"godkjenning": {"tekniskGodkjenning": {"tekniskeData": {"motorOgDrivverk": {
                "motor": [{"drivstoff": [{"drivstoffKode": {"kodeVerdi": "5"},
                                          "maksEffektPrTime": 100.0}]}]}}}}}"#,
        )
        .expect("valid JSON");
        let summary = summarize(&record, TODAY);
        assert_eq!(summary.power_kw, Some(100.0));
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
    fn a_manufacturers_note_names_the_terms_the_soh_and_the_source() {
        let (basis, row) = warranty::terms_for(
            Some("TESLA"),
            Some("MODEL S"),
            2016,
            Powertrain::BatteryElectric,
        )
        .expect("a BEV");
        let estimate = warranty_estimate(basis, &row, date!(2024 - 03 - 01), TODAY);
        assert_eq!(estimate.km, None);
        assert!(
            estimate.note.contains("8 years with no km limit")
                && estimate.note.contains("Source: https://"),
            "{}",
            estimate.note
        );
        let (basis, row) = warranty::terms_for(
            Some("TOYOTA"),
            Some("BZ4X"),
            2023,
            Powertrain::BatteryElectric,
        )
        .expect("a BEV");
        let estimate = warranty_estimate(basis, &row, date!(2033 - 05 - 01), TODAY);
        assert!(
            estimate
                .note
                .contains("10 years or 1,000,000 km, whichever comes first")
                && estimate.note.contains("at least 70 %"),
            "{}",
            estimate.note
        );
        assert!(
            estimate
                .condition_nb
                .is_some_and(|c| c.contains("årlig batterisjekk"))
        );
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
