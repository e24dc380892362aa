//! The risk group and its proposals: the records and the rules of their life.
//!
//! A proposal is a sensitive change ([`Action`]) that members of the risk group approve by
//! signing its canonical payload. It is open until it expires or reaches its quorum; then it is
//! applied once (`applying` marks the one caller that applies it) and ends `applied` or
//! `failed`. An action is parsed from its request once, by [`ActionSpec::parse`]; its
//! canonical form ([`Action::spec`]) is what members sign, and applying a proposal parses that
//! form again with the same parser.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

use crate::purpose_spec::{PurposeDefinition, PurposeSpec};
use crate::{
    ClientDefinition, ClientId, IncidentId, ProposalId, PurposeId, Threshold, Timestamp,
    ValidationError,
};

/// The largest group.
pub const MAX_MEMBERS: usize = 16;
/// The longest a proposal may stay open, in seconds.
pub const MAX_PROPOSAL_SECS: u64 = 30 * 86_400;
/// The shortest a proposal may stay open, in seconds.
pub const MIN_PROPOSAL_SECS: u64 = 60;

/// The most passkeys one member may register (a key and spares).
pub const MAX_PASSKEYS: usize = 4;

/// A member of the risk group. A member approves with an Ed25519 key (the CLI), with a
/// passkey (the console), or either: each counts once per proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's name (1 to 64 printable characters).
    pub name: String,
    /// The member's Ed25519 public key, if they approve with the CLI.
    pub public_key: Option<[u8; 32]>,
    /// The member's passkeys, if they approve in the console.
    pub passkeys: Vec<Passkey>,
}

/// A passkey the group admitted: its credential id and public key (a COSE_Key, ES256 or
/// EdDSA; checked where assertions are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    /// The WebAuthn credential id.
    pub credential_id: Vec<u8>,
    /// The credential's public key, COSE_Key bytes.
    pub public_key: Vec<u8>,
}

/// The risk group: who may approve sensitive changes, and how many must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskGroup {
    /// Signatures needed.
    pub quorum: u32,
    /// The members.
    pub members: Vec<Member>,
}

