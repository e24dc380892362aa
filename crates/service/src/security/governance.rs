//! The risk group: a quorum of executives whose Ed25519 signatures gate sensitive changes.
//!
//! The operator registers the group once (members' public keys and a quorum M of N). After
//! that, sensitive changes are *proposals*: the service writes a canonical payload (JSON,
//! exactly the bytes to sign), members sign it with `bioguard approve` or any Ed25519 tool,
//! and the change is applied when M valid signatures of distinct members arrive before the
//! proposal expires. Every step (group, proposal, each approval, the outcome) is a leaf of the
//! audit ledger.
//!
//! Gated: destroying a key-encryption key version, creating one, rotating (revoking) a
//! purpose's protection key directly or as an incident action, purposes and clients that may
//! search (1:N) and each API key issued to such a client, fairness overrides, and changing the
//! group (see ADR 0012 and its amendment). The actions
//! and the proposal's life are `bioguard_core::governance`; here are the signatures and the
//! applying.

use bioguard_core::{
    Action, Approval, Proof, Proposal, ProposalId, ProposalPayload, ProposalStatus, RiskGroup,
    Tally, Timestamp, ValidationError, tally,
};
use bioguard_ledger::webauthn::{self, CredentialKey, RelyingParty};

use crate::abuse::auth::Admin;
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;

pub use bioguard_core::{MAX_MEMBERS, MAX_PROPOSAL_SECS, MIN_PROPOSAL_SECS};

/// Where an approval left its proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalOutcome {
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed.
    pub quorum: u32,
    /// Where the proposal stands.
    pub status: ProposalStatus,
    /// What applying did, once applied (or why it failed).
    pub result: Option<String>,
}

/// Checks a group fully: its shape (`RiskGroup::check`), that every key is an Ed25519
/// public key, and every passkey an ES256 or EdDSA COSE key.
pub(crate) fn check_group(g: &RiskGroup) -> Result<(), ValidationError> {
    g.check()?;
    for m in &g.members {
        if m.public_key
            .is_some_and(|k| bioguard_ledger::strong_key(&k).is_none())
        {
            return Err(ValidationError::new(
                "members.public_key",
                "not an Ed25519 public key of full order (small-order keys accept forgeries)",
            ));
        }
        for p in &m.passkeys {
            if CredentialKey::from_cose(&p.public_key).is_err() {
                return Err(ValidationError::new(
                    "members.passkeys",
                    "a passkey's public key must be a COSE key: ES256 on P-256 or EdDSA on \
                     Ed25519",
                ));
            }
        }
    }
    Ok(())
}

/// How long a proposal may stay open.
pub(crate) fn check_ttl(ttl_secs: u64) -> Result<(), ValidationError> {
    if (MIN_PROPOSAL_SECS..=MAX_PROPOSAL_SECS).contains(&ttl_secs) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "ttl_secs",
            format!("from {MIN_PROPOSAL_SECS} to {MAX_PROPOSAL_SECS} seconds"),
        ))
    }
}

