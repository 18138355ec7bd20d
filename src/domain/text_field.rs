//! The free-text fields of an asset: notes, credits and alt.

/// Maximum length of notes, credits and alt, in Unicode code points.
pub const MAX_TEXT_CHARS: usize = 500;

/// Checks a text field's length; returns a message naming the field when it is too long.
pub fn check_length(field: &str, value: &str) -> Result<(), String> {
    let length = value.chars().count();
    if length > MAX_TEXT_CHARS {
        return Err(format!(
            "`{field}` has {length} characters; send at most {MAX_TEXT_CHARS}."
        ));
    }
    Ok(())
}