impl RiskGroup {
    /// Checks the quorum, names, and that names and keys are distinct. Whether each key is a
    /// usable Ed25519 key is checked where signatures are (the service).
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.members.is_empty() || self.members.len() > MAX_MEMBERS {
            return Err(ValidationError::new(
                "members",
                format!("1 to {MAX_MEMBERS} members"),
            ));
        }
        if self.quorum == 0 || self.quorum as usize > self.members.len() {
            return Err(ValidationError::new(
                "quorum",
                "from 1 to the number of members",
            ));
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut credentials = BTreeSet::new();
        for m in &self.members {
            if m.public_key.is_none() && m.passkeys.is_empty() {
                return Err(ValidationError::new(
                    "members",
                    "every member needs an Ed25519 public key, a passkey, or both",
                ));
            }
            if m.passkeys.len() > MAX_PASSKEYS {
                return Err(ValidationError::new(
                    "members.passkeys",
                    format!("at most {MAX_PASSKEYS} passkeys per member"),
                ));
            }
            for p in &m.passkeys {
                let id_ok = (1..=1023).contains(&p.credential_id.len());
                if !id_ok || p.public_key.is_empty() || p.public_key.len() > 256 {
                    return Err(ValidationError::new(
                        "members.passkeys",
                        "a credential id (1 to 1023 bytes) and a COSE public key",
                    ));
                }
                if !credentials.insert(p.credential_id.clone()) {
                    return Err(ValidationError::new(
                        "members.passkeys",
                        "a passkey belongs to one member only",
                    ));
                }
            }
            let ok = (1..=64).contains(&m.name.len())
                && m.name.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if !ok {
                return Err(ValidationError::new(
                    "members.name",
                    "1 to 64 printable ASCII characters",
                ));
            }
            let key_new = m.public_key.is_none_or(|k| keys.insert(k));
            if !names.insert(m.name.clone()) || !key_new {
                return Err(ValidationError::new(
                    "members",
                    "names and keys must be distinct",
                ));
            }
        }
        Ok(())
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The wire form.
    pub fn spec(&self) -> GroupSpec {
        GroupSpec {
            quorum: self.quorum,
            members: self
                .members
                .iter()
                .map(|m| MemberSpec {
                    name: m.name.clone(),
                    public_key: m.public_key.map(|k| B64.encode(k)),
                    passkeys: m
                        .passkeys
                        .iter()
                        .map(|p| PasskeySpec {
                            credential_id: B64URL.encode(&p.credential_id),
                            public_key: B64URL.encode(&p.public_key),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A member as sent: the key in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The member's name.
    pub name: String,
    /// The member's Ed25519 public key, base64 (32 bytes), if they approve with the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The member's passkeys, if they approve in the console.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<PasskeySpec>,
}

/// A passkey as sent: both parts base64url, as WebAuthn writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeySpec {
    /// The credential id, base64url.
    pub credential_id: String,
    /// The COSE_Key public key, base64url.
    pub public_key: String,
}

/// A risk group as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Signatures needed.
    pub quorum: u32,
    /// The members.
    pub members: Vec<MemberSpec>,
}

impl GroupSpec {
    /// Parses and checks the group.
    pub fn parse(&self) -> Result<RiskGroup, ValidationError> {
        let members = self
            .members
            .iter()
            .map(|m| {
                let public_key = m
                    .public_key
                    .as_ref()
                    .map(|k| {
                        B64.decode(k)
                            .ok()
                            .and_then(|k| <[u8; 32]>::try_from(k).ok())
                            .ok_or_else(|| {
                                ValidationError::new(
                                    "members.public_key",
                                    "32 bytes of Ed25519 public key in base64",
                                )
                            })
                    })
                    .transpose()?;
                let passkeys = m
                    .passkeys
                    .iter()
                    .map(|p| {
                        let bad = || {
                            ValidationError::new(
                                "members.passkeys",
                                "credential_id and public_key in base64url",
                            )
                        };
                        Ok(Passkey {
                            credential_id: b64url(&p.credential_id).ok_or_else(bad)?,
                            public_key: b64url(&p.public_key).ok_or_else(bad)?,
                        })
                    })
                    .collect::<Result<Vec<_>, ValidationError>>()?;
                Ok(Member {
                    name: m.name.clone(),
                    public_key,
                    passkeys,
                })
            })
            .collect::<Result<Vec<_>, ValidationError>>()?;
        let g = RiskGroup {
            quorum: self.quorum,
            members,
        };
        g.check()?;
        Ok(g)
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Collecting approvals.
    Open,
    /// Reached its quorum; one caller is applying it.
    Applying,
    /// Applied.
    Applied,
    /// Applying it failed (the result says why).
    Failed,
}

impl ProposalStatus {
    /// The text form stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Open => "open",
            ProposalStatus::Applying => "applying",
            ProposalStatus::Applied => "applied",
            ProposalStatus::Failed => "failed",
        }
    }

    /// Reads [`ProposalStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(ProposalStatus::Open),
            "applying" => Some(ProposalStatus::Applying),
            "applied" => Some(ProposalStatus::Applied),
            "failed" => Some(ProposalStatus::Failed),
            _ => None,
        }
    }
}

/// A proposal for a sensitive change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Its id.
    pub id: ProposalId,
    /// The canonical payload the members sign.
    pub payload: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it expires unless applied.
    pub expires_at: Timestamp,
    /// Where it stands.
    pub status: ProposalStatus,
    /// What applying it did (or why it failed).
    pub result: Option<String>,
    /// The approvals recorded, in order (whether each still counts depends on the group as
    /// it is now: see `bioguard_service`'s quorum counting).
    pub approvals: Vec<Approval>,
}

/// One member's recorded approval of a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The member's name when they approved.
    pub member: String,
    /// What proves it.
    pub proof: Proof,
}

