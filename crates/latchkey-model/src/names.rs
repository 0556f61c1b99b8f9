/// Why an IAM name or path was refused, in AWS's validation wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer or shorter than allowed.
    #[error("Member must have length {0}")]
    Length(&'static str),
    /// Characters outside the allowed set.
    #[error("Member must satisfy regular expression pattern: {0}")]
    Pattern(&'static str),
}

/// IAM user, role and group names: 1–64 (roles 64, users 64) of `[\w+=,.@-]`.
pub fn validate_user_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err(NameError::Length("less than or equal to 64"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(NameError::Pattern("[\\w+=,.@-]+"));
    }
    Ok(())
}

/// IAM paths: `/`, or `/` then printable ASCII then `/`, at most 512 characters.
pub fn validate_path(path: &str) -> Result<(), NameError> {
    if path.is_empty() || path.len() > 512 {
        return Err(NameError::Length("less than or equal to 512"));
    }
    let ok = path == "/"
        || (path.len() >= 2
            && path.starts_with('/')
            && path.ends_with('/')
            && path.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if ok { Ok(()) } else { Err(NameError::Pattern("(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_user_name("alice.o'neil").is_err());
        assert!(validate_user_name("alice+ci@example.com").is_ok());
        assert!(validate_user_name("").is_err());
        assert!(validate_user_name(&"a".repeat(65)).is_err());
        assert!(validate_path("/").is_ok());
        assert!(validate_path("/eng/ci/").is_ok());
        assert!(validate_path("/eng").is_err());
        assert!(validate_path("eng/").is_err());
        assert!(validate_path("/a b/").is_err());
    }
}
