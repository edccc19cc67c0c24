//! A plain bokmål description of a looked-up vehicle, for offline answers.
//!
//! Only what the registry returned is mentioned: every line comes from a field that is present,
//! and nothing is estimated except the arithmetic the fields allow (Wh/km to kWh per 100 km).

use elbatt::vehicle::{
    BatteryWarranty, MotorKind, MotorPower, Powertrain, Towing, UsageKind, UsedImport,
    VehicleSummary, WarrantyBasis,
};

/// Why a hybrid that cannot be plugged in gets no battery-warranty estimate.
const HYBRID_WARRANTY_NOTE: &str = "Bilen er en hybrid som ikke lades fra strømnettet. Batteriet i slike biler har andre garantivilkår enn batteriet i elbiler og ladbare hybrider, så her gis ikke noe anslag for batterigarantien; sjekk bilens garantihefte.";

/// A plain Norwegian (bokmål) description of a looked-up vehicle for offline answers.
///
/// The first line names the car; the rest is a list with one fact per line, omitting every
/// field the registry did not return.
pub fn describe_vehicle_nb(v: &VehicleSummary) -> String {
    let plate = text(&v.plate).map(display_plate);
    let name = vehicle_name(v);
    let heading = match (&plate, &name) {
        (Some(plate), Some(name)) => {
            format!("Dette står i kjøretøyregisteret om {plate} ({name}):")
        }
        (Some(plate), None) => format!("Dette står i kjøretøyregisteret om {plate}:"),
        (None, Some(name)) => format!("Dette står i kjøretøyregisteret om {name}:"),
        (None, None) => "Dette står i kjøretøyregisteret om bilen:".to_owned(),
    };

    let lines = fact_lines(v);
    if lines.is_empty() {
        return format!("{heading}\nRegisteret ga ingen flere opplysninger om bilen.");
    }
    let mut out = heading;
    for line in &lines {
        out.push_str("\n- ");
        out.push_str(line);
    }
    if matches!(v.powertrain, Powertrain::Hybrid) && v.battery_warranty.is_none() {
        out.push_str(&format!("\n{HYBRID_WARRANTY_NOTE}"));
    }
    if matches!(v.powertrain, Powertrain::Combustion) {
        out.push_str(
            "\nBilen er ikke registrert som elbil eller ladbar hybrid, så rådene om elbilbatterier gjelder ikke direkte for den.",
        );
    }
    out
}

