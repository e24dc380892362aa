//! The risk group: a quorum of executives whose Ed25519 signatures gate sensitive changes.
//!
//! The operator registers the group once (members' public keys and a quorum M of N). After
//! that, sensitive changes are *proposals*: the service writes a canonical payload (JSON,
//! exactly the bytes to sign), members sign it with `bioguard approve` or any Ed25519 tool,
//! and the change is applied when M valid signatures of distinct members arrive before the
//! proposal expires. Every step (group, proposal, each approval, the outcome) is a leaf of the
//! audit ledger.
//!
//! Gated today: destroying a key-encryption key version, and changing the group. Other
//! sensitive changes are to follow (see ADR 0012).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_core::ValidationError;
use bioguard_store::StoredProposal;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};

use crate::{Admin, Service, ServiceError};

/// The longest a proposal may stay open.
pub const MAX_PROPOSAL_SECS: u64 = 30 * 86_400;
/// The largest group.
pub const MAX_MEMBERS: usize = 16;

/// A member of the risk group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's name (1 to 64 printable characters).
    pub name: String,
    /// The member's Ed25519 public key.
    pub public_key: [u8; 32],
}

/// The risk group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskGroup {
    /// Signatures needed.
    pub quorum: u32,
    /// The members.
    pub members: Vec<Member>,
}

impl RiskGroup {
    /// Checks names, keys and the quorum.
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
        let mut names = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for m in &self.members {
            let ok = (1..=64).contains(&m.name.len())
                && m.name.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if !ok {
                return Err(ValidationError::new(
                    "members.name",
                    "1 to 64 printable ASCII characters",
                ));
            }
            if VerifyingKey::from_bytes(&m.public_key).is_err() {
                return Err(ValidationError::new(
                    "members.public_key",
                    "not an Ed25519 public key",
                ));
            }
            if !names.insert(m.name.clone()) || !keys.insert(m.public_key) {
                return Err(ValidationError::new(
                    "members",
                    "names and keys must be distinct",
                ));
            }
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        json!({"quorum": self.quorum, "members": self.members.iter().map(|m| json!({
            "name": m.name, "public_key": B64.encode(m.public_key)})).collect::<Vec<_>>()})
    }

    /// Reads the JSON form (`{"quorum","members":[{"name","public_key":base64}]}`).
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let quorum = v["quorum"]
            .as_u64()
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| ValidationError::new("quorum", "a whole number"))?;
        let members = v["members"]
            .as_array()
            .ok_or_else(|| ValidationError::new("members", "a list of members"))?
            .iter()
            .map(|m| {
                let name = m["name"]
                    .as_str()
                    .ok_or_else(|| ValidationError::new("members.name", "text"))?
                    .to_owned();
                let public_key = m["public_key"]
                    .as_str()
                    .and_then(|k| B64.decode(k).ok())
                    .and_then(|k| <[u8; 32]>::try_from(k).ok())
                    .ok_or_else(|| {
                        ValidationError::new(
                            "members.public_key",
                            "32 bytes of Ed25519 public key in base64",
                        )
                    })?;
                Ok(Member { name, public_key })
            })
            .collect::<Result<Vec<_>, ValidationError>>()?;
        let g = Self { quorum, members };
        g.check()?;
        Ok(g)
    }
}

/// Where an approval left its proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalOutcome {
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed.
    pub quorum: u32,
    /// `open`, `applied` or `failed`.
    pub status: String,
    /// What applying did, once applied (or why it failed).
    pub result: Option<String>,
}

