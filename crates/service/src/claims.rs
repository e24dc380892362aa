//! Compensation claims: a disputed decision, its evidence assembled by the service, a
//! reviewer's decision, and payment from a reserve kept as a double-entry ledger in integer
//! minor units that never goes negative.

use bioguard_core::{Timestamp, ValidationError};
use bioguard_store::StoredClaim;
use serde_json::{Value, json};

use crate::{Admin, AuthenticatedClient, Service, ServiceError};

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

fn check_money(currency: &str, amount: i64) -> Result<(), ValidationError> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ValidationError::new(
            "currency",
            "an ISO 4217 code such as EUR",
        ));
    }
    if !(1..=1_000_000_000_000).contains(&amount) {
        return Err(ValidationError::new(
            "amount",
            "a positive whole number of minor units (cents), at most 10^12",
        ));
    }
    Ok(())
}

impl Service {
    /// Files a claim against a decision this service made.
    pub async fn file_claim(
        &self,
        client: &AuthenticatedClient,
        decision: &str,
        currency: &str,
        amount: i64,
        reason: &str,
    ) -> Result<StoredClaim, ServiceError> {
        check_money(currency, amount)?;
        if reason.trim().is_empty() || reason.len() > 2000 {
            return Err(ValidationError::new("reason", "1 to 2000 characters").into());
        }
        if !decision.starts_with("dec_") || decision.len() > 64 {
            return Err(ServiceError::DecisionNotFound);
        }
        let (index, bytes) = self
            .store
            .decision_leaf(decision)
            .await?
            .ok_or(ServiceError::DecisionNotFound)?;
        let decided = bioguard_ledger::Leaf::decode(&bytes)
            .ok_or_else(|| ServiceError::Internal("a stored leaf does not decode".into()))?;
        let now = self.now();
        let claim = StoredClaim {
            id: format!("clm_{}", bioguard_crypto::hex_encode(&crate::random16()?)),
            decision_id: decision.to_owned(),
            leaf_index: index,
            client: client.record().id.clone(),
            currency: currency.to_owned(),
            amount,
            reason: reason.to_owned(),
            filed_at: now,
            deadline: Timestamp::from_unix(now.unix() + CLAIM_DECISION_SECS),
            status: "filed".into(),
            decided_at: None,
            decision_reason: None,
        };
        let mut leaf = self.leaf("claim.file", client.actor());
        leaf.decision = Some("filed".into());
        leaf.purpose = decided
            .purpose
            .as_deref()
            .and_then(|p| bioguard_core::PurposeId::parse(p).ok());
        leaf.subject = decided
            .subject
            .as_deref()
            .and_then(|s| bioguard_core::Pseudonym::parse(s).ok());
        leaf.detail = vec![
            ("claim".into(), claim.id.clone()),
            ("decision".into(), decision.to_owned()),
        ];
        self.store.file_claim(&claim, &leaf).await?;
        Ok(claim)
    }

    /// A claim with its evidence pack: the decision's leaf, a fresh signed checkpoint and the
    /// leaf's inclusion proof against it, the capture signals the leaf recorded, and whether
    /// the decision is overdue.
    pub async fn claim_with_evidence(
        &self,
        id: &str,
    ) -> Result<(StoredClaim, Value), ServiceError> {
        let claim = self
            .store
            .claim(id)
            .await?
            .ok_or(ServiceError::ClaimNotFound)?;
        // The proof is for exactly the tree the checkpoint signs, even if the log grows meanwhile.
        let (note, size) = self.signed_checkpoint().await?;
        let proof = self.audit_inclusion(claim.leaf_index, size).await?;
        let leaf = self
            .store
            .audit_leaves(claim.leaf_index, claim.leaf_index + 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("the decision's leaf is missing".into()))?;
        let decoded = bioguard_ledger::Leaf::decode(&leaf)
            .ok_or_else(|| ServiceError::Internal("a stored leaf does not decode".into()))?;
        let signals: Vec<Value> = decoded
            .detail
            .iter()
            .filter(|(k, _)| k == "device" || k == "liveness")
            .map(|(k, v)| json!({k: v}))
            .collect();
        use base64::Engine as _;
        let b64 = |h: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(h);
        let overdue = claim.status == "filed" && self.now().unix() > claim.deadline.unix();
        let evidence = json!({
            "decision": {"id": claim.decision_id, "ledger_index": claim.leaf_index,
                         "leaf": String::from_utf8_lossy(&leaf), "operation": decoded.op,
                         "outcome": decoded.decision},
            "checkpoint": note,
            "inclusion_proof": {"index": claim.leaf_index, "size": size,
                "leaf_hash": proof.leaf_hash.as_ref().map(b64),
                "hashes": proof.hashes.iter().map(b64).collect::<Vec<_>>()},
            "signals": signals,
            "incidents": [],
            "overdue": overdue,
        });
        Ok((claim, evidence))
    }

