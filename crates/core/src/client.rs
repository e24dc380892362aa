//! Clients are the relying parties: the vendor's systems that call bioguard.

use crate::{Operation, PurposeId, ValidationError};

/// A client's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses a name: 1 to 100 characters, no control characters.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.trim().is_empty()
            || s.chars().count() > Self::MAX_CHARS
            || s.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                "name",
                format!("1 to {} characters, no control characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Permission for a client to perform one operation for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    /// The purpose.
    pub purpose: PurposeId,
    /// The operation.
    pub operation: Operation,
}

/// A stored client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client's id.
    pub id: crate::ClientId,
    /// Its display name.
    pub name: ClientName,
    /// What it may do.
    pub grants: std::collections::BTreeSet<Grant>,
    /// When it was suspended, if it is.
    pub suspended_at: Option<crate::Timestamp>,
}
