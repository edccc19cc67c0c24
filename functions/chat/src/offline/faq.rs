//! The built-in Norwegian FAQ (`faq.json`, embedded at compile time) and its BM25 search index.
//!
//! The index is built on first use through [`FaqIndex::global`], so functions that never answer
//! offline (and cold starts that do not need it) never parse the FAQ.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;

use super::bm25::Bm25;
use super::tokenize::{Token, capitalised_terms, stem, tokenize, words};

/// The FAQ data. A unit test proves it parses and is well formed; should a broken file ever
/// ship, [`FaqIndex::global`] logs the error and serves an empty index rather than panicking.
const FAQ_JSON: &str = include_str!("faq.json");

/// How much one occurrence in each field counts. The question and its alternative phrasings
/// say what an entry is about; the answer mentions many side topics in passing.
const QUESTION_WEIGHT: f64 = 3.0;
const ALTERNATIVES_WEIGHT: f64 = 2.0;
const ANSWER_WEIGHT: f64 = 1.0;

/// Compound parts shorter than this are not split off: "el" + "bil" would make every "elbil"
/// match "bil", and three letters is the shortest meaningful stem ("lad", "bil").
const MIN_COMPOUND_PART_CHARS: usize = 3;

/// Car makes and model words. A question that names one is still on topic, but the FAQ is
/// generic and never uses them, so they must not count against it in [`FaqIndex::is_on_topic`].
#[rustfmt::skip]
const NEUTRAL_WORDS: &[&str] = &[
    "audi", "bmw", "byd", "citroen", "cupra", "dacia", "enyaq", "fiat", "ford", "golf", "honda",
    "hyundai", "id", "ioniq", "jaguar", "kia", "kona", "leaf", "lexus", "mazda", "mercedes", "mg",
    "mini", "mitsubishi", "model", "modell", "nio", "niro", "nissan", "opel", "peugeot", "polestar",
    "porsche", "renault", "skoda", "smart", "subaru", "taycan", "tesla", "toyota", "tron",
    "volkswagen", "volvo", "vw", "xpeng", "zoe",
];

/// Known words too common to make a question about electric cars on their own: "hvor mye
/// koster en ny mobil" shares "koster" and "ny" with the FAQ but is not about it. They still
/// count in the search, but not in [`FaqIndex::is_on_topic`]. Stems, as [`stem`] gives them.
const GENERIC_STEMS: &[&str] = &[
    "kost", "ny", "nytt", "rask", "bytt", "pris", "billig", "fort",
];

/// Unknown words this long or longer may be matched to an FAQ word one edit away ("rekkevide",
/// "varmepumep"); shorter words are too easily one letter from another word.
const MIN_FUZZY_CHARS: usize = 6;
/// ... and this long or longer, two edits away ("batterigarrantin").
const MIN_FUZZY2_CHARS: usize = 11;

/// A query with this many words the FAQ knows is on topic whatever else it says.
const MIN_KNOWN_WORDS: usize = 3;

/// Otherwise more than this share of its content words must be known. Half is the line between
/// "a question with a stray word" and "another topic that shares a word with the FAQ".
const MIN_KNOWN_SHARE: f64 = 0.5;

/// A word of the FAQ's questions and alternatives found in at most this share of the entries
/// is specific to its topic ("varmepumpe", "ladekabel", "batterigaranti"), unlike
/// "rekkevidde" or "lading", which run through many entries, or words only an answer uses.
const MAX_SPECIFIC_SHARE: f64 = 0.1;
/// ... and has a stem this long: short words in questions ("best", "hjelp", "norg") are too
/// general to stand for a topic.
const MIN_SPECIFIC_CHARS: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WordCount {
    known: usize,
    counted: usize,
    /// Known words specific to a topic (see [`MAX_SPECIFIC_SHARE`]).
    specific: usize,
}

static GLOBAL: LazyLock<FaqIndex> = LazyLock::new(FaqIndex::builtin);

