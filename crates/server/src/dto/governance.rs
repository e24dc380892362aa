//! Bodies of the risk group and its proposals.

use bioguard_core::{Proof, Proposal, RiskGroup, ValidationError, rfc3339};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A member of the risk group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// The member's name.
    pub name: String,
    /// The member's Ed25519 public key, base64 (32 bytes), if they approve with the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The member's passkeys, if they approve in the console (at most 4: a key and spares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<PasskeyBody>,
}

/// A passkey the group admits for a member.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyBody {
    /// The WebAuthn credential id, base64url.
    pub credential_id: String,
    /// The credential's public key as a COSE_Key (ES256 or EdDSA), base64url.
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
                    passkeys: m
                        .passkeys
                        .iter()
                        .map(|p| bioguard_core::PasskeySpec {
                            credential_id: p.credential_id.clone(),
                            public_key: p.public_key.clone(),
                        })
                        .collect(),
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
                    passkeys: m
                        .passkeys
                        .into_iter()
                        .map(|p| PasskeyBody {
                            credential_id: p.credential_id,
                            public_key: p.public_key,
                        })
                        .collect(),
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
    /// The challenge a passkey signs to approve it, base64url: SHA-256 over
    /// `bioguard-approval/v1`, the id, the expiry in Unix seconds and SHA-256 of the payload,
    /// each line ended by a newline but the last (see docs/api.md).
    pub passkey_challenge: String,
    /// The origin passkey approvals are made for, if this deployment takes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey_origin: Option<String>,
    /// The members who approved it.
    pub approvals: Vec<String>,
    /// Every recorded approval with what proves it, so anyone can check it again
    /// (`bioguard governance verify`).
    pub proofs: Vec<ProofBody>,
    /// What applying it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// A recorded approval and its proof: `signature` (Ed25519 over the payload, base64) or
/// `passkey` (the WebAuthn assertion over the approval challenge).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProofBody {
    /// The member.
    pub member: String,
    /// The Ed25519 signature, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The passkey assertion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey: Option<PasskeyAssertionBody>,
}

/// A WebAuthn assertion, every part base64url, as `PublicKeyCredential.toJSON()` writes
/// them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertionBody {
    /// The credential id.
    pub credential_id: String,
    /// The authenticator data.
    pub authenticator_data: String,
    /// The client data JSON.
    pub client_data_json: String,
    /// The signature.
    pub signature: String,
}

impl PasskeyAssertionBody {
    fn from_core(a: &bioguard_core::PasskeyAssertion) -> Self {
        use bioguard_core::b64url_encode as e;
        Self {
            credential_id: e(&a.credential_id),
            authenticator_data: e(&a.authenticator_data),
            client_data_json: e(&a.client_data_json),
            signature: e(&a.signature),
        }
    }

    /// The assertion, decoded.
    pub fn parse(&self) -> Result<bioguard_core::PasskeyAssertion, ValidationError> {
        let d = |field: &'static str, text: &str| {
            bioguard_core::b64url(text)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| ValidationError::new(field, "base64url bytes"))
        };
        Ok(bioguard_core::PasskeyAssertion {
            credential_id: d("passkey.credential_id", &self.credential_id)?,
            authenticator_data: d("passkey.authenticator_data", &self.authenticator_data)?,
            client_data_json: d("passkey.client_data_json", &self.client_data_json)?,
            signature: d("passkey.signature", &self.signature)?,
        })
    }
}

impl ProposalBody {
    /// The answer form of a proposal, for a deployment whose passkeys are for `origin`.
    pub fn new(p: &Proposal, origin: Option<&str>) -> Self {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let challenge = bioguard_ledger::webauthn::approval_challenge(
            p.id.as_str(),
            p.expires_at.unix(),
            &p.payload,
        );
        Self {
            id: p.id.to_string(),
            payload: p.payload.clone(),
            status: p.status.as_str().to_owned(),
            expires_at: rfc3339(p.expires_at),
            passkey_challenge: bioguard_core::b64url_encode(&challenge),
            passkey_origin: origin.map(str::to_owned),
            approvals: p.approvals.iter().map(|a| a.member.clone()).collect(),
            proofs: p
                .approvals
                .iter()
                .map(|a| match &a.proof {
                    Proof::Ed25519 { signature } => ProofBody {
                        member: a.member.clone(),
                        signature: Some(b64.encode(signature)),
                        passkey: None,
                    },
                    Proof::Passkey(x) => ProofBody {
                        member: a.member.clone(),
                        signature: None,
                        passkey: Some(PasskeyAssertionBody::from_core(x)),
                    },
                })
                .collect(),
            result: p.result.clone(),
        }
    }
}

/// A member's approval: an Ed25519 `signature` over the payload (the CLI), or a `passkey`
/// assertion over `passkey_challenge` (the console); exactly one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The member's name.
    pub member: String,
    /// The Ed25519 signature over the payload's bytes, base64 (64 bytes).
    #[serde(default)]
    pub signature: Option<String>,
    /// The WebAuthn assertion.
    #[serde(default)]
    pub passkey: Option<PasskeyAssertionBody>,
}

impl ApprovalRequest {
    /// The approval, decoded.
    pub fn parse(self) -> Result<bioguard_core::Approval, ValidationError> {
        use base64::Engine as _;
        let proof = match (self.signature, self.passkey) {
            (Some(sig), None) => Proof::Ed25519 {
                signature: base64::engine::general_purpose::STANDARD
                    .decode(sig.as_bytes())
                    .map_err(|_| {
                        ValidationError::new("signature", "base64 of a 64-byte signature")
                    })?,
            },
            (None, Some(p)) => Proof::Passkey(p.parse()?),
            _ => {
                return Err(ValidationError::new(
                    "signature",
                    "give exactly one of signature (Ed25519) and passkey (a WebAuthn assertion)",
                ));
            }
        };
        Ok(bioguard_core::Approval {
            member: self.member,
            proof,
        })
    }
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