/// A purpose from its JSON form (the fields of `POST /v1/purposes`).
fn purpose_from_json(v: &Value) -> Result<bioguard_core::Purpose, ValidationError> {
    use bioguard_core::{
        CodeBits, Description, Dimension, Purpose, PurposeId, Retention, Threshold,
    };
    let text = |k: &'static str| {
        v[k].as_str()
            .ok_or_else(|| ValidationError::new(k, "required text"))
    };
    let operations = v["operations"]
        .as_array()
        .ok_or_else(|| ValidationError::new("operations", "a list"))?
        .iter()
        .map(|o| {
            o.as_str()
                .ok_or_else(|| ValidationError::new("operations", "text"))?
                .parse()
        })
        .collect::<Result<_, _>>()?;
    let p = Purpose {
        id: PurposeId::parse(text("id")?).map_err(|e| ValidationError::new("id", e.rule()))?,
        description: Description::parse(text("description")?)?,
        operations,
        dimension: Dimension::new(
            v["dimension"]
                .as_u64()
                .ok_or_else(|| ValidationError::new("dimension", "a whole number"))?,
        )?,
        threshold: match v["threshold"].as_f64() {
            Some(t) => Threshold::new(t)?,
            None => Threshold::default(),
        },
        retention: Retention::new(
            v["retention"]["max_days_since_enrolment"]
                .as_u64()
                .ok_or_else(|| {
                    ValidationError::new("retention.max_days_since_enrolment", "required")
                })?,
            v["retention"]["max_days_since_last_use"].as_u64(),
        )?,
        code_bits: match v["code_bits"].as_u64() {
            None => CodeBits::DEFAULT,
            Some(b) => CodeBits::new(b).ok_or_else(|| {
                ValidationError::new("code_bits", "a multiple of 256 from 512 to 4096")
            })?,
        },
        max_gallery_size: v["max_gallery_size"]
            .as_u64()
            .map(|n| {
                u32::try_from(n).map_err(|_| ValidationError::new("max_gallery_size", "too large"))
            })
            .transpose()?,
        calibration: None,
        risk: bioguard_core::RiskPolicy::default(),
        fairness: bioguard_core::FairnessPolicy::default(),
    };
    p.check()?;
    Ok(p)
}

/// The canonical JSON form of a purpose, as a proposal carries it.
fn purpose_to_json(p: &bioguard_core::Purpose) -> Value {
    json!({
        "id": p.id.as_str(), "description": p.description.as_str(),
        "operations": p.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "dimension": p.dimension.get(), "threshold": p.threshold.get(),
        "retention": {
            "max_days_since_enrolment": p.retention.max_days_since_enrolment(),
            "max_days_since_last_use": p.retention.max_days_since_last_use(),
        },
        "code_bits": p.code_bits.bits(), "max_gallery_size": p.max_gallery_size,
    })
}

/// A client's name and grants from their JSON form (`{"name","grants":[{"purpose","operation"}]}`).
fn client_from_json(
    v: &Value,
) -> Result<
    (
        bioguard_core::ClientName,
        std::collections::BTreeSet<bioguard_core::Grant>,
    ),
    ValidationError,
> {
    let name = bioguard_core::ClientName::parse(
        v["name"]
            .as_str()
            .ok_or_else(|| ValidationError::new("name", "required text"))?,
    )?;
    let grants = v["grants"]
        .as_array()
        .ok_or_else(|| ValidationError::new("grants", "a list"))?
        .iter()
        .map(|g| {
            Ok(bioguard_core::Grant {
                purpose: bioguard_core::PurposeId::parse(g["purpose"].as_str().unwrap_or_default())
                    .map_err(|_| ValidationError::new("grants.purpose", "a purpose id"))?,
                operation: g["operation"].as_str().unwrap_or_default().parse()?,
            })
        })
        .collect::<Result<_, ValidationError>>()?;
    Ok((name, grants))
}

/// Checks an action and returns it in canonical form.
fn check_action(action: &Value) -> Result<Value, ValidationError> {
    match action["type"].as_str() {
        Some("key.rotate") => Ok(json!({"type": "key.rotate"})),
        Some("purpose.create") => {
            let p = purpose_from_json(&action["purpose"])?;
            Ok(json!({"type": "purpose.create", "purpose": purpose_to_json(&p)}))
        }
        Some("client.create") => {
            let (name, grants) = client_from_json(action)?;
            Ok(json!({"type": "client.create", "name": name.as_str(),
                "grants": grants.iter().map(|g| json!({"purpose": g.purpose.as_str(),
                    "operation": g.operation.as_str()})).collect::<Vec<_>>()}))
        }
        Some("key.destroy_version") => {
            let version = action["version"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| ValidationError::new("action.version", "a key version number"))?;
            Ok(json!({"type": "key.destroy_version", "version": version}))
        }
        Some("group.change") => {
            let g = RiskGroup::from_json(action)?;
            let mut v = g.to_json();
            v["type"] = json!("group.change");
            Ok(json!({"type": "group.change", "quorum": v["quorum"], "members": v["members"]}))
        }
        Some("fairness.override") => {
            let (purpose, threshold, sha) = crate::fairness::override_fields(action)?;
            Ok(
                json!({"type": "fairness.override", "purpose": purpose.as_str(),
                "threshold": threshold, "report_sha256": sha,
                "reason": action["reason"].as_str().unwrap_or("").trim()}),
            )
        }
        _ => Err(ValidationError::new(
            "action.type",
            "key.destroy_version, key.rotate, purpose.create, client.create, group.change or \
             fairness.override",
        )),
    }
}

