//! Compensation claims: a disputed decision, its evidence assembled by the service, a
//! reviewer's decision, and payment from a reserve kept as a double-entry ledger in integer
//! minor units that never goes negative. A claim's life is `bioguard_core::ClaimStatus`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_core::{
    Balance, Claim, ClaimId, ClaimStatus, DecisionId, Money, PurposeId, ReviewerId, Timestamp,
    ValidationError,
};
use bioguard_store::ClaimRefusal;
use serde::Serialize;

use crate::abuse::auth::{Admin, AuthenticatedClient};
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;

/// Proof that the caller presented a reviewer's token. Only
/// [`Service::authenticate_reviewer`] constructs it.
#[derive(Debug)]
pub struct Reviewer {
    name: String,
}

impl Reviewer {
    /// The reviewer's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How long a claim may wait for its decision: 30 days.
pub const CLAIM_DECISION_SECS: i64 = 30 * 86_400;

/// A claim's evidence pack: the decision's leaf, a fresh signed checkpoint and the leaf's
/// inclusion proof against it, the capture signals the leaf recorded, and whether the
/// decision is overdue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimEvidence {
    /// The disputed decision.
    pub decision: EvidenceDecision,
    /// A signed checkpoint of the log.
    pub checkpoint: String,
    /// The decision leaf's inclusion in that checkpoint.
    pub inclusion_proof: EvidenceProof,
    /// The capture signals the decision recorded, one `{name: value}` each.
    pub signals: Vec<BTreeMap<String, String>>,
    /// Incidents linked to the decision (none are linked yet).
    pub incidents: Vec<String>,
    /// Whether the claim's decision is late.
    pub overdue: bool,
}

/// The disputed decision in an evidence pack.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceDecision {
    /// Its id.
    pub id: String,
    /// Its leaf's index.
    pub ledger_index: u64,
    /// Its leaf, exactly as hashed.
    pub leaf: String,
    /// `verify` or `identify`.
    pub operation: String,
    /// What it answered.
    pub outcome: Option<String>,
}

/// An inclusion proof in an evidence pack.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceProof {
    /// The leaf's index.
    pub index: u64,
    /// The tree size.
    pub size: u64,
    /// The leaf's hash, base64.
    pub leaf_hash: Option<String>,
    /// The audit path, base64.
    pub hashes: Vec<String>,
}

/// Checks a claim's or a decision's reason: 1 to 2000 bytes of text.
pub(crate) fn check_reason(reason: &str) -> Result<(), ValidationError> {
    if reason.trim().is_empty() || reason.len() > 2000 {
        return Err(ValidationError::new("reason", "1 to 2000 characters"));
    }
    Ok(())
}

/// The signals a dispute needs from a decision's leaf: the device and its liveness score.
pub(crate) fn signals(detail: &[(String, String)]) -> Vec<BTreeMap<String, String>> {
    detail
        .iter()
        .filter(|(k, _)| k == "device" || k == "liveness")
        .map(|(k, v)| BTreeMap::from([(k.clone(), v.clone())]))
        .collect()
}

