//! Asset filenames.

use unicode_normalization::UnicodeNormalization;

/// Maximum length of a filename, in Unicode code points.
pub const MAX_FILENAME_CHARS: usize = 500;

/// A filename reduced to its base name and normalised to NFC, with no control or bidi characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filename(String);

/// Reason a filename was rejected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    #[error("the filename is empty; send a name such as \"photo.jpg\"")]
    Empty,
    #[error("the filename has {0} characters; the maximum is {MAX_FILENAME_CHARS}")]
    TooLong(usize),
    #[error("the filename contains the control character U+{0:04X}; remove it")]
    ControlCharacter(u32),
    #[error("the filename contains the bidirectional control character U+{0:04X}; remove it")]
    BidiControl(u32),
}

impl Filename {
    /// Parses a filename as a client sent it: keeps the part after the last `/` or `\` and normalises it to NFC.
    pub fn parse(raw: &str) -> Result<Self, FilenameError> {
        let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
        let name: String = base.nfc().collect();

        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(FilenameError::ControlCharacter(c as u32));
        }
        if let Some(c) = name.chars().find(|c| is_bidi_control(*c)) {
            return Err(FilenameError::BidiControl(c as u32));
        }
        let length = name.chars().count();
        if length == 0 {
            return Err(FilenameError::Empty);
        }
        if length > MAX_FILENAME_CHARS {
            return Err(FilenameError::TooLong(length));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Returns the lower-case text after the last dot, or "" when the name has no dot.
    pub fn extension(&self) -> String {
        extension_of(&self.0)
    }
}

/// Returns the lower-case text after the last dot of `name`, or "" when it has no dot.
pub fn extension_of(name: &str) -> String {
    match name.rfind('.') {
        Some(dot) => name[dot + 1..].to_lowercase(),
        None => String::new(),
    }
}

/// Tells whether `c` is one of the bidirectional formatting characters that can disguise a name.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_base_name_after_either_separator() {
        assert_eq!(Filename::parse("a/b/c.png").unwrap().as_str(), "c.png");
        assert_eq!(
            Filename::parse("C:\\Users\\me\\d.png").unwrap().as_str(),
            "d.png"
        );
        assert_eq!(Filename::parse("x\\y/z.txt").unwrap().as_str(), "z.txt");
    }

    #[test]
    fn normalises_to_nfc() {
        let decomposed = "cafe\u{301}.jpg";
        assert_eq!(
            Filename::parse(decomposed).unwrap().as_str(),
            "caf\u{e9}.jpg"
        );
    }

    #[test]
    fn rejects_empty_names() {
        assert_eq!(Filename::parse(""), Err(FilenameError::Empty));
        assert_eq!(Filename::parse("dir/"), Err(FilenameError::Empty));
    }

    #[test]
    fn counts_length_in_code_points() {
        assert!(Filename::parse(&"é".repeat(500)).is_ok());
        assert_eq!(
            Filename::parse(&"é".repeat(501)),
            Err(FilenameError::TooLong(501))
        );
    }

    #[test]
    fn rejects_control_and_bidi_characters() {
        for c in ['\0', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(
                matches!(
                    Filename::parse(&format!("a{c}b")),
                    Err(FilenameError::ControlCharacter(_))
                ),
                "{c:?}"
            );
        }
        for c in [
            '\u{200E}', '\u{200F}', '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}',
        ] {
            assert!(
                matches!(
                    Filename::parse(&format!("a{c}b")),
                    Err(FilenameError::BidiControl(_))
                ),
                "{c:?}"
            );
        }
    }

    #[test]
    fn extension_is_lower_case_after_last_dot() {
        assert_eq!(extension_of("Photo.Final.JPG"), "jpg");
        assert_eq!(extension_of("README"), "");
        assert_eq!(extension_of("trailing."), "");
    }
}
