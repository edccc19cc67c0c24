//! Okapi BM25 over weighted term occurrences.
//!
//! Each document is a list of `(term, weight)` occurrences. A term's frequency is the sum of its
//! weights and a document's length the sum of all weights, which is the usual way to boost a
//! field (BM25F with shared length normalisation): a word in an FAQ question counts as several
//! words of answer text.

use std::collections::HashMap;

/// Term-frequency saturation. The customary value; FAQ texts are short so it matters little.
const K1: f64 = 1.2;
/// Length normalisation. The customary value: long answers should not win only by being long.
const B: f64 = 0.75;

#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: usize,
    frequency: f64,
}

/// An inverted index scored with BM25.
#[derive(Debug, Default)]
pub(crate) struct Bm25 {
    postings: HashMap<String, Vec<Posting>>,
    doc_lengths: Vec<f64>,
    average_length: f64,
}

impl Bm25 {
    /// Builds the index. Document numbers are positions in `docs`.
    pub(crate) fn new(docs: &[Vec<(String, f64)>]) -> Self {
        let mut postings: HashMap<String, Vec<Posting>> = HashMap::new();
        let mut doc_lengths = Vec::with_capacity(docs.len());
        for (doc, occurrences) in docs.iter().enumerate() {
            let mut frequencies: HashMap<&str, f64> = HashMap::new();
            let mut length = 0.0;
            for (term, weight) in occurrences {
                *frequencies.entry(term.as_str()).or_default() += weight;
                length += weight;
            }
            doc_lengths.push(length);
            for (term, frequency) in frequencies {
                postings
                    .entry(term.to_owned())
                    .or_default()
                    .push(Posting { doc, frequency });
            }
        }
        let total: f64 = doc_lengths.iter().sum();
        let average_length = if doc_lengths.is_empty() {
            0.0
        } else {
            total / doc_lengths.len() as f64
        };
        Self {
            postings,
            doc_lengths,
            average_length,
        }
    }

    /// How many documents contain `term`.
    pub(crate) fn doc_freq(&self, term: &str) -> usize {
        self.postings.get(term).map_or(0, Vec::len)
    }

    /// Inverse document frequency in the form Lucene uses, `ln(1 + (N - n + 0.5) / (n + 0.5))`,
    /// which never goes negative: a word found in most FAQ entries adds a little instead of
    /// pushing scores below zero.
    pub(crate) fn idf(&self, term: &str) -> f64 {
        let containing = self.doc_freq(term) as f64;
        let total = self.doc_lengths.len() as f64;
        (1.0 + (total - containing + 0.5) / (containing + 0.5)).ln()
    }

    /// The BM25 score of every document for `terms`, indexed by document number. Repeated
    /// query terms count once: asking "lade lade lade" is not a stronger question.
    pub(crate) fn scores(&self, terms: &[String]) -> Vec<f64> {
        let mut scores = vec![0.0; self.doc_lengths.len()];
        let mut seen: Vec<&str> = Vec::new();
        for term in terms {
            if seen.contains(&term.as_str()) {
                continue;
            }
            seen.push(term);
            let Some(postings) = self.postings.get(term) else {
                continue;
            };
            let idf = self.idf(term);
            for posting in postings {
                let length = self.doc_lengths.get(posting.doc).copied().unwrap_or(0.0);
                let relative_length = if self.average_length > 0.0 {
                    length / self.average_length
                } else {
                    1.0
                };
                let tf = posting.frequency;
                let saturated = tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * relative_length));
                if let Some(score) = scores.get_mut(posting.doc) {
                    *score += idf * saturated;
                }
            }
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(words: &str) -> Vec<(String, f64)> {
        words.split(' ').map(|w| (w.to_owned(), 1.0)).collect()
    }

    fn terms(words: &str) -> Vec<String> {
        words.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn documents_without_any_query_term_score_zero() {
        let index = Bm25::new(&[doc("lad batteri"), doc("vint rekkevidd")]);
        assert_eq!(index.scores(&terms("pizza oppskrift")), [0.0, 0.0]);
    }

    #[test]
    fn more_occurrences_score_higher_but_saturate() {
        let index = Bm25::new(&[
            doc("lad x y z"),
            doc("lad lad y z"),
            doc("lad lad lad lad"),
            doc("q r s t"),
        ]);
        let scores = index.scores(&terms("lad"));
        assert!(scores[0] < scores[1] && scores[1] < scores[2], "{scores:?}");
        assert!(scores[2] - scores[1] < scores[1] - scores[0], "{scores:?}");
        assert_eq!(scores[3], 0.0);
    }

    #[test]
    fn rare_terms_weigh_more_than_common_ones() {
        let index = Bm25::new(&[doc("bil lfp"), doc("bil nmc"), doc("bil soh")]);
        assert!(index.idf("lfp") > index.idf("bil"));
        assert!(
            index.idf("bil") > 0.0,
            "idf stays positive for terms in every document"
        );
        let scores = index.scores(&terms("bil lfp"));
        assert!(
            scores[0] > scores[1] && scores[1] == scores[2],
            "{scores:?}"
        );
    }

    #[test]
    fn a_match_in_a_shorter_document_scores_higher() {
        let index = Bm25::new(&[doc("garanti a b c d e f g"), doc("garanti a"), doc("x y")]);
        let scores = index.scores(&terms("garanti"));
        assert!(scores[1] > scores[0], "{scores:?}");
    }

    #[test]
    fn weights_act_as_extra_occurrences() {
        let boosted = vec![("soh".to_owned(), 3.0), ("x".to_owned(), 1.0)];
        let index = Bm25::new(&[boosted, doc("soh x y z"), doc("a b")]);
        let scores = index.scores(&terms("soh"));
        assert!(scores[0] > scores[1], "{scores:?}");
    }

    #[test]
    fn repeated_query_terms_count_once() {
        let index = Bm25::new(&[doc("lad batteri"), doc("vint")]);
        assert_eq!(
            index.scores(&terms("lad")),
            index.scores(&terms("lad lad lad"))
        );
    }

    #[test]
    fn an_empty_index_scores_nothing() {
        let index = Bm25::new(&[]);
        assert!(index.scores(&terms("lad")).is_empty());
    }
}
