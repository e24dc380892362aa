//! Identifiers. Each is a newtype whose only constructor checks the rules, so a `PurposeId`
//! in hand is always a valid purpose identifier.

use std::fmt;

use crate::ValidationError;

/// Checks `s` is 1..=`max` characters, each one accepted by `allowed`.
fn check_chars(
    field: &'static str,
    s: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    rule: &str,
) -> Result<(), ValidationError> {
    if s.is_empty() || s.len() > max || !s.chars().all(allowed) {
        return Err(ValidationError::new(
            field,
            format!("{rule}, 1 to {max} characters"),
        ));
    }
    Ok(())
}

/// Checks the token alphabet shared by purpose ids, notice versions and consent methods:
/// ASCII letters and digits, `.`, `_` and `-`, starting with a letter or digit.
pub(crate) fn check_token(
    field: &'static str,
    s: &str,
    max: usize,
    lowercase_only: bool,
) -> Result<(), ValidationError> {
    let rule = if lowercase_only {
        "use lowercase ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
    } else {
        "use ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
    };
    check_chars(
        field,
        s,
        max,
        |c| {
            (c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
                || (!lowercase_only && c.is_ascii_uppercase())
        },
        rule,
    )?;
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(ValidationError::new(field, rule));
    }
    Ok(())
}

/// The name of a purpose inside its tenant, such as `payment` or `call-centre.login`: what
/// a client sends. Lowercase ASCII letters, digits, `.`, `_` and `-`, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PurposeName(String);

impl PurposeName {
    /// The longest purpose name accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a purpose name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_token("purpose", s, Self::MAX_LEN, true)?;
        Ok(Self(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PurposeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of a declared purpose: its name qualified by its tenant. A purpose of the
/// default tenant is written as its name alone (`payment`), one of another tenant as
/// `tenant:name` (`acme:payment`), which is how storage, the ledger and the operator name it.
/// Clients never send this form: they send a [`PurposeName`], and the service qualifies it
/// with the client's own tenant, so no client can name another tenant's purpose.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PurposeId(String);

impl PurposeId {
    /// The longest purpose name accepted.
    pub const MAX_LEN: usize = PurposeName::MAX_LEN;

    /// Parses a purpose id in its qualified form (`name` or `tenant:name`); `default:name`
    /// is read as `name`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.split_once(':') {
            None => Ok(Self(PurposeName::parse(s)?.0)),
            Some((tenant, name)) => {
                let tenant = crate::TenantId::parse(tenant)
                    .map_err(|e| ValidationError::new("purpose", e.rule()))?;
                Ok(Self::in_tenant(&tenant, &PurposeName::parse(name)?))
            }
        }
    }

    /// The purpose `name` of `tenant`.
    pub fn in_tenant(tenant: &crate::TenantId, name: &PurposeName) -> Self {
        if tenant.is_default() {
            Self(name.0.clone())
        } else {
            Self(format!("{tenant}:{name}"))
        }
    }

    /// The tenant the purpose belongs to.
    pub fn tenant(&self) -> crate::TenantId {
        match self.0.split_once(':') {
            None => crate::TenantId::default_tenant(),
            // Checked when the id was made.
            Some((tenant, _)) => crate::TenantId::parse(tenant).unwrap_or_default(),
        }
    }

    /// Whether the purpose belongs to `tenant`.
    pub fn belongs_to(&self, tenant: &crate::TenantId) -> bool {
        match self.0.split_once(':') {
            None => tenant.is_default(),
            Some((t, _)) => t == tenant.as_str(),
        }
    }

    /// The purpose's name inside its tenant, as its clients send it.
    pub fn name(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(_, n)| n)
    }

    /// The id as text (the qualified form).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PurposeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The relying party's own identifier for a person, as sent in a request.
///
/// bioguard never stores it, logs it or prints it: it is turned into a keyed pseudonym at the
/// edge and dropped. That is why this type has no `Display` and its `Debug` hides the value.
/// The rule is printable ASCII without spaces: identifiers in other alphabets would have
/// several byte forms for one text (Unicode normalisation), and two forms would name two
/// people. Relying parties with such identifiers send a hash or base64url form instead.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectRef(String);

impl SubjectRef {
    /// The longest subject reference accepted.
    pub const MAX_LEN: usize = 128;

    /// Parses a subject reference.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_chars(
            "subject",
            s,
            Self::MAX_LEN,
            |c| c.is_ascii_graphic(),
            "use printable ASCII without spaces (send a hash or base64url form of other identifiers)",
        )?;
        Ok(Self(s.to_owned()))
    }

    /// The reference's bytes, for computing its pseudonym or sealing it with a gallery
    /// template. Nothing else should read them.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The reference as text, to return it to the relying party that owns it (the subjects
    /// an identification finds). Never for logs or error messages.
    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectRef(..)")
    }
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Builds an id from 16 random bytes.
            pub fn from_random(bytes: [u8; 16]) -> Self {
                let mut s = String::with_capacity(Self::PREFIX.len() + 32);
                s.push_str(Self::PREFIX);
                for b in bytes {
                    s.push_str(&format!("{b:02x}"));
                }
                Self(s)
            }

            /// Parses an id that was issued earlier.
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                let ok = s
                    .strip_prefix(Self::PREFIX)
                    .is_some_and(|hex| {
                        hex.len() == 32
                            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    });
                if !ok {
                    return Err(ValidationError::new(
                        stringify!($name),
                        concat!("expected '", $prefix, "' followed by 32 lowercase hex digits"),
                    ));
                }
                Ok(Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The 16 bytes the id was made from (the inverse of `from_random`).
            pub fn to_bytes(&self) -> [u8; 16] {
                let hex = &self.0.as_bytes()[Self::PREFIX.len()..];
                let nibble = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
                let mut out = [0u8; 16];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]);
                }
                out
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

