//! `Plate`: a Norwegian registration plate, normalised and checked once where input enters
//! the system ("parse, don't validate"). Code holding a `Plate` never re-checks it.
//!
//! Normalisation follows docs/upstreams/vegvesen.md#plates: Unicode NFKC, upper case, and
//! removal of
//! all whitespace and the separators people type (`-`, `.`, `_`), so "ec 47213", "EC-47213"
//! and " Ec 47 213 " all become `EC47213`, the form the registry API expects. Anything that
//! cannot be a plate is rejected here, before it costs an upstream call from the daily quota.
//!
//! Plates are personal data: no error message repeats the input.

use std::fmt;
use std::str::FromStr;

use icu_normalizer::ComposingNormalizerBorrowed;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fewest letters and digits on any plate (personal plates allow 2).
const MIN_CHARS: usize = 2;
/// Most letters and digits on any plate (personal plates allow 7; standard ones have 6 or 7).
const MAX_CHARS: usize = 7;
/// Longer input is refused before normalising. No decoration of a seven-character plate comes
/// near this, and it bounds the work done on hostile input.
const MAX_INPUT_BYTES: usize = 256;

/// A registration plate in normalised form, e.g. `EC47213` or `ELBIL`.
///
/// Construct it with [`Plate::parse`] (or `str::parse`, or by deserialising); the field is
/// private so every `Plate` in the program has passed the checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plate(String);

/// Which family a plate belongs to; decides how it is displayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlateKind {
    /// Two letters A–Z and 4 or 5 digits, the first not 0 (`EC 47213`, motorcycles `AB 1234`).
    Standard,
    /// Anything else of 2–7 letters and digits: a personal plate (`ELBIL`, `ÆØÅ123`).
    Personal,
}

/// Why an input is not a plate. Messages are written for the end user and never contain the
/// input itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    #[error("the plate is empty: type the registration number, for example \"EC 47213\"")]
    Empty,
    #[error("the plate has only 1 letter or digit; Norwegian plates have at least {MIN_CHARS}")]
    TooShort,
    #[error(
        "the plate has {len} letters and digits; Norwegian plates have at most {MAX_CHARS} \
         (spaces and dashes are not counted)"
    )]
    TooLong { len: usize },
    #[error(
        "the plate contains {}, which cannot appear on a Norwegian plate: use only the \
         letters A–Z, Æ, Ø, Å and the digits 0–9",
        CharName(*.ch)
    )]
    InvalidCharacter { ch: char },
    #[error(
        "the input is far too long to be a registration plate (plates have at most \
         {MAX_CHARS} letters and digits)"
    )]
    InputTooLong,
}

impl PlateError {
    /// A stable machine-readable code for this error, for API bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            PlateError::Empty => "plate_empty",
            PlateError::TooShort => "plate_too_short",
            PlateError::TooLong { .. } => "plate_too_long",
            PlateError::InvalidCharacter { .. } => "plate_invalid_character",
            PlateError::InputTooLong => "plate_input_too_long",
        }
    }
}

impl Plate {
    /// Normalises `input` and accepts it if it is a standard or a personal plate.
    ///
    /// # Errors
    ///
    /// A [`PlateError`] naming the first rule the input breaks. An invalid character is
    /// reported before a wrong length, because fixing it usually fixes the length too.
    pub fn parse(input: &str) -> Result<Plate, PlateError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(PlateError::InputTooLong);
        }
        // NFKC folds look-alikes from other keyboards and copy-paste into plain characters:
        // full-width "ＳＵ" into "SU", NBSP and thin spaces into spaces, and a decomposed
        // "A + combining ring" or the Ångström sign into the single letter "Å".
        let folded = ComposingNormalizerBorrowed::new_nfkc().normalize(input);
        let mut normalised = String::with_capacity(MAX_CHARS + 3);
        // Counted in characters: Æ, Ø and Å take two bytes each.
        let mut len = 0_usize;
        for ch in folded.chars() {
            if is_separator(ch) {
                continue;
            }
            normalised.push(to_plate_char(ch).ok_or(PlateError::InvalidCharacter { ch })?);
            len += 1;
        }
        match len {
            0 => Err(PlateError::Empty),
            n if n < MIN_CHARS => Err(PlateError::TooShort),
            n if n > MAX_CHARS => Err(PlateError::TooLong { len: n }),
            _ => Ok(Plate(normalised)),
        }
    }

    /// The normalised form, as sent to the registry API: `EC47213`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> PlateKind {
        if standard_parts(&self.0).is_some() {
            PlateKind::Standard
        } else {
            PlateKind::Personal
        }
    }

    /// The form printed on the plate: `EC 47213` for standard plates, the normalised text
    /// for personal ones (whose spacing is the owner's choice and is not kept).
    pub fn display_form(&self) -> String {
        match standard_parts(&self.0) {
            Some((letters, digits)) => format!("{letters} {digits}"),
            None => self.0.clone(),
        }
    }
}