/// What proves an approval; kept whole so anyone can check it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// An Ed25519 signature over the proposal's payload (the CLI).
    Ed25519 {
        /// The 64-byte signature.
        signature: Vec<u8>,
    },
    /// A WebAuthn assertion over the proposal's approval challenge (the console).
    Passkey(PasskeyAssertion),
}

/// A WebAuthn assertion as the browser returned it: every part, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertion {
    /// The credential id, base64url.
    #[serde(with = "b64url_bytes")]
    pub credential_id: Vec<u8>,
    /// The authenticator data, base64url.
    #[serde(with = "b64url_bytes")]
    pub authenticator_data: Vec<u8>,
    /// The client data JSON, base64url.
    #[serde(with = "b64url_bytes")]
    pub client_data_json: Vec<u8>,
    /// The signature, base64url.
    #[serde(with = "b64url_bytes")]
    pub signature: Vec<u8>,
}

/// Reads base64url, with or without padding.
pub fn b64url(text: &str) -> Option<Vec<u8>> {
    B64URL.decode(text.trim_end_matches('=')).ok()
}

/// Writes base64url without padding, as WebAuthn does.
pub fn b64url_encode(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// Serde for bytes as base64url text.
pub mod b64url_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the bytes.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::B64URL.encode(v))
    }

    /// Reads the bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::b64url(&text).ok_or_else(|| serde::de::Error::custom("not base64url"))
    }
}

/// Why a proposal takes no more approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// It is no longer open (applying, applied or failed).
    NotOpen(ProposalStatus),
    /// It expired before reaching its quorum.
    Expired,
}

impl Proposal {
    /// Whether an approval may be added at `now`.
    pub fn accepts_approvals(&self, now: Timestamp) -> Result<(), Closed> {
        if self.status != ProposalStatus::Open {
            return Err(Closed::NotOpen(self.status));
        }
        if now >= self.expires_at {
            return Err(Closed::Expired);
        }
        Ok(())
    }
}

/// A sensitive change, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Destroy a key-encryption key version.
    KeyDestroyVersion {
        /// The version.
        version: u32,
    },
    /// Create a new key-encryption key version and rewrap everything under it.
    KeyRotate,
    /// Create a purpose (one that allows 1:N search needs the quorum).
    PurposeCreate(Box<PurposeDefinition>),
    /// Create a client (one that may search needs the quorum); its key is issued separately.
    ClientCreate(ClientDefinition),
    /// Replace the risk group.
    GroupChange(RiskGroup),
    /// Activate a threshold whatever the fairness gate says.
    FairnessOverride {
        /// The purpose.
        purpose: PurposeId,
        /// The threshold to activate.
        threshold: Threshold,
        /// The submitted report it rests on, if any (its SHA-256, lowercase hex).
        report_sha256: Option<String>,
        /// Why the gate is set aside.
        reason: String,
    },
    /// Rotate a purpose's protection key: every template under the old key stops matching.
    ProtectionKeyRotate {
        /// The purpose.
        purpose: PurposeId,
    },
    /// The incident action `revoke_purpose_key`: rotate the purpose's key and owe its
    /// subjects a notification, on the incident's timeline.
    IncidentRevokePurposeKey {
        /// The open incident.
        incident: IncidentId,
        /// The purpose.
        purpose: PurposeId,
    },
    /// Allow the admin to issue one API key for a client that may search (its first key, or
    /// a replacement).
    ClientIssueKey {
        /// The client.
        client: ClientId,
    },
}

/// A grant as a `client.create` action writes it: one operation each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// The purpose.
    #[serde(default)]
    pub purpose: String,
    /// The operation.
    #[serde(default)]
    pub operation: String,
}