random_id!(
    /// The identifier of a client (a relying party).
    ClientId,
    "cl_"
);
random_id!(
    /// The identifier of one verification decision, returned to the client and kept with the
    /// record of the use.
    DecisionId,
    "dec_"
);

impl DecisionId {
    /// A decision id whose first 6 bytes are the time in milliseconds (big-endian) and whose
    /// other 10 are random: ids made later sort later, so indexing them appends to the end of
    /// a B-tree instead of writing a random page per decision. The time is the decision's,
    /// which its ledger leaf states anyway; the random part (80 bits) keeps ids unguessable.
    pub fn from_time(unix_ms: u64, random: [u8; 10]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&random);
        Self::from_random(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_ids_made_later_sort_later() {
        let a = DecisionId::from_time(1_780_000_000_000, [0xff; 10]);
        let b = DecisionId::from_time(1_780_000_000_001, [0; 10]);
        assert!(a < b, "{a} {b}");
        assert_eq!(DecisionId::parse(a.as_str()), Ok(a.clone()));
        assert!(a.as_str().starts_with("dec_019e"), "{a}");
    }

    #[test]
    fn purpose_ids_are_qualified_by_their_tenant() {
        let acme = crate::TenantId::parse("acme").expect("valid");
        let name = PurposeName::parse("login").expect("valid");
        let id = PurposeId::in_tenant(&acme, &name);
        assert_eq!(id.as_str(), "acme:login");
        assert_eq!((id.tenant(), id.name()), (acme.clone(), "login"));
        assert!(id.belongs_to(&acme));
        assert!(!id.belongs_to(&crate::TenantId::default()));
        assert_eq!(PurposeId::parse("acme:login").expect("valid"), id);
        let plain = PurposeId::in_tenant(&crate::TenantId::default(), &name);
        assert_eq!(plain.as_str(), "login");
        assert!(plain.tenant().is_default() && plain.belongs_to(&crate::TenantId::default()));
        assert_eq!(PurposeId::parse("default:login").expect("valid"), plain);
        // A name never carries a tenant: a client cannot name another tenant's purpose.
        assert!(PurposeName::parse("acme:login").is_err());
        for bad in ["acme:", ":login", "Acme:login", "a:b:c", "acme.x:login"] {
            assert!(PurposeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn purpose_ids() {
        for ok in ["payment", "a", "call-centre.login_2", &"x".repeat(64)] {
            assert!(PurposeId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Payment",
            "-x",
            ".x",
            "a/b",
            "a b",
            "é",
            "a\"b",
            &"x".repeat(65),
        ] {
            assert!(PurposeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subject_refs() {
        for ok in [
            "alice",
            "user/42",
            "a\"b'c",
            "x@example.org",
            &"x".repeat(128),
        ] {
            assert!(SubjectRef::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "josé", "a\u{0}b", "tab\t", &"x".repeat(129)] {
            assert!(SubjectRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subject_ref_debug_hides_the_value() {
        let s = SubjectRef::parse("alice").expect("valid");
        assert!(!format!("{s:?}").contains("alice"));
    }

    #[test]
    fn random_ids_round_trip() {
        let id = ClientId::from_random([0xab; 16]);
        assert_eq!(ClientId::parse(id.as_str()).expect("valid"), id);
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        assert_eq!(TemplateId::from_random(bytes).to_bytes(), bytes);
        assert!(ClientId::parse("cl_xyz").is_err());
        assert!(DecisionId::parse(id.as_str()).is_err());
    }
}

/// The keyed pseudonym that stands for a subject in storage: HMAC-SHA-256 of the relying
/// party's identifier under a server key, as 64 hex digits. Without the key, a pseudonym
/// cannot be computed from a guessed identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// A pseudonym from its 32-byte digest.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        let mut s = String::with_capacity(64);
        for b in digest {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    /// Reads a pseudonym back from storage.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ValidationError::new("pseudonym", "64 lowercase hex digits"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The pseudonym as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

random_id!(
    /// The identifier of an encrypted template row.
    TemplateId,
    "tpl_"
);
/// The name of a gallery: the caller's narrowing of 1:N search (a merchant, a region, a
/// phone-number bucket). Letters, digits, `.`, `_`, `-`; 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GalleryName(String);

impl GalleryName {
    /// Parses a gallery name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_token("gallery", s, 64, false)?;
        Ok(Self(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GalleryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

random_id!(
    /// The identifier of a data key (one per subject and purpose).
    DataKeyId,
    "dk_"
);
random_id!(
    /// The identifier of a consent record.
    ConsentId,
    "cns_"
);
random_id!(
    /// The identifier of a proposal to the risk group.
    ProposalId,
    "prp_"
);
random_id!(
    /// The identifier of an incident.
    IncidentId,
    "inc_"
);
random_id!(
    /// The identifier of a compensation claim.
    ClaimId,
    "clm_"
);
random_id!(
    /// The identifier of a registered capture device.
    DeviceId,
    "dev_"
);
random_id!(
    /// The identifier of a one-time capture challenge.
    ChallengeId,
    "chl_"
);
random_id!(
    /// The identifier of a claim reviewer.
    ReviewerId,
    "rev_"
);
