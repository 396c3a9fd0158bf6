//! Substring search that works for Chinese. Full-text parsers split on spaces, which Chinese
//! does not have, and pg_trgm needs three characters where 牛肉 has two. So each product keeps
//! the set of its unigrams and bigrams (lower-cased, within runs of letters and digits) in
//! `search_grams`, under a GIN index. A query term is turned into its bigrams (or its one
//! character): `search_grams @> query_grams` narrows through the index, and a `strpos`
//! recheck makes the match exact.

use std::collections::BTreeSet;

/// The unigrams and bigrams of a product's searchable text.
pub fn grams(text: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    for run in runs(text) {
        for (i, c) in run.iter().enumerate() {
            set.insert(c.to_string());
            if let Some(next) = run.get(i + 1) {
                set.insert(format!("{c}{next}"));
            }
        }
    }
    set.into_iter().collect()
}

/// One search term: the grams every matching text must hold, and the lower-cased term for the
/// exact recheck. None for a term with no letters or digits.
pub fn term_grams(term: &str) -> Option<(Vec<String>, String)> {
    let lowered = term.trim().to_lowercase();
    let runs = runs(&lowered);
    if runs.is_empty() {
        return None;
    }
    let mut set = BTreeSet::new();
    for run in &runs {
        if run.len() == 1 {
            set.insert(run[0].to_string());
        }
        for pair in run.windows(2) {
            set.insert(format!("{}{}", pair[0], pair[1]));
        }
    }
    Some((set.into_iter().collect(), lowered))
}

/// Lower-cased runs of letters and digits.
fn runs(text: &str) -> Vec<Vec<char>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            current.push(c);
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_character_query_is_one_bigram_of_the_text() {
        let g = grams("静宁红富士苹果，脆甜多汁");
        let (q, _) = term_grams("苹果").unwrap();
        assert_eq!(q, vec!["苹果".to_string()]);
        assert!(q.iter().all(|x| g.contains(x)));
        let (q, _) = term_grams("牛肉").unwrap();
        assert!(!q.iter().all(|x| g.contains(x)));
    }

    #[test]
    fn one_character_and_latin_queries_work_too() {
        let g = grams("Apple 苹果");
        assert!(term_grams("果").unwrap().0.iter().all(|x| g.contains(x)));
        assert!(term_grams("APPLE").unwrap().0.iter().all(|x| g.contains(x)));
        assert!(term_grams("，。").is_none());
    }
}