    /// Adds a claim reviewer (admin); returns their id and token (shown once).
    pub async fn create_reviewer(
        &self,
        _admin: &Admin,
        name: &str,
    ) -> Result<(String, zeroize::Zeroizing<String>), ServiceError> {
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(ValidationError::new("name", "1 to 64 printable characters").into());
        }
        let token = zeroize::Zeroizing::new(bioguard_crypto::random_token("bgr_")?);
        let id = format!("rev_{}", bioguard_crypto::hex_encode(&crate::random16()?));
        let mut leaf = self.leaf("reviewer.create", "admin");
        leaf.detail = vec![("reviewer".into(), id.clone())];
        self.store
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
            .store
            .reviewer_by_digest(&self.secrets.token_digest(token))
            .await?
        {
            Some((_, name)) => Ok(Reviewer { name }),
            None => Err(ServiceError::Unauthenticated),
        }
    }

    /// A reviewer's decision: deny, or approve and pay from the reserve.
    pub async fn decide_claim(
        &self,
        reviewer: &Reviewer,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<StoredClaim, ServiceError> {
        if reason.trim().is_empty() || reason.len() > 2000 {
            return Err(ValidationError::new("reason", "1 to 2000 characters").into());
        }
        let claim = self
            .store
            .claim(id)
            .await?
            .ok_or(ServiceError::ClaimNotFound)?;
        let mut leaf = self.leaf("claim.decide", format!("reviewer:{}", reviewer.name));
        leaf.decision = Some(if approve { "paid" } else { "denied" }.into());
        leaf.detail = vec![
            ("claim".into(), id.to_owned()),
            (
                "amount".into(),
                format!("{} {}", claim.amount, claim.currency),
            ),
        ];
        match self
            .store
            .decide_claim(id, approve, reason, self.now(), &leaf)
            .await?
        {
            Ok(()) => {}
            Err("reserve_insufficient") => return Err(ServiceError::ReserveInsufficient),
            Err(_) => return Err(ServiceError::Conflict("a decision on this claim")),
        }
        self.store
            .claim(id)
            .await?
            .ok_or(ServiceError::ClaimNotFound)
    }

    /// Adds funds to the compensation reserve.
    pub async fn reserve_topup(
        &self,
        _admin: &Admin,
        currency: &str,
        amount: i64,
        memo: &str,
    ) -> Result<(), ServiceError> {
        check_money(currency, amount)?;
        let mut leaf = self.leaf("reserve.topup", "admin");
        leaf.decision = Some(format!("{amount} {currency}"));
        self.store
            .reserve_topup(currency, amount, memo, self.now(), &leaf)
            .await?;
        Ok(())
    }

    /// The reserve's balances by account and currency (they sum to zero per currency).
    pub async fn reserve_balances(
        &self,
        _admin: &Admin,
    ) -> Result<Vec<(String, String, i64)>, ServiceError> {
        Ok(self.store.reserve_balances().await?)
    }
}
