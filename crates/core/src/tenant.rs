//! Tenants and the rights a client holds over the people of its tenant.
//!
//! A tenant is one relying-party organisation: the controller of the people it serves. Every
//! client, purpose, gallery and subject belongs to exactly one tenant, and a subject
//! identifier means a person only inside its tenant: `alice` at two tenants is two people.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::ValidationError;

/// The identifier of a tenant: lowercase ASCII letters, digits and `-`, starting with a
/// letter, 1 to 32 characters. It appears in purpose ids (`acme:login`) and API keys, so it
/// holds neither `:` nor `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// The longest tenant id accepted.
    pub const MAX_LEN: usize = 32;
    /// The id of the tenant every deployment starts with, and every record made before
    /// tenants existed belongs to.
    pub const DEFAULT: &'static str = "default";

    /// Parses a tenant id.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(ValidationError::new(
                "tenant",
                format!(
                    "use lowercase ASCII letters, digits or '-', starting with a letter, 1 to {} characters",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The default tenant.
    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// Whether this is the default tenant.
    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant's display name: the controller as public pages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses a name: 1 to 100 characters, no control characters.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        crate::error::check_display_name(s, Self::MAX_CHARS)?;
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Its id.
    pub id: TenantId,
    /// Its display name.
    pub name: TenantName,
    /// When it was created.
    pub created_at: crate::Timestamp,
}

/// What a client may do to a subject as a whole, beyond the per-purpose grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectRight {
    /// See what is held and every use: the summary, the report and the history.
    Read,
    /// Erase everything held about the subject.
    Erase,
    /// Lock and unlock the use of the subject's biometrics.
    Lock,
    /// Issue a link to the subject's privacy portal.
    Portal,
}

impl SubjectRight {
    /// Every right, in order.
    pub const ALL: [SubjectRight; 4] = [Self::Read, Self::Erase, Self::Lock, Self::Portal];

    /// The right's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Erase => "erase",
            Self::Lock => "lock",
            Self::Portal => "portal",
        }
    }

    /// Parses a comma-separated list as stored (empty text: no rights).
    pub fn parse_list(s: &str) -> Result<BTreeSet<SubjectRight>, ValidationError> {
        s.split(',')
            .filter(|r| !r.is_empty())
            .map(str::parse)
            .collect()
    }

    /// A set of rights as stored: their names in order, comma-separated.
    pub fn list(rights: &BTreeSet<SubjectRight>) -> String {
        rights
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromStr for SubjectRight {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new("subject_rights", "each one of: read, erase, lock, portal")
            })
    }
}

impl fmt::Display for SubjectRight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in ["acme", "a", "acme-payments-2", &"x".repeat(32)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Acme",
            "1acme",
            "-a",
            "a.b",
            "a:b",
            "a_b",
            "a b",
            &"x".repeat(33),
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        assert!(TenantId::default().is_default());
        assert!(!TenantId::parse("acme").expect("valid").is_default());
    }

    #[test]
    fn rights_round_trip_through_their_stored_form() {
        let all: BTreeSet<SubjectRight> = SubjectRight::ALL.into();
        assert_eq!(SubjectRight::list(&all), "read,erase,lock,portal");
        assert_eq!(
            SubjectRight::parse_list("read,erase,lock,portal").expect("valid"),
            all
        );
        assert!(SubjectRight::parse_list("").expect("valid").is_empty());
        assert!(SubjectRight::parse_list("read,admin").is_err());
    }
}
