//! Text normalisation shared by the FAQ index and its queries: splitting, lowercasing, a small
//! Norwegian (plus English) stop-word list and a light bokmål suffix stemmer.
//!
//! Documents and queries go through the same [`tokenize`], so the stemmer only has to be
//! consistent, not linguistically perfect: "vinter", "vinteren" and "vintre" need not produce a
//! real word, only the same stem where it matters.

/// Stems shorter than this are left alone: stripping "-en" from "ben" would merge unrelated
/// short words, and short words carry most of their meaning in every letter.
const MIN_STEM_CHARS: usize = 3;

/// Bokmål inflection endings, longest first so "-ene" wins over "-e". Based on the endings the
/// Snowball Norwegian stemmer removes in its first step, plus "-ing" so that "lading", "lader"
/// and "lade" meet at "lad".
const SUFFIXES: &[&str] = &[
    "hetene", "hetens", "heten", "heter", "endes", "ande", "ende", "edes", "enes", "ene", "ane",
    "ens", "ers", "ets", "ede", "het", "ast", "ing", "en", "ar", "er", "as", "es", "et", "a", "e",
];

/// Suffix stripping is applied this many times so that a definite or plural form reaches the
/// same stem as the bare word ("laderen" → "lader" → "lad", like "lader" → "lad").
const STEM_PASSES: usize = 2;

/// Function words and conversational filler that say nothing about the topic. Question words such as
/// "hvor" go, but words like "lenge", "kaldt" or "100" stay because they separate FAQ entries,
/// and so does "ikke" ("bilen lader ikke" is a different question from "bilen lader").
#[rustfmt::skip]
const NORWEGIAN_STOP_WORDS: &[&str] = &[
    "alle", "altså", "anbefale", "anbefaler", "at", "av", "bare", "ble", "bli", "blir", "blitt",
    "bra", "både", "bør", "da", "de", "deg", "dem", "den", "denne", "der", "deres", "det", "dette",
    "din", "disse", "ditt", "du", "egentlig", "eller", "en", "enn", "er", "et", "ett", "etter",
    "for", "fordi", "forklar", "forklare", "fortell", "fortelle", "fra", "få", "før", "ganske",
    "gi", "gjerne", "gjør", "gjøre", "god", "godt", "ha", "hadde", "hallo", "han", "hans", "har",
    "hei", "her", "hun", "hva", "hvem", "hver", "hvilke", "hvilken", "hvis", "hvor", "hvordan",
    "hvorfor", "i", "inn", "ja", "jeg", "jo", "kan", "kanskje", "kunne", "litt", "lurer", "lurte",
    "man", "med", "meg", "men", "mer", "mest", "min", "mine", "mitt", "mot", "mye", "må", "ned",
    "nei", "noe", "noen", "nå", "når", "og", "også", "ok", "okei", "om", "opp", "oss", "over", "på",
    "si", "sier", "sin", "sine", "sitt", "skal", "skulle", "slik", "som", "spørsmål", "stemmer",
    "stole", "synes", "så", "tenker", "til", "tror", "ut", "var", "veldig", "vet", "vi", "vil",
    "ville", "vite", "vår", "være", "vært", "å",
];

/// English function words, so that English questions are reduced to their content words too.
#[rustfmt::skip]
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "about", "all", "am", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could",
    "did", "do", "does", "every", "explain", "for", "from", "get", "has", "have", "hello", "hi",
    "how", "i", "if", "im", "in", "is", "it", "just", "know", "me", "more", "much", "my", "of",
    "ok", "okay", "on", "or", "our", "please", "really", "should", "so", "tell", "than", "that",
    "the", "there", "this", "to", "very", "want", "was", "we", "what", "when", "which", "why",
    "will", "with", "would", "you", "your",
];

/// Splits `text` into normalised, stemmed index terms, in order of appearance.
///
/// Letters and digits are separated ("12v" gives "12" and "v"), "%" becomes "prosent" so that
/// "100 %" and "100 prosent" match, single letters and stop words are dropped.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    split_words(text)
        .into_iter()
        .filter_map(|word| normalise_word(&word.text))
        .collect()
}

/// The terms of words written with a capital letter inside a sentence ("en brukt Leaf",
/// "til Trondheim"): names of places, makes and models, which an FAQ about batteries in
/// general cannot be expected to know.
pub(crate) fn capitalised_terms(text: &str) -> Vec<String> {
    split_words(text)
        .into_iter()
        .filter(|word| word.capitalised && !word.starts_sentence)
        .filter_map(|word| normalise_word(&word.text))
        .collect()
}

/// Reduces a lowercase word to its stem. Public to the crate so the compound splitter can stem
/// the parts it finds.
pub(crate) fn stem(word: &str) -> String {
    let mut current = word;
    for _ in 0..STEM_PASSES {
        match strip_suffix(current) {
            Some(shorter) => current = shorter,
            None => break,
        }
    }
    // Bokmål doubles a final "m" before an ending ("strøm" → "strømmen"); undo it so both
    // forms meet. Other doubled consonants are kept: "dekk" is a word on its own.
    if current.len() < word.len() && current.ends_with("mm") {
        return current[..current.len() - 1].to_owned();
    }
    current.to_owned()
}

fn strip_suffix(word: &str) -> Option<&str> {
    SUFFIXES.iter().find_map(|suffix| {
        word.strip_suffix(suffix)
            .filter(|rest| rest.chars().count() >= MIN_STEM_CHARS)
    })
}

fn is_stop_word(word: &str) -> bool {
    NORWEGIAN_STOP_WORDS.contains(&word) || ENGLISH_STOP_WORDS.contains(&word)
}

