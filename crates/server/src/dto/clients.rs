//! Bodies of the client endpoints: clients and their grants, devices, challenges.

use std::collections::BTreeSet;

use bioguard_core::{ClientDefinition, Grant, ValidationError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A grant: operations a client may perform for a purpose.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The purpose.
    #[schema(example = "payment")]
    pub purpose: String,
    /// The operations.
    #[schema(example = json!(["enroll", "verify"]), value_type = Vec<crate::dto::enums::Operation>)]
    pub operations: Vec<String>,
}

/// A client (relying party) to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    /// Display name, 1 to 100 characters.
    #[schema(example = "shop")]
    pub name: String,
    /// The tenant the client belongs to (omitted: the default tenant). It reaches that
    /// tenant's purposes and subjects only.
    #[serde(default)]
    #[schema(example = "acme")]
    pub tenant: Option<String>,
    /// What the client may do, per purpose of its tenant (named as the tenant names them).
    #[serde(default)]
    pub grants: Vec<GrantBody>,
    /// What the client may do to a subject as a whole: `read` (summary, report, history),
    /// `erase`, `lock` (lock and unlock), `portal` (issue portal links). Default: none.
    #[serde(default)]
    #[schema(example = json!(["read", "lock"]), value_type = Vec<crate::dto::enums::SubjectRight>)]
    pub subject_rights: Vec<String>,
}

impl ClientRequest {
    /// Parses the request.
    pub fn parse(self) -> Result<ClientDefinition, ValidationError> {
        if self.grants.iter().any(|g| g.operations.is_empty()) {
            return Err(ValidationError::new(
                "grants",
                "each grant needs at least one operation",
            ));
        }
        ClientDefinition::parse(
            &self.name,
            self.tenant.as_deref(),
            self.grants.iter().flat_map(|g| {
                g.operations
                    .iter()
                    .map(move |o| (g.purpose.as_str(), o.as_str()))
            }),
            self.subject_rights.iter().map(String::as_str),
        )
    }
}

/// A created client. The API key is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreatedBody {
    /// The client's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its tenant.
    pub tenant: String,
    /// The grants, naming purposes as the tenant names them.
    pub grants: Vec<GrantBody>,
    /// Its rights over the tenant's subjects.
    #[schema(value_type = Vec<crate::dto::enums::SubjectRight>)]
    pub subject_rights: Vec<&'static str>,
    /// The API key: send it as `Authorization: Bearer <key>`. Shown once; only a keyed
    /// digest is stored.
    pub api_key: String,
}

pub(crate) fn grant_bodies(grants: &BTreeSet<Grant>) -> Vec<GrantBody> {
    let mut out: Vec<GrantBody> = Vec::new();
    for g in grants {
        match out.last_mut() {
            Some(last) if last.purpose == g.purpose.name() => {
                last.operations.push(g.operation.as_str().to_owned());
            }
            _ => out.push(GrantBody {
                purpose: g.purpose.name().to_owned(),
                operations: vec![g.operation.as_str().to_owned()],
            }),
        }
    }
    out
}

/// A client as the operator sees it: who may do what, for which purposes, and whether it is
/// suspended. Never its key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientBody {
    /// The client's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its tenant.
    pub tenant: String,
    /// The grants, naming purposes as the tenant names them.
    pub grants: Vec<GrantBody>,
    /// Its rights over the tenant's subjects.
    #[schema(value_type = Vec<crate::dto::enums::SubjectRight>)]
    pub subject_rights: Vec<&'static str>,
    /// `active`, or `suspended` (by an incident action) since `suspended_at`.
    #[schema(value_type = crate::dto::enums::ClientStatus)]
    pub status: &'static str,
    /// When it was suspended (RFC 3339), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
}

impl From<&bioguard_core::ClientRecord> for ClientBody {
    fn from(c: &bioguard_core::ClientRecord) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.as_str().to_owned(),
            tenant: c.tenant.to_string(),
            grants: grant_bodies(&c.grants),
            subject_rights: c.rights.iter().map(|r| r.as_str()).collect(),
            status: if c.suspended_at.is_some() {
                "suspended"
            } else {
                "active"
            },
            suspended_at: c.suspended_at.map(bioguard_core::rfc3339),
        }
    }
}

/// The clients, in id order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientsBody {
    /// Every client (of the tenant asked for).
    pub clients: Vec<ClientBody>,
}

/// A client's new API key. Shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientKeyBody {
    /// The client's id.
    pub id: String,
    /// The new key: send it as `Authorization: Bearer <key>`. The old one no longer works.
    pub api_key: String,
}

/// A registered capture device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCreatedBody {
    /// The device's id, to name in captures.
    pub device: String,
}

/// A one-time capture challenge.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeBody {
    /// The challenge the device signs over.
    pub challenge: String,
    /// When it stops being accepted (RFC 3339).
    pub expires_at: String,
}

/// A capture device to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// A name for people.
    pub name: String,
    /// The device's Ed25519 public key, base64 (32 bytes).
    pub public_key: String,
}

/// A challenge request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The purpose the capture is for.
    pub purpose: String,
}
