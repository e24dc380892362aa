//! 1:1 verification: one declared purpose, one granted client, one consenting subject, one
//! decision recorded in the ledger. The order of refusals is fixed (authentication first) and
//! no score ever leaves the service.
//!
//! The hot path reads everything at once: the client (by its key's digest, with its grant),
//! the purpose, its latest material notice, the subject's consent, lock and template, in one
//! statement (`VerificationStore::verify_material_for`); the decision's leaf and the
//! template's use time are buffered into the next group commit.

use bioguard_core::{Decision, Embedding, Operation, Outcome, PurposeId, PurposeName, SubjectRef};
use bioguard_engine::Kernel;

use crate::abuse::auth::key_tenant;
use crate::abuse::risk::{Capture, near_miss_band};
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::ConsentChecked;
use crate::security::templates::open_template;

impl Service {
    /// Verifies a probe against a subject's template (1:1) by the Hamming distance of their
    /// protected codes, for the client holding `api_key` (authenticated here, in the same read
    /// as the rest).
    pub async fn verify(
        &self,
        api_key: &str,
        subject: &SubjectRef,
        purpose: &PurposeName,
        values: Vec<f32>,
        capture: Option<&Capture>,
    ) -> Result<Decision, ServiceError> {
        let (Some(digest), Some(tenant)) = (self.key_digest(api_key), key_tenant(api_key)) else {
            return Err(self.failed().await);
        };
        // The key names its tenant, so the subject's pseudonym and the purpose's id are known
        // before the read. The client, purpose, notice floor, consent, lock, template and
        // ledger salt in one read: the checks below refuse in the same order as ever
        // (authentication first), and a verification costs one round trip before its leaf.
        let purpose_id = &PurposeId::in_tenant(&tenant, purpose);
        let pseudonym = self.secrets.pseudonym(&tenant, subject);
        let mut material = self
            .db
            .verification
            .verify_material_for(&pseudonym, purpose_id, Some((&digest, Operation::Verify)))
            .await?;
        let client = &self.admit(material.client.take()).await?;
        if client.tenant() != &tenant {
            // The key's digest covers the tenant it names, so this cannot happen unless the
            // database was altered.
            return Err(ServiceError::Internal(
                "a client key names another tenant".into(),
            ));
        }
        let purpose = material
            .purpose
            .take()
            .ok_or(ServiceError::PurposeNotFound)?;
        let authorized = client.authorize(purpose_id, Operation::Verify)?;
        let risk = purpose.purpose.risk;
        self.check_capture(
            client,
            purpose_id,
            &risk,
            Some((subject, &pseudonym)),
            capture,
            &values,
        )
        .await?;
        let recent_failures =
            self.check_lockout(&pseudonym, purpose_id, &risk, material.lockout)?;
        self.watch(client, &pseudonym).await?;
        let probe = Embedding::parse(values, purpose.purpose.dimension)?;
        let consent =
            ConsentChecked::for_use(&pseudonym, purpose_id, &material.consent, self.now())?;
        let stored = material.template.ok_or(ServiceError::NotEnrolled)?;
        if stored.protection_version != purpose.protection_version {
            return Err(ServiceError::ReenrolmentRequired);
        }
        let probe = self.protect(&authorized, &purpose, probe).await?;
        let bits = purpose.purpose.code_bits;
        let reference = match open_template(&consent, self.keys.as_ref(), bits, &stored).await {
            Ok(r) => r,
            Err(ServiceError::Integrity) => {
                tracing::error!(
                    purpose = %purpose_id,
                    template = %stored.id,
                    "stored template failed its integrity check (altered or moved)"
                );
                return Err(ServiceError::Integrity);
            }
            Err(e) => return Err(e),
        };
        let distance = Kernel::best().distance(probe.words(), reference.code.words());
        drop(reference);
        let max_distance = bits.max_distance(purpose.purpose.threshold.get());
        let outcome = if distance <= max_distance {
            Outcome::Match
        } else {
            Outcome::NoMatch
        };
        // Scored before this attempt is counted, from the signals that led to it.
        let risk_score = self.score(recent_failures, capture, distance, max_distance);
        let decision = Decision {
            id: crate::clock::new_decision_id()?,
            outcome,
            risk: risk_score,
            step_up: outcome.matched() && risk_score.score > risk.step_up_score,
        };
        let key = match material.ledger_salt {
            Some(salt) => self.key_of(&pseudonym, &salt),
            None => self.subject_key(&pseudonym).await?,
        };
        let mut leaf = self.leaf("verify", client.actor());
        let tagged = self.leaf_subject(&pseudonym, &key)?;
        let device = capture.map(|c| key.device_digest(&tagged.tag, &c.device));
        leaf.subject = Some(tagged);
        leaf.purpose = Some(purpose_id.clone());
        leaf.decision = Some(outcome.as_str().into());
        leaf.detail = vec![
            ("decision".into(), decision.id.to_string()),
            // The band, as the client was told: an exact score repeated across one person's
            // uses would be a value that links them.
            ("risk".into(), decision.risk.band().as_str().into()),
        ];
        if decision.step_up {
            leaf.detail.push(("step_up".into(), "required".into()));
        }
        if let Some(c) = capture {
            // The signals a dispute will need: which device, what liveness it reported. A
            // device may be one person's own phone, so the leaf names it by a digest under
            // the subject's ledger key: the same device gives another value in each leaf, and
            // the key's holders can check it.
            leaf.detail
                .push(("device".into(), device.unwrap_or_default()));
            leaf.detail
                .push(("liveness".into(), c.liveness.to_string()));
        }
        self.db
            .verification
            .record_verification(&stored.id, self.now(), &leaf)
            .await?;
        self.count_attempt(
            client,
            &pseudonym,
            purpose_id,
            &risk,
            outcome.matched(),
            recent_failures,
        )
        .await?;
        if !outcome.matched() {
            self.watch_failure(
                client,
                &pseudonym,
                purpose_id,
                distance,
                near_miss_band(bits, max_distance),
            )
            .await?;
        }
        tracing::info!(
            decision = %decision.id,
            purpose = %purpose_id,
            client = %client.record().id,
            matched = outcome.matched(),
            "verification"
        );
        metrics::counter!("bioguard_decisions_total",
            "purpose" => purpose_id.to_string(), "operation" => "verify", "outcome" => outcome.as_str())
        .increment(1);
        Ok(decision)
    }
}