/// The canonical payload members sign.
pub(crate) fn payload_text(
    id: &ProposalId,
    origin: &str,
    action: &Action,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Result<String, ServiceError> {
    serde_json::to_string(&ProposalPayload {
        kind: "bioguard-proposal".into(),
        v: 1,
        id: id.to_string(),
        origin: origin.to_owned(),
        action: action.spec(),
        created_at: created_at.unix(),
        expires_at: expires_at.unix(),
    })
    .map_err(|e| ServiceError::Internal(format!("a proposal payload: {e}")))
}

/// The action a stored payload carries, parsed again with the one parser.
pub(crate) fn payload_action(text: &str) -> Result<Action, ServiceError> {
    let payload: ProposalPayload = serde_json::from_str(text)
        .map_err(|_| ServiceError::Internal("a stored proposal is corrupt".into()))?;
    Ok(payload.action.parse()?)
}

/// Checks that the approval's member belongs to the group and that its proof is theirs over
/// this proposal: an Ed25519 signature of exactly the payload, or a passkey assertion over
/// the proposal's approval challenge made for this deployment's relying party. Returns the
/// signature counter a passkey showed (0 for a signature), for the caller to compare.
pub(crate) fn check_approval(
    group: &RiskGroup,
    rp: Option<&RelyingParty>,
    proposal: &Proposal,
    approval: &Approval,
) -> Result<u32, ServiceError> {
    let m = group
        .member(&approval.member)
        .ok_or(ServiceError::NotAMember)?;
    match &approval.proof {
        Proof::Ed25519 { signature } => {
            let key = m.public_key.ok_or_else(|| {
                ValidationError::new(
                    "signature",
                    "this member approves with a passkey only (in the console)",
                )
            })?;
            let sig: [u8; 64] = signature
                .as_slice()
                .try_into()
                .map_err(|_| ValidationError::new("signature", "64 bytes of Ed25519 signature"))?;
            let key = bioguard_ledger::strong_key(&key)
                .ok_or_else(|| ServiceError::Internal("a member key is invalid".into()))?;
            if !bioguard_ledger::verifies(&key, proposal.payload.as_bytes(), &sig) {
                return Err(ValidationError::new(
                    "signature",
                    "does not verify over this proposal's payload with this member's key",
                )
                .into());
            }
            Ok(0)
        }
        Proof::Passkey(a) => {
            let rp = rp.ok_or_else(|| {
                ValidationError::new(
                    "passkey",
                    "this deployment has no public_origin, so it takes no passkey approvals",
                )
            })?;
            let passkey = m
                .passkeys
                .iter()
                .find(|p| p.credential_id == a.credential_id)
                .ok_or_else(|| {
                    ValidationError::new(
                        "passkey.credential_id",
                        "not a passkey the group admitted for this member",
                    )
                })?;
            let key = CredentialKey::from_cose(&passkey.public_key)
                .map_err(|_| ServiceError::Internal("a member passkey is invalid".into()))?;
            let challenge = webauthn::approval_challenge(
                proposal.id.as_str(),
                proposal.expires_at.unix(),
                &proposal.payload,
            );
            let parts = webauthn::Assertion {
                credential_id: &a.credential_id,
                authenticator_data: &a.authenticator_data,
                client_data_json: &a.client_data_json,
                signature: &a.signature,
            };
            let done = webauthn::verify_assertion(rp, &challenge, &key, &parts)
                .map_err(|e| ValidationError::new("passkey", format!("refused: {e}")))?;
            Ok(done.sign_count)
        }
    }
}

/// The approvals that count under the group as it is now: by a current member, whose proof
/// verifies over this proposal under that member's current key or passkeys. A member who
/// left the group, or whose key a `group.change` replaced, no longer counts towards any open
/// proposal (approvals are re-evaluated, not carried over).
pub(crate) fn counted<'a>(
    group: &RiskGroup,
    rp: Option<&RelyingParty>,
    proposal: &'a Proposal,
) -> Vec<&'a str> {
    proposal
        .approvals
        .iter()
        .filter(|a| check_approval(group, rp, proposal, a).is_ok())
        .map(|a| a.member.as_str())
        .collect()
}

impl Service {
    /// The risk group, if one is registered.
    pub async fn risk_group(&self) -> Result<Option<RiskGroup>, ServiceError> {
        Ok(self.db.governance.risk_group().await?)
    }

    /// Registers the risk group (once; later changes are proposals).
    pub async fn register_risk_group(
        &self,
        _admin: &Admin,
        group: RiskGroup,
    ) -> Result<(), ServiceError> {
        check_group(&group)?;
        let mut leaf = self.leaf("governance.group", "admin");
        leaf.decision = Some("registered".into());
        leaf.detail = vec![
            ("quorum".into(), group.quorum.to_string()),
            (
                "members".into(),
                serde_json::to_string(&group.spec().members).unwrap_or_default(),
            ),
        ];
        self.db
            .governance
            .set_risk_group(&group, true, self.now(), &leaf)
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
        action: Action,
        ttl_secs: u64,
    ) -> Result<Proposal, ServiceError> {
        if self.risk_group().await?.is_none() {
            return Err(ServiceError::NoRiskGroup);
        }
        if let Action::GroupChange(g) = &action {
            check_group(g)?;
        }
        check_ttl(ttl_secs)?;
        let id = ProposalId::from_random(random16()?);
        let now = self.now();
        let expires = Timestamp::from_unix(now.unix() + ttl_secs as i64);
        let payload = payload_text(&id, self.secrets.origin(), &action, now, expires)?;
        let p = Proposal {
            id: id.clone(),
            payload,
            created_at: now,
            expires_at: expires,
            status: ProposalStatus::Open,
            result: None,
            approvals: Vec::new(),
        };
        let mut leaf = self.leaf("proposal.create", "admin");
        leaf.decision = Some("open".into());
        leaf.detail = vec![
            ("proposal".into(), id.to_string()),
            (
                "action".into(),
                serde_json::to_string(&action.spec()).unwrap_or_default(),
            ),
        ];
        self.db.governance.create_proposal(&p, &leaf).await?;
        Ok(p)
    }