/// An action as sent, and as signed in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ActionSpec {
    /// `key.destroy_version`.
    #[serde(rename = "key.destroy_version")]
    KeyDestroyVersion {
        /// The version.
        #[serde(default)]
        version: Option<i64>,
    },
    /// `key.rotate`.
    #[serde(rename = "key.rotate")]
    KeyRotate {},
    /// `purpose.create`.
    #[serde(rename = "purpose.create")]
    PurposeCreate {
        /// The purpose, as `POST /v1/purposes` takes it.
        purpose: Box<PurposeSpec>,
    },
    /// `client.create`.
    #[serde(rename = "client.create")]
    ClientCreate {
        /// The client's name.
        name: String,
        /// Its tenant (absent: the default tenant).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        /// The grants, one operation each, naming purposes of the tenant.
        #[serde(default)]
        grants: Vec<GrantSpec>,
        /// Its rights over the tenant's subjects.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        subject_rights: Vec<String>,
    },
    /// `group.change`.
    #[serde(rename = "group.change")]
    GroupChange {
        /// Signatures needed.
        quorum: u32,
        /// The members.
        members: Vec<MemberSpec>,
    },
    /// `fairness.override`.
    #[serde(rename = "fairness.override")]
    FairnessOverride {
        /// The purpose.
        #[serde(default)]
        purpose: Option<String>,
        /// The threshold.
        #[serde(default)]
        threshold: Option<f64>,
        /// The report's SHA-256, hex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_sha256: Option<String>,
        /// Why.
        #[serde(default)]
        reason: Option<String>,
    },
    /// `protection_key.rotate`.
    #[serde(rename = "protection_key.rotate")]
    ProtectionKeyRotate {
        /// The purpose.
        #[serde(default)]
        purpose: Option<String>,
    },
    /// `incident.revoke_purpose_key`.
    #[serde(rename = "incident.revoke_purpose_key")]
    IncidentRevokePurposeKey {
        /// The open incident.
        #[serde(default)]
        incident: Option<String>,
        /// The purpose.
        #[serde(default)]
        purpose: Option<String>,
    },
    /// `client.issue_key`.
    #[serde(rename = "client.issue_key")]
    ClientIssueKey {
        /// The client.
        #[serde(default)]
        client: Option<String>,
    },
}

/// A purpose id an action names.
fn action_purpose(p: Option<&str>) -> Result<PurposeId, ValidationError> {
    p.and_then(|p| PurposeId::parse(p).ok())
        .ok_or_else(|| ValidationError::new("action.purpose", "a purpose id"))
}

