//! Fuzz target `plate_parse`: arbitrary input → `Plate::parse`, the check every plate from a
//! URL, a query string, a job argument or the model's tool call passes through.
//!
//! Properties: it never panics; an accepted plate is a fixed point (`parse(p.as_str()) == p`),
//! holds 2–7 characters of the plate alphabet only, and its display form parses back to it.

#![no_main]

use elbatt::plate::{Plate, PlateKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lossy, as `percent_decode` hands a path to the handler: invalid UTF-8 becomes U+FFFD.
    let input = String::from_utf8_lossy(data);
    let Ok(plate) = Plate::parse(&input) else {
        return;
    };
    let text = plate.as_str();
    assert_eq!(Plate::parse(text).as_ref(), Ok(&plate), "not a fixed point");
    let len = text.chars().count();
    assert!((2..=7).contains(&len), "{len} characters: {text:?}");
    assert!(
        text.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, 'Æ' | 'Ø' | 'Å')),
        "outside the plate alphabet: {text:?}"
    );
    assert_eq!(
        Plate::parse(&plate.display_form()).as_ref(),
        Ok(&plate),
        "display form does not parse back"
    );
    if plate.kind() == PlateKind::Standard {
        assert!(text.is_ascii(), "a standard plate with Æ/Ø/Å: {text:?}");
    }
});
