//! Bodies of the client endpoints: clients and their grants, devices, challenges.

use std::collections::BTreeSet;

use bioguard_core::{ClientName, Grant, Operation, PurposeId, ValidationError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) fn operations(raw: &[String]) -> Result<BTreeSet<Operation>, ValidationError> {
    raw.iter().map(|s| s.parse()).collect()
}

/// A grant: operations a client may perform for a purpose.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The purpose.
    #[schema(example = "payment")]
    pub purpose: String,
    /// The operations.
    #[schema(example = json!(["enroll", "verify"]))]
    pub operations: Vec<String>,
}

/// A client (relying party) to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    /// Display name, 1 to 100 characters.
    #[schema(example = "shop")]
    pub name: String,
    /// What the client may do.
    #[serde(default)]
    pub grants: Vec<GrantBody>,
}

impl ClientRequest {
    /// Parses the request.
    pub fn parse(self) -> Result<(ClientName, BTreeSet<Grant>), ValidationError> {
        let name = ClientName::parse(&self.name)?;
        let mut grants = BTreeSet::new();
        for g in &self.grants {
            let purpose = PurposeId::parse(&g.purpose)
                .map_err(|e| ValidationError::new("grants", format!("purpose: {}", e.rule())))?;
            if g.operations.is_empty() {
                return Err(ValidationError::new(
                    "grants",
                    "each grant needs at least one operation",
                ));
            }
            for op in
                operations(&g.operations).map_err(|e| ValidationError::new("grants", e.rule()))?
            {
                grants.insert(Grant {
                    purpose: purpose.clone(),
                    operation: op,
                });
            }
        }
        Ok((name, grants))
    }
}

/// A created client. The API key is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreatedBody {
    /// The client's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The grants.
    pub grants: Vec<GrantBody>,
    /// The API key: send it as `Authorization: Bearer <key>`. Shown once; only a keyed
    /// digest is stored.
    pub api_key: String,
}

pub(crate) fn grant_bodies(grants: &BTreeSet<Grant>) -> Vec<GrantBody> {
    let mut out: Vec<GrantBody> = Vec::new();
    for g in grants {
        match out.last_mut() {
            Some(last) if last.purpose == g.purpose.as_str() => {
                last.operations.push(g.operation.as_str().to_owned());
            }
            _ => out.push(GrantBody {
                purpose: g.purpose.to_string(),
                operations: vec![g.operation.as_str().to_owned()],
            }),
        }
    }
    out
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
