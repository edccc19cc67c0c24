//! Finding Norwegian registration plates in free text, so offline answers can describe the car
//! the user mentions.
//!
//! Only standard plates are recognised: two letters and 4–5 digits (cars have five, motorcycles
//! and trailers four), with an optional space or hyphen between. Personal plates are 2–7 free
//! characters and would match half the words in a sentence.

/// Norwegian and English two-letter words that are often followed by a number in ordinary
/// prose ("er 2019-modell", "kr 15000", "ca 12000 km", "in 2021"). Written in lower or mixed
/// case and separated from the digits by a space, they are read as words, not plates. Typed in
/// capitals or without the space, they still count: "ER 12345" and "er12345" look like plates.
const COMMON_WORDS: &[&str] = &[
    "an", "as", "at", "av", "be", "by", "ca", "da", "de", "do", "du", "ei", "en", "er", "et", "eu",
    "go", "ha", "if", "in", "is", "it", "ja", "jo", "kl", "kr", "la", "me", "my", "no", "nr", "of",
    "og", "om", "on", "or", "se", "so", "to", "up", "us", "ut", "vi", "we",
];

/// A plate found in a message: its byte range and normalised form ("EC47213").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlateMatch {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) plate: String,
}

/// Plate-looking tokens in free text, normalised ("EC47213"), in order of appearance,
/// deduplicated.
///
/// Only standard plates (two letters + 4–5 digits, the first digit not zero, an optional space or
/// hyphen between, e.g. "EC 47213", "ec-47213", "EC47213"), never inside longer words or
/// numbers ("ABC12345", "EC472131", "EK 1234,5"). A candidate is not proof that the plate
/// exists; the registry lookup decides that.
pub fn find_plate_candidates(message: &str) -> Vec<String> {
    let mut plates: Vec<String> = Vec::new();
    for found in plate_matches(message) {
        if !plates.contains(&found.plate) {
            plates.push(found.plate);
        }
    }
    plates
}

/// Every plate occurrence in `message`, with positions, so callers can also cut the plates out
/// of the text (the FAQ search should not try to match "EC" and "47213").
pub(crate) fn plate_matches(message: &str) -> Vec<PlateMatch> {
    let chars: Vec<(usize, char)> = message.char_indices().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match match_at(&chars, i) {
            Some((next, plate)) => {
                let start = chars.get(i).map_or(message.len(), |&(at, _)| at);
                let end = chars.get(next).map_or(message.len(), |&(at, _)| at);
                found.push(PlateMatch { start, end, plate });
                i = next;
            }
            None => i += 1,
        }
    }
    found
}

/// Tries to read a plate starting at char `i`; returns the char index after it and the
/// normalised plate.
fn match_at(chars: &[(usize, char)], i: usize) -> Option<(usize, String)> {
    let char_at = |k: usize| chars.get(k).map(|&(_, c)| c);
    if i > 0 && char_at(i - 1).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let first = char_at(i).filter(char::is_ascii_alphabetic)?;
    let second = char_at(i + 1).filter(char::is_ascii_alphabetic)?;

    let mut k = i + 2;
    let separator = char_at(k).filter(|&c| c == '-' || c == ' ' || c == '\u{a0}');
    if separator.is_some() {
        k += 1;
    }
    let digits_start = k;
    while char_at(k).is_some_and(|c| c.is_ascii_digit()) {
        k += 1;
    }
    let digits: String = chars[digits_start..k].iter().map(|&(_, c)| c).collect();
    if !(4..=5).contains(&digits.len()) || digits.starts_with('0') {
        return None;
    }
    match char_at(k) {
        Some(c) if c.is_alphanumeric() => return None,
        // "EK 1234,5" or "AB 1234.56" is a number with decimals, not a plate.
        Some('.' | ',' | ':') if char_at(k + 1).is_some_and(|c| c.is_ascii_digit()) => return None,
        _ => {}
    }

    let letters: String = [first, second].iter().collect();
    let spaced = separator.is_some_and(|c| c != '-');
    if spaced
        && !letters.chars().all(|c| c.is_ascii_uppercase())
        && COMMON_WORDS.contains(&letters.to_ascii_lowercase().as_str())
    {
        return None;
    }
    Some((k, format!("{}{digits}", letters.to_ascii_uppercase())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_plates_are_found_and_normalised_in_every_spelling() {
        assert_eq!(
            find_plate_candidates("Hva med EC 47213, ec-47213 eller EC47213?"),
            ["EC47213"]
        );
        assert_eq!(find_plate_candidates("ec47213"), ["EC47213"]);
        assert_eq!(
            find_plate_candidates("Sjekk bilen EL\u{a0}12345."),
            ["EL12345"]
        );
    }

    #[test]
    fn plates_come_in_order_of_appearance_without_duplicates() {
        assert_eq!(
            find_plate_candidates("Sammenlign DN 61834 og EC 47213, og så DN61834 igjen"),
            ["DN61834", "EC47213"]
        );
    }

    #[test]
    fn four_digit_plates_are_accepted() {
        assert_eq!(find_plate_candidates("hengeren har AB 1234"), ["AB1234"]);
    }

    #[test]
    fn plates_inside_longer_words_or_numbers_are_rejected() {
        for text in [
            "ABC12345",
            "EC472131",
            "EC47213X",
            "xEC47213",
            "bÆK12345",
            "EK 1234,5",
            "AB 1234.56",
            "EK 09085",
            "E 47213",
            "EC  47213",
        ] {
            assert!(find_plate_candidates(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn times_years_and_phone_numbers_are_not_plates() {
        for text in [
            "Ring meg kl 12:30 på 99 88 77 66",
            "Bilen er fra 2019 og har gått 45 000 km",
            "Den er 2017-modell, kjøpt for kr 150000",
            "Vi kjørte ca 12000 km i fjor, og 15000 i år",
            "It is 2021 and I drove 20000 km",
            "tlf 22334455 eller +47 99887766",
        ] {
            assert!(find_plate_candidates(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn common_words_still_count_when_written_like_a_plate() {
        assert_eq!(find_plate_candidates("ER 12345"), ["ER12345"]);
        assert_eq!(find_plate_candidates("er12345"), ["ER12345"]);
        assert_eq!(find_plate_candidates("en-12345"), ["EN12345"]);
    }

    #[test]
    fn match_positions_cover_the_plate_text() {
        let message = "Bilen «ec 47213» lader tregt";
        let found = plate_matches(message);
        assert_eq!(found.len(), 1);
        assert_eq!(&message[found[0].start..found[0].end], "ec 47213");
    }

    #[test]
    fn text_without_plates_gives_nothing() {
        assert!(find_plate_candidates("").is_empty());
        assert!(find_plate_candidates("Hvor lenge varer batteriet?").is_empty());
    }
}