/// One question and answer of the built-in FAQ.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    /// Stable slug, reported back in `OfflineAnswer::faq_ids` (e.g. `"batterigaranti"`).
    pub id: String,
    /// The question as a user might ask it, in bokmål.
    pub question: String,
    /// Other phrasings and keywords (some English) that should find this entry.
    pub alternatives: Vec<String>,
    /// The answer, 2–6 sentences of bokmål.
    pub answer: String,
}

/// A search result: the entry and its BM25 score (always above zero).
#[derive(Debug, Clone, Copy)]
pub struct FaqHit<'a> {
    pub entry: &'a FaqEntry,
    pub score: f64,
}

/// The FAQ with its search index.
pub struct FaqIndex {
    entries: Vec<FaqEntry>,
    bm25: Bm25,
    /// Every stem in the FAQ, used to split compound words into parts the index knows.
    vocabulary: HashSet<String>,
    /// The stems of the questions and alternatives: what the entries are about, as opposed
    /// to words their answers mention in passing.
    topic_terms: HashSet<String>,
    /// Every word of the FAQ (folded, before stemming) with its letter counts and its stem,
    /// grouped by length, to match misspelt words.
    words_by_len: HashMap<usize, Vec<(Vec<char>, Letters, String)>>,
}

impl std::fmt::Debug for FaqIndex {
    // The full index is thousands of postings; its size is what is useful in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaqIndex")
            .field("entries", &self.entries.len())
            .field("terms", &self.vocabulary.len())
            .finish()
    }
}