/// One line per present field. Zero counts and measures are skipped like absent ones: the
/// registry uses 0 where a value does not apply, and "0 km rekkevidde" would mislead.
fn fact_lines(v: &VehicleSummary) -> Vec<String> {
    let mut lines = Vec::new();

    if let Some(kind) = powertrain_nb(&v.powertrain) {
        lines.push(format!("Drivlinje: {kind}"));
    }
    if !matches!(v.powertrain, Powertrain::BatteryElectric) {
        let fuels: Vec<String> = v
            .fuel_types
            .iter()
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
            .map(fuel_nb)
            .collect();
        if !fuels.is_empty() {
            lines.push(format!("Drivstoff: {}", join_nb(&fuels)));
        }
    }
    if let Some(class) = text(&v.vehicle_class) {
        lines.push(format!("Kjøretøyklasse: {}", vehicle_class_nb(class)));
    }

    match (
        text(&v.first_registration),
        text(&v.first_registration_norway),
    ) {
        (Some(first), Some(norway)) if date_part(first) != date_part(norway) => {
            lines.push(format!("Første gang registrert: {}", date_nb(first)));
            lines.push(format!(
                "Første gang registrert i Norge: {}",
                date_nb(norway)
            ));
        }
        (Some(first), _) => lines.push(format!("Første gang registrert: {}", date_nb(first))),
        (None, Some(norway)) => {
            lines.push(format!(
                "Første gang registrert i Norge: {}",
                date_nb(norway)
            ));
        }
        (None, None) => {}
    }

    if is_deregistered(v) {
        let since = text(&v.deregistered_since)
            .map(|d| format!(" siden {}", date_nb(d)))
            .unwrap_or_default();
        lines.push(format!(
            "Status: avregistrert{since}. En avregistrert bil må registreres på nytt før den kan brukes på offentlig vei."
        ));
    } else if let Some(status) = text(&v.registration_status_text).or(text(&v.registration_status))
    {
        lines.push(format!("Registreringsstatus: {status}"));
    }

    if let Some(usage) = usage_line(v) {
        lines.push(usage);
    }
    if let Some(import) = &v.used_import {
        lines.push(used_import_line(import));
    }
    if let Some(power) = power_line(v) {
        lines.push(power);
    }
    if let Some(range) = v.range_km.filter(|&km| km > 0) {
        lines.push(range_line(range, text(&v.range_standard), &v.powertrain));
    }
    if let Some(wh) = v.energy_use_wh_per_km.filter(|&wh| wh > 0) {
        lines.push(format!(
            "Oppgitt energiforbruk: {wh} Wh/km ({} kWh per 100 km)",
            decimal_nb(f64::from(wh) / 10.0)
        ));
    }
    if let Some(kg) = v.curb_weight_kg.filter(|&kg| kg > 0) {
        lines.push(format!("Egenvekt: {} kg", thousands_nb(kg)));
    }
    if let Some(kg) = v.max_weight_kg.filter(|&kg| kg > 0) {
        lines.push(format!("Tillatt totalvekt: {} kg", thousands_nb(kg)));
    }
    if let Some(towing) = v.towing.as_ref().and_then(towing_line) {
        lines.push(towing);
    }
    if let Some(colour) = text(&v.colour) {
        lines.push(format!("Farge: {colour}"));
    }
    if let Some(seats) = v.seats.filter(|&seats| seats > 0) {
        lines.push(format!("Sitteplasser: {seats}"));
    }
    if let Some(deadline) = text(&v.eu_control_deadline) {
        let overdue = if v.eu_control_overdue == Some(true) {
            " (fristen er passert: bilen skulle vært EU-kontrollert innen da)"
        } else {
            ""
        };
        lines.push(format!(
            "Frist for neste EU-kontroll: {}{overdue}",
            date_nb(deadline)
        ));
    }
    if let Some(approved) = text(&v.eu_control_last_approved) {
        lines.push(format!("Sist godkjent EU-kontroll: {}", date_nb(approved)));
    }
    if let Some(vin) = text(&v.vin) {
        lines.push(format!("Understellsnummer (VIN): {vin}"));
    }
    if let Some(warranty) = &v.battery_warranty {
        lines.push(warranty_line(warranty));
    }
    lines
}

fn powertrain_nb(powertrain: &Powertrain) -> Option<&'static str> {
    match powertrain {
        Powertrain::BatteryElectric => Some("elbil (batterielektrisk)"),
        Powertrain::PlugInHybrid => Some("ladbar hybrid (plug-in-hybrid)"),
        Powertrain::Hybrid => Some("hybrid"),
        Powertrain::Combustion => Some("forbrenningsmotor"),
        Powertrain::Unknown => None,
    }
}

/// The EU vehicle category codes the registry gives ("M1"), with their Norwegian names for the
/// common ones. Other codes, or a text the registry already spelled out, are shown as given.
fn vehicle_class_nb(class: &str) -> String {
    let name = match class.to_ascii_uppercase().as_str() {
        "M1" => "personbil",
        "N1" => "varebil",
        "M2" | "M3" => "buss",
        "N2" | "N3" => "lastebil",
        _ => return class.to_owned(),
    };
    format!("{name} ({class})")
}

fn fuel_nb(fuel: &str) -> String {
    match fuel.to_ascii_lowercase().as_str() {
        "electric" => "elektrisitet".to_owned(),
        "petrol" => "bensin".to_owned(),
        "diesel" => "diesel".to_owned(),
        "hydrogen" => "hydrogen".to_owned(),
        "gas" | "cng" | "lpg" => "gass".to_owned(),
        // Unknown codes are shown as the registry gave them rather than guessed at.
        _ => fuel.to_owned(),
    }
}

fn range_line(range: u32, standard: Option<&str>, powertrain: &Powertrain) -> String {
    let what = if matches!(powertrain, Powertrain::PlugInHybrid) {
        "Oppgitt elektrisk rekkevidde"
    } else {
        "Oppgitt rekkevidde"
    };
    let km = thousands_nb(range);
    let caveat = "Reell rekkevidde er som regel lavere, særlig om vinteren og på motorvei.";
    match standard.map(str::to_ascii_lowercase).as_deref() {
        Some("wltp") => format!("{what}: {km} km etter WLTP. {caveat}"),
        Some("nedc") => format!(
            "{what}: {km} km etter NEDC, en eldre målemetode som gir høyere tall enn dagens WLTP. {caveat}"
        ),
        // The registry names another method (its "ANNEN"): say so, and never guess NEDC.
        Some("other") => format!(
            "{what}: {km} km (registeret oppgir en annen målemetode enn WLTP og NEDC). {caveat}"
        ),
        Some("unknown") => format!("{what}: {km} km (målemetoden er ikke oppgitt). {caveat}"),
        Some(_) | None => format!("{what}: {km} km. {caveat}"),
    }
}

