//! Offline mode: how `/chat` answers when no language model can (no key configured, the
//! provider failed, or the daily token budget is spent).
//!
//! The answer is assembled from a built-in Norwegian FAQ, searched with BM25, plus a plain
//! description of any vehicle the handler looked up from a plate in the message.
//!
//! Layout:
//! - `faq.rs` and `faq.json`: the FAQ entries and [`FaqIndex`], built lazily on first use.
//! - `bm25.rs`: the ranking function. `tokenize.rs`: normalisation and bokmål stemming.
//! - `plates.rs`: [`find_plate_candidates`], so the handler knows what to look up.
//! - `describe.rs`: [`describe_vehicle_nb`].
//! - This file: [`compose_answer`], which puts the pieces together.

mod bm25;
mod describe;
#[cfg(test)]
mod eval;
mod faq;
mod plates;
mod tokenize;

use elbatt::vehicle::VehicleSummary;

pub use describe::describe_vehicle_nb;
pub use faq::{FaqEntry, FaqHit, FaqIndex};
pub use plates::find_plate_candidates;

/// A second FAQ answer is added when it scores at least this share of the best one: close
/// scores mean the question touches both entries ("lade i kulde" is about charging and winter).
const SECOND_HIT_RATIO: f64 = 0.8;

/// Told to the user first, so a generic answer is not mistaken for the assistant's own.
const OFFLINE_NOTICE: &str = "AI-assistenten er ikke tilgjengelig akkurat nå, så du får et svar fra Elbatts innebygde samling med vanlige spørsmål (frakoblet modus). Prøv gjerne igjen senere for et fullstendig svar.";

const FALLBACK: &str = "Jeg fant dessverre ikke noe svar på dette i samlingen. Du kan for eksempel spørre om batterihelse (SoH), rekkevidde om vinteren, ladevaner og hjemmelading, hurtiglading, batterigaranti eller hva du bør sjekke når du kjøper brukt elbil. Oppgir du et kjennemerke (to bokstaver og fem sifre), kan jeg også vise hva kjøretøyregisteret sier om bilen.";

const VEHICLE_ONLY_HINT: &str = "Spør gjerne om for eksempel batterihelse (SoH), rekkevidde om vinteren, lading eller batterigaranti, så svarer jeg så godt jeg kan.";

/// The text of an offline reply and the FAQ entries it used (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineAnswer {
    pub text: String,
    pub faq_ids: Vec<String>,
}

/// The offline answer, in bokmål: a line saying the AI assistant is unavailable, a description
/// of each vehicle, then the best FAQ answer (plus the runner-up when its score is close). When
/// nothing matches, a polite fallback suggests topics to ask about.
pub fn compose_answer(message: &str, vehicles: &[VehicleSummary]) -> OfflineAnswer {
    compose_with(FaqIndex::global(), message, vehicles)
}

fn compose_with(index: &FaqIndex, message: &str, vehicles: &[VehicleSummary]) -> OfflineAnswer {
    let query = without_plates(message);
    let hits = select_hits(index.answer_hits(&query, 2));

    let mut sections = vec![OFFLINE_NOTICE.to_owned()];
    sections.extend(vehicles.iter().map(describe_vehicle_nb));
    for hit in &hits {
        sections.push(format!("{}\n{}", hit.entry.question, hit.entry.answer));
    }
    if hits.is_empty() {
        sections.push(
            if vehicles.is_empty() {
                FALLBACK
            } else {
                VEHICLE_ONLY_HINT
            }
            .to_owned(),
        );
    }

    OfflineAnswer {
        text: sections.join("\n\n"),
        faq_ids: hits.iter().map(|hit| hit.entry.id.clone()).collect(),
    }
}

