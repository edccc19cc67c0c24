//! The offline retrieval evaluation (`eval.tsv`): questions as people type them (bokmål,
//! nynorsk, dialect, typos, ASCII for æ/ø/å, English, mixed) with the FAQ entry a person would
//! pick, and off-topic questions that must get the fallback. Run with
//! `cargo test -p chat offline::eval -- --nocapture` to see the table.
//!
//! A question counts as found at rank k when the answer path would use it: the on-topic rule
//! lets the question through and the entry is among the first k hits.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::faq::FaqIndex;
use super::without_plates;

const EVAL_TSV: &str = include_str!("eval.tsv");

/// Share of on-topic questions whose entry must be among the first three hits.
const MIN_TOP3: f64 = 0.90;
/// Share of off-topic questions that must get the fallback.
const MIN_OFF_TOPIC: f64 = 0.90;

struct Case<'a> {
    category: &'a str,
    /// Written after the retrieval was tuned and added without changing FAQ or code: the
    /// rows after the `# Held out` line, also reported on their own.
    held_out: bool,
    question: &'a str,
    /// `None`: the fallback is expected.
    expected: Option<&'a str>,
}

fn cases() -> Vec<Case<'static>> {
    let mut held_out = false;
    let mut cases = Vec::new();
    for line in EVAL_TSV.lines() {
        held_out |= line.starts_with("# Held out");
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "malformed eval line {line:?}");
        cases.push(Case {
            category: fields[0],
            held_out,
            question: fields[1],
            expected: (fields[2] != "-").then_some(fields[2]),
        });
    }
    cases
}

/// The ids the answer path would consider, best first (empty when it falls back).
pub(super) fn answer_ids(index: &FaqIndex, message: &str, limit: usize) -> Vec<String> {
    index
        .answer_hits(&without_plates(message), limit)
        .into_iter()
        .map(|hit| hit.entry.id.clone())
        .collect()
}

#[derive(Default)]
struct Tally {
    total: usize,
    top1: usize,
    top3: usize,
    fallback: usize,
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[test]
fn offline_retrieval_meets_the_evaluation_thresholds() {
    let index = FaqIndex::global();
    let cases = cases();
    assert!(cases.len() >= 150, "only {} eval questions", cases.len());
    let known: Vec<&str> = index.entries().iter().map(|e| e.id.as_str()).collect();

    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let (mut held_on, mut held_off) = (Tally::default(), Tally::default());
    let mut misses = String::new();
    for case in &cases {
        let ids = answer_ids(index, case.question, 3);
        let tally = tallies.entry(case.category).or_default();
        tally.total += 1;
        let held = if case.expected.is_some() {
            &mut held_on
        } else {
            &mut held_off
        };
        held.total += usize::from(case.held_out);
        match case.expected {
            Some(expected) => {
                assert!(
                    known.contains(&expected),
                    "unknown id {expected} in eval.tsv"
                );
                if ids.first().map(String::as_str) == Some(expected) {
                    tally.top1 += 1;
                    held.top1 += usize::from(case.held_out);
                }
                if ids.iter().any(|id| id == expected) {
                    tally.top3 += 1;
                    held.top3 += usize::from(case.held_out);
                } else {
                    let _ = writeln!(
                        misses,
                        "  miss [{}] {:?}: want {expected}, got {ids:?}",
                        case.category, case.question
                    );
                }
            }
            None => {
                if ids.is_empty() {
                    tally.fallback += 1;
                    held.fallback += usize::from(case.held_out);
                } else {
                    let _ = writeln!(
                        misses,
                        "  answered off-topic [{}] {:?}: {ids:?}",
                        case.category, case.question
                    );
                }
            }
        }
    }

    let mut report = String::from("category   n   top-1   top-3   fallback\n");
    let (mut on_total, mut on_top1, mut on_top3) = (0, 0, 0);
    let (mut off_total, mut off_fallback) = (0, 0);
    for (category, t) in &tallies {
        if *category == "offtopic" {
            off_total += t.total;
            off_fallback += t.fallback;
            let _ = writeln!(
                report,
                "{category:<9} {:>3}       -       -   {:5.1} %",
                t.total,
                percent(t.fallback, t.total)
            );
        } else {
            on_total += t.total;
            on_top1 += t.top1;
            on_top3 += t.top3;
            let _ = writeln!(
                report,
                "{category:<9} {:>3} {:5.1} % {:5.1} %        -",
                t.total,
                percent(t.top1, t.total),
                percent(t.top3, t.total)
            );
        }
    }
    let _ = writeln!(
        report,
        "on-topic  {on_total:>3} {:5.1} % {:5.1} %        -\noff-topic {off_total:>3}       -       -   {:5.1} %",
        percent(on_top1, on_total),
        percent(on_top3, on_total),
        percent(off_fallback, off_total)
    );
    let _ = writeln!(
        report,
        "held-out on-topic  {:>3} {:5.1} % {:5.1} %        -\nheld-out off-topic {:>3}       -       -   {:5.1} %",
        held_on.total,
        percent(held_on.top1, held_on.total),
        percent(held_on.top3, held_on.total),
        held_off.total,
        percent(held_off.fallback, held_off.total)
    );
    #[allow(clippy::print_stdout)]
    {
        println!("{report}{misses}");
    }

    assert!(
        on_top3 as f64 >= MIN_TOP3 * on_total as f64,
        "top-3 {:.1} % is below {:.0} %\n{report}{misses}",
        percent(on_top3, on_total),
        MIN_TOP3 * 100.0
    );
    assert!(
        off_fallback as f64 >= MIN_OFF_TOPIC * off_total as f64,
        "off-topic fallback {:.1} % is below {:.0} %\n{report}{misses}",
        percent(off_fallback, off_total),
        MIN_OFF_TOPIC * 100.0
    );
}