fn normalise_word(word: &str) -> Option<String> {
    if word.chars().all(|c| c.is_numeric()) {
        return Some(word.to_owned());
    }
    if word.chars().count() < 2 || is_stop_word(word) {
        return None;
    }
    Some(stem(word))
}

/// Lowercases and folds the few foreign letters Norwegians type for their own (Swedish "ä"/"ö",
/// accented "é"), keeping æ, ø and å as they are.
fn fold(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|lower| match lower {
        'ä' => 'æ',
        'ö' => 'ø',
        'é' | 'è' | 'ê' => 'e',
        'á' | 'à' | 'â' => 'a',
        'ü' => 'u',
        other => other,
    })
}

/// A word of the input, lowercased and folded, with what its spelling says about it.
struct Word {
    text: String,
    capitalised: bool,
    starts_sentence: bool,
}

fn split_words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut current_is_number = false;
    let mut sentence_start = true;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if current.is_some() && current_is_number && is_thousands_space(&chars, i) {
            // "160 000" is one number; as two words, "000" would match every big number.
            continue;
        }
        if c == '%' {
            flush(&mut current, &mut words);
            words.push(Word {
                text: "prosent".to_owned(),
                capitalised: false,
                starts_sentence: false,
            });
        } else if c.is_alphanumeric() {
            let is_number = c.is_numeric();
            if current.is_some() && is_number != current_is_number {
                flush(&mut current, &mut words);
            }
            current_is_number = is_number;
            let word = current.get_or_insert_with(|| {
                let word = Word {
                    text: String::new(),
                    capitalised: c.is_uppercase(),
                    starts_sentence: sentence_start,
                };
                sentence_start = false;
                word
            });
            word.text.extend(fold(c));
        } else {
            flush(&mut current, &mut words);
            if matches!(c, '.' | '!' | '?' | ':' | '\n' | '«' | '"') {
                sentence_start = true;
            }
        }
    }
    flush(&mut current, &mut words);
    words
}

/// Whether `chars[i]` is a space between digit groups, as in "160 000": a digit before it and
/// exactly three digits after.
fn is_thousands_space(chars: &[char], i: usize) -> bool {
    let is_digit = |k: usize| chars.get(k).is_some_and(|c| c.is_ascii_digit());
    matches!(chars.get(i), Some(' ' | '\u{a0}' | '\u{202f}'))
        && i > 0
        && is_digit(i - 1)
        && (1..=3).all(|offset| is_digit(i + offset))
        && !is_digit(i + 4)
}

fn flush(current: &mut Option<Word>, words: &mut Vec<Word>) {
    if let Some(word) = current.take() {
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_and_plural_forms_share_the_stem_of_the_bare_word() {
        for (forms, expected) in [
            (&["bil", "bilen", "biler", "bilene"][..], "bil"),
            (
                &["batteri", "batteriet", "batterier", "batteriene"][..],
                "batteri",
            ),
            (&["garanti", "garantien", "garantier"][..], "garanti"),
            (
                &["lade", "lader", "ladet", "lading", "laderen", "ladingen"][..],
                "lad",
            ),
            (&["vinter", "vinteren"][..], "vint"),
            (&["strøm", "strømmen"][..], "strøm"),
        ] {
            for form in forms {
                assert_eq!(stem(form), expected, "stem of {form}");
            }
        }
    }

    #[test]
    fn short_words_are_not_stemmed_below_three_letters() {
        assert_eq!(stem("ene"), "ene");
        assert_eq!(stem("bile"), "bil");
        assert_eq!(stem("soh"), "soh");
        assert_eq!(stem("dekk"), "dekk");
    }

    #[test]
    fn tokenizer_lowercases_splits_punctuation_and_drops_stop_words() {
        assert_eq!(
            tokenize("Hvor lenge varer Batteriet? (SoH/helse)"),
            ["leng", "var", "batteri", "soh", "hels"]
        );
    }

    #[test]
    fn tokenizer_keeps_norwegian_letters() {
        assert_eq!(
            tokenize("Kjøpe BRUKT elbil på Ålesund"),
            ["kjøp", "brukt", "elbil", "ålesund"]
        );
    }

    #[test]
    fn tokenizer_separates_numbers_from_letters_and_spells_out_percent() {
        assert_eq!(tokenize("12V-batteri"), ["12", "batteri"]);
        assert_eq!(tokenize("lade til 100%"), ["lad", "100", "prosent"]);
        assert_eq!(tokenize("20–80 prosent"), ["20", "80", "prosent"]);
        assert_eq!(
            tokenize("90 000 km og 160\u{a0}000 km"),
            ["90000", "km", "160000", "km"]
        );
        assert_eq!(tokenize("99 88 77 66"), ["99", "88", "77", "66"]);
        assert_eq!(tokenize("12 3456"), ["12", "3456"]);
    }

    #[test]
    fn english_plurals_meet_norwegian_stems_where_the_words_are_shared() {
        assert_eq!(tokenize("batteries"), ["batteri"]);
        assert_eq!(tokenize("how long is the warranty"), ["long", "warranty"]);
    }

    #[test]
    fn swedish_and_accented_letters_are_folded() {
        assert_eq!(
            tokenize("Kapacitet är bra, café"),
            tokenize("kapacitet ær bra, cafe")
        );
    }

    #[test]
    fn capitalised_words_inside_a_sentence_are_reported_as_names() {
        assert_eq!(
            capitalised_terms("Hvor langt kommer en brukt Leaf til Trondheim? Rekkevidde. SoH"),
            ["leaf", "trondheim"]
        );
        assert!(capitalised_terms("hvor langt kommer jeg").is_empty());
    }

    #[test]
    fn empty_and_symbol_only_text_gives_no_tokens() {
        assert!(tokenize("").is_empty());
        assert!(tokenize("?!. -- ,,").is_empty());
        assert!(tokenize("og i på er").is_empty());
    }
}
