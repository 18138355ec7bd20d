//! Folding of searchable text into a search key.
//!
//! Text and keywords are folded the same way: Unicode NFC, full case folding (so `ß` matches `ss`) and removal of
//! combining marks (so `é` matches `e`). A keyword matches when its folded form is a substring of a folded field, and
//! every character, `%`, `_`, `*`, quotes and backslashes included, stands for itself.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Folds `text` into its search key.
pub fn fold(text: &str) -> String {
    let folded = caseless::default_case_fold_str(&text.nfd().collect::<String>());
    folded
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .nfc()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_case_fully() {
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("STRASSE"), "strasse");
        assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
    }

    #[test]
    fn removes_combining_marks() {
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("cafe\u{301}"), "cafe");
        assert_eq!(fold("Ångström"), "angstrom");
    }

    #[test]
    fn keeps_wildcards_literal() {
        assert_eq!(fold("100%_*\"'\\"), "100%_*\"'\\");
    }
}