impl FaqIndex {
    /// The index over the built-in FAQ, built on first call.
    pub fn global() -> &'static FaqIndex {
        &GLOBAL
    }

    /// Number of FAQ entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the FAQ has no entries (only if the embedded data failed to parse).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[FaqEntry] {
        &self.entries
    }

    /// The entries that best match `query`, best first, at most `limit`, only those scoring
    /// above zero. Ties keep file order, so results are deterministic.
    pub fn search(&self, query: &str, limit: usize) -> Vec<FaqHit<'_>> {
        self.rank(&self.analyse(query), limit)
    }

    /// What an offline answer uses: [`search`](Self::search) when the question is on topic
    /// (see [`is_on_topic`](Self::is_on_topic)), nothing otherwise. The question is analysed
    /// once for both.
    pub fn answer_hits(&self, query: &str, limit: usize) -> Vec<FaqHit<'_>> {
        let analysis = self.analyse(query);
        if self.on_topic(&analysis) {
            self.rank(&analysis, limit)
        } else {
            Vec::new()
        }
    }

    fn rank(&self, analysis: &Analysis, limit: usize) -> Vec<FaqHit<'_>> {
        if limit == 0 {
            return Vec::new();
        }
        let terms = analysis.terms();
        let mut hits: Vec<FaqHit<'_>> = self
            .bm25
            .scores(&terms)
            .into_iter()
            .zip(&self.entries)
            .filter(|(score, _)| *score > 0.0)
            .map(|(score, entry)| FaqHit { entry, score })
            .collect();
        // A stable sort, so equal scores stay in file order.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(limit);
        hits
    }

    /// Whether `query` is about something the FAQ covers, so that its best match can be trusted.
    ///
    /// BM25 finds something whenever one word matches, so "en god pizza-oppskrift" would
    /// otherwise be answered from the entry that says "god temperaturstyring". A query is on
    /// topic when more than half of its content words are words the FAQ uses, or when it has
    /// at least [`MIN_KNOWN_WORDS`] of them (a long message tells a story around its question).
    ///
    /// A two-word question with one unknown word is on topic when its known word is specific
    /// to a topic: "varmepumpe defekt" is, "rekkevidde pizza" is not.
    pub fn is_on_topic(&self, query: &str) -> bool {
        self.on_topic(&self.analyse(query))
    }

    fn on_topic(&self, analysis: &Analysis) -> bool {
        let WordCount {
            known,
            counted,
            specific,
        } = self.count(analysis);
        known >= MIN_KNOWN_WORDS
            || known as f64 > counted as f64 * MIN_KNOWN_SHARE
            || (counted == 2 && known == 1 && specific == 1)
    }

    /// Each word of the question with what the index knows of it, and the words written
    /// apart that make an FAQ word together.
    fn analyse(&self, query: &str) -> Analysis {
        let tokens = words(query);
        let joined = self.joined_pairs(&tokens);
        let words = tokens
            .into_iter()
            .map(|token| {
                let exact = self.known_terms(&token.stem);
                let numeric = token.stem.chars().all(char::is_numeric);
                let corrected = if exact.is_empty() && !numeric {
                    self.correct(&token.word)
                        .map(|stem| {
                            let mut terms = self.known_terms(&stem);
                            if terms.is_empty() {
                                terms.push(stem);
                            }
                            terms
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                WordAnalysis {
                    stem: token.stem,
                    exact,
                    corrected,
                }
            })
            .collect();
        Analysis {
            names: capitalised_terms(query),
            words,
            joined,
        }
    }

    /// The stem and its compound parts when the FAQ uses the word or both its parts; empty
    /// when it knows neither.
    fn known_terms(&self, stem: &str) -> Vec<String> {
        let parts = self.split_compound(stem);
        if parts.is_none() && !self.vocabulary.contains(stem) {
            return Vec::new();
        }
        let mut terms = vec![stem.to_owned()];
        if let Some((head, tail)) = parts {
            terms.push(head);
            terms.push(tail);
        }
        terms
    }

    /// Counts the query's distinct content words, and those the FAQ uses directly, as parts
    /// of a compound, joined with a neighbour or misspelt. Unknown numbers, car makes and words
    /// capitalised inside a sentence (names of models and places) are left out: the FAQ is
    /// generic and cannot know them. Generic words ("koster", "ny") are left out too.
    #[cfg(test)]
    fn count_known_words(&self, query: &str) -> WordCount {
        self.count(&self.analyse(query))
    }

    fn count(&self, analysis: &Analysis) -> WordCount {
        let max_specific_docs = self.entries.len() as f64 * MAX_SPECIFIC_SHARE;
        // (stem, known, specific)
        let mut stems: Vec<(&str, bool, bool)> = Vec::with_capacity(analysis.words.len());
        for (i, word) in analysis.words.iter().enumerate() {
            let term = word.stem.as_str();
            let skipped = is_skipped(term, &analysis.names);
            // A word joined with its neighbour into an FAQ word ("hurtig lading") is known.
            let joined: Vec<&String> = analysis
                .joined
                .iter()
                .filter(|(at, _)| *at == i || *at + 1 == i)
                .map(|(_, stem)| stem)
                .collect();
            // Only a word written as the FAQ writes it can be specific: a guessed correction
            // ("steker" → "streker") is too weak a sign on its own.
            let specific = joined.iter().copied().chain(&word.exact).any(|t| {
                let docs = self.bm25.doc_freq(t);
                t.chars().count() >= MIN_SPECIFIC_CHARS
                    && self.topic_terms.contains(t)
                    && docs > 0
                    && docs as f64 <= max_specific_docs
            });
            let known = !joined.is_empty()
                || !word.exact.is_empty()
                || (!skipped && !word.corrected.is_empty());
            stems.push((term, known, specific));
        }
        stems.sort_unstable();
        stems.dedup_by(|a, b| {
            a.0 == b.0 && {
                b.1 |= a.1;
                b.2 |= a.2;
                true
            }
        });
        let mut count = WordCount {
            known: 0,
            counted: 0,
            specific: 0,
        };
        for (term, known, specific) in stems {
            if GENERIC_STEMS.contains(&term) {
                continue;
            }
            if known {
                count.known += 1;
                count.counted += 1;
                count.specific += usize::from(specific);
            } else if !is_skipped(term, &analysis.names) {
                count.counted += 1;
            }
        }
        count
    }

    /// Neighbouring words that together make a word the FAQ uses: (index of the first, stem
    /// of the joined word).
    fn joined_pairs(&self, tokens: &[Token]) -> Vec<(usize, String)> {
        tokens
            .windows(2)
            .enumerate()
            .filter(|(_, pair)| pair[1].position == pair[0].position + 1)
            .filter_map(|(i, pair)| {
                let joined = stem(&format!("{}{}", pair[0].word, pair[1].word));
                self.vocabulary.contains(&joined).then_some((i, joined))
            })
            .collect()
    }

    /// The stem of the FAQ word closest to `word`, if it is one edit away (two for long
    /// words). Among equally close words the first in the FAQ wins, so results are stable.
    fn correct(&self, word: &str) -> Option<String> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() < MIN_FUZZY_CHARS || chars.iter().any(|c| c.is_numeric()) {
            return None;
        }
        let max = if chars.len() >= MIN_FUZZY2_CHARS {
            2
        } else {
            1
        };
        let mut best: Option<(usize, &String)> = None;
        let mut rows: [Vec<usize>; 3] = Default::default();
        let letters = Letters::of(&chars);
        for len in chars.len().saturating_sub(max)..=chars.len() + max {
            for (candidate, candidate_letters, stem) in
                self.words_by_len.get(&len).into_iter().flatten()
            {
                // Cheap lower bound first: most words differ in more letters than `max`.
                if letters.bag_distance(candidate_letters) > max {
                    continue;
                }
                if let Some(distance) = edit_distance(&chars, candidate, max, &mut rows)
                    && best.is_none_or(|(d, _)| distance < d)
                {
                    best = Some((distance, stem));
                }
            }
        }
        best.map(|(_, stem)| stem.clone())
    }

    fn builtin() -> Self {
        match parse_entries(FAQ_JSON) {
            Ok(entries) => Self::new(entries),
            Err(error) => {
                tracing::error!(%error, "the built-in FAQ does not parse; offline answers will use the fallback text");
                Self::new(Vec::new())
            }
        }
    }

    pub(crate) fn new(entries: Vec<FaqEntry>) -> Self {
        let fields: Vec<Vec<(Vec<String>, f64)>> = entries
            .iter()
            .map(|entry| {
                let alternatives = entry
                    .alternatives
                    .iter()
                    .map(|alt| (tokenize(alt), ALTERNATIVES_WEIGHT));
                std::iter::once((tokenize(&entry.question), QUESTION_WEIGHT))
                    .chain(alternatives)
                    .chain(std::iter::once((tokenize(&entry.answer), ANSWER_WEIGHT)))
                    .collect()
            })
            .collect();
        // The vocabulary comes from the plain tokens, before compound splitting, so that only
        // words the FAQ really uses can serve as compound parts.
        let vocabulary: HashSet<String> = fields
            .iter()
            .flatten()
            .flat_map(|(tokens, _)| tokens.iter().cloned())
            .collect();
        let topic_terms: HashSet<String> = fields
            .iter()
            .flat_map(|doc| doc.iter().filter(|(_, weight)| *weight > ANSWER_WEIGHT))
            .flat_map(|(tokens, _)| tokens.iter().cloned())
            .collect();
        let mut words_by_len: HashMap<usize, Vec<(Vec<char>, Letters, String)>> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        for entry in &entries {
            let texts = std::iter::once(&entry.question)
                .chain(&entry.alternatives)
                .chain(std::iter::once(&entry.answer));
            for token in texts.flat_map(|text| words(text)) {
                if seen.insert(token.word.clone()) {
                    let chars: Vec<char> = token.word.chars().collect();
                    let letters = Letters::of(&chars);
                    words_by_len
                        .entry(chars.len())
                        .or_default()
                        .push((chars, letters, token.stem));
                }
            }
        }
        let mut index = Self {
            entries,
            bm25: Bm25::default(),
            vocabulary,
            topic_terms,
            words_by_len,
        };
        let docs: Vec<Vec<(String, f64)>> = fields
            .into_iter()
            .map(|doc| {
                doc.into_iter()
                    .flat_map(|(tokens, weight)| {
                        index
                            .expand_compounds(tokens)
                            .into_iter()
                            .map(move |term| (term, weight))
                    })
                    .collect()
            })
            .collect();
        index.bm25 = Bm25::new(&docs);
        index
    }

    /// Adds the known parts of compound words after the word itself, so "batterigarantien"
    /// also matches "garanti" and "batteri". Norwegian writes compounds as one word, and a
    /// question rarely uses the same compound as the FAQ does.
    fn expand_compounds(&self, tokens: Vec<String>) -> Vec<String> {
        let mut terms = Vec::with_capacity(tokens.len());
        for token in tokens {
            let parts = self.split_compound(&token);
            terms.push(token);
            if let Some((head, tail)) = parts {
                terms.push(head);
                terms.push(tail);
            }
        }
        terms
    }

    /// Splits `token` into two stems the FAQ uses, preferring the longest first part. The
    /// first part may carry a linking "s" or "e" ("ladings-", "lade-").
    fn split_compound(&self, token: &str) -> Option<(String, String)> {
        let chars: Vec<char> = token.chars().collect();
        if chars.len() < 2 * MIN_COMPOUND_PART_CHARS || chars.iter().any(|c| c.is_numeric()) {
            return None;
        }
        (MIN_COMPOUND_PART_CHARS..=chars.len() - MIN_COMPOUND_PART_CHARS)
            .rev()
            .find_map(|split| {
                let head: String = chars[..split].iter().collect();
                let tail: String = chars[split..].iter().collect();
                let tail = self.known_stem(&tail)?;
                let head = self.known_stem(&head).or_else(|| {
                    let linked = head.strip_suffix('s').or_else(|| head.strip_suffix('e'))?;
                    (linked.chars().count() >= MIN_COMPOUND_PART_CHARS)
                        .then(|| self.known_stem(linked))
                        .flatten()
                })?;
                Some((head, tail))
            })
    }

    fn known_stem(&self, part: &str) -> Option<String> {
        if self.vocabulary.contains(part) {
            return Some(part.to_owned());
        }
        let stemmed = stem(part);
        self.vocabulary.contains(&stemmed).then_some(stemmed)
    }
}

/// How many times each letter a–z occurs in a word, and how many other characters: the
/// "bag distance" between two words is a lower bound of their edit distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Letters([u8; 27]);

impl Letters {
    fn of(word: &[char]) -> Self {
        let mut counts = [0u8; 27];
        for c in word {
            let slot = if c.is_ascii_lowercase() {
                usize::from(*c as u8 - b'a')
            } else {
                26
            };
            if let Some(count) = counts.get_mut(slot) {
                *count = count.saturating_add(1);
            }
        }
        Letters(counts)
    }

    /// Letters one word has more of, or the other, whichever is larger: each edit changes at
    /// most one of each, so this never exceeds the edit distance.
    fn bag_distance(&self, other: &Letters) -> usize {
        let (mut more, mut fewer) = (0usize, 0usize);
        for (a, b) in self.0.iter().zip(&other.0) {
            if a > b {
                more += usize::from(a - b);
            } else {
                fewer += usize::from(b - a);
            }
        }
        more.max(fewer)
    }
}

/// The optimal-string-alignment distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of neighbours, one edit each), or `None` if it exceeds `max`.
/// Three rolling rows; `rows` is scratch space reused between calls.
fn edit_distance(a: &[char], b: &[char], max: usize, rows: &mut [Vec<usize>; 3]) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let width = b.len() + 1;
    for row in rows.iter_mut() {
        row.clear();
        row.resize(width, 0);
    }
    let [before, previous, current] = rows;
    for (j, cell) in previous.iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        current[0] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(before, previous);
        std::mem::swap(previous, current);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance)
}

