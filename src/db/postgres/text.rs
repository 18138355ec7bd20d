//! Text that PostgreSQL cannot store as sent: its `text` type rejects U+0000, which notes, credits, alt, tag names
//! and keywords may contain, and which SQLite stores.
//!
//! Stored text that contains U+0000, or that starts with [`ESCAPE_MARK`], is written as the mark followed by the text
//! with `\` doubled and U+0000 as `\0`. All other text is stored unchanged. The mapping is one-to-one, so uniqueness
//! of tag names holds, but byte order differs for escaped names: the backend sorts tag names in Rust.
//!
//! Search keys are compared by substring, which that escape would break (`\0` is also a substring of `\\0`). In a
//! search key, U+0000 becomes [`NUL_IN_SEARCH_KEY`] instead, a combining mark that folding never outputs, so a
//! keyword matches the mapped key exactly where its folded form matches the folded text.

/// First character of an escaped stored text: U+FFFF, a noncharacter that clients have no reason to send.
const ESCAPE_MARK: char = '\u{ffff}';

/// Stand-in for U+0000 in search keys: U+0301 COMBINING ACUTE ACCENT. `crate::domain::search::fold` removes every
/// combining mark, so no folded text contains it.
pub const NUL_IN_SEARCH_KEY: char = '\u{301}';

/// Encodes a text for a column that may hold any string sent by a client.
pub fn encode(text: &str) -> String {
    if !text.contains('\0') && !text.starts_with(ESCAPE_MARK) {
        return text.to_owned();
    }
    let mut encoded = String::with_capacity(text.len() + 4);
    encoded.push(ESCAPE_MARK);
    for c in text.chars() {
        match c {
            '\\' => encoded.push_str("\\\\"),
            '\0' => encoded.push_str("\\0"),
            c => encoded.push(c),
        }
    }
    encoded
}

/// Decodes a text written by [`encode`].
pub fn decode(stored: String) -> String {
    let Some(escaped) = stored.strip_prefix(ESCAPE_MARK) else {
        return stored;
    };
    let mut text = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => text.push('\0'),
            Some(other) => text.push(other),
            // `encode` never ends with a lone backslash; keep one that a hand edit left.
            None => text.push('\\'),
        }
    }
    text
}

/// Encodes an optional text column.
pub fn encode_option(text: Option<&str>) -> Option<String> {
    text.map(encode)
}

/// Decodes an optional text column.
pub fn decode_option(stored: Option<String>) -> Option<String> {
    stored.map(decode)
}

/// Turns folded text (or a folded keyword) into the stored search key.
pub fn search_key(folded: &str) -> String {
    folded.replace('\0', &NUL_IN_SEARCH_KEY.to_string())
}

/// Tells whether a string can be bound as a PostgreSQL `text` parameter. An identifier or email with U+0000 names
/// no stored row, so lookups with one find nothing without asking the database.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Escapes a search key for a LIKE pattern with the default escape character, so `%`, `_` and `\` match themselves.
pub fn like_literal(key: &str) -> String {
    let mut escaped = String::with_capacity(key.len() + 2);
    for c in key.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::fold;

    #[test]
    fn plain_text_is_stored_unchanged() {
        for text in [
            "",
            "notes",
            "C:\\path\\0",
            "100% _done_",
            "\u{301}\u{fffe}",
            "a\u{ffff}",
        ] {
            assert_eq!(encode(text), text);
            assert_eq!(decode(encode(text)), text);
        }
    }

    #[test]
    fn nul_and_mark_round_trip() {
        for text in [
            "\0",
            "a\0b",
            "\\0",
            "a\\\0",
            "\u{ffff}",
            "\u{ffff}\\0\0",
            "\0\u{ffff}",
        ] {
            let stored = encode(text);
            assert!(!stored.contains('\0'), "{stored:?} still contains U+0000");
            assert_eq!(decode(stored), text);
        }
    }

    #[test]
    fn escape_is_one_to_one() {
        let texts = [
            "\0",
            "\\0",
            "\u{ffff}\\0",
            "\u{ffff}\0",
            "\u{ffff}",
            "\u{ffff}\u{ffff}",
            "\\\0",
            "\0\\",
        ];
        let mut stored: Vec<String> = texts.iter().map(|text| encode(text)).collect();
        stored.sort();
        stored.dedup();
        assert_eq!(stored.len(), texts.len());
    }

    /// Folding runs per character up to the final composition, which only joins characters into precomposed
    /// letters, so checking every single character covers the characters that can reach a search key.
    #[test]
    fn folding_never_outputs_the_nul_stand_in() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let folded = fold(&c.to_string());
            assert!(
                !folded.contains(NUL_IN_SEARCH_KEY),
                "fold({c:?}) = {folded:?}"
            );
        }
        assert!(!fold("e\u{301}\u{301}A\u{301}").contains(NUL_IN_SEARCH_KEY));
    }

    #[test]
    fn search_key_keeps_substrings() {
        let text = search_key(&fold("Photo\0Caf\u{e9}"));
        let keyword = search_key(&fold("O\0CAFE"));
        assert!(text.contains(&keyword));
        assert!(!search_key(&fold("\\0")).contains(&search_key("\0")));
    }

    #[test]
    fn like_literal_escapes_wildcards() {
        assert_eq!(like_literal("100%_a\\b"), "100\\%\\_a\\\\b");
        assert_eq!(like_literal("plain"), "plain");
    }
}
