//! Serde types for the Statens vegvesen enkeltoppslag response (`GET
//! /enkeltoppslag/kjoretoydata`), covering only the paths the vehicle summary reads.
//!
//! The registry documents that optional fields and code values may be added at any time, and
//! clients report `"-"` or `""` where a field does not apply
//! (docs/upstreams/vegvesen.md#response). So
//! the model is deliberately forgiving: every field may be missing or `null`, unknown fields
//! are ignored, a value of the wrong shape becomes "absent" instead of failing the whole
//! record, and placeholder strings read as absent. Numbers are `f64` because the registry
//! mixes `100` and `100.0`; the summary converts them.
//!
//! Field names are the registry's Norwegian ones (camelCase on the wire) so each field can be
//! looked up in the registry documentation.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The whole response body: `{ "feilmelding"?: string, "kjoretoydataListe"?: [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KjoretoydataResponse {
    /// An error code such as `UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE`.
    #[serde(deserialize_with = "lenient::text")]
    pub feilmelding: Option<String>,
    /// Usually one vehicle; empty means not found.
    #[serde(deserialize_with = "lenient::list")]
    pub kjoretoydata_liste: Vec<Kjoretoydata>,
}

/// One vehicle (`EnkeltOppslagKjoretoydata`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Kjoretoydata {
    #[serde(deserialize_with = "lenient::object")]
    pub kjoretoy_id: Option<KjoretoyId>,
    #[serde(deserialize_with = "lenient::object")]
    pub forstegangsregistrering: Option<Forstegangsregistrering>,
    /// Every plate the vehicle has had, including personal ones.
    #[serde(deserialize_with = "lenient::list")]
    pub kjennemerke: Vec<Kjennemerke>,
    #[serde(deserialize_with = "lenient::object")]
    pub registrering: Option<Registrering>,
    #[serde(deserialize_with = "lenient::object")]
    pub godkjenning: Option<Godkjenning>,
    #[serde(deserialize_with = "lenient::object")]
    pub periodisk_kjoretoy_kontroll: Option<PeriodiskKjoretoyKontroll>,
}

/// A code-list value. Branch on `kode_verdi`; the names are for display and are sometimes
/// missing (e.g. `registreringsstatus` has no `kodeNavn`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KodeverkType {
    #[serde(deserialize_with = "lenient::text")]
    pub kode_verdi: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub kode_navn: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub kode_beskrivelse: Option<String>,
}