impl ActionSpec {
    /// Parses the action: every field checked.
    pub fn parse(self) -> Result<Action, ValidationError> {
        Ok(match self {
            ActionSpec::KeyDestroyVersion { version } => Action::KeyDestroyVersion {
                version: version
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        ValidationError::new("action.version", "a key version number")
                    })?,
            },
            ActionSpec::KeyRotate {} => Action::KeyRotate,
            ActionSpec::PurposeCreate { purpose } => {
                Action::PurposeCreate(Box::new(purpose.parse()?))
            }
            ActionSpec::ClientCreate {
                name,
                tenant,
                grants,
                subject_rights,
            } => Action::ClientCreate(ClientDefinition::parse(
                &name,
                tenant.as_deref(),
                grants
                    .iter()
                    .map(|g| (g.purpose.as_str(), g.operation.as_str())),
                subject_rights.iter().map(String::as_str),
            )?),
            ActionSpec::GroupChange { quorum, members } => {
                Action::GroupChange(GroupSpec { quorum, members }.parse()?)
            }
            ActionSpec::FairnessOverride {
                purpose,
                threshold,
                report_sha256,
                reason,
            } => {
                let purpose = action_purpose(purpose.as_deref())?;
                let threshold = Threshold::new(threshold.ok_or_else(|| {
                    ValidationError::new("action.threshold", "a number in (0, 1]")
                })?)?;
                let report_sha256 = match report_sha256 {
                    None => None,
                    Some(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Some(s.to_ascii_lowercase())
                    }
                    Some(_) => {
                        return Err(ValidationError::new(
                            "action.report_sha256",
                            "the 64 hex digits of a submitted report's SHA-256, or absent",
                        ));
                    }
                };
                let reason = reason.unwrap_or_default().trim().to_owned();
                if reason.is_empty() || reason.len() > 2000 {
                    return Err(ValidationError::new(
                        "action.reason",
                        "why the risk group sets the fairness gate aside (1 to 2000 characters)",
                    ));
                }
                Action::FairnessOverride {
                    purpose,
                    threshold,
                    report_sha256,
                    reason,
                }
            }
            ActionSpec::ProtectionKeyRotate { purpose } => Action::ProtectionKeyRotate {
                purpose: action_purpose(purpose.as_deref())?,
            },
            ActionSpec::IncidentRevokePurposeKey { incident, purpose } => {
                Action::IncidentRevokePurposeKey {
                    incident: incident
                        .as_deref()
                        .and_then(|i| IncidentId::parse(i).ok())
                        .ok_or_else(|| {
                            ValidationError::new("action.incident", "an open incident's id")
                        })?,
                    purpose: action_purpose(purpose.as_deref())?,
                }
            }
            ActionSpec::ClientIssueKey { client } => Action::ClientIssueKey {
                client: client
                    .as_deref()
                    .and_then(|c| ClientId::parse(c).ok())
                    .ok_or_else(|| ValidationError::new("action.client", "a client id"))?,
            },
        })
    }
}

impl Action {
    /// The canonical form: what members sign, and what applying parses again.
    pub fn spec(&self) -> ActionSpec {
        match self {
            Action::KeyDestroyVersion { version } => ActionSpec::KeyDestroyVersion {
                version: Some(i64::from(*version)),
            },
            Action::KeyRotate => ActionSpec::KeyRotate {},
            Action::PurposeCreate(d) => ActionSpec::PurposeCreate {
                purpose: Box::new(PurposeSpec::canonical(d)),
            },
            Action::ClientCreate(d) => ActionSpec::ClientCreate {
                name: d.name.as_str().to_owned(),
                tenant: (!d.tenant.is_default()).then(|| d.tenant.to_string()),
                grants: d
                    .grants
                    .iter()
                    .map(|g| GrantSpec {
                        purpose: g.purpose.name().to_owned(),
                        operation: g.operation.as_str().to_owned(),
                    })
                    .collect(),
                subject_rights: d.rights.iter().map(|r| r.as_str().to_owned()).collect(),
            },
            Action::GroupChange(g) => {
                let s = g.spec();
                ActionSpec::GroupChange {
                    quorum: s.quorum,
                    members: s.members,
                }
            }
            Action::FairnessOverride {
                purpose,
                threshold,
                report_sha256,
                reason,
            } => ActionSpec::FairnessOverride {
                purpose: Some(purpose.to_string()),
                threshold: Some(threshold.get()),
                report_sha256: report_sha256.clone(),
                reason: Some(reason.clone()),
            },
            Action::ProtectionKeyRotate { purpose } => ActionSpec::ProtectionKeyRotate {
                purpose: Some(purpose.to_string()),
            },
            Action::IncidentRevokePurposeKey { incident, purpose } => {
                ActionSpec::IncidentRevokePurposeKey {
                    incident: Some(incident.to_string()),
                    purpose: Some(purpose.to_string()),
                }
            }
            Action::ClientIssueKey { client } => ActionSpec::ClientIssueKey {
                client: Some(client.to_string()),
            },
        }
    }