/// A question as the index sees it (see [`FaqIndex::analyse`]).
struct Analysis {
    /// Stems of words capitalised inside a sentence: names.
    names: Vec<String>,
    words: Vec<WordAnalysis>,
    /// (index of the first of two neighbouring words, stem of the two joined).
    joined: Vec<(usize, String)>,
}

struct WordAnalysis {
    stem: String,
    /// The stem and its compound parts, when the FAQ uses the word as written.
    exact: Vec<String>,
    /// Otherwise the FAQ word it is one or two letters from, with its parts.
    corrected: Vec<String>,
}

impl Analysis {
    /// The index terms: each word's known terms (as written, else as corrected, else its
    /// stem), then the joined words; the parts of a joined word are already there.
    fn terms(&self) -> Vec<String> {
        let mut terms = Vec::with_capacity(self.words.len() * 2 + self.joined.len());
        for word in &self.words {
            if !word.exact.is_empty() {
                terms.extend(word.exact.iter().cloned());
            } else if !word.corrected.is_empty() {
                terms.extend(word.corrected.iter().cloned());
            } else {
                terms.push(word.stem.clone());
            }
        }
        terms.extend(self.joined.iter().map(|(_, stem)| stem.clone()));
        terms
    }
}

/// Numbers, car makes and names are not counted for or against a question being on topic.
fn is_skipped(term: &str, names: &[String]) -> bool {
    term.chars().all(char::is_numeric) || is_neutral(term) || names.iter().any(|n| n == term)
}