impl Service {
    /// The risk group, if one is registered.
    pub async fn risk_group(&self) -> Result<Option<RiskGroup>, ServiceError> {
        match self.store.risk_group().await? {
            None => Ok(None),
            Some((quorum, members)) => {
                let v: Value = serde_json::from_str(&members).map_err(|_| {
                    ServiceError::Internal("the stored risk group is corrupt".into())
                })?;
                let mut g = RiskGroup::from_json(&json!({"quorum": quorum, "members": v}))
                    .map_err(|_| {
                        ServiceError::Internal("the stored risk group is corrupt".into())
                    })?;
                g.quorum = quorum;
                Ok(Some(g))
            }
        }
    }

    /// Registers the risk group (once; later changes are proposals).
    pub async fn register_risk_group(
        &self,
        _admin: &Admin,
        group: RiskGroup,
    ) -> Result<(), ServiceError> {
        group.check()?;
        let members = group.to_json()["members"].to_string();
        let mut leaf = self.leaf("governance.group", "admin");
        leaf.decision = Some("registered".into());
        leaf.detail = vec![
            ("quorum".into(), group.quorum.to_string()),
            ("members".into(), group.to_json()["members"].to_string()),
        ];
        self.store
            .set_risk_group(group.quorum, &members, true, self.now(), &leaf)
            .await
            .map_err(|e| match e {
                bioguard_store::StoreError::Conflict(_) => {
                    ServiceError::Conflict("a risk group (change it with a group.change proposal)")
                }
                e => e.into(),
            })
    }

    /// Makes a proposal: its canonical payload is what members sign.
    pub async fn propose(
        &self,
        _admin: &Admin,
        action: &Value,
        ttl_secs: u64,
    ) -> Result<StoredProposal, ServiceError> {
        if self.risk_group().await?.is_none() {
            return Err(ServiceError::NoRiskGroup);
        }
        let action = check_action(action)?;
        if !(60..=MAX_PROPOSAL_SECS).contains(&ttl_secs) {
            return Err(ValidationError::new(
                "ttl_secs",
                format!("from 60 to {MAX_PROPOSAL_SECS} seconds"),
            )
            .into());
        }
        let id = format!("prp_{}", bioguard_crypto::hex_encode(&crate::random16()?));
        let now = self.now();
        let expires = bioguard_core::Timestamp::from_unix(now.unix() + ttl_secs as i64);
        let payload = json!({
            "type": "bioguard-proposal", "v": 1, "id": id, "origin": self.secrets.origin(),
            "action": action, "created_at": now.unix(), "expires_at": expires.unix(),
        })
        .to_string();
        let p = StoredProposal {
            id: id.clone(),
            payload,
            created_at: now,
            expires_at: expires,
            status: "open".into(),
            result: None,
            approvals: Vec::new(),
        };
        let mut leaf = self.leaf("proposal.create", "admin");
        leaf.decision = Some("open".into());
        leaf.detail = vec![
            ("proposal".into(), id),
            ("action".into(), action.to_string()),
        ];
        self.store.create_proposal(&p, &leaf).await?;
        Ok(p)
    }

    /// A proposal with its approvals.
    pub async fn proposal(&self, id: &str) -> Result<StoredProposal, ServiceError> {
        self.store
            .proposal(id)
            .await?
            .ok_or(ServiceError::ProposalNotFound)
    }

