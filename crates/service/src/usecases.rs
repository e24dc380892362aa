//! The use cases, one method each. Order of checks in every client call: purpose exists,
//! grant held, input valid, consent live, then (and only then) keys and templates.

use std::collections::BTreeSet;

use bioguard_core::{
    ClientId, ClientName, ConsentId, ConsentMethod, DecisionId, Embedding, Grant, NoticeVersion,
    Operation, Purpose, PurposeId, SubjectRef, TemplateId, Timestamp, ValidationError,
};
use bioguard_store::{
    ConsentChange, EraseOutcome, NewClient, NewConsent, NewTemplate, StoreError, SubjectSummary,
    WithdrawOutcome,
};
use zeroize::Zeroizing;

use crate::templates::{
    ConsentChecked, new_data_key, open_template, seal_template, unwrap_data_key,
};
use crate::{Admin, AuthenticatedClient, Service, ServiceError, now, random16};

/// A new client and its API key, which is shown once and never stored.
pub struct ClientCreated {
    /// The client's id.
    pub id: ClientId,
    api_key: Zeroizing<String>,
}

impl ClientCreated {
    /// The API key, to hand to the client's operator.
    pub fn expose_api_key(&self) -> &str {
        &self.api_key
    }
}

/// The result of an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    /// Whether an earlier template for the purpose was replaced.
    pub replaced: bool,
    /// When the template was stored.
    pub enrolled_at: Timestamp,
}

/// The result of a verification. The score is not part of it: clients see the decision only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The decision's id.
    pub id: DecisionId,
    /// Whether the probe matched the template.
    pub matched: bool,
}

/// How many times a template is sealed again when a concurrent request changed the data key.
const KEY_RACE_RETRIES: usize = 3;

impl Service {
    async fn require_purpose(&self, id: &PurposeId) -> Result<Purpose, ServiceError> {
        self.store
            .purpose(id)
            .await?
            .ok_or(ServiceError::PurposeNotFound)
    }

    /// Creates a purpose.
    pub async fn create_purpose(
        &self,
        _admin: &Admin,
        purpose: Purpose,
    ) -> Result<Purpose, ServiceError> {
        Purpose::check_operations(&purpose.operations)?;
        self.store.create_purpose(&purpose, now()).await?;
        tracing::info!(purpose = %purpose.id, "purpose created");
        Ok(purpose)
    }

    /// Every purpose (public information).
    pub async fn purposes(&self) -> Result<Vec<Purpose>, ServiceError> {
        Ok(self.store.purposes().await?)
    }

    /// Creates a client with grants. Each grant must name an existing purpose that allows the
    /// operation.
    pub async fn create_client(
        &self,
        _admin: &Admin,
        name: ClientName,
        grants: BTreeSet<Grant>,
    ) -> Result<ClientCreated, ServiceError> {
        for g in &grants {
            let purpose = self.store.purpose(&g.purpose).await?.ok_or_else(|| {
                ValidationError::new("grants", "every grant must name an existing purpose")
            })?;
            if !purpose.allows(g.operation) {
                return Err(ValidationError::new(
                    "grants",
                    format!("purpose `{}` does not allow `{}`", purpose.id, g.operation),
                )
                .into());
            }
        }
        let api_key = Zeroizing::new(bioguard_crypto::random_token("bgc_")?);
        let client = NewClient {
            id: ClientId::from_random(random16()?),
            name,
            key_digest: self.secrets.token_digest(&api_key),
            grants,
            created_at: now(),
        };
        self.store.create_client(&client).await?;
        tracing::info!(client = %client.id, grants = client.grants.len(), "client created");
        Ok(ClientCreated {
            id: client.id,
            api_key,
        })
    }

    /// Records a subject's consent to a purpose.
    pub async fn grant_consent(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose: &PurposeId,
        notice_version: NoticeVersion,
        method: ConsentMethod,
    ) -> Result<ConsentChange, ServiceError> {
        self.require_purpose(purpose).await?;
        client.require_any(purpose)?;
        let consent = NewConsent {
            id: ConsentId::from_random(random16()?),
            purpose: purpose.clone(),
            notice_version,
            method,
            client: client.record().id.clone(),
            at: now(),
        };
        let change = self
            .store
            .grant_consent(&self.secrets.pseudonym(subject), &consent)
            .await?;
        if change.created {
            tracing::info!(purpose = %purpose, client = %client.record().id, "consent recorded");
        }
        Ok(change)
    }