    /// A proposal with its approvals.
    pub async fn proposal(&self, id: &ProposalId) -> Result<Proposal, ServiceError> {
        self.db
            .governance
            .proposal(id)
            .await?
            .ok_or(ServiceError::ProposalNotFound)
    }

    /// Adds a member's approval (an Ed25519 signature over the payload, or a passkey
    /// assertion over the approval challenge); applies the proposal when the quorum is
    /// reached.
    pub async fn approve(
        &self,
        id: &ProposalId,
        approval: Approval,
    ) -> Result<ApprovalOutcome, ServiceError> {
        let p = self.proposal(id).await?;
        p.accepts_approvals(self.now()).map_err(|c| match c {
            bioguard_core::Closed::NotOpen(s) => ServiceError::ProposalClosed(s.as_str().into()),
            bioguard_core::Closed::Expired => ServiceError::ProposalExpired,
        })?;
        let group = self.risk_group().await?.ok_or(ServiceError::NoRiskGroup)?;
        let rp = self.relying_party.as_deref();
        let sign_count = check_approval(&group, rp, &p, &approval)?;
        let member = approval.member.clone();
        let mut leaf = self.leaf("proposal.approve", format!("member:{member}"));
        leaf.decision = Some("approved".into());
        leaf.detail = vec![
            ("proposal".into(), id.to_string()),
            (
                "with".into(),
                match approval.proof {
                    Proof::Ed25519 { .. } => "ed25519".into(),
                    Proof::Passkey(_) => "passkey".into(),
                },
            ),
        ];
        self.db
            .governance
            .add_approval(id, &approval, sign_count, self.now(), &leaf)
            .await
            .map_err(|e| match e {
                bioguard_store::StoreError::Conflict(
                    "a signature counter that did not advance",
                ) => ServiceError::PasskeyReplayed,
                bioguard_store::StoreError::Conflict(_) => {
                    ServiceError::Conflict("an approval by this member")
                }
                e => e.into(),
            })?;
        // Counted from what is stored, under the group as it is now.
        let stored = self.proposal(id).await?;
        let approvals = counted(&group, rp, &stored).len() as u32;
        let mut out = ApprovalOutcome {
            approvals,
            quorum: group.quorum,
            status: ProposalStatus::Open,
            result: None,
        };
        if tally(approvals, group.quorum) != Tally::Reached
            || !self
                .db
                .governance
                .set_proposal_status(
                    id,
                    ProposalStatus::Open,
                    ProposalStatus::Applying,
                    None,
                    None,
                )
                .await?
        {
            return Ok(out);
        }
        let applied = match payload_action(&p.payload) {
            Ok(action) => self.apply(id, action).await,
            Err(e) => Err(e),
        };
        let (status, result) = match &applied {
            Ok(r) => (ProposalStatus::Applied, r.clone()),
            Err(e) => (ProposalStatus::Failed, e.to_string()),
        };
        let mut leaf = self.leaf(
            if applied.is_ok() {
                "proposal.apply"
            } else {
                "proposal.fail"
            },
            "quorum",
        );
        leaf.decision = Some(status.as_str().into());
        leaf.detail = vec![
            ("proposal".into(), id.to_string()),
            ("approvals".into(), approvals.to_string()),
            ("result".into(), result.clone()),
        ];
        self.db
            .governance
            .set_proposal_status(
                id,
                ProposalStatus::Applying,
                status,
                Some(&result),
                Some(&leaf),
            )
            .await?;
        out.status = status;
        out.result = Some(result);
        Ok(out)
    }