    /// Adds a member's signature over a proposal's payload; applies the proposal when the
    /// quorum is reached.
    pub async fn approve(
        &self,
        id: &str,
        member: &str,
        signature: &[u8],
    ) -> Result<ApprovalOutcome, ServiceError> {
        let p = self.proposal(id).await?;
        if p.status != "open" {
            return Err(ServiceError::ProposalClosed(p.status));
        }
        if self.now().unix() >= p.expires_at.unix() {
            return Err(ServiceError::ProposalExpired);
        }
        let group = self.risk_group().await?.ok_or(ServiceError::NoRiskGroup)?;
        let m = group
            .members
            .iter()
            .find(|m| m.name == member)
            .ok_or(ServiceError::NotAMember)?;
        let sig: [u8; 64] = signature
            .try_into()
            .map_err(|_| ValidationError::new("signature", "64 bytes of Ed25519 signature"))?;
        let key = VerifyingKey::from_bytes(&m.public_key)
            .map_err(|_| ServiceError::Internal("a member key is invalid".into()))?;
        key.verify(p.payload.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| {
                ValidationError::new(
                    "signature",
                    "does not verify over this proposal's payload with this member's key",
                )
            })?;
        let mut leaf = self.leaf("proposal.approve", format!("member:{member}"));
        leaf.decision = Some("approved".into());
        leaf.detail = vec![("proposal".into(), id.to_owned())];
        let approvals = self
            .store
            .add_approval(id, member, signature, self.now(), &leaf)
            .await
            .map_err(|e| match e {
                bioguard_store::StoreError::Conflict(_) => {
                    ServiceError::Conflict("an approval by this member")
                }
                e => e.into(),
            })?;
        let mut out = ApprovalOutcome {
            approvals,
            quorum: group.quorum,
            status: "open".into(),
            result: None,
        };
        if approvals < group.quorum
            || !self
                .store
                .set_proposal_status(id, "open", "applying", None, None)
                .await?
        {
            return Ok(out);
        }
        let payload: Value = serde_json::from_str(&p.payload)
            .map_err(|_| ServiceError::Internal("a stored proposal is corrupt".into()))?;
        let applied = self.apply(id, &payload["action"]).await;
        let (status, result) = match &applied {
            Ok(r) => ("applied", r.clone()),
            Err(e) => ("failed", e.to_string()),
        };
        let mut leaf = self.leaf(
            if applied.is_ok() {
                "proposal.apply"
            } else {
                "proposal.fail"
            },
            "quorum",
        );
        leaf.decision = Some(status.into());
        leaf.detail = vec![
            ("proposal".into(), id.to_owned()),
            ("approvals".into(), approvals.to_string()),
            ("result".into(), result.clone()),
        ];
        self.store
            .set_proposal_status(id, "applying", status, Some(&result), Some(&leaf))
            .await?;
        out.status = status.into();
        out.result = Some(result);
        Ok(out)
    }

    async fn apply(&self, id: &str, action: &Value) -> Result<String, ServiceError> {
        match action["type"].as_str() {
            Some("fairness.override") => self.override_fairness(id, action).await,
            Some("key.destroy_version") => {
                let version = action["version"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| ServiceError::Internal("bad action".into()))?;
                self.destroy_key_version_now(version).await?;
                Ok(format!("key-encryption key version {version} destroyed"))
            }
            Some("group.change") => {
                let g = RiskGroup::from_json(action)?;
                let mut leaf = self.leaf("governance.group", "quorum");
                leaf.decision = Some("changed".into());
                leaf.detail = vec![("quorum".into(), g.quorum.to_string())];
                self.store
                    .set_risk_group(
                        g.quorum,
                        &g.to_json()["members"].to_string(),
                        false,
                        self.now(),
                        &leaf,
                    )
                    .await?;
                Ok(format!(
                    "risk group is now {} of {}",
                    g.quorum,
                    g.members.len()
                ))
            }
            Some("key.rotate") => {
                let r = self.rotate_keys_now(true, &mut |_, _| {}).await?;
                Ok(format!(
                    "rotated to {}; {} keys rewrapped, {} left",
                    r.current, r.rewrapped, r.left
                ))
            }
            Some("purpose.create") => {
                let p = purpose_from_json(&action["purpose"])?;
                let id = p.id.clone();
                self.create_purpose_now(p, None).await?;
                Ok(format!("purpose {id} created"))
            }
            Some("client.create") => {
                let (name, grants) = client_from_json(action)?;
                // The key is not shown to the approvers: the admin issues one with
                // POST /v1/clients/{id}/key.
                let created = self.create_client_now(name, grants).await?;
                Ok(format!(
                    "client {} created; issue its API key with POST /v1/clients/{}/key",
                    created.id, created.id
                ))
            }
            _ => Err(ServiceError::Internal("unknown action".into())),
        }
    }
}