    /// Withdraws consent; the template and its data key are destroyed in the same transaction.
    pub async fn withdraw_consent(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose: &PurposeId,
    ) -> Result<WithdrawOutcome, ServiceError> {
        self.require_purpose(purpose).await?;
        client.require_any(purpose)?;
        let out = self
            .store
            .withdraw_consent(&self.secrets.pseudonym(subject), purpose, now())
            .await?
            .ok_or(ServiceError::ConsentNotFound)?;
        tracing::info!(
            purpose = %purpose,
            client = %client.record().id,
            template_destroyed = out.template_destroyed,
            "consent withdrawn"
        );
        Ok(out)
    }

    /// Enrols (or replaces) a subject's template for a purpose.
    pub async fn enroll(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose_id: &PurposeId,
        values: Vec<f32>,
    ) -> Result<Enrolment, ServiceError> {
        let purpose = self.require_purpose(purpose_id).await?;
        client.require(purpose_id, Operation::Enroll)?;
        let embedding = Embedding::parse(values, purpose.dimension)?;
        let pseudonym = self.secrets.pseudonym(subject);
        // A cheap early refusal; the authoritative check runs inside the storing transaction.
        if !self
            .store
            .verify_material(&pseudonym, purpose_id)
            .await?
            .consent_live
        {
            return Err(ServiceError::ConsentRequired);
        }
        for _ in 0..KEY_RACE_RETRIES {
            let (key, stored, is_new) = match self.store.data_key(&pseudonym, purpose_id).await? {
                Some(stored) => {
                    let key = unwrap_data_key(self.keys.as_ref(), &pseudonym, purpose_id, &stored)
                        .await?;
                    (key, stored, false)
                }
                None => {
                    let (key, stored) =
                        new_data_key(self.keys.as_ref(), &pseudonym, purpose_id).await?;
                    (key, stored, true)
                }
            };
            let template_id = TemplateId::from_random(random16()?);
            let sealed = seal_template(
                &key,
                &pseudonym,
                purpose_id,
                &template_id,
                &stored.id,
                &embedding,
            )?;
            let at = now();
            let template = NewTemplate {
                id: template_id,
                format: crate::templates::FORMAT_RAW_F32,
                sealed,
                at,
            };
            match self
                .store
                .put_template(&pseudonym, purpose_id, &stored, is_new, &template)
                .await
            {
                Ok(out) => {
                    tracing::info!(
                        purpose = %purpose_id,
                        client = %client.record().id,
                        replaced = out.replaced,
                        "template enrolled"
                    );
                    return Ok(Enrolment {
                        replaced: out.replaced,
                        enrolled_at: at,
                    });
                }
                Err(StoreError::KeyChanged) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Unavailable(
            "concurrent enrolments for this subject kept conflicting; retry".into(),
        ))
    }

    /// Verifies a probe against a subject's template (1:1).
    pub async fn verify(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose_id: &PurposeId,
        values: Vec<f32>,
    ) -> Result<Decision, ServiceError> {
        let purpose = self.require_purpose(purpose_id).await?;
        client.require(purpose_id, Operation::Verify)?;
        let probe = Embedding::parse(values, purpose.dimension)?;
        let pseudonym = self.secrets.pseudonym(subject);
        let material = self.store.verify_material(&pseudonym, purpose_id).await?;
        if !material.consent_live {
            return Err(ServiceError::ConsentRequired);
        }
        let consent = ConsentChecked::after_live_consent_read();
        let stored = material.template.ok_or(ServiceError::NotEnrolled)?;
        let reference = match open_template(
            &consent,
            self.keys.as_ref(),
            &pseudonym,
            purpose_id,
            &stored,
        )
        .await
        {
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
        let cmp = self.matcher.compare(&probe, &reference, purpose.threshold);
        drop(reference);
        let decision = Decision {
            id: DecisionId::from_random(random16()?),
            matched: cmp.is_match,
        };
        self.store
            .touch_template(&pseudonym, purpose_id, now())
            .await?;
        tracing::info!(
            decision = %decision.id,
            purpose = %purpose_id,
            client = %client.record().id,
            matcher = self.matcher.name(),
            matched = decision.matched,
            "verification"
        );
        Ok(decision)
    }

    /// What is held about a subject: consents and enrolment times, never template bytes.
    pub async fn subject_summary(
        &self,
        _client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<SubjectSummary, ServiceError> {
        Ok(self
            .store
            .subject_summary(&self.secrets.pseudonym(subject))
            .await?)
    }

    /// Erases everything held about a subject.
    pub async fn erase_subject(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<EraseOutcome, ServiceError> {
        let out = self
            .store
            .erase_subject(&self.secrets.pseudonym(subject))
            .await?;
        tracing::info!(
            client = %client.record().id,
            templates = out.templates,
            consents = out.consents,
            "subject erased"
        );
        Ok(out)
    }
}
