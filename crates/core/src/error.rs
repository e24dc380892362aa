use std::fmt;

/// A value from outside the service did not meet the rules for its field.
///
/// The message is meant for the person who sent the value: it names the field and says what
/// is allowed. It never repeats the rejected value itself, which may be personal data (a
/// subject identifier) or biometric data (an embedding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    field: &'static str,
    rule: String,
}

impl ValidationError {
    /// A failure of `field` against `rule` (a sentence saying what is allowed).
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }

    /// The name of the field, as it appears in the API.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What the field allows.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.rule)
    }
}

impl std::error::Error for ValidationError {}

/// Checks a name shown to people: 1 to `max` characters, not only spaces, no control
/// characters.
pub(crate) fn check_display_name(s: &str, max: usize) -> Result<(), ValidationError> {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            format!("1 to {max} characters, no control characters"),
        ));
    }
    Ok(())
}