fn select_hits(hits: Vec<FaqHit<'_>>) -> Vec<FaqHit<'_>> {
    let Some(best) = hits.first().map(|hit| hit.score) else {
        return hits;
    };
    hits.into_iter()
        .enumerate()
        .filter(|(rank, hit)| *rank == 0 || hit.score >= best * SECOND_HIT_RATIO)
        .map(|(_, hit)| hit)
        .collect()
}

/// The message with plates blanked out: "EL" and "52817" are not words the FAQ should match.
fn without_plates(message: &str) -> String {
    let mut text = String::with_capacity(message.len());
    let mut copied_to = 0;
    for found in plates::plate_matches(message) {
        text.push_str(message.get(copied_to..found.start).unwrap_or_default());
        text.push(' ');
        copied_to = found.end;
    }
    text.push_str(message.get(copied_to..).unwrap_or_default());
    text
}

#[cfg(test)]
mod tests {
    use super::describe::tests::{egolf_summary, empty_summary};
    use super::*;

    #[test]
    fn an_answer_says_it_is_offline_and_answers_from_the_faq() {
        let answer = compose_answer("Hvor lenge varer batterigarantien?", &[]);
        assert!(answer.text.starts_with(OFFLINE_NOTICE), "{}", answer.text);
        assert!(answer.text.contains("ikke tilgjengelig"), "{}", answer.text);
        assert_eq!(
            answer.faq_ids.first().map(String::as_str),
            Some("batterigaranti")
        );
        assert!(answer.text.contains("160 000 km"), "{}", answer.text);
        assert!(!answer.text.contains(FALLBACK));
    }

    #[test]
    fn an_unanswerable_message_gets_the_polite_fallback() {
        let answer = compose_answer("Hvem vant fotballkampen i går?", &[]);
        assert!(answer.faq_ids.is_empty(), "{:?}", answer.faq_ids);
        assert!(answer.text.contains(OFFLINE_NOTICE));
        assert!(
            answer.text.contains("fant dessverre ikke"),
            "{}",
            answer.text
        );
        assert!(
            answer.text.contains("batterigaranti"),
            "the fallback suggests topics"
        );
    }

    #[test]
    fn off_topic_messages_sharing_one_word_with_the_faq_get_the_fallback() {
        for message in [
            "Kan du gi meg en god pizza-oppskrift?",
            "hva er været i morgen",
            "hva koster en pizza",
            "skriv et dikt om sommeren",
        ] {
            let answer = compose_answer(message, &[]);
            assert!(answer.faq_ids.is_empty(), "{message}: {:?}", answer.faq_ids);
            assert!(answer.text.ends_with(FALLBACK), "{message}");
        }
    }

    #[test]
    fn at_most_two_faq_answers_are_given_and_each_only_once() {
        for message in [
            "lading",
            "batteri rekkevidde vinter lading garanti",
            "lade i kulde om vinteren",
        ] {
            let answer = compose_answer(message, &[]);
            assert!(
                (1..=2).contains(&answer.faq_ids.len()),
                "{message}: {:?}",
                answer.faq_ids
            );
            if let [first, second] = answer.faq_ids.as_slice() {
                assert_ne!(first, second);
            }
            for id in &answer.faq_ids {
                let entry = FaqIndex::global()
                    .entries()
                    .iter()
                    .find(|e| &e.id == id)
                    .expect("known id");
                assert_eq!(answer.text.matches(entry.answer.as_str()).count(), 1);
            }
        }
    }

    #[test]
    fn the_runner_up_is_included_only_when_its_score_is_close() {
        let entry = |id: &str| FaqEntry {
            id: id.to_owned(),
            question: String::new(),
            alternatives: Vec::new(),
            answer: String::new(),
        };
        let (a, b) = (entry("a"), entry("b"));
        let close = select_hits(vec![
            FaqHit {
                entry: &a,
                score: 10.0,
            },
            FaqHit {
                entry: &b,
                score: 8.5,
            },
        ]);
        assert_eq!(close.len(), 2);
        let far = select_hits(vec![
            FaqHit {
                entry: &a,
                score: 10.0,
            },
            FaqHit {
                entry: &b,
                score: 5.0,
            },
        ]);
        assert_eq!(far.len(), 1);
        assert_eq!(far[0].entry.id, "a");
        assert!(select_hits(Vec::new()).is_empty());
    }

    #[test]
    fn vehicles_are_described_before_the_faq_answer() {
        let answer = compose_answer(
            "Hvor lenge varer batterigarantien på EL 52817?",
            &[egolf_summary()],
        );
        let vehicle_at = answer
            .text
            .find("EL 52817 (Volkswagen Golf)")
            .expect("vehicle described");
        let faq_at = answer
            .text
            .find("Den vanligste batterigarantien")
            .expect("warranty answer");
        assert!(vehicle_at < faq_at, "{}", answer.text);
        assert_eq!(
            answer.faq_ids.first().map(String::as_str),
            Some("batterigaranti")
        );
    }

    #[test]
    fn a_bare_plate_gets_the_vehicle_and_a_topic_hint_not_the_fallback() {
        let answer = compose_answer("EL 52817", &[egolf_summary(), empty_summary()]);
        assert!(answer.faq_ids.is_empty(), "{:?}", answer.faq_ids);
        assert!(answer.text.contains("Volkswagen Golf"));
        assert!(
            answer.text.contains("kjøretøyregisteret om bilen:"),
            "second vehicle described"
        );
        assert!(answer.text.contains(VEHICLE_ONLY_HINT));
        assert!(!answer.text.contains(FALLBACK));
    }

    #[test]
    fn plates_are_removed_before_searching() {
        assert_eq!(
            without_plates("Sjekk EL 52817 og ek-12345!"),
            "Sjekk   og  !"
        );
        assert_eq!(without_plates("ingen skilt"), "ingen skilt");
        assert_eq!(without_plates(""), "");
    }

    #[test]
    fn an_empty_faq_still_gives_a_polite_offline_answer() {
        let answer = compose_with(&FaqIndex::new(Vec::new()), "batterigaranti", &[]);
        assert!(answer.faq_ids.is_empty());
        assert!(answer.text.starts_with(OFFLINE_NOTICE));
        assert!(answer.text.ends_with(FALLBACK));
    }

    /// Words that mark a text as safety advice about a battery fire.
    const FIRE_WORDS: [&str; 4] = ["røyk", "brann", "brenn", "lukt"];

    fn is_fire_advice(text: &str) -> bool {
        let lower = text.to_lowercase();
        FIRE_WORDS.iter().any(|w| lower.contains(w))
    }

    /// The same advice everywhere: get out, keep away, call 110.
    fn assert_fire_advice(source: &str, text: &str) {
        for needle in ["ut av bilen", "avstand", "ring 110"] {
            assert!(
                text.contains(needle),
                "{source} talks about smoke or fire but lacks {needle:?}:\n{text}"
            );
        }
    }

    #[test]
    fn every_text_about_smoke_or_fire_gives_the_same_advice_and_110() {
        let mut checked = 0;
        for entry in FaqIndex::global().entries() {
            if is_fire_advice(&entry.answer) && entry.answer.contains("røyk") {
                assert_fire_advice(&entry.id, &entry.answer);
                checked += 1;
            }
        }
        // The prompt's safety section, and every prompt section that mentions smoke.
        for section in crate::config::DEFAULT_SYSTEM_PROMPT.split("\n## ") {
            if section.to_lowercase().contains("røyk") {
                assert_fire_advice("the system prompt", section);
                checked += 1;
            }
        }
        // The offline answer for a smoke question carries the same advice.
        let answer = compose_answer("Det kommer røyk fra batteriet, hva gjør jeg?", &[]);
        assert_fire_advice("the offline answer", &answer.text);
        // Vehicle descriptions never give fire advice of their own that could disagree.
        for summary in [egolf_summary(), empty_summary()] {
            let text = describe_vehicle_nb(&summary);
            assert!(
                !is_fire_advice(&text) || text.contains("ring 110"),
                "{text}"
            );
        }
        assert!(checked >= 2, "the FAQ and the prompt both give the advice");
    }

    #[test]
    fn everyday_charging_advice_names_one_range() {
        for entry in FaqIndex::global().entries() {
            let answer = &entry.answer;
            assert!(!answer.contains("80–90 %"), "{}: {answer}", entry.id);
            if answer.contains("i hverdagen") && answer.contains('%') {
                assert!(answer.contains("80 %"), "{}: {answer}", entry.id);
            }
        }
        assert!(crate::config::DEFAULT_SYSTEM_PROMPT.contains("20–80 %"));
    }

    #[test]
    fn any_input_gives_an_answer_without_panicking() {
        let long = "lading ".repeat(5_000);
        for message in [
            "",
            " ",
            "\u{0}",
            "🚗⚡️",
            "EK",
            "EK 3",
            long.as_str(),
            "ÆØÅ æøå 12:30 %%%",
        ] {
            let answer = compose_answer(message, &[]);
            assert!(answer.text.starts_with(OFFLINE_NOTICE));
        }
    }
}
