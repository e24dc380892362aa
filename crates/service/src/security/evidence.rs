//! Checking a proposal's approvals from its public record, with no access to the service:
//! the proposal as `GET /v1/proposals/{id}` gives it (payload, proofs, the passkey origin)
//! and the group as `GET /v1/governance/group` gives it (members' Ed25519 keys and passkeys).
//!
//! The same rules the service applied when each approval arrived ([`check_approval`]) are
//! applied again, so an approval that counts here is one the service had to accept; what this
//! cannot know is the signature counters the service saw (state, not record), so a cloned key
//! is caught only by the service. `bioguard governance verify` prints the result.

use bioguard_core::{
    Approval, GroupSpec, PasskeyAssertion, Proof, Proposal, ProposalId, ProposalPayload,
    ProposalStatus, Timestamp,
};
use bioguard_ledger::webauthn::RelyingParty;
use serde::Deserialize;

use crate::security::governance::{check_approval, check_group};

/// What checking a proposal's approvals found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalReport {
    /// The proposal.
    pub proposal: String,
    /// What it changes (the action's type).
    pub action: String,
    /// Members whose approval verifies, in the order recorded.
    pub valid: Vec<String>,
    /// Members whose approval does not, with the reason.
    pub refused: Vec<(String, String)>,
    /// Approvals the group needs.
    pub quorum: u32,
    /// Whether the valid approvals of distinct members reach the quorum.
    pub reached: bool,
}

#[derive(Deserialize)]
struct ProposalDocument {
    id: String,
    payload: String,
    #[serde(default)]
    passkey_origin: Option<String>,
    #[serde(default)]
    proofs: Vec<ProofDocument>,
}

#[derive(Deserialize)]
struct ProofDocument {
    member: String,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    passkey: Option<PasskeyAssertion>,
}

/// Checks every approval in `proposal` (the JSON of `GET /v1/proposals/{id}`) against
/// `group` (the JSON of `GET /v1/governance/group`, or the members of a `governance.group`
/// leaf with the quorum). Passkey assertions must be made for `origin`, or for the origin
/// the proposal document names. An error says which document is not what it should be.
pub fn verify_proposal_document(
    proposal: &serde_json::Value,
    group: &serde_json::Value,
    origin: Option<&str>,
) -> Result<ApprovalReport, String> {
    use base64::Engine as _;
    let doc: ProposalDocument = serde_json::from_value(proposal.clone())
        .map_err(|e| format!("the proposal document is not a bioguard proposal: {e}"))?;
    let spec: GroupSpec = serde_json::from_value(group.clone())
        .map_err(|e| format!("the group document is not a risk group: {e}"))?;
    let group = spec
        .parse()
        .map_err(|e| format!("the group document is invalid: {e}"))?;
    check_group(&group).map_err(|e| format!("the group document is invalid: {e}"))?;
    let payload: ProposalPayload = serde_json::from_str(&doc.payload)
        .map_err(|_| "the proposal's payload is not a bioguard proposal payload".to_owned())?;
    if payload.kind != "bioguard-proposal" || payload.id != doc.id {
        return Err("the payload names another proposal than the document".into());
    }
    let rp = match origin.or(doc.passkey_origin.as_deref()) {
        Some(o) => Some(RelyingParty::from_origin(o).map_err(|e| format!("the origin: {e}"))?),
        None => None,
    };
    let p = Proposal {
        id: ProposalId::parse(&doc.id).map_err(|_| "the proposal id is malformed".to_owned())?,
        payload: doc.payload.clone(),
        created_at: Timestamp::from_unix(payload.created_at),
        expires_at: Timestamp::from_unix(payload.expires_at),
        status: ProposalStatus::Open,
        result: None,
        approvals: Vec::new(),
    };
    let mut report = ApprovalReport {
        proposal: doc.id.clone(),
        action: payload
            .action
            .clone()
            .parse()
            .map(|a| a.kind())
            .unwrap_or("an action that does not parse")
            .to_owned(),
        valid: Vec::new(),
        refused: Vec::new(),
        quorum: group.quorum,
        reached: false,
    };
    for proof in doc.proofs {
        let member = proof.member;
        let result = match (proof.signature, proof.passkey) {
            (Some(sig), None) => base64::engine::general_purpose::STANDARD
                .decode(sig.as_bytes())
                .map_err(|_| "the signature is not base64".to_owned())
                .map(|signature| Proof::Ed25519 { signature }),
            (None, Some(a)) => Ok(Proof::Passkey(a)),
            _ => Err("a proof needs exactly one of signature and passkey".to_owned()),
        }
        .and_then(|proof| {
            let a = Approval {
                member: member.clone(),
                proof,
            };
            check_approval(&group, rp.as_ref(), &p, &a)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(()) if !report.valid.contains(&member) => report.valid.push(member),
            Ok(()) => report
                .refused
                .push((member, "a second approval by the same member".into())),
            Err(why) => report.refused.push((member, why)),
        }
    }
    report.reached = report.valid.len() as u32 >= group.quorum;
    Ok(report)
}