    async fn apply(&self, id: &ProposalId, action: Action) -> Result<String, ServiceError> {
        match action {
            Action::FairnessOverride {
                purpose,
                threshold,
                report_sha256,
                reason: _,
            } => {
                self.override_fairness(id, &purpose, threshold.get(), report_sha256.as_deref())
                    .await
            }
            Action::KeyDestroyVersion { version } => {
                self.destroy_key_version_now(version).await?;
                Ok(format!("key-encryption key version {version} destroyed"))
            }
            Action::GroupChange(g) => {
                check_group(&g)?;
                let mut leaf = self.leaf("governance.group", "quorum");
                leaf.decision = Some("changed".into());
                leaf.detail = vec![("quorum".into(), g.quorum.to_string())];
                self.db
                    .governance
                    .set_risk_group(&g, false, self.now(), &leaf)
                    .await?;
                Ok(format!(
                    "risk group is now {} of {}",
                    g.quorum,
                    g.members.len()
                ))
            }
            Action::KeyRotate => {
                let r = self.rotate_keys_now(true, &mut |_, _| {}).await?;
                Ok(format!(
                    "rotated to {}; {} keys rewrapped, {} left",
                    r.current, r.rewrapped, r.left
                ))
            }
            Action::PurposeCreate(d) => {
                let id = d.purpose.id.clone();
                self.create_purpose_now(*d).await?;
                Ok(format!("purpose {id} created"))
            }
            Action::ClientCreate(d) => {
                // The key is not shown to the approvers: the admin issues one with
                // POST /v1/clients/{id}/key, which this approval allows once.
                let searches =
                    crate::abuse::purposes::widens_search(d.grants.iter().map(|g| g.operation));
                let created = self.create_client_now(d).await?;
                if searches {
                    self.approve_client_key(id, &created.id).await?;
                }
                Ok(format!(
                    "client {} created; issue its API key with POST /v1/clients/{}/key",
                    created.id, created.id
                ))
            }
            Action::ClientIssueKey { client } => {
                self.approve_client_key(id, &client).await?;
                Ok(format!(
                    "client {client} may be issued one API key: POST /v1/clients/{client}/key"
                ))
            }
            Action::ProtectionKeyRotate { purpose } => {
                let r = self.rotate_protection_key_now(&purpose, "quorum").await?;
                Ok(format!(
                    "purpose {purpose}: protection key rotated to version {}; earlier templates \
                     revoked",
                    r.version
                ))
            }
            Action::IncidentRevokePurposeKey { incident, purpose } => {
                let i = self
                    .incident_action_now(
                        &incident,
                        bioguard_core::IncidentAction::RevokePurposeKey(purpose),
                        "quorum",
                    )
                    .await?;
                Ok(i.events
                    .last()
                    .map(|e| e.detail.clone())
                    .unwrap_or_default())
            }
        }
    }