/// "Effekt: 150 kW (maks nettoeffekt)" for one motor; with several, each motor's own figures
/// and a reminder that they do not add up (the registry has no combined system output).
fn power_line(v: &VehicleSummary) -> Option<String> {
    let rated: Vec<String> = v.motors.iter().filter_map(motor_nb).collect();
    if rated.len() > 1 {
        return Some(format!(
            "Effekt per motor: {}. Tallene kan ikke legges sammen; samlet systemeffekt står ikke i registeret.",
            rated.join("; ")
        ));
    }
    let power = v.power_kw.filter(|p| p.is_finite() && *p > 0.0)?;
    let label = match text(&v.power_source) {
        Some("max_net_power") => " (maks nettoeffekt)",
        Some("max_hourly_power") => " (maks timeeffekt)",
        _ => "",
    };
    Some(format!("Effekt: {} kW{label}", decimal_nb(power)))
}

/// "bensinmotor 110 kW (maks nettoeffekt)"; `None` for a motor without any figure.
fn motor_nb(motor: &MotorPower) -> Option<String> {
    let kw = |value: Option<f64>| value.filter(|p| p.is_finite() && *p > 0.0);
    let mut figures = Vec::new();
    if let Some(net) = kw(motor.max_net_power_kw) {
        figures.push(format!("{} kW (maks nettoeffekt)", decimal_nb(net)));
    }
    if let Some(hourly) = kw(motor.max_hourly_power_kw) {
        figures.push(format!("{} kW (maks timeeffekt)", decimal_nb(hourly)));
    }
    if figures.is_empty() {
        return None;
    }
    let has = |fuel: &str| motor.fuels.iter().any(|f| f.eq_ignore_ascii_case(fuel));
    let name = match motor.kind {
        Some(MotorKind::Electric) => "elmotor",
        Some(MotorKind::Combustion) if has("petrol") => "bensinmotor",
        Some(MotorKind::Combustion) if has("diesel") => "dieselmotor",
        Some(MotorKind::Combustion) => "forbrenningsmotor",
        None => "motor",
    };
    Some(format!("{name} {}", figures.join(", ")))
}

fn usage_line(v: &VehicleSummary) -> Option<String> {
    let usage = v.usage.as_ref()?;
    let kind = match usage.kind {
        UsageKind::OwnTransport => Some("egentransport (privat eller eget firma)"),
        UsageKind::Taxi => Some("drosje (taxi)"),
        UsageKind::Rental => Some("utleiebil"),
        UsageKind::DrivingSchool => Some("skolebil (trafikkopplæring)"),
        UsageKind::Diplomatic => Some("diplomatkjøretøy"),
        UsageKind::Defence => Some("Forsvaret"),
        UsageKind::Other | UsageKind::Unknown => None,
    };
    let registry_text = text(&usage.text).or(text(&usage.code))?;
    Some(match kind {
        Some(kind) => format!("Registrert bruk: {kind}"),
        None => format!("Registrert bruk: {registry_text}"),
    })
}

fn used_import_line(import: &UsedImport) -> String {
    let mut line = match text(&import.country) {
        Some(country) => format!("Bruktimportert fra {country}"),
        None => "Bruktimportert".to_owned(),
    };
    if let Some(km) = import.odometer_km_at_import.filter(|&km| km > 0) {
        line.push_str(&format!(
            "; kilometerstand ved import: {} km (registeret har ingen nyere kilometerstand)",
            thousands_nb(km)
        ));
    }
    line
}

/// Trailer weights; the registry's 0 means "not approved".
fn towing_line(towing: &Towing) -> Option<String> {
    let part = |kg: Option<u32>, kind: &str| match kg {
        Some(0) => Some(format!("ikke godkjent {kind}")),
        Some(kg) => Some(format!("{} kg {kind}", thousands_nb(kg))),
        None => None,
    };
    match (towing.braked_kg, towing.unbraked_kg) {
        (Some(0), Some(0)) => Some("Tilhenger: ikke godkjent for tilhengerkjøring".to_owned()),
        (braked, unbraked) => {
            let parts: Vec<String> = [part(braked, "med brems"), part(unbraked, "uten brems")]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| format!("Tillatt tilhengervekt: {}", parts.join(", ")))
        }
    }
}

