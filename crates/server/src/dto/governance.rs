//! Bodies of the risk group and its proposals.

use bioguard_core::{Proposal, RiskGroup, ValidationError, rfc3339};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A member of the risk group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// The member's name.
    pub name: String,
    /// The member's Ed25519 public key, base64 (32 bytes).
    pub public_key: String,
}

/// The risk group: members and the quorum of signatures sensitive changes need.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Signatures needed (M of N).
    pub quorum: u32,
    /// The members (N, at most 16).
    pub members: Vec<MemberBody>,
}

impl GroupBody {
    /// The group, checked.
    pub fn parse(&self) -> Result<RiskGroup, ValidationError> {
        bioguard_core::GroupSpec {
            quorum: self.quorum,
            members: self
                .members
                .iter()
                .map(|m| bioguard_core::MemberSpec {
                    name: m.name.clone(),
                    public_key: m.public_key.clone(),
                })
                .collect(),
        }
        .parse()
    }

    /// The answer form of a group.
    pub fn from_group(g: &RiskGroup) -> Self {
        let spec = g.spec();
        Self {
            quorum: spec.quorum,
            members: spec
                .members
                .into_iter()
                .map(|m| MemberBody {
                    name: m.name,
                    public_key: m.public_key,
                })
                .collect(),
        }
    }
}

/// A proposal to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    /// The change: `{"type":"key.destroy_version","version":N}`, `{"type":"key.rotate"}`,
    /// `{"type":"purpose.create","purpose":{...as POST /v1/purposes}}`,
    /// `{"type":"client.create","name":...,"grants":[{"purpose","operation"}]}`,
    /// `{"type":"group.change","quorum":M,"members":[...]}` or
    /// `{"type":"fairness.override","purpose","threshold","report_sha256","reason"}`.
    #[schema(value_type = Object)]
    pub action: bioguard_core::ActionSpec,
    /// Seconds until it expires (60 to 2592000; default 7 days).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// A proposal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalBody {
    /// Its id.
    pub id: String,
    /// The canonical payload: sign exactly these bytes (UTF-8) with Ed25519.
    pub payload: String,
    /// `open`, `applying`, `applied` or `failed`.
    #[schema(value_type = crate::dto::enums::ProposalStatus)]
    pub status: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// The members who approved it.
    pub approvals: Vec<String>,
    /// What applying it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl From<&Proposal> for ProposalBody {
    fn from(p: &Proposal) -> Self {
        Self {
            id: p.id.to_string(),
            payload: p.payload.clone(),
            status: p.status.as_str().to_owned(),
            expires_at: rfc3339(p.expires_at),
            approvals: p.approvals.iter().map(|a| a.member.clone()).collect(),
            result: p.result.clone(),
        }
    }
}

/// A member's signature over a proposal's payload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The member's name.
    pub member: String,
    /// The Ed25519 signature over the payload's bytes, base64 (64 bytes).
    pub signature: String,
}

/// Where the proposal stands after an approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalBody {
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed.
    pub quorum: u32,
    /// `open`, `applied` or `failed`.
    #[schema(value_type = crate::dto::enums::ProposalStatus)]
    pub status: String,
    /// What applying did, once applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}