    /// Allows one API key to be issued for `client` (a quorum's decision).
    async fn approve_client_key(
        &self,
        proposal: &ProposalId,
        client: &bioguard_core::ClientId,
    ) -> Result<(), ServiceError> {
        let mut leaf = self.leaf("client.key_approve", "quorum");
        leaf.decision = Some("approved".into());
        leaf.detail = vec![
            ("client".into(), client.to_string()),
            ("proposal".into(), proposal.to_string()),
        ];
        if !self.db.clients.approve_client_key(client, &leaf).await? {
            return Err(ServiceError::ClientNotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::{ActionSpec, Member, Passkey, PasskeyAssertion};
    use bioguard_ledger::webauthn::Algorithm;
    use bioguard_ledger::webauthn::soft::{OwnedAssertion, SoftAuthenticator};
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn group(keys: &[&SigningKey], quorum: u32) -> RiskGroup {
        RiskGroup {
            quorum,
            members: keys
                .iter()
                .enumerate()
                .map(|(i, k)| Member {
                    name: format!("m{i}"),
                    public_key: Some(k.verifying_key().to_bytes()),
                    passkeys: Vec::new(),
                })
                .collect(),
        }
    }

    fn proposal(payload: &str, id: u8) -> Proposal {
        Proposal {
            id: ProposalId::from_random([id; 16]),
            payload: payload.into(),
            created_at: Timestamp::from_unix(1),
            expires_at: Timestamp::from_unix(1_000_000),
            status: ProposalStatus::Open,
            result: None,
            approvals: Vec::new(),
        }
    }

    fn signed(member: &str, k: &SigningKey, text: &str) -> Approval {
        Approval {
            member: member.into(),
            proof: Proof::Ed25519 {
                signature: k.sign(text.as_bytes()).to_bytes().to_vec(),
            },
        }
    }

    fn asserted(member: &str, a: OwnedAssertion) -> Approval {
        Approval {
            member: member.into(),
            proof: Proof::Passkey(PasskeyAssertion {
                credential_id: a.credential_id,
                authenticator_data: a.authenticator_data,
                client_data_json: a.client_data_json,
                signature: a.signature,
            }),
        }
    }

    fn challenge(p: &Proposal) -> [u8; 32] {
        webauthn::approval_challenge(p.id.as_str(), p.expires_at.unix(), &p.payload)
    }

    fn with_passkey(m: &mut Member, key: &SoftAuthenticator) {
        m.passkeys.push(Passkey {
            credential_id: key.credential_id().to_vec(),
            public_key: key.key().to_cose(),
        });
    }

    #[test]
    fn only_a_member_signing_the_exact_payload_approves() {
        let (a, b, mallory) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[9; 32]),
        );
        let g = group(&[&a, &b], 2);
        let p = proposal("{\"type\":\"bioguard-proposal\"}", 1);
        let check = |approval: &Approval| check_approval(&g, None, &p, approval);
        assert!(check(&signed("m0", &a, &p.payload)).is_ok());
        assert!(matches!(
            check(&signed("m0", &a, "{}")),
            Err(ServiceError::Invalid(e)) if e.field() == "signature"
        ));
        assert!(matches!(
            check(&signed("m1", &a, &p.payload)),
            Err(ServiceError::Invalid(_))
        ));
        assert!(matches!(
            check(&signed("mallory", &mallory, &p.payload)),
            Err(ServiceError::NotAMember)
        ));
        let short = Approval {
            member: "m0".into(),
            proof: Proof::Ed25519 {
                signature: vec![0; 12],
            },
        };
        assert!(matches!(check(&short), Err(ServiceError::Invalid(_))));
    }

    #[test]
    fn a_passkey_approves_only_its_proposal_for_this_deployment() {
        let rp = RelyingParty::from_origin("https://risk.example.org").expect("origin");
        let a = SigningKey::from_bytes(&[1; 32]);
        let mut g = group(&[&a], 1);
        let mut es = SoftAuthenticator::new(Algorithm::Es256, true);
        let ed = SoftAuthenticator::new(Algorithm::EdDsa, false);
        with_passkey(&mut g.members[0], &es);
        with_passkey(&mut g.members[0], &ed);
        g.members.push(Member {
            name: "passkey-only".into(),
            public_key: None,
            passkeys: Vec::new(),
        });
        let mut other = SoftAuthenticator::new(Algorithm::Es256, true);
        with_passkey(&mut g.members[1], &other);
        assert!(check_group(&g).is_ok());
        let p = proposal("{\"type\":\"bioguard-proposal\",\"id\":1}", 1);
        let q = proposal("{\"type\":\"bioguard-proposal\",\"id\":2}", 2);
        let ok = asserted("m0", es.assert(&rp, &challenge(&p)));
        assert_eq!(check_approval(&g, Some(&rp), &p, &ok).ok(), Some(1));
        // Without a relying party configured, no passkey approval is taken.
        assert!(matches!(
            check_approval(&g, None, &p, &ok),
            Err(ServiceError::Invalid(e)) if e.field() == "passkey"
        ));
        // Made for another proposal; for another origin.
        let wrong = asserted("m0", es.assert(&rp, &challenge(&q)));
        assert!(matches!(
            check_approval(&g, Some(&rp), &p, &wrong),
            Err(ServiceError::Invalid(e)) if e.field() == "passkey"
        ));
        let evil = RelyingParty::from_origin("https://risk.example.org.evil.test").expect("o");
        let phished = asserted("m0", es.assert(&evil, &challenge(&p)));
        assert!(check_approval(&g, Some(&rp), &p, &phished).is_err());
        // Another member's passkey presented as m0's.
        let borrowed = asserted("m0", other.assert(&rp, &challenge(&p)));
        assert!(matches!(
            check_approval(&g, Some(&rp), &p, &borrowed),
            Err(ServiceError::Invalid(e)) if e.field() == "passkey.credential_id"
        ));
        // A member with passkeys only cannot sign with a key they do not have.
        assert!(matches!(
            check_approval(&g, Some(&rp), &p, &signed("passkey-only", &a, &p.payload)),
            Err(ServiceError::Invalid(e)) if e.field() == "signature"
        ));
        // A tampered assertion.
        let mut tampered = asserted("m0", es.assert(&rp, &challenge(&p)));
        if let Proof::Passkey(x) = &mut tampered.proof {
            x.client_data_json.push(b' ');
        }
        assert!(check_approval(&g, Some(&rp), &p, &tampered).is_err());
    }

    #[test]
    fn only_current_members_with_their_current_keys_count() {
        let keys: Vec<SigningKey> = (1..=4).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let rp = RelyingParty::from_origin("https://risk.example.org").expect("origin");
        let mut passkey = SoftAuthenticator::new(Algorithm::Es256, true);
        let mut p = proposal("{\"type\":\"bioguard-proposal\"}", 1);
        // m0 and m1 approved with keys and m2 with a passkey, under the group {m0, m1, m2}.
        let mut before = group(&[&keys[0], &keys[1], &keys[2]], 2);
        with_passkey(&mut before.members[2], &passkey);
        p.approvals = vec![
            signed("m0", &keys[0], &p.payload),
            signed("m1", &keys[1], &p.payload),
            asserted("m2", passkey.assert(&rp, &challenge(&p))),
        ];
        assert_eq!(counted(&before, Some(&rp), &p), ["m0", "m1", "m2"]);
        // The group becomes {m0 with a new key, m1 removed, m2 without that passkey}: none
        // of the old approvals counts any more.
        let mut after = group(&[&keys[3], &keys[2]], 2);
        after.members[1].name = "m2".into();
        assert!(counted(&after, Some(&rp), &p).is_empty());
        // A member who stayed with the same key or passkey keeps counting.
        let mut kept = group(&[&keys[0], &keys[2]], 2);
        kept.members[1].name = "m2".into();
        with_passkey(&mut kept.members[1], &passkey);
        assert_eq!(counted(&kept, Some(&rp), &p), ["m0", "m2"]);
        // A tampered signature does not count.
        let mut bad = signed("m0", &keys[0], &p.payload);
        if let Proof::Ed25519 { signature } = &mut bad.proof {
            signature[0] ^= 1;
        }
        p.approvals = vec![bad];
        assert!(counted(&before, Some(&rp), &p).is_empty());
    }

    #[test]
    fn a_group_needs_usable_keys() {
        let a = SigningKey::from_bytes(&[1; 32]);
        let mut g = group(&[&a], 1);
        assert!(check_group(&g).is_ok());
        // Not a point on the curve.
        g.members[0].public_key = (0u8..=255)
            .map(|i| [i; 32])
            .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err());
        assert!(
            g.members[0].public_key.is_some(),
            "some byte string is not a point"
        );
        assert_eq!(
            check_group(&g).map_err(|e| e.field()),
            Err("members.public_key")
        );
        // The identity point: a valid point whose "signatures" verify anything.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        g.members[0].public_key = Some(identity);
        assert_eq!(
            check_group(&g).map_err(|e| e.field()),
            Err("members.public_key")
        );
        // A passkey whose key is not a COSE key.
        g.members[0].public_key = None;
        g.members[0].passkeys = vec![Passkey {
            credential_id: vec![1; 16],
            public_key: vec![0xa0],
        }];
        assert_eq!(
            check_group(&g).map_err(|e| e.field()),
            Err("members.passkeys")
        );
    }