impl Service {
    /// Files a claim against a decision this service made for the client's own tenant (any
    /// other decision is not found); one open or paid claim per decision.
    pub async fn file_claim(
        &self,
        client: &AuthenticatedClient,
        decision: &str,
        currency: &str,
        amount: i64,
        reason: &str,
    ) -> Result<Claim, ServiceError> {
        let amount = Money::new(currency, amount)?;
        check_reason(reason)?;
        let decision = DecisionId::parse(decision).map_err(|_| ServiceError::DecisionNotFound)?;
        let entry = self
            .db
            .ledger
            .decision_leaf(&decision)
            .await?
            .ok_or(ServiceError::DecisionNotFound)?;
        let decided = bioguard_ledger::Leaf::decode(&entry.leaf)
            .ok_or_else(|| ServiceError::Internal("a stored leaf does not decode".into()))?;
        let purpose = decided
            .purpose
            .as_deref()
            .and_then(|p| PurposeId::parse(p).ok())
            .filter(|p| p.belongs_to(client.tenant()))
            .ok_or(ServiceError::DecisionNotFound)?;
        // A client that may not use the purpose has no standing to dispute its decisions.
        client.require_any(&purpose)?;
        // The subject, from beside the leaf (the leaf names them by a tag only); none once
        // they were erased.
        let subject = self
            .db
            .ledger
            .audit_leaves_with_subjects(entry.index, entry.index + 1)
            .await?
            .into_iter()
            .next()
            .and_then(|(_, s)| s);
        let now = self.now();
        let claim = Claim {
            id: ClaimId::from_random(random16()?),
            decision: decision.clone(),
            leaf_index: entry.index,
            client: client.record().id.clone(),
            amount,
            reason: reason.to_owned(),
            filed_at: now,
            deadline: Timestamp::from_unix(now.unix() + CLAIM_DECISION_SECS),
            status: ClaimStatus::Filed,
            decided_at: None,
            decision_reason: None,
        };
        let mut leaf = self.leaf("claim.file", client.actor());
        leaf.decision = Some("filed".into());
        leaf.purpose = Some(purpose);
        leaf.subject = match &subject {
            Some(s) => Some(self.tagged(s).await?),
            None => None,
        };
        leaf.detail = vec![
            ("claim".into(), claim.id.to_string()),
            ("decision".into(), decision.to_string()),
        ];
        self.db.claims.file_claim(&claim, &leaf).await?;
        Ok(claim)
    }

    /// One claim.
    pub async fn claim(&self, id: &ClaimId) -> Result<Claim, ServiceError> {
        self.db
            .claims
            .claim(id)
            .await?
            .ok_or(ServiceError::ClaimNotFound)
    }

    /// The evidence pack of a claim.
    pub async fn claim_evidence(&self, claim: &Claim) -> Result<ClaimEvidence, ServiceError> {
        // The proof is for exactly the tree the checkpoint signs, even if the log grows meanwhile.
        let (note, size) = self.signed_checkpoint().await?;
        let proof = self.audit_inclusion(claim.leaf_index, size).await?;
        let leaf = self
            .db
            .ledger
            .audit_leaves(claim.leaf_index, claim.leaf_index + 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("the decision's leaf is missing".into()))?;
        let decoded = bioguard_ledger::Leaf::decode(&leaf)
            .ok_or_else(|| ServiceError::Internal("a stored leaf does not decode".into()))?;
        Ok(ClaimEvidence {
            decision: EvidenceDecision {
                id: claim.decision.to_string(),
                ledger_index: claim.leaf_index,
                leaf: String::from_utf8_lossy(&leaf).into_owned(),
                operation: decoded.op.clone(),
                outcome: decoded.decision.clone(),
            },
            checkpoint: note,
            inclusion_proof: EvidenceProof {
                index: claim.leaf_index,
                size,
                leaf_hash: proof.leaf_hash.as_ref().map(|h| B64.encode(h)),
                hashes: proof.hashes.iter().map(|h| B64.encode(h)).collect(),
            },
            signals: signals(&decoded.detail),
            incidents: Vec::new(),
            overdue: claim.overdue(self.now()),
        })
    }