fn is_neutral(term: &str) -> bool {
    NEUTRAL_WORDS.iter().any(|word| stem(word) == term)
}

fn parse_entries(json: &str) -> Result<Vec<FaqEntry>, serde_json::Error> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top_id(query: &str) -> Option<&'static str> {
        FaqIndex::global()
            .search(query, 1)
            .first()
            .map(|hit| hit.entry.id.as_str())
    }

    #[test]
    fn embedded_faq_parses() {
        let entries = parse_entries(FAQ_JSON).expect("faq.json must parse");
        assert_eq!(entries.len(), FaqIndex::global().len());
    }

    #[test]
    fn faq_has_at_least_45_entries_with_unique_ids_and_text() {
        let entries = parse_entries(FAQ_JSON).expect("faq.json must parse");
        assert!(entries.len() >= 45, "only {} entries", entries.len());
        let mut ids = HashSet::new();
        for entry in &entries {
            assert!(ids.insert(entry.id.as_str()), "duplicate id {}", entry.id);
            assert!(
                !entry.id.is_empty()
                    && entry
                        .id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "id {:?} is not a slug",
                entry.id
            );
            assert!(
                !entry.question.trim().is_empty(),
                "{} has no question",
                entry.id
            );
            assert!(
                !entry.answer.trim().is_empty(),
                "{} has no answer",
                entry.id
            );
            assert!(
                !entry.alternatives.is_empty(),
                "{} has no alternatives",
                entry.id
            );
            assert!(
                entry.alternatives.iter().all(|alt| !alt.trim().is_empty()),
                "{} has an empty alternative",
                entry.id
            );
        }
    }

    #[test]
    fn faq_answers_are_two_to_six_sentences() {
        for entry in FaqIndex::global().entries() {
            // Sentence ends: a full stop, question or exclamation mark followed by a space or
            // the end. Abbreviations such as "f.eks." are avoided in the answers for this reason.
            let text = entry.answer.trim();
            let sentences = text.matches(". ").count()
                + text.matches("? ").count()
                + text.matches("! ").count()
                + usize::from(text.ends_with(['.', '?', '!']));
            assert!(
                (2..=6).contains(&sentences),
                "{} has {sentences} sentences",
                entry.id
            );
        }
    }

    #[test]
    fn every_entry_is_the_top_hit_for_its_own_question() {
        let index = FaqIndex::global();
        for entry in index.entries() {
            assert_eq!(
                top_id(&entry.question),
                Some(entry.id.as_str()),
                "question {:?}",
                entry.question
            );
        }
    }

    #[test]
    fn realistic_questions_find_the_right_entry() {
        for (query, expected) in [
            ("Hvor lenge varer batterigarantien?", "batterigaranti"),
            ("rekkevidde om vinteren", "rekkevidde-vinter"),
            ("bør jeg lade til 100 prosent?", "lading-100"),
            ("hva er SoH", "soh-hva-er"),
            ("kjøpe brukt elbil", "brukt-elbil-kjop"),
            (
                "Is fast charging bad for my battery?",
                "hurtiglading-slitasje",
            ),
            ("how long is the battery warranty", "batterigaranti"),
            (
                "hvordan kan jeg sjekke batterihelsen på bilen min",
                "soh-sjekke",
            ),
            (
                "kan jeg lade i vanlig stikkontakt i garasjen?",
                "hjemmelading-stikkontakt",
            ),
            (
                "hvorfor lader bilen så sakte når det er kaldt ute",
                "lading-kulde",
            ),
            (
                "hurtigladingen går tregt etter 80 %",
                "hurtiglading-ladekurve",
            ),
            (
                "bilen skal stå i flere måneder, hvor mye skal jeg lade den?",
                "lagring",
            ),
            ("12V-batteriet er flatt", "12v-batteri"),
            ("forskjell på LFP og NMC", "nmc-lfp"),
            (
                "Kan man ha hengerfeste og trekke campingvogn med elbil?",
                "tilhenger",
            ),
            ("brenner elbiler oftere enn bensinbiler?", "brannsikkerhet"),
            ("hva koster et nytt batteri", "batteribytte-kostnad"),
            ("vi har IT-nett hjemme, hvilken lader?", "it-nett"),
            ("hvor mange km kommer jeg på en kWh", "kwh-vs-km"),
            (
                "følger garantien med hvis jeg kjøper bilen brukt fra en privatperson",
                "garanti-ny-eier",
            ),
            ("er det farlig å lade i regnvær", "lading-regn"),
            ("hva er forskjellen på AC og DC lading", "ac-dc-lading"),
            (
                "Hvor mye batterikapasitet har en brukt Leaf igjen etter 5 år?",
                "degradering-normal",
            ),
        ] {
            assert_eq!(top_id(query), Some(expected), "query {query:?}");
        }
    }

    #[test]
    fn unrelated_queries_find_nothing() {
        let index = FaqIndex::global();
        for query in ["pizza oppskrift", "", "???", "og i på er"] {
            let hits = index.search(query, 5);
            assert!(
                hits.is_empty(),
                "{query:?} gave {:?}",
                hits.first().map(|h| &h.entry.id)
            );
        }
    }

    #[test]
    fn hits_are_ordered_best_first_positive_and_limited() {
        let hits = FaqIndex::global().search("lading vinter batteri rekkevidde", 5);
        assert_eq!(hits.len(), 5);
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
        assert!(hits.iter().all(|hit| hit.score > 0.0));
        assert!(FaqIndex::global().search("lading", 0).is_empty());
    }

    #[test]
    fn known_words_are_counted_with_names_and_numbers_left_out() {
        let index = FaqIndex::global();
        let count = |query: &str| {
            let WordCount { known, counted, .. } = index.count_known_words(query);
            (known, counted)
        };
        assert_eq!(count("lade batteriet om vinteren"), (3, 3));
        assert_eq!(count("batterigarantien"), (1, 1), "known through its parts");
        assert_eq!(count("rekkevidde pizza"), (1, 2));
        assert_eq!(count("pizza oppskrift"), (0, 2));
        assert_eq!(
            count("rekkevidde tesla model 2021"),
            (1, 1),
            "makes and numbers are left out"
        );
        assert_eq!(
            count("langtur til Trondheim"),
            (1, 1),
            "so are names written as names"
        );
        assert_eq!(count("langtur til trondheim"), (1, 2));
        assert_eq!(count(""), (0, 0));
    }

    #[test]
    fn on_topic_needs_most_words_known_or_three_known_words() {
        let index = FaqIndex::global();
        assert!(index.is_on_topic("rekkevidde om vinteren"));
        assert!(index.is_on_topic("Hvor langt kommer en Tesla til Trondheim?"));
        assert!(!index.is_on_topic("rekkevidde pizza"));
        assert!(!index.is_on_topic("Kan du gi meg en god pizza-oppskrift?"));
        assert!(!index.is_on_topic(""));
        assert!(index.is_on_topic(
            "Svigerfar kjøpte en bruktbil i fjor, og nå lurer han på batteriet og rekkevidden"
        ));
    }

    #[test]
    fn compound_words_are_split_into_parts_the_faq_uses() {
        let index = FaqIndex::global();
        assert_eq!(
            index.split_compound("batterigaranti"),
            Some(("batteri".to_owned(), "garanti".to_owned()))
        );
        assert_eq!(index.split_compound("pizzaoppskrift"), None);
        assert_eq!(index.split_compound("2025"), None);
    }

    #[test]
    fn edit_distance_counts_one_edit_per_insert_delete_change_or_swap() {
        let mut rows: [Vec<usize>; 3] = Default::default();
        let mut d = |a: &str, b: &str, max: usize| {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            edit_distance(&a, &b, max, &mut rows)
        };
        assert_eq!(d("rekkevidde", "rekkevidde", 1), Some(0));
        assert_eq!(d("rekkevide", "rekkevidde", 1), Some(1), "deletion");
        assert_eq!(d("garrranti", "garanti", 2), Some(2), "two insertions");
        assert_eq!(d("varmepumep", "varmepumpe", 1), Some(1), "swap");
        assert_eq!(d("ladeboks", "ladebox", 1), None, "two edits, one allowed");
        assert_eq!(d("abc", "abcdef", 2), None, "lengths too far apart");
        assert_eq!(d("", "ab", 2), Some(2));
    }

    #[test]
    fn misspelt_words_and_words_written_apart_find_their_entry() {
        for (query, expected) in [
            ("rekkevide om vinteren", "rekkevidde-vinter"),
            ("batterigarrantien", "batterigaranti"),
            ("varmepumep elbil", "varmepumpe"),
            ("hurtig lading skader batteriet", "hurtiglading-slitasje"),
            ("kjop av brukt elbil", "brukt-elbil-kjop"),
            (
                "kor mykje kostar det å byte batteri",
                "batteribytte-kostnad",
            ),
        ] {
            assert_eq!(top_id(query), Some(expected), "query {query:?}");
        }
        let index = FaqIndex::global();
        assert!(index.is_on_topic("what does SoH mean"));
        assert!(index.is_on_topic("ka e SoH"));
        assert!(!index.is_on_topic("hvor mye koster en ny mobil"));
        assert!(!index.is_on_topic("hva koster det"));
    }

    #[test]
    fn two_words_with_one_unknown_are_on_topic_only_if_the_known_one_is_specific() {
        let index = FaqIndex::global();
        for query in [
            "varmepumpe defekt",
            "batterigaranti utløpt",
            "ladekabel glemt",
        ] {
            assert!(index.is_on_topic(query), "{query}");
        }
        for query in [
            "rekkevidde pizza",
            "hvordan steker jeg pannekaker",
            "kan du hjelpe meg med matteleksene",
            "hvem er statsminister i Norge",
        ] {
            assert!(!index.is_on_topic(query), "{query}");
        }
    }

    #[test]
    fn a_faq_that_fails_to_parse_gives_an_empty_index_that_finds_nothing() {
        assert!(parse_entries("[{\"id\": 1}]").is_err());
        let index = FaqIndex::new(Vec::new());
        assert!(index.is_empty());
        assert!(index.search("batterigaranti", 3).is_empty());
    }
}