impl KodeverkType {
    /// The best text to show a person: `kodeNavn`, else `kodeBeskrivelse`, else the bare code.
    pub fn display_text(&self) -> Option<&str> {
        self.kode_navn
            .as_deref()
            .or(self.kode_beskrivelse.as_deref())
            .or(self.kode_verdi.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KjoretoyId {
    /// The current plate as the registry displays it, with a space: `"EC 47213"`.
    #[serde(deserialize_with = "lenient::text")]
    pub kjennemerke: Option<String>,
    /// The VIN.
    #[serde(deserialize_with = "lenient::text")]
    pub understellsnummer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Forstegangsregistrering {
    /// `YYYY-MM-DD`; later than the first registration abroad for used imports.
    #[serde(deserialize_with = "lenient::text")]
    pub registrert_forstegang_norge_dato: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Kjennemerke {
    #[serde(deserialize_with = "lenient::text")]
    pub kjennemerke: Option<String>,
    /// `KJORETOY`, `NORMAL`, `PERSONLIG`, `PROVE`.
    #[serde(deserialize_with = "lenient::text")]
    pub kjennemerkekategori: Option<String>,
    #[serde(deserialize_with = "lenient::object")]
    pub kjennemerketype: Option<KodeverkType>,
    #[serde(deserialize_with = "lenient::text")]
    pub fom_tidspunkt: Option<String>,
    /// Set once the plate is no longer on the vehicle.
    #[serde(deserialize_with = "lenient::text")]
    pub til_tidspunkt: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Registrering {
    /// `REGISTRERT`, `AVREGISTRERT`, ...
    #[serde(deserialize_with = "lenient::object")]
    pub registreringsstatus: Option<KodeverkType>,
    /// A date-time with offset, present only for deregistered vehicles.
    #[serde(deserialize_with = "lenient::text")]
    pub avregistrert_siden_dato: Option<String>,
    /// What the vehicle is used for: `EGENTRANSP_ANNEN` (own transport), `DROSJE_*` (taxi),
    /// `DIPLOMAT`, `FORSVARET`, ... The description can be a long legal text.
    #[serde(deserialize_with = "lenient::object")]
    pub kjoringens_art: Option<KodeverkType>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Godkjenning {
    #[serde(deserialize_with = "lenient::object")]
    pub forstegangs_godkjenning: Option<ForstegangsGodkjenning>,
    #[serde(deserialize_with = "lenient::object")]
    pub teknisk_godkjenning: Option<TekniskGodkjenning>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForstegangsGodkjenning {
    /// First registration anywhere, `YYYY-MM-DD`.
    #[serde(deserialize_with = "lenient::text")]
    pub forstegang_registrert_dato: Option<String>,
    /// Present only for used imports.
    #[serde(deserialize_with = "lenient::object")]
    pub bruktimport: Option<Bruktimport>,
}

/// A used import: where from and the odometer reading when it came to Norway.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Bruktimport {
    #[serde(deserialize_with = "lenient::object")]
    pub importland: Option<Importland>,
    /// Odometer at import, km.
    #[serde(deserialize_with = "lenient::number")]
    pub kilometerstand: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Importland {
    /// The country's Norwegian name, e.g. "Tyskland".
    #[serde(deserialize_with = "lenient::text")]
    pub land_navn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TekniskGodkjenning {
    #[serde(deserialize_with = "lenient::object")]
    pub kjoretoyklassifisering: Option<Kjoretoyklassifisering>,
    #[serde(deserialize_with = "lenient::object")]
    pub tekniske_data: Option<TekniskeData>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Kjoretoyklassifisering {
    /// "Personbil".
    #[serde(deserialize_with = "lenient::text")]
    pub beskrivelse: Option<String>,
    /// `M1`, `N1`, ...
    #[serde(deserialize_with = "lenient::object")]
    pub teknisk_kode: Option<KodeverkType>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TekniskeData {
    #[serde(deserialize_with = "lenient::object")]
    pub generelt: Option<Generelt>,
    #[serde(deserialize_with = "lenient::object")]
    pub motor_og_drivverk: Option<MotorOgDrivverk>,
    #[serde(deserialize_with = "lenient::object")]
    pub miljodata: Option<Miljodata>,
    #[serde(deserialize_with = "lenient::object")]
    pub vekter: Option<Vekter>,
    #[serde(deserialize_with = "lenient::object")]
    pub persontall: Option<Persontall>,
    #[serde(deserialize_with = "lenient::object")]
    pub karosseri_og_lasteplan: Option<KarosseriOgLasteplan>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Generelt {
    #[serde(deserialize_with = "lenient::list")]
    pub merke: Vec<Merke>,
    /// Trade names, e.g. `["GOLF"]`; says nothing about the e-Golf or GTE variant.
    #[serde(deserialize_with = "lenient::text_list")]
    pub handelsbetegnelse: Vec<String>,
    /// The same code as `kjoretoyklassifisering.tekniskKode`, repeated here.
    #[serde(deserialize_with = "lenient::object")]
    pub teknisk_kode: Option<KodeverkType>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Merke {
    /// "VOLKSWAGEN".
    #[serde(deserialize_with = "lenient::text")]
    pub merke: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub merke_kode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MotorOgDrivverk {
    /// `INGEN` (battery-electric or combustion), `LADBAR` (plug-in hybrid), ...
    #[serde(deserialize_with = "lenient::object")]
    pub hybrid_kategori: Option<KodeverkType>,
    /// One entry per motor: a plug-in hybrid has an engine and an electric motor.
    #[serde(deserialize_with = "lenient::list")]
    pub motor: Vec<Motor>,
    /// Only in newer records.
    #[serde(deserialize_with = "lenient::boolean")]
    pub utelukkende_elektrisk_drift: Option<bool>,
    /// Top speed in km/h.
    #[serde(deserialize_with = "lenient::number_list")]
    pub maksimum_hastighet: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Motor {
    /// `ELEKTRISK`, `OTTO`, `DIESEL`, ...
    #[serde(deserialize_with = "lenient::object")]
    pub arbeidsprinsipp: Option<KodeverkType>,
    /// One entry per fuel the motor runs on, each with its own power rating.
    #[serde(deserialize_with = "lenient::list")]
    pub drivstoff: Vec<Drivstoff>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Drivstoff {
    /// Fuel code: `5` electric, `1` petrol, `2` diesel.
    #[serde(deserialize_with = "lenient::object")]
    pub drivstoff_kode: Option<KodeverkType>,
    /// Maximum net power, kW. Often missing for electric motors.
    #[serde(deserialize_with = "lenient::number")]
    pub maks_netto_effekt: Option<f64>,
    /// Maximum 60-minute power of an electric motor, kW; lower than its peak.
    #[serde(deserialize_with = "lenient::number")]
    pub maks_effekt_pr_time: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Miljodata {
    /// One group per fuel: a plug-in hybrid has a petrol and an electric group.
    #[serde(rename = "miljoOgdrivstoffGruppe", deserialize_with = "lenient::list")]
    pub miljo_og_drivstoff_gruppe: Vec<MiljoOgDrivstoffGruppe>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MiljoOgDrivstoffGruppe {
    #[serde(deserialize_with = "lenient::object")]
    pub drivstoff_kode_miljodata: Option<KodeverkType>,
    #[serde(deserialize_with = "lenient::list")]
    pub forbruk_og_utslipp: Vec<ForbrukOgUtslipp>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForbrukOgUtslipp {
    /// Electric range in km from the older (pre-WLTP) measurement.
    #[serde(deserialize_with = "lenient::number")]
    pub rekkevidde_km: Option<f64>,
    /// Electric energy use in Wh/km (127 = 12.7 kWh/100 km), older measurement.
    #[serde(deserialize_with = "lenient::number")]
    pub el_energiforbruk: Option<f64>,
    #[serde(deserialize_with = "lenient::object")]
    pub wltp_kjoretoyspesifikk: Option<WltpKjoretoyspesifikk>,
    /// How the figures of this entry were measured. Real records seen so far say `ANNEN`
    /// ("other"); `WLTP` and `NEDC` are the values the summary recognises.
    #[serde(deserialize_with = "lenient::object")]
    pub malemetode: Option<KodeverkType>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WltpKjoretoyspesifikk {
    /// WLTP electric range, mixed driving, km.
    #[serde(deserialize_with = "lenient::number")]
    pub rekkevidde_km_blandetkjoring: Option<f64>,
    /// WLTP electric range, city driving, km.
    #[serde(deserialize_with = "lenient::number")]
    pub rekkevidde_km_bykjoring: Option<f64>,
    /// WLTP electric energy use, Wh/km.
    #[serde(deserialize_with = "lenient::number")]
    pub el_energiforbruk: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Vekter {
    /// Kerb weight, kg.
    #[serde(deserialize_with = "lenient::number")]
    pub egenvekt: Option<f64>,
    /// Maximum permitted total weight, kg.
    #[serde(deserialize_with = "lenient::number")]
    pub tillatt_totalvekt: Option<f64>,
    /// Maximum braked trailer, kg; `0` means not approved for towing.
    #[serde(deserialize_with = "lenient::number")]
    pub tillatt_tilhengervekt_med_brems: Option<f64>,
    /// Maximum unbraked trailer, kg; `0` means not approved for towing.
    #[serde(deserialize_with = "lenient::number")]
    pub tillatt_tilhengervekt_uten_brems: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Persontall {
    #[serde(deserialize_with = "lenient::number")]
    pub sitteplasser_totalt: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KarosseriOgLasteplan {
    /// Colour codes, e.g. `05` "Grå".
    #[serde(rename = "rFarge", deserialize_with = "lenient::list")]
    pub r_farge: Vec<KodeverkType>,
    #[serde(deserialize_with = "lenient::number_list")]
    pub antall_dorer: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PeriodiskKjoretoyKontroll {
    /// Deadline for the next EU-kontroll, `YYYY-MM-DD`.
    #[serde(deserialize_with = "lenient::text")]
    pub kontrollfrist: Option<String>,
    /// Date the last EU-kontroll was passed.
    #[serde(deserialize_with = "lenient::text")]
    pub sist_godkjent: Option<String>,
}

/// Field deserialisers that turn anything unexpected into "absent" rather than an error.
///
/// Each reads the field as a `serde_json::Value` first, which costs a little for a ~10 kB
/// body and means one odd field can never make a whole vehicle unreadable.
mod lenient {
    use super::{Deserialize, DeserializeOwned, Deserializer, Value};

    /// Strings the registry (or clients in front of it) use for "not applicable".
    fn meaningful(text: &str) -> Option<String> {
        let text = text.trim();
        (!text.is_empty() && text != "-").then(|| text.to_owned())
    }

    fn as_text(value: Value) -> Option<String> {
        match value {
            Value::String(s) => meaningful(&s),
            // Codes such as `merkeKode` are strings today but look numeric.
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn as_number(value: &Value) -> Option<f64> {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        number.filter(|n| n.is_finite())
    }

    /// Elements of an array, or nothing if the value is not an array (`null`, `"-"`, ...).
    fn elements(value: Value) -> Vec<Value> {
        match value {
            Value::Array(items) => items,
            _ => Vec::new(),
        }
    }

    pub(super) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(as_text(Value::deserialize(d)?))
    }

    pub(super) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(as_number(&Value::deserialize(d)?))
    }

    pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(b) => Some(b),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// A nested object; anything that is not one (or does not fit) is absent.
    pub(super) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        Ok(match Value::deserialize(d)? {
            value @ Value::Object(_) => T::deserialize(value).ok(),
            _ => None,
        })
    }

    /// An array of objects; elements that do not fit are dropped.
    pub(super) fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        let items = elements(Value::deserialize(d)?);
        Ok(items
            .into_iter()
            .filter(Value::is_object)
            .filter_map(|item| T::deserialize(item).ok())
            .collect())
    }

    /// An array of strings; placeholders and non-strings are dropped.
    pub(super) fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let items = elements(Value::deserialize(d)?);
        Ok(items.into_iter().filter_map(as_text).collect())
    }

    /// An array of numbers; placeholders and non-numbers are dropped.
    pub(super) fn number_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let items = elements(Value::deserialize(d)?);
        Ok(items.iter().filter_map(as_number).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(json: &str) -> KjoretoydataResponse {
        serde_json::from_str(json).expect("tolerant model accepts any JSON object")
    }

    #[test]
    fn an_empty_object_is_a_response_without_records() {
        assert_eq!(response("{}"), KjoretoydataResponse::default());
    }

    #[test]
    fn the_error_fixture_is_a_response_with_a_message_and_no_records() {
        let body = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vegvesen/error-400-ugyldig-format.json"
        ));
        let parsed = response(body);
        assert_eq!(
            parsed.feilmelding.as_deref(),
            Some("UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE")
        );
        assert!(parsed.kjoretoydata_liste.is_empty());
    }

    #[test]
    fn nulls_and_wrong_shapes_read_as_absent() {
        let parsed = response(
            r#"{"feilmelding": null, "kjoretoydataListe": [
                {"kjoretoyId": "-", "kjennemerke": null, "registrering": [],
                 "godkjenning": {"tekniskGodkjenning": {"tekniskeData": {
                    "generelt": {"merke": "VOLKSWAGEN", "handelsbetegnelse": null},
                    "motorOgDrivverk": {"motor": [null, 3, {"drivstoff": {}}],
                                        "utelukkendeElektriskDrift": "ja"}}}}},
                 "not a vehicle"
            ]}"#,
        );
        assert_eq!(parsed.feilmelding, None);
        assert_eq!(parsed.kjoretoydata_liste.len(), 1);
        let record = &parsed.kjoretoydata_liste[0];
        assert_eq!(record.kjoretoy_id, None);
        assert_eq!(record.registrering, None);
        assert!(record.kjennemerke.is_empty());
        let data = record
            .godkjenning
            .as_ref()
            .and_then(|g| g.teknisk_godkjenning.as_ref())
            .and_then(|t| t.tekniske_data.as_ref())
            .expect("tekniskeData is an object");
        let generelt = data.generelt.as_ref().expect("generelt is an object");
        assert!(generelt.merke.is_empty());
        assert!(generelt.handelsbetegnelse.is_empty());
        let drivverk = data.motor_og_drivverk.as_ref().expect("motorOgDrivverk");
        assert_eq!(drivverk.motor, vec![Motor::default()]);
        assert_eq!(drivverk.utelukkende_elektrisk_drift, None);
    }

    #[test]
    fn placeholder_strings_read_as_absent_and_are_trimmed_otherwise() {
        let id: KjoretoyId =
            serde_json::from_str(r#"{"kjennemerke": "-", "understellsnummer": " WVW1 "}"#)
                .expect("object");
        assert_eq!(id.kjennemerke, None);
        assert_eq!(id.understellsnummer.as_deref(), Some("WVW1"));
        let id: KjoretoyId = serde_json::from_str(r#"{"kjennemerke": "  "}"#).expect("object");
        assert_eq!(id.kjennemerke, None);
    }

    #[test]
    fn numbers_are_read_from_integers_floats_and_numeric_strings() {
        let drivstoff: Drivstoff =
            serde_json::from_str(r#"{"maksNettoEffekt": 85, "maksEffektPrTime": "55.5"}"#)
                .expect("object");
        assert_eq!(drivstoff.maks_netto_effekt, Some(85.0));
        assert_eq!(drivstoff.maks_effekt_pr_time, Some(55.5));
        let drivstoff: Drivstoff =
            serde_json::from_str(r#"{"maksNettoEffekt": "-", "maksEffektPrTime": 100.0}"#)
                .expect("object");
        assert_eq!(drivstoff.maks_netto_effekt, None);
        assert_eq!(drivstoff.maks_effekt_pr_time, Some(100.0));
    }

    #[test]
    fn array_fields_drop_placeholder_elements() {
        let generelt: Generelt =
            serde_json::from_str(r#"{"handelsbetegnelse": ["", "-", "ID.4", 7]}"#).expect("object");
        assert_eq!(
            generelt.handelsbetegnelse,
            vec!["ID.4".to_owned(), "7".to_owned()]
        );
        let karosseri: KarosseriOgLasteplan =
            serde_json::from_str(r#"{"antallDorer": ["-", 5], "rFarge": [{"kodeVerdi": "05"}]}"#)
                .expect("object");
        assert_eq!(karosseri.antall_dorer, vec![5.0]);
        assert_eq!(karosseri.r_farge[0].kode_verdi.as_deref(), Some("05"));
    }

    #[test]
    fn display_text_prefers_name_then_description_then_code() {
        let full = KodeverkType {
            kode_verdi: Some("05".into()),
            kode_navn: Some("Grå".into()),
            kode_beskrivelse: Some("Grå farge".into()),
        };
        assert_eq!(full.display_text(), Some("Grå"));
        let no_name = KodeverkType {
            kode_navn: None,
            ..full.clone()
        };
        assert_eq!(no_name.display_text(), Some("Grå farge"));
        let code_only = KodeverkType {
            kode_beskrivelse: None,
            ..no_name
        };
        assert_eq!(code_only.display_text(), Some("05"));
        assert_eq!(KodeverkType::default().display_text(), None);
    }
}
