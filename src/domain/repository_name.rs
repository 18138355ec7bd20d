//! Repository names: lower-case letters, digits and hyphens, 4 to 63 characters, starting and ending with a letter or
//! a digit.

/// Checks a repository name and explains what is wrong with it.
pub fn check(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let valid_ends = !name.starts_with('-') && !name.ends_with('-');

    if !(4..=63).contains(&name.len()) || !valid_chars || !valid_ends {
        return Err(format!(
            "invalid repository name {name:?}: use 4 to 63 lower-case letters, digits and hyphens, \
             starting and ending with a letter or a digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_valid_names() {
        for name in ["demo", "my-repo-2", "a1b2", &"a".repeat(63)] {
            assert!(check(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        for name in [
            "abc",
            "-abc",
            "abc-",
            "ABCD",
            "ab_cd",
            "ab.cd",
            &"a".repeat(64),
            "démo",
        ] {
            assert!(check(name).is_err(), "{name}");
        }
    }
}