fn warranty_line(warranty: &BatteryWarranty) -> String {
    let term = match warranty.km {
        Some(km) => format!(
            "{} år eller {} km, det som inntreffer først",
            warranty.years,
            thousands_nb(km)
        ),
        None => format!("{} år uten kilometergrense", warranty.years),
    };
    let soh = warranty
        .min_soh_percent
        .map(|p| format!(", med minst {p} % gjenværende kapasitet (SoH)"))
        .unwrap_or_default();
    let mut line = match warranty.basis {
        WarrantyBasis::Manufacturer => {
            format!(
                "Batterigaranti: produsentens vilkår for denne modellen og årgangen er {term}{soh}."
            )
        }
        WarrantyBasis::CommonTerm => format!(
            "Batterigaranti: den vanligste batterigarantien er {term}{soh}; modellen står ikke i Elbatts oversikt over produsentenes vilkår."
        ),
    };
    if let Some(condition) = warranty.condition_nb.as_deref().map(str::trim)
        && !condition.is_empty()
    {
        line.push(' ');
        line.push_str(condition);
    }
    line.push_str(" Sjekk bilens egne garantivilkår.");
    let end = warranty.estimated_end.trim();
    if !end.is_empty() {
        let end = date_nb(end);
        if warranty.expired_by_age {
            line.push_str(&format!(
                " Regnet fra første registrering gikk en slik garanti ut rundt {end}, så den er trolig utløpt."
            ));
        } else {
            line.push_str(&format!(
                " Regnet fra første registrering varer en slik garanti til rundt {end}{}.",
                if warranty.km.is_some() {
                    ", hvis ikke kilometergrensen nås først (kilometerstand står ikke i registeret)"
                } else {
                    ""
                }
            ));
        }
    } else if warranty.expired_by_age {
        line.push_str(" Ut fra bilens alder er en slik garanti trolig utløpt.");
    }
    line
}

fn is_deregistered(v: &VehicleSummary) -> bool {
    text(&v.deregistered_since).is_some()
        || text(&v.registration_status).is_some_and(|s| s.eq_ignore_ascii_case("avregistrert"))
        || text(&v.registration_status_text)
            .is_some_and(|s| s.to_lowercase().contains("avregistrert"))
}

/// "VOLKSWAGEN" + "E-GOLF" as "Volkswagen E-Golf"; either part may be missing.
fn vehicle_name(v: &VehicleSummary) -> Option<String> {
    let parts: Vec<String> = [text(&v.make), text(&v.model)]
        .into_iter()
        .flatten()
        .map(tidy_case)
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The registry writes names in capitals. Words of four or more letters read better in title
/// case ("TESLA" → "Tesla", "E-GOLF" → "E-Golf"), while short ones and those with digits or
/// dots are usually abbreviations or model codes and stay as given ("BMW", "ID.4", "XC40").
fn tidy_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut word = String::new();
    for c in name.chars() {
        if c == ' ' || c == '-' {
            out.push_str(&tidy_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&tidy_word(&word));
    out
}

fn tidy_word(word: &str) -> String {
    let all_caps_letters = word.chars().all(|c| c.is_alphabetic() && !c.is_lowercase());
    if word.chars().count() < 4 || !all_caps_letters {
        return word.to_owned();
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// "EL52817" as "EL 52817", the way plates are printed. Anything else is shown as given.
fn display_plate(plate: &str) -> String {
    let compact: String = plate.chars().filter(|c| !c.is_whitespace()).collect();
    let (letters, digits) =
        compact.split_at(compact.find(|c: char| c.is_ascii_digit()).unwrap_or(0));
    let standard = letters.len() == 2
        && letters.chars().all(|c| c.is_ascii_alphabetic())
        && (4..=5).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit());
    if standard {
        format!("{} {digits}", letters.to_ascii_uppercase())
    } else {
        plate.trim().to_owned()
    }
}

/// A present, meaningful text field. Some registry clients send "" or "-" for "not applicable".
fn text(field: &Option<String>) -> Option<&str> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-")
}

/// The `YYYY-MM-DD` part of a date or date-time.
fn date_part(value: &str) -> &str {
    value.get(..10).unwrap_or(value)
}

/// "2017-06-06" (or "2017-06-06T10:00:00+02:00") as "6. juni 2017". A value that is not such a
/// date is shown as given rather than guessed at.
fn date_nb(value: &str) -> String {
    parse_date_nb(value).unwrap_or_else(|| value.to_owned())
}

fn parse_date_nb(value: &str) -> Option<String> {
    let mut parts = value.get(..10)?.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return None;
    }
    let year: u32 = year.parse().ok()?;
    let month: usize = month.parse().ok()?;
    let day: u32 = day.parse().ok()?;
    let month_name = elbatt::norway::MONTHS.get(month.checked_sub(1)?)?;
    (1..=31)
        .contains(&day)
        .then(|| format!("{day}. {month_name} {year}"))
}

/// Whole numbers without decimals, others with one decimal and a comma ("85,5").
fn decimal_nb(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}").replace('.', ",")
    }
}

