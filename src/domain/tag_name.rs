//! Tag names: stored exactly as sent, unique case-sensitively within a repository.

/// Maximum length of a tag name, in Unicode code points.
pub const MAX_TAG_NAME_CHARS: usize = 20;

/// Checks a tag name; names are never trimmed or normalised, so only the length is checked.
pub fn check(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if length == 0 {
        return Err("the tag name is empty; send 1 to 20 characters".to_owned());
    }
    if length > MAX_TAG_NAME_CHARS {
        return Err(format!(
            "the tag name has {length} characters; the maximum is {MAX_TAG_NAME_CHARS}"
        ));
    }
    Ok(())
}
