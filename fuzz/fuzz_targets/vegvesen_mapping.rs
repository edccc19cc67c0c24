//! Fuzz target `vegvesen_mapping`: arbitrary bytes as a Statens vegvesen 200 body, through the
//! path a lookup takes (`parse_response`: JSON, envelope check, model, `summarize`), and
//! through the model and `summarize` for every record, not only the first.
//!
//! Properties: nothing panics, for any date `summarize` is given; every summary serialises to
//! JSON (the handler would answer 500 otherwise); the derived flags agree with the powertrain
//! and the fields they derive from; several motors never give one (summed) power figure.

#![no_main]

use elbatt::vehicle::model::KjoretoydataResponse;
use elbatt::vehicle::service::parse_response;
use elbatt::vehicle::{Powertrain, VehicleSummary, summarize};
use libfuzzer_sys::fuzz_target;
use time::Date;
use time::macros::date;

fn check(summary: &VehicleSummary) {
    assert!(
        serde_json::to_vec(summary).is_ok(),
        "summary does not serialise"
    );
    assert_eq!(
        summary.is_electric,
        summary.powertrain == Powertrain::BatteryElectric
    );
    assert_eq!(
        summary.is_plug_in_hybrid,
        summary.powertrain == Powertrain::PlugInHybrid
    );
    if matches!(
        summary.powertrain,
        Powertrain::Combustion | Powertrain::Unknown
    ) {
        assert!(summary.battery_warranty.is_none());
    }
    assert!(summary.power_source.is_some() == summary.power_kw.is_some());
    assert!(summary.range_standard.is_some() == summary.range_km.is_some());
    assert!(summary.range_test_method.is_none() || summary.range_km.is_some());
    // Power is never summed: with several motors there is no single figure.
    if summary.motors.len() > 1 {
        assert!(summary.power_kw.is_none());
    }
    assert!(summary.eu_control_overdue.is_some() == summary.eu_control_deadline.is_some());
    if let Some(towing) = &summary.towing {
        assert!(towing.braked_kg.is_some() || towing.unbraked_kg.is_some());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(summary)) = parse_response(data) {
        check(&summary);
    }
    let Ok(response) = serde_json::from_slice::<KjoretoydataResponse>(data) else {
        return;
    };
    for record in &response.kjoretoydata_liste {
        // The calendar's ends, where the warranty's "+ 8 years" cannot be represented.
        for today in [date!(2024 - 01 - 15), Date::MIN, Date::MAX] {
            check(&summarize(record, today));
        }
    }
});