/// Splits a standard plate into its letters and digits, or `None` if it is not one.
///
/// Æ, Ø and Å never occur here: the standard series never use them (Statens vegvesen skips
/// them, see docs/upstreams/vegvesen.md#plates), so a plate containing them can only be personal.
fn standard_parts(normalised: &str) -> Option<(&str, &str)> {
    let is_standard = match normalised.as_bytes() {
        [l1, l2, first, rest @ ..] => {
            l1.is_ascii_uppercase()
                && l2.is_ascii_uppercase()
                && matches!(first, b'1'..=b'9')
                && (3..=4).contains(&rest.len())
                && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    if is_standard {
        normalised.split_at_checked(2)
    } else {
        None
    }
}

/// Whitespace of any kind and the separators people put between letter and digit groups.
/// Unicode hyphens and dashes are included because phones and word processors turn `-` into
/// them.
fn is_separator(ch: char) -> bool {
    ch.is_whitespace() || matches!(ch, '-' | '.' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Upper-cases `ch` if it belongs to the plate alphabet (A–Z, Æ, Ø, Å, 0–9), else `None`.
///
/// Only the plate alphabet is upper-cased, on purpose: the general `char::to_uppercase` turns
/// "ß" into "SS" and the dotless "ı" into "I", which would make a wrong input look like a
/// valid plate. Those characters are rejected and named instead. Æ, Ø and Å are allowed
/// because personal plates may use "ordinary Norwegian letters"; see [`standard_parts`] for
/// why they never form a standard plate.
fn to_plate_char(ch: char) -> Option<char> {
    match ch {
        'A'..='Z' | '0'..='9' | 'Æ' | 'Ø' | 'Å' => Some(ch),
        'a'..='z' => Some(ch.to_ascii_uppercase()),
        'æ' => Some('Æ'),
        'ø' => Some('Ø'),
        'å' => Some('Å'),
        _ => None,
    }
}

/// Names a character so a user can find it: `'!' (U+0021)`, or only the code point for
/// characters that print as nothing (controls, zero-width spaces, soft hyphens).
struct CharName(char);

impl fmt::Display for CharName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ch = self.0;
        let invisible = ch.is_control()
            || matches!(ch, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}');
        if invisible {
            write!(f, "the invisible character U+{:04X}", u32::from(ch))
        } else {
            write!(f, "'{ch}' (U+{:04X})", u32::from(ch))
        }
    }
}

impl FromStr for Plate {
    type Err = PlateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plate::parse(s)
    }
}

impl fmt::Display for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Plate {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Plate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Plate {
    /// Accepts anything [`Plate::parse`] accepts, so a bad plate in a request body fails
    /// deserialisation with the user-facing message.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Plate::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl crate::http::HttpError for PlateError {
    fn status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }
    fn code(&self) -> &'static str {
        PlateError::code(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(input: &str) -> String {
        match Plate::parse(input) {
            Ok(plate) => plate.as_str().to_owned(),
            Err(e) => panic!("{input:?} should parse, got {e}"),
        }
    }

    #[test]
    fn common_ways_of_typing_a_plate_normalise_to_the_same_form() {
        for input in [
            "ec 47213",
            "EC-47213",
            "ec.47213",
            " Ec 47 213 ",
            "EC47213",
            "e_c47213",
        ] {
            assert_eq!(parsed(input), "EC47213", "input {input:?}");
        }
    }

    #[test]
    fn unicode_spaces_dashes_and_full_width_letters_are_normalised() {
        assert_eq!(parsed("EC\u{a0}47\u{2009}213"), "EC47213");
        assert_eq!(parsed("EC\u{2013}47213"), "EC47213");
        assert_eq!(parsed("ＥＣ４７２１３"), "EC47213");
        assert_eq!(parsed("\tEC\n47213\r\n"), "EC47213");
    }

    #[test]
    fn decomposed_and_lower_case_norwegian_letters_become_single_upper_case_letters() {
        assert_eq!(parsed("a\u{30A}s12"), "ÅS12");
        assert_eq!(parsed("\u{212B}S12"), "ÅS12");
        assert_eq!(parsed("æøå123"), "ÆØÅ123");
    }

    #[test]
    fn two_letters_and_five_digits_is_a_standard_plate() {
        let plate = Plate::parse("DN 61834").expect("valid plate");
        assert_eq!(plate.kind(), PlateKind::Standard);
        assert_eq!(plate.as_str(), "DN61834");
        assert_eq!(plate.display_form(), "DN 61834");
    }

    #[test]
    fn two_letters_and_four_digits_is_a_standard_plate() {
        let plate = Plate::parse("ab1234").expect("valid plate");
        assert_eq!(plate.kind(), PlateKind::Standard);
        assert_eq!(plate.display_form(), "AB 1234");
    }

    #[test]
    fn a_word_is_a_personal_plate_displayed_as_normalised() {
        let plate = Plate::parse("Elbil").expect("valid plate");
        assert_eq!(plate.kind(), PlateKind::Personal);
        assert_eq!(plate.display_form(), "ELBIL");
    }

    #[test]
    fn norwegian_letters_make_a_personal_plate() {
        let plate = Plate::parse("ÆØÅ123").expect("valid plate");
        assert_eq!(plate.kind(), PlateKind::Personal);
        let plate = Plate::parse("ÆB12345").expect("valid plate");
        assert_eq!(plate.kind(), PlateKind::Personal);
    }

    #[test]
    fn a_standard_shape_with_a_leading_zero_is_a_personal_plate() {
        let plate = Plate::parse("AB01234").expect("valid plate");
        assert_eq!(plate.kind(), PlateKind::Personal);
        assert_eq!(plate.display_form(), "AB01234");
    }

    #[test]
    fn empty_input_is_rejected() {
        assert_eq!(Plate::parse(""), Err(PlateError::Empty));
    }

    #[test]
    fn input_of_only_spaces_and_separators_is_rejected_as_empty() {
        assert_eq!(Plate::parse(" \u{a0}- . _\t"), Err(PlateError::Empty));
    }

    #[test]
    fn a_single_character_is_rejected_as_too_short() {
        assert_eq!(Plate::parse(" a "), Err(PlateError::TooShort));
    }

    #[test]
    fn more_than_seven_characters_is_rejected_with_the_count() {
        let err = Plate::parse("SU 180 181").expect_err("8 characters");
        assert_eq!(err, PlateError::TooLong { len: 8 });
        assert!(err.to_string().contains('8'), "{err}");
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        // Seven two-byte letters: 14 bytes but a valid personal plate.
        assert_eq!(parsed("ÆØÅÆØÅÆ"), "ÆØÅÆØÅÆ");
        assert_eq!(
            Plate::parse("ÆØÅÆØÅÆØ"),
            Err(PlateError::TooLong { len: 8 })
        );
    }

    #[test]
    fn punctuation_is_rejected_and_named() {
        let err = Plate::parse("SU 1801!").expect_err("punctuation");
        assert_eq!(err, PlateError::InvalidCharacter { ch: '!' });
        assert!(err.to_string().contains("'!'"), "{err}");
    }

    #[test]
    fn sharp_s_is_rejected_instead_of_becoming_two_letters() {
        assert_eq!(
            Plate::parse("GROß1"),
            Err(PlateError::InvalidCharacter { ch: 'ß' })
        );
    }

    #[test]
    fn dotless_i_is_rejected_instead_of_becoming_latin_i() {
        assert_eq!(
            Plate::parse("ıı123"),
            Err(PlateError::InvalidCharacter { ch: 'ı' })
        );
    }

    #[test]
    fn accented_letters_from_other_languages_are_rejected() {
        assert_eq!(
            Plate::parse("CAFÉ"),
            Err(PlateError::InvalidCharacter { ch: 'É' })
        );
        assert_eq!(
            Plate::parse("ÄB123"),
            Err(PlateError::InvalidCharacter { ch: 'Ä' })
        );
    }

    #[test]
    fn invisible_characters_are_rejected_and_named_by_code_point() {
        let err = Plate::parse("EC\u{200B}47213").expect_err("zero-width space");
        assert_eq!(err, PlateError::InvalidCharacter { ch: '\u{200B}' });
        assert!(err.to_string().contains("U+200B"), "{err}");
    }

    #[test]
    fn overlong_input_is_rejected_before_normalising() {
        let input = " ".repeat(MAX_INPUT_BYTES + 1);
        assert_eq!(Plate::parse(&input), Err(PlateError::InputTooLong));
    }

    #[test]
    fn error_messages_do_not_repeat_the_input() {
        let err = Plate::parse("SECRET123").expect_err("too long");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn every_error_has_its_own_snake_case_code() {
        let errors = [
            PlateError::Empty,
            PlateError::TooShort,
            PlateError::TooLong { len: 8 },
            PlateError::InvalidCharacter { ch: '!' },
            PlateError::InputTooLong,
        ];
        let codes: std::collections::HashSet<_> = errors.iter().map(PlateError::code).collect();
        assert_eq!(codes.len(), errors.len());
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn from_str_display_and_as_ref_agree_with_parse() {
        let plate: Plate = "ec-47213".parse().expect("valid plate");
        assert_eq!(plate.to_string(), "EC47213");
        assert_eq!(plate.as_ref(), "EC47213");
    }

    #[test]
    fn serialises_as_the_normalised_string() {
        let plate = Plate::parse("ec 47213").expect("valid plate");
        assert_eq!(
            serde_json::to_string(&plate).expect("serialise"),
            "\"EC47213\""
        );
    }

    #[test]
    fn deserialising_normalises_and_rejects_bad_plates() {
        let plate: Plate = serde_json::from_str("\"ec-47213\"").expect("valid plate");
        assert_eq!(plate.as_str(), "EC47213");
        let err = serde_json::from_str::<Plate>("\"SU 1801!\"").expect_err("bad plate");
        assert!(err.to_string().contains("'!'"), "{err}");
        assert!(serde_json::from_str::<Plate>("47213").is_err());
    }

    /// Separators a user might put anywhere in a plate.
    const DECORATIONS: [&str; 9] = ["", "", " ", "  ", "-", ".", "_", "\u{a0}", "\u{2009}"];

    /// Writes `canonical` the way a careless user might: random case, random separators
    /// between characters and around the whole.
    fn decorate(canonical: &str, lower: &[bool], separators: &[usize]) -> String {
        let mut out = String::new();
        for (i, ch) in canonical.chars().enumerate() {
            out.push_str(DECORATIONS[separators[i] % DECORATIONS.len()]);
            if lower[i] {
                out.extend(ch.to_lowercase());
            } else {
                out.push(ch);
            }
        }
        out.push_str(DECORATIONS[separators[7] % DECORATIONS.len()]);
        out
    }

    fn decorations() -> impl Strategy<Value = (Vec<bool>, Vec<usize>)> {
        (
            prop::collection::vec(any::<bool>(), MAX_CHARS),
            prop::collection::vec(0..DECORATIONS.len(), MAX_CHARS + 1),
        )
    }

    /// Mostly strings close to plates, so that many of them parse; some arbitrary Unicode.
    fn plate_like_input() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-zA-Z0-9æøåÆØÅ \\-._\u{a0}]{0,12}",
            1 => any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_unicode(input in any::<String>()) {
            let _ = Plate::parse(&input);
        }

        #[test]
        fn parsing_never_panics_on_long_plate_like_input(
            input in "[a-zA-Z0-9æøåÆØÅß \\-._\u{a0}\u{301}\u{212B}]{0,300}"
        ) {
            let _ = Plate::parse(&input);
        }

        #[test]
        fn normalisation_is_idempotent(input in plate_like_input()) {
            if let Ok(plate) = Plate::parse(&input) {
                prop_assert_eq!(Plate::parse(plate.as_str()), Ok(plate));
            }
        }

        #[test]
        fn accepted_plates_hold_only_the_plate_alphabet(input in plate_like_input()) {
            if let Ok(plate) = Plate::parse(&input) {
                let len = plate.as_str().chars().count();
                prop_assert!((MIN_CHARS..=MAX_CHARS).contains(&len));
                let in_alphabet = plate.as_str().chars().all(|c| {
                    c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, 'Æ' | 'Ø' | 'Å')
                });
                prop_assert!(in_alphabet, "{}", plate);
            }
        }

        #[test]
        fn decorated_standard_plates_parse_back_to_the_same_standard_plate(
            canonical in "[A-Z]{2}[1-9][0-9]{3,4}",
            (lower, separators) in decorations(),
        ) {
            let plate = Plate::parse(&decorate(&canonical, &lower, &separators));
            let plate = plate.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(plate.as_str(), canonical.as_str());
            prop_assert_eq!(plate.kind(), PlateKind::Standard);
        }

        #[test]
        fn decorated_personal_plates_parse_back_to_the_same_plate(
            canonical in "[A-Z0-9ÆØÅ]{2,7}",
            (lower, separators) in decorations(),
        ) {
            let plate = Plate::parse(&decorate(&canonical, &lower, &separators));
            let plate = plate.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(plate.as_str(), canonical.as_str());
        }

        #[test]
        fn plates_with_norwegian_letters_are_always_personal(
            canonical in "[A-Z0-9]{0,3}[ÆØÅ][A-Z0-9ÆØÅ]{1,3}",
        ) {
            let plate = Plate::parse(&canonical).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(plate.kind(), PlateKind::Personal);
        }

        #[test]
        fn the_display_form_parses_back_to_the_same_plate(
            canonical in prop_oneof!["[A-Z]{2}[1-9][0-9]{3,4}", "[A-Z0-9ÆØÅ]{2,7}"],
        ) {
            let plate = Plate::parse(&canonical).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Plate::parse(&plate.display_form()), Ok(plate));
        }
    }
}
