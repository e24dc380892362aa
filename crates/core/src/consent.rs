//! Consent vocabulary. A consent links a subject to a purpose under one version of that
//! purpose's notice, given by one method.

use crate::ValidationError;
use crate::ids::check_token;

/// The version of the privacy notice the person was shown, such as `v1` or `2026-11`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeVersion(String);

impl NoticeVersion {
    /// Parses a notice version.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_token("notice_version", s, 64, false)?;
        Ok(Self(s.to_owned()))
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How consent was collected, such as `in-app`, `web` or `paper`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentMethod(String);

impl ConsentMethod {
    /// Parses a method.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_token("method", s, 64, false)?;
        Ok(Self(s.to_owned()))
    }

    /// The method as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
