//! Clients are the relying parties: the vendor's systems that call bioguard.

use std::collections::BTreeSet;

use crate::{Operation, PurposeId, PurposeName, SubjectRight, TenantId, ValidationError};

/// A client's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
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
    /// The tenant it belongs to: the only one whose purposes and people it can reach.
    pub tenant: TenantId,
    /// What it may do, per purpose of its tenant.
    pub grants: BTreeSet<Grant>,
    /// What it may do to a subject as a whole.
    pub rights: BTreeSet<SubjectRight>,
    /// When it was suspended, if it is.
    pub suspended_at: Option<crate::Timestamp>,
}

/// A client to create, parsed: its tenant, its grants on that tenant's purposes, and its
/// rights over that tenant's subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDefinition {
    /// Its display name.
    pub name: ClientName,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its grants; every purpose belongs to `tenant`.
    pub grants: BTreeSet<Grant>,
    /// Its rights over subjects.
    pub rights: BTreeSet<SubjectRight>,
}

impl ClientDefinition {
    /// Builds a definition from what a request or a proposal says: the tenant (absent: the
    /// default one), grants as (purpose name, operation) pairs, and right names.
    pub fn parse<'a>(
        name: &str,
        tenant: Option<&str>,
        grants: impl IntoIterator<Item = (&'a str, &'a str)>,
        rights: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ValidationError> {
        let tenant = tenant.map(TenantId::parse).transpose()?.unwrap_or_default();
        let grants = grants
            .into_iter()
            .map(|(purpose, operation)| {
                let purpose = grant_purpose(&tenant, purpose)?;
                Ok(Grant {
                    purpose,
                    operation: operation
                        .parse()
                        .map_err(|e: ValidationError| ValidationError::new("grants", e.rule()))?,
                })
            })
            .collect::<Result<_, ValidationError>>()?;
        Ok(Self {
            name: ClientName::parse(name)?,
            tenant,
            grants,
            rights: rights
                .into_iter()
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The purpose a grant names: a name inside the client's tenant, or (for the default
/// tenant's clients, as proposals made before tenants wrote them) that name alone. A grant
/// can never name another tenant's purpose.
fn grant_purpose(tenant: &TenantId, s: &str) -> Result<PurposeId, ValidationError> {
    let bad = |e: ValidationError| ValidationError::new("grants", format!("purpose: {}", e.rule()));
    match PurposeId::parse(s) {
        Ok(id) if s.contains(':') => {
            if id.belongs_to(tenant) {
                Ok(id)
            } else {
                Err(ValidationError::new(
                    "grants",
                    "a grant names a purpose of the client's own tenant",
                ))
            }
        }
        _ => Ok(PurposeId::in_tenant(
            tenant,
            &PurposeName::parse(s).map_err(bad)?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_granted_purposes_of_its_own_tenant_only() {
        let d = ClientDefinition::parse(
            "shop",
            Some("acme"),
            [("login", "verify"), ("acme:pay", "enroll")],
            ["read"],
        )
        .expect("valid");
        let purposes: Vec<&str> = d.grants.iter().map(|g| g.purpose.as_str()).collect();
        assert_eq!(purposes, ["acme:login", "acme:pay"]);
        assert_eq!(d.rights, [SubjectRight::Read].into());
        assert!(
            ClientDefinition::parse("shop", Some("acme"), [("other:login", "verify")], []).is_err()
        );
        assert!(ClientDefinition::parse("shop", None, [("acme:login", "verify")], []).is_err());
        let plain =
            ClientDefinition::parse("shop", None, [("login", "verify")], []).expect("valid");
        assert!(plain.tenant.is_default() && plain.rights.is_empty());
        assert!(ClientDefinition::parse("shop", None, [], ["admin"]).is_err());
    }
}