    #[test]
    fn proposals_live_a_minute_to_thirty_days() {
        assert!(check_ttl(MIN_PROPOSAL_SECS).is_ok());
        assert!(check_ttl(MAX_PROPOSAL_SECS).is_ok());
        assert!(check_ttl(MIN_PROPOSAL_SECS - 1).is_err());
        assert!(check_ttl(MAX_PROPOSAL_SECS + 1).is_err());
    }

    #[test]
    fn the_signed_payload_carries_the_action_back() {
        let action = serde_json::from_value::<ActionSpec>(serde_json::json!({
            "type": "purpose.create", "purpose": {"id": "door", "description": "Door",
            "operations": ["verify"], "dimension": 4, "retention": {"max_days_since_enrolment": 3},
            "risk": {"require_capture": true}, "fairness_policy": {"max_garbe": 0.1},
            "calibration": {"target_fmr": 0.001},
            "notice": {"text": "Open the door", "controller": "Door Ltd"}}}))
        .expect("spec")
        .parse()
        .expect("valid");
        let id = ProposalId::from_random([3; 16]);
        let text = payload_text(
            &id,
            "bioguard.log/x",
            &action,
            Timestamp::from_unix(1),
            Timestamp::from_unix(61),
        )
        .expect("payload");
        assert!(text.starts_with("{\"type\":\"bioguard-proposal\",\"v\":1,"));
        assert_eq!(payload_action(&text).expect("parses"), action);
        assert!(matches!(
            payload_action("{}"),
            Err(ServiceError::Internal(_))
        ));
    }
}