    /// Adds a claim reviewer (admin); returns their id and token (shown once).
    pub async fn create_reviewer(
        &self,
        _admin: &Admin,
        name: &str,
    ) -> Result<(ReviewerId, zeroize::Zeroizing<String>), ServiceError> {
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(ValidationError::new("name", "1 to 64 printable characters").into());
        }
        let token = zeroize::Zeroizing::new(bioguard_crypto::random_token("bgr_")?);
        let id = ReviewerId::from_random(random16()?);
        let mut leaf = self.leaf("reviewer.create", "admin");
        leaf.detail = vec![("reviewer".into(), id.to_string())];
        self.db
            .claims
            .add_reviewer(
                &id,
                name,
                &self.secrets.token_digest(&token),
                self.now(),
                &leaf,
            )
            .await?;
        Ok((id, token))
    }

    /// Checks a reviewer's token.
    pub async fn authenticate_reviewer(&self, token: &str) -> Result<Reviewer, ServiceError> {
        if !token.starts_with("bgr_") || token.len() > 256 {
            return Err(ServiceError::Unauthenticated);
        }
        match self
            .db
            .claims
            .reviewer_by_digest(&self.secrets.token_digest(token))
            .await?
        {
            Some(r) => Ok(Reviewer { name: r.name }),
            None => Err(ServiceError::Unauthenticated),
        }
    }

    /// A reviewer's decision: deny, or approve and pay from the reserve.
    pub async fn decide_claim(
        &self,
        reviewer: &Reviewer,
        id: &ClaimId,
        approve: bool,
        reason: &str,
    ) -> Result<Claim, ServiceError> {
        check_reason(reason)?;
        let claim = self.claim(id).await?;
        let mut leaf = self.leaf("claim.decide", format!("reviewer:{}", reviewer.name));
        leaf.decision = Some(
            if approve {
                ClaimStatus::Paid
            } else {
                ClaimStatus::Denied
            }
            .as_str()
            .into(),
        );
        leaf.detail = vec![
            ("claim".into(), id.to_string()),
            (
                "amount".into(),
                format!("{} {}", claim.amount.minor_units(), claim.amount.currency()),
            ),
        ];
        leaf.outbox = self
            .owe(
                "claim.decided",
                std::slice::from_ref(&claim.client),
                None,
                serde_json::json!({
                    "claim": id.to_string(),
                    "status": leaf.decision.clone(),
                    "decision": claim.decision.to_string(),
                }),
            )
            .await?;
        match self
            .db
            .claims
            .decide_claim(id, approve, reason, self.now(), &leaf)
            .await?
        {
            Ok(()) => {}
            Err(ClaimRefusal::ReserveInsufficient) => {
                return Err(ServiceError::ReserveInsufficient);
            }
            Err(ClaimRefusal::Decided) => {
                return Err(ServiceError::Conflict("a decision on this claim"));
            }
        }
        self.claim(id).await
    }

    /// Adds funds to the compensation reserve.
    pub async fn reserve_topup(
        &self,
        _admin: &Admin,
        currency: &str,
        amount: i64,
        memo: &str,
    ) -> Result<(), ServiceError> {
        let amount = Money::new(currency, amount)?;
        let mut leaf = self.leaf("reserve.topup", "admin");
        leaf.decision = Some(format!("{} {}", amount.minor_units(), amount.currency()));
        self.db
            .claims
            .reserve_topup(&amount, memo, self.now(), &leaf)
            .await?;
        Ok(())
    }

    /// The reserve's balances by account and currency (they sum to zero per currency).
    pub async fn reserve_balances(&self, _admin: &Admin) -> Result<Vec<Balance>, ServiceError> {
        Ok(self.db.claims.reserve_balances().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded_text() {
        assert!(check_reason("the till matched a stranger").is_ok());
        assert!(check_reason("  ").is_err());
        assert!(check_reason(&"x".repeat(2001)).is_err());
    }

    #[test]
    fn evidence_keeps_only_the_capture_signals() {
        let detail = vec![
            ("decision".to_owned(), "dec_x".to_owned()),
            ("device".to_owned(), "dev_y".to_owned()),
            ("risk".to_owned(), "40".to_owned()),
            ("liveness".to_owned(), "0.9".to_owned()),
        ];
        let s = signals(&detail);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("device").map(String::as_str), Some("dev_y"));
        assert_eq!(s[1].get("liveness").map(String::as_str), Some("0.9"));
    }

    #[test]
    fn a_claim_is_overdue_only_while_undecided_past_its_deadline() {
        let claim = Claim {
            id: ClaimId::from_random([1; 16]),
            decision: DecisionId::from_random([2; 16]),
            leaf_index: 0,
            client: bioguard_core::ClientId::from_random([3; 16]),
            amount: Money::new("EUR", 100).expect("valid"),
            reason: "r".into(),
            filed_at: Timestamp::from_unix(0),
            deadline: Timestamp::from_unix(CLAIM_DECISION_SECS),
            status: ClaimStatus::Filed,
            decided_at: None,
            decision_reason: None,
        };
        assert!(!claim.overdue(Timestamp::from_unix(CLAIM_DECISION_SECS)));
        assert!(claim.overdue(Timestamp::from_unix(CLAIM_DECISION_SECS + 1)));
        let paid = Claim {
            status: ClaimStatus::Filed.decide(true).expect("filed"),
            ..claim
        };
        assert!(!paid.overdue(Timestamp::from_unix(CLAIM_DECISION_SECS + 1)));
    }
}