    /// The action's type, as in its canonical form.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::KeyDestroyVersion { .. } => "key.destroy_version",
            Action::KeyRotate => "key.rotate",
            Action::PurposeCreate(_) => "purpose.create",
            Action::ClientCreate(_) => "client.create",
            Action::GroupChange(_) => "group.change",
            Action::FairnessOverride { .. } => "fairness.override",
            Action::ProtectionKeyRotate { .. } => "protection_key.rotate",
            Action::IncidentRevokePurposeKey { .. } => "incident.revoke_purpose_key",
            Action::ClientIssueKey { .. } => "client.issue_key",
        }
    }
}

/// The payload members sign: the action and the proposal's identity and lifetime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalPayload {
    /// Always `bioguard-proposal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The payload version (1).
    pub v: u32,
    /// The proposal's id.
    pub id: String,
    /// The audit log's origin: the deployment the proposal is for.
    pub origin: String,
    /// The change.
    pub action: ActionSpec,
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// The result of counting approvals against a quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// More approvals are needed.
    Short {
        /// How many more.
        missing: u32,
    },
    /// The quorum is reached: apply the proposal.
    Reached,
}

/// Counts `approvals` against `quorum`.
pub fn tally(approvals: u32, quorum: u32) -> Tally {
    if approvals >= quorum {
        Tally::Reached
    } else {
        Tally::Short {
            missing: quorum - approvals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, k: u8) -> Member {
        Member {
            name: name.into(),
            public_key: Some([k; 32]),
            passkeys: Vec::new(),
        }
    }

    #[test]
    fn groups_are_checked() {
        let g = RiskGroup {
            quorum: 2,
            members: vec![member("a", 1), member("b", 2)],
        };
        assert!(g.check().is_ok());
        assert_eq!(g.spec().parse(), Ok(g.clone()));
        for bad in [
            RiskGroup {
                quorum: 3,
                ..g.clone()
            },
            RiskGroup {
                quorum: 0,
                ..g.clone()
            },
            RiskGroup {
                quorum: 1,
                members: vec![member("a", 1), member("a", 2)],
            },
            RiskGroup {
                quorum: 1,
                members: vec![member("a", 1), member("b", 1)],
            },
            RiskGroup {
                quorum: 1,
                members: vec![],
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn members_approve_with_a_key_passkeys_or_both() {
        let passkey = |id: u8| Passkey {
            credential_id: vec![id; 16],
            public_key: vec![0xa5, id],
        };
        let mut both = member("a", 1);
        both.passkeys = vec![passkey(1), passkey(2)];
        let only_passkey = Member {
            name: "b".into(),
            public_key: None,
            passkeys: vec![passkey(3)],
        };
        let g = RiskGroup {
            quorum: 2,
            members: vec![both.clone(), only_passkey.clone()],
        };
        assert!(g.check().is_ok());
        // The wire form round-trips, and a member without passkeys is written as before.
        assert_eq!(g.spec().parse(), Ok(g.clone()));
        let plain = serde_json::to_string(
            &RiskGroup {
                quorum: 1,
                members: vec![member("c", 3)],
            }
            .spec(),
        )
        .unwrap_or_default();
        assert!(!plain.contains("passkeys"), "{plain}");
        let refused = |members: Vec<Member>| {
            RiskGroup { quorum: 1, members }
                .check()
                .map_err(|e| e.field())
        };
        // Nothing to approve with.
        let nothing = Member {
            name: "n".into(),
            public_key: None,
            passkeys: Vec::new(),
        };
        assert_eq!(refused(vec![nothing]), Err("members"));
        // One passkey for two members.
        let mut twin = only_passkey.clone();
        twin.name = "twin".into();
        assert_eq!(
            refused(vec![only_passkey.clone(), twin]),
            Err("members.passkeys")
        );
        // Too many spares.
        let mut many = only_passkey;
        many.passkeys = (10..15).map(passkey).collect();
        assert_eq!(refused(vec![many]), Err("members.passkeys"));
    }

    #[test]
    fn a_proposal_takes_approvals_while_open_and_unexpired() {
        let p = Proposal {
            id: ProposalId::from_random([1; 16]),
            payload: "{}".into(),
            created_at: Timestamp::from_unix(0),
            expires_at: Timestamp::from_unix(100),
            status: ProposalStatus::Open,
            result: None,
            approvals: vec![],
        };
        assert_eq!(p.accepts_approvals(Timestamp::from_unix(99)), Ok(()));
        assert_eq!(
            p.accepts_approvals(Timestamp::from_unix(100)),
            Err(Closed::Expired)
        );
        let applied = Proposal {
            status: ProposalStatus::Applied,
            ..p
        };
        assert_eq!(
            applied.accepts_approvals(Timestamp::from_unix(1)),
            Err(Closed::NotOpen(ProposalStatus::Applied))
        );
    }

    #[test]
    fn actions_round_trip_through_their_canonical_form() {
        let sha = "ab".repeat(32);
        let specs = [
            serde_json::json!({"type": "key.destroy_version", "version": 2}),
            serde_json::json!({"type": "key.rotate"}),
            serde_json::json!({"type": "client.create", "name": "till",
                "grants": [{"purpose": "pay", "operation": "verify"}]}),
            serde_json::json!({"type": "fairness.override", "purpose": "pay", "threshold": 0.8,
                "report_sha256": sha, "reason": "pilot"}),
            serde_json::json!({"type": "protection_key.rotate", "purpose": "acme:pay"}),
            serde_json::json!({"type": "incident.revoke_purpose_key",
                "incident": format!("inc_{}", "0a".repeat(16)), "purpose": "pay"}),
            serde_json::json!({"type": "client.issue_key",
                "client": format!("cl_{}", "0b".repeat(16))}),
            serde_json::json!({"type": "purpose.create", "purpose": {"id": "door",
                "description": "Door", "operations": ["verify"], "dimension": 4,
                "retention": {"max_days_since_enrolment": 3}, "risk": {"require_capture": true}}}),
        ];
        for v in specs {
            let action = serde_json::from_value::<ActionSpec>(v.clone())
                .expect("spec")
                .parse()
                .expect("valid");
            let canonical = serde_json::to_value(action.spec()).expect("json");
            assert_eq!(canonical["type"], v["type"]);
            let again = serde_json::from_value::<ActionSpec>(canonical)
                .expect("spec")
                .parse()
                .expect("valid");
            assert_eq!(again, action);
        }
    }

    #[test]
    fn bad_actions_name_their_field() {
        let cases = [
            (
                serde_json::json!({"type": "key.destroy_version", "version": 0}),
                "action.version",
            ),
            (
                serde_json::json!({"type": "fairness.override", "purpose": "p", "threshold": 0.8}),
                "action.reason",
            ),
            (
                serde_json::json!({"type": "fairness.override", "purpose": "p", "threshold": 0.8,
                    "report_sha256": "xyz", "reason": "r"}),
                "action.report_sha256",
            ),
            (
                serde_json::json!({"type": "fairness.override", "purpose": "p", "threshold": 7,
                    "reason": "r"}),
                "threshold",
            ),
            (
                serde_json::json!({"type": "protection_key.rotate"}),
                "action.purpose",
            ),
            (
                serde_json::json!({"type": "incident.revoke_purpose_key", "purpose": "p",
                    "incident": "inc_x"}),
                "action.incident",
            ),
            (
                serde_json::json!({"type": "client.issue_key", "client": "nobody"}),
                "action.client",
            ),
        ];
        for (v, field) in cases {
            let parsed = serde_json::from_value::<ActionSpec>(v)
                .expect("spec")
                .parse();
            assert_eq!(parsed.map_err(|e| e.field()), Err(field));
        }
    }

    #[test]
    fn quorum_counting() {
        assert_eq!(tally(0, 2), Tally::Short { missing: 2 });
        assert_eq!(tally(1, 2), Tally::Short { missing: 1 });
        assert_eq!(tally(2, 2), Tally::Reached);
        assert_eq!(tally(3, 2), Tally::Reached);
    }
}