/// Groups thousands with a space, as Norwegian does ("160 000").
fn thousands_nb(value: u32) -> String {
    let mut groups = Vec::new();
    let mut rest = value;
    while rest >= 1000 {
        groups.push(format!("{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.push(rest.to_string());
    groups.reverse();
    groups.join(" ")
}

/// "a, b og c".
fn join_nb(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} og {last}", rest.join(", ")),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn empty_summary() -> VehicleSummary {
        VehicleSummary::default()
    }

    /// A summary shaped like a 2017 VW e-Golf's (the plate and VIN are invented).
    pub(crate) fn egolf_summary() -> VehicleSummary {
        VehicleSummary {
            plate: Some("EL 52817".to_owned()),
            vin: Some("WVWZZZAUZHW731905".to_owned()),
            make: Some("VOLKSWAGEN".to_owned()),
            model: Some("GOLF".to_owned()),
            vehicle_class: Some("M1".to_owned()),
            first_registration: Some("2017-06-06".to_owned()),
            first_registration_norway: Some("2017-06-06".to_owned()),
            registration_status: Some("REGISTRERT".to_owned()),
            registration_status_text: Some("Registrert".to_owned()),
            fuel_types: vec!["electric".to_owned()],
            powertrain: Powertrain::BatteryElectric,
            is_electric: true,
            hybrid_category: Some("INGEN".to_owned()),
            power_kw: Some(100.0),
            power_source: Some("max_hourly_power".to_owned()),
            range_km: Some(300),
            range_standard: Some("nedc".to_owned()),
            energy_use_wh_per_km: Some(127),
            curb_weight_kg: Some(1615),
            max_weight_kg: Some(2000),
            colour: Some("Grå".to_owned()),
            seats: Some(5),
            eu_control_deadline: Some("2023-05-31".to_owned()),
            eu_control_last_approved: Some("2021-05-04".to_owned()),
            battery_warranty: Some(BatteryWarranty {
                years: 8,
                km: Some(160_000),
                min_soh_percent: None,
                condition_nb: None,
                basis: WarrantyBasis::CommonTerm,
                source: None,
                estimated_end: "2025-06-06".to_owned(),
                expired_by_age: true,
                note: "Estimate only: 8 years or 160,000 km.".to_owned(),
            }),
            ..empty_summary()
        }
    }

    #[test]
    fn a_full_summary_is_described_with_every_field_in_norwegian_form() {
        let text = describe_vehicle_nb(&egolf_summary());
        for expected in [
            "Dette står i kjøretøyregisteret om EL 52817 (Volkswagen Golf):",
            "Drivlinje: elbil (batterielektrisk)",
            "Kjøretøyklasse: personbil (M1)",
            "Første gang registrert: 6. juni 2017",
            "Registreringsstatus: Registrert",
            "Effekt: 100 kW",
            "300 km etter NEDC",
            "127 Wh/km (12,7 kWh per 100 km)",
            "Egenvekt: 1 615 kg",
            "Tillatt totalvekt: 2 000 kg",
            "Farge: Grå",
            "Sitteplasser: 5",
            "Frist for neste EU-kontroll: 31. mai 2023",
            "Sist godkjent EU-kontroll: 4. mai 2021",
            "WVWZZZAUZHW731905",
            "den vanligste batterigarantien er 8 år eller 160 000 km, det som inntreffer først",
            "rundt 6. juni 2025, så den er trolig utløpt",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(
            !text.contains("i Norge:"),
            "same dates are not repeated:\n{text}"
        );
        assert!(
            !text.contains("Drivstoff"),
            "fuel is implied for an EV:\n{text}"
        );
        assert!(!text.contains("avregistrert"), "{text}");
    }

    #[test]
    fn an_empty_summary_says_only_that_nothing_more_is_known() {
        let text = describe_vehicle_nb(&empty_summary());
        assert_eq!(
            text,
            "Dette står i kjøretøyregisteret om bilen:\nRegisteret ga ingen flere opplysninger om bilen."
        );
    }

    #[test]
    fn absent_fields_are_never_mentioned() {
        let summary = VehicleSummary {
            plate: Some("DN61834".to_owned()),
            range_km: Some(50),
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert_eq!(text.matches("\n- ").count(), 1, "{text}");
        assert!(text.contains("Oppgitt rekkevidde: 50 km."), "{text}");
        for absent in [
            "Effekt",
            "Farge",
            "EU-kontroll",
            "garanti",
            "registrert",
            "WLTP",
            "NEDC",
        ] {
            assert!(!text.contains(absent), "{absent} in:\n{text}");
        }
    }

    #[test]
    fn zero_values_are_treated_as_absent() {
        let summary = VehicleSummary {
            range_km: Some(0),
            energy_use_wh_per_km: Some(0),
            curb_weight_kg: Some(0),
            seats: Some(0),
            power_kw: Some(0.0),
            ..empty_summary()
        };
        assert_eq!(
            describe_vehicle_nb(&summary),
            describe_vehicle_nb(&empty_summary())
        );
    }

    #[test]
    fn a_deregistered_car_is_flagged_with_its_date() {
        let summary = VehicleSummary {
            registration_status: Some("AVREGISTRERT".to_owned()),
            registration_status_text: Some("Avregistrert".to_owned()),
            deregistered_since: Some("2022-05-03T00:00:00+02:00".to_owned()),
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert!(
            text.contains("Status: avregistrert siden 3. mai 2022."),
            "{text}"
        );
        assert!(!text.contains("Registreringsstatus"), "{text}");
    }

    #[test]
    fn plug_in_hybrids_show_fuels_and_electric_wltp_range() {
        let summary = VehicleSummary {
            make: Some("VOLKSWAGEN".to_owned()),
            model: Some("PASSAT".to_owned()),
            powertrain: Powertrain::PlugInHybrid,
            fuel_types: vec!["petrol".to_owned(), "electric".to_owned()],
            range_km: Some(50),
            range_standard: Some("WLTP".to_owned()),
            first_registration: Some("2015-03-01".to_owned()),
            first_registration_norway: Some("2017-06-06".to_owned()),
            power_kw: Some(85.5),
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        for expected in [
            "om Volkswagen Passat:",
            "Drivlinje: ladbar hybrid",
            "Drivstoff: bensin og elektrisitet",
            "Oppgitt elektrisk rekkevidde: 50 km etter WLTP",
            "Første gang registrert: 1. mars 2015",
            "Første gang registrert i Norge: 6. juni 2017",
            "Effekt: 85,5 kW",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn vehicle_classes_are_named_in_norwegian_and_unknown_ones_kept() {
        assert_eq!(vehicle_class_nb("M1"), "personbil (M1)");
        assert_eq!(vehicle_class_nb("n1"), "varebil (n1)");
        assert_eq!(vehicle_class_nb("L3e"), "L3e");
        assert_eq!(vehicle_class_nb("Personbil"), "Personbil");
    }

    #[test]
    fn the_english_warranty_note_is_not_copied_into_the_norwegian_text() {
        let text = describe_vehicle_nb(&egolf_summary());
        assert!(!text.contains("Estimate only"), "{text}");
    }

    #[test]
    fn combustion_cars_get_a_note_that_battery_advice_does_not_apply() {
        let summary = VehicleSummary {
            powertrain: Powertrain::Combustion,
            fuel_types: vec!["diesel".to_owned()],
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert!(text.contains("Drivstoff: diesel"), "{text}");
        assert!(text.contains("ikke registrert som elbil"), "{text}");
    }

    #[test]
    fn a_warranty_still_running_names_its_end_and_the_km_caveat() {
        let summary = VehicleSummary {
            battery_warranty: Some(BatteryWarranty {
                years: 8,
                km: Some(160_000),
                min_soh_percent: None,
                condition_nb: None,
                basis: WarrantyBasis::CommonTerm,
                source: None,
                estimated_end: "2031-01-15".to_owned(),
                expired_by_age: false,
                note: String::new(),
            }),
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert!(text.contains("til rundt 15. januar 2031"), "{text}");
        assert!(text.contains("kilometergrensen"), "{text}");
        assert!(text.contains("det som inntreffer først"), "{text}");
        assert!(!text.contains("utløpt"), "{text}");
    }

    #[test]
    fn a_manufacturers_terms_are_named_with_soh_condition_and_whichever_first() {
        let summary = VehicleSummary {
            battery_warranty: Some(BatteryWarranty {
                years: 10,
                km: Some(1_000_000),
                min_soh_percent: Some(70),
                condition_nb: Some("En årlig batterisjekk forlenger garantien.".to_owned()),
                basis: WarrantyBasis::Manufacturer,
                source: Some("https://example.org/terms".to_owned()),
                estimated_end: "2033-05-01".to_owned(),
                expired_by_age: false,
                note: String::new(),
            }),
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert!(
            text.contains("produsentens vilkår for denne modellen og årgangen er 10 år eller 1 000 000 km, det som inntreffer først, med minst 70 % gjenværende kapasitet (SoH)."),
            "{text}"
        );
        assert!(text.contains("årlig batterisjekk"), "{text}");
        assert!(
            !text.contains("example.org"),
            "the source URL is for the docs, not the answer"
        );
    }

    #[test]
    fn a_warranty_without_km_limit_says_so_and_drops_the_km_caveat() {
        let summary = VehicleSummary {
            battery_warranty: Some(BatteryWarranty {
                years: 8,
                km: None,
                min_soh_percent: None,
                condition_nb: None,
                basis: WarrantyBasis::Manufacturer,
                source: None,
                estimated_end: "2024-03-01".to_owned(),
                expired_by_age: false,
                note: String::new(),
            }),
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert!(text.contains("8 år uten kilometergrense"), "{text}");
        assert!(!text.contains("kilometergrensen nås"), "{text}");
    }

    #[test]
    fn a_hybrid_that_cannot_be_plugged_in_is_told_why_it_has_no_warranty_estimate() {
        let summary = VehicleSummary {
            powertrain: Powertrain::Hybrid,
            ..empty_summary()
        };
        let text = describe_vehicle_nb(&summary);
        assert!(text.contains(HYBRID_WARRANTY_NOTE), "{text}");
        let plug_in = VehicleSummary {
            powertrain: Powertrain::PlugInHybrid,
            ..empty_summary()
        };
        assert!(!describe_vehicle_nb(&plug_in).contains(HYBRID_WARRANTY_NOTE));
    }

    #[test]
    fn dates_are_written_norwegian_style_and_bad_dates_are_kept_as_given() {
        assert_eq!(date_nb("2017-06-06"), "6. juni 2017");
        assert_eq!(date_nb("2023-12-31T23:59:00+01:00"), "31. desember 2023");
        assert_eq!(date_nb("2023-13-01"), "2023-13-01");
        assert_eq!(date_nb("2023-00-10"), "2023-00-10");
        assert_eq!(date_nb("juni"), "juni");
        assert_eq!(date_nb("2023-1-1"), "2023-1-1");
        assert_eq!(date_nb("2017-06-0æ"), "2017-06-0æ");
        assert_eq!(date_nb("+201-06-01"), "+201-06-01");
    }

    #[test]
    fn names_numbers_and_plates_are_tidied_without_changing_their_meaning() {
        assert_eq!(tidy_case("MERCEDES-BENZ"), "Mercedes-Benz");
        assert_eq!(tidy_case("E-GOLF"), "E-Golf");
        assert_eq!(tidy_case("BMW"), "BMW");
        assert_eq!(tidy_case("ID.4"), "ID.4");
        assert_eq!(tidy_case("Model Y"), "Model Y");
        assert_eq!(thousands_nb(160_000), "160 000");
        assert_eq!(thousands_nb(999), "999");
        assert_eq!(thousands_nb(1_000_000), "1 000 000");
        assert_eq!(decimal_nb(100.0), "100");
        assert_eq!(decimal_nb(55.25), "55,3");
        assert_eq!(display_plate("EL52817"), "EL 52817");
        assert_eq!(display_plate("EL 52817"), "EL 52817");
        assert_eq!(display_plate("ELBIL1"), "ELBIL1");
        assert_eq!(
            join_nb(&["a".to_owned(), "b".to_owned(), "c".to_owned()]),
            "a, b og c"
        );
    }

    /// The description of one of the repository's Statens vegvesen fixtures on 2026-12-01.
    fn describe_fixture(name: &str) -> String {
        let body = elbatt::testing::vegvesen_fixture(name);
        let response: elbatt::vehicle::model::KjoretoydataResponse =
            serde_json::from_str(&body).expect("fixture JSON");
        let record = response.kjoretoydata_liste.first().expect("one vehicle");
        let today = time::macros::date!(2026 - 12 - 01);
        describe_vehicle_nb(&elbatt::vehicle::summarize(record, today))
    }

    fn assert_has(text: &str, expected: &[&str]) {
        for e in expected {
            assert!(text.contains(e), "missing {e:?} in:\n{text}");
        }
    }

    #[test]
    fn a_plug_in_hybrid_shows_each_motor_labelled_and_never_a_sum() {
        let text = describe_fixture("phev-skoda-superb-dn61834.json");
        assert_has(
            &text,
            &[
                "Effekt per motor: bensinmotor 110 kW (maks nettoeffekt); elmotor 85 kW (maks nettoeffekt), 40 kW (maks timeeffekt).",
                "Tallene kan ikke legges sammen",
                "Oppgitt elektrisk rekkevidde: 62 km etter NEDC",
                "Tillatt tilhengervekt: 1 800 kg med brems, 750 kg uten brems",
                "Frist for neste EU-kontroll: 28. februar 2027",
                "Registrert bruk: egentransport",
            ],
        );
        assert!(!text.contains("195"), "{text}");
        assert!(!text.contains("fristen er passert"), "{text}");
    }

    #[test]
    fn a_battery_electric_car_shows_its_labelled_power_wltp_range_and_overdue_eu_kontroll() {
        let text = describe_fixture("bev-kia-niro-ec47213.json");
        assert_has(
            &text,
            &[
                "Effekt: 150 kW (maks nettoeffekt)",
                "Oppgitt rekkevidde: 455 km etter WLTP",
                "Frist for neste EU-kontroll: 30. september 2026 (fristen er passert",
                "Tillatt tilhengervekt: 750 kg med brems, 300 kg uten brems",
            ],
        );
        assert!(!text.contains("NEDC"), "{text}");
    }

    #[test]
    fn use_and_used_import_are_described() {
        let taxi = describe_fixture("drosje-tesla-modely-eh91427.json");
        assert_has(
            &taxi,
            &[
                "Registrert bruk: drosje (taxi)",
                "Effekt per motor: elmotor 158 kW (maks nettoeffekt), 60 kW (maks timeeffekt); elmotor 220 kW",
                "(fristen er passert",
            ],
        );
        let import = describe_fixture("bruktimport-audi-etron-ef38260.json");
        assert_has(
            &import,
            &["Bruktimportert fra Tyskland; kilometerstand ved import: 48 210 km"],
        );
        let rental = describe_fixture("avregistrert-trimmet-nissan-leaf-eb73051.json");
        assert_has(&rental, &["Registrert bruk: Utleievogn."]);
        let minimal = describe_fixture("minimal-lj58016.json");
        for absent in [
            "bruk",
            "Bruktimportert",
            "tilhenger",
            "Effekt",
            "EU-kontroll",
        ] {
            assert!(!minimal.contains(absent), "{absent} in:\n{minimal}");
        }
    }

    #[test]
    fn a_range_measured_another_way_is_not_called_nedc() {
        for (standard, expected) in [
            (
                "other",
                "300 km (registeret oppgir en annen målemetode enn WLTP og NEDC)",
            ),
            ("unknown", "300 km (målemetoden er ikke oppgitt)"),
        ] {
            let summary = VehicleSummary {
                range_km: Some(300),
                range_standard: Some(standard.to_owned()),
                ..empty_summary()
            };
            let text = describe_vehicle_nb(&summary);
            assert_has(&text, &[expected]);
            assert!(!text.contains("etter NEDC"), "{text}");
        }
    }

    #[test]
    fn towing_zero_means_not_approved() {
        let line = |braked, unbraked| {
            towing_line(&Towing {
                braked_kg: braked,
                unbraked_kg: unbraked,
            })
        };
        assert_eq!(
            line(Some(0), Some(0)).as_deref(),
            Some("Tilhenger: ikke godkjent for tilhengerkjøring")
        );
        assert_eq!(
            line(Some(1500), Some(0)).as_deref(),
            Some("Tillatt tilhengervekt: 1 500 kg med brems, ikke godkjent uten brems")
        );
        assert_eq!(line(None, None), None);
    }
}
