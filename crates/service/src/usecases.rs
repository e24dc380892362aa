//! The use cases, one method each. Order of checks in every client call: purpose exists,
//! grant held, input valid, consent live, then (and only then) keys and templates.

use std::collections::BTreeSet;

use bioguard_core::{
    ClientId, ClientName, ConsentId, ConsentMethod, DecisionId, Embedding, GalleryName, Grant,
    NoticeVersion, Operation, Purpose, PurposeId, SubjectRef, TemplateId, Timestamp,
    ValidationError,
};
use bioguard_engine::{Kernel, ProtectedCode};
use bioguard_store::{
    ConsentChange, EraseOutcome, NewClient, NewConsent, NewTemplate, StoreError, StoredPurpose,
    SubjectSummary, WithdrawOutcome,
};
use zeroize::Zeroizing;

use crate::protection::new_protection_key;
use crate::templates::{
    ConsentChecked, FORMAT_PROTECTED, Sealing, new_data_key, open_template, seal_template,
    unwrap_data_key,
};
use crate::{Admin, AuthenticatedClient, Service, ServiceError, random16};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// Whether an earlier template for the purpose was replaced.
    pub replaced: bool,
    /// When the template was stored.
    pub enrolled_at: Timestamp,
    /// The galleries 1:N search can find it in.
    pub galleries: Vec<GalleryName>,
}

/// The result of a verification. The score is not part of it: clients see the decision only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The decision's id.
    pub id: DecisionId,
    /// Whether the probe matched the template.
    pub matched: bool,
    /// The decision's risk from the signals around it.
    pub risk: crate::risk::Risk,
    /// Whether the relying party must ask for a second factor before acting on a match.
    pub step_up: bool,
}

/// The result of rotating a purpose's protection key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The new key version.
    pub version: u32,
}

/// How many times a template is sealed again when a concurrent request changed the data key.
const KEY_RACE_RETRIES: usize = 3;
/// The most galleries one template may be enrolled into.
pub const MAX_GALLERIES_PER_TEMPLATE: usize = 16;

impl Service {
    pub(crate) async fn require_purpose(
        &self,
        id: &PurposeId,
    ) -> Result<StoredPurpose, ServiceError> {
        self.store
            .purpose(id)
            .await?
            .ok_or(ServiceError::PurposeNotFound)
    }

    /// Turns an embedding into the purpose's protected code under its current key. The
    /// embedding is consumed: its memory is zeroed as soon as the code exists.
    pub(crate) async fn protect(
        &self,
        purpose: &StoredPurpose,
        embedding: Embedding,
    ) -> Result<ProtectedCode, ServiceError> {
        let transform = self
            .protection
            .get(
                self.store.as_ref(),
                self.keys.as_ref(),
                &purpose.purpose,
                purpose.protection_version,
            )
            .await?;
        let code = transform.protect(&embedding).ok_or_else(|| {
            ServiceError::Internal("transform and purpose dimension differ".into())
        })?;
        drop(embedding);
        Ok(code)
    }

    /// Creates a purpose and its first protection key.
    pub async fn create_purpose(
        &self,
        _admin: &Admin,
        purpose: Purpose,
        notice: Option<crate::NoticeDraft>,
    ) -> Result<Purpose, ServiceError> {
        // 1:N search is the widest use there is: with a risk group, it needs its quorum.
        if purpose.allows(Operation::Identify) && self.risk_group().await?.is_some() {
            return Err(ServiceError::QuorumRequired);
        }
        self.create_purpose_now(purpose, notice).await
    }

    /// Creates a purpose, approved or ungated.
    pub(crate) async fn create_purpose_now(
        &self,
        purpose: Purpose,
        notice: Option<crate::NoticeDraft>,
    ) -> Result<Purpose, ServiceError> {
        purpose.check()?;
        let notice = notice
            .unwrap_or_else(|| crate::NoticeDraft::from_purpose(purpose.description.as_str()));
        notice.check()?;
        let notice = notice.publish(&purpose, 1, self.now());
        let key = new_protection_key(self.keys.as_ref(), &purpose.id, 1).await?;
        let mut leaf = self.leaf("purpose.create", "admin");
        leaf.purpose = Some(purpose.id.clone());
        leaf.detail = vec![
            (
                "operations".into(),
                purpose
                    .operations
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("threshold".into(), purpose.threshold.get().to_string()),
            ("code_bits".into(), purpose.code_bits.bits().to_string()),
            (
                "retention_days".into(),
                purpose.retention.max_days_since_enrolment().to_string(),
            ),
        ];
        if let Some(max) = purpose.max_gallery_size {
            leaf.detail
                .push(("max_gallery_size".into(), max.to_string()));
        }
        leaf.detail.push(("notice_v1".into(), notice.hash.clone()));
        self.store
            .create_purpose(&purpose, &key, &notice, self.now(), &leaf)
            .await?;
        tracing::info!(purpose = %purpose.id, code_bits = purpose.code_bits.bits(), "purpose created");
        Ok(purpose)
    }

    /// Every purpose with its protection key version (public information).
    pub async fn purposes(&self) -> Result<Vec<StoredPurpose>, ServiceError> {
        Ok(self.store.purposes().await?)
    }

    /// Rotates a purpose's protection key: every code made under the old key stops matching
    /// (renewability) and the old key is destroyed; subjects must enrol again.
    pub async fn rotate_protection_key(
        &self,
        _admin: &Admin,
        purpose_id: &PurposeId,
    ) -> Result<KeyRotation, ServiceError> {
        let purpose = self.require_purpose(purpose_id).await?;
        let next = purpose.protection_version + 1;
        let key = new_protection_key(self.keys.as_ref(), purpose_id, next).await?;
        let version = self
            .store
            .rotate_protection_key(purpose_id, purpose.protection_version, &key, self.now(), &{
                let mut leaf = self.leaf("protection_key.rotate", "admin");
                leaf.purpose = Some(purpose_id.clone());
                leaf.decision = Some(format!("version {next}"));
                leaf
            })
            .await
            .map_err(|e| match e {
                StoreError::ProtectionKeyChanged => {
                    ServiceError::Conflict("a newer protection key")
                }
                e => e.into(),
            })?;
        self.protection.forget(purpose_id);
        self.galleries.drop_purpose(purpose_id);
        tracing::warn!(purpose = %purpose_id, version, "protection key rotated; earlier codes revoked");
        Ok(KeyRotation { version })
    }

    /// Creates a client with grants. Each grant must name an existing purpose that allows the
    /// operation.
    pub async fn create_client(
        &self,
        _admin: &Admin,
        name: ClientName,
        grants: BTreeSet<Grant>,
    ) -> Result<ClientCreated, ServiceError> {
        // A client that may search galleries needs the risk group's quorum, when there is one.
        if grants.iter().any(|g| g.operation == Operation::Identify)
            && self.risk_group().await?.is_some()
        {
            return Err(ServiceError::QuorumRequired);
        }
        self.create_client_now(name, grants).await
    }

    /// Creates a client, approved or ungated.
    pub(crate) async fn create_client_now(
        &self,
        name: ClientName,
        grants: BTreeSet<Grant>,
    ) -> Result<ClientCreated, ServiceError> {
        for g in &grants {
            let purpose = self.store.purpose(&g.purpose).await?.ok_or_else(|| {
                ValidationError::new("grants", "every grant must name an existing purpose")
            })?;
            if !purpose.purpose.allows(g.operation) {
                return Err(ValidationError::new(
                    "grants",
                    format!("purpose `{}` does not allow `{}`", g.purpose, g.operation),
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
            created_at: self.now(),
        };
        let mut leaf = self.leaf("client.create", "admin");
        leaf.detail = vec![
            ("client".into(), client.id.to_string()),
            (
                "grants".into(),
                client
                    .grants
                    .iter()
                    .map(|g| format!("{}:{}", g.purpose, g.operation))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        self.store.create_client(&client, &leaf).await?;
        tracing::info!(client = %client.id, grants = client.grants.len(), "client created");
        Ok(ClientCreated {
            id: client.id,
            api_key,
        })
    }

    /// Gives a client a new API key; the old one stops working at once. The new key is in
    /// the answer only.
    pub async fn rotate_client_key(
        &self,
        _admin: &Admin,
        client: &bioguard_core::ClientId,
    ) -> Result<ClientCreated, ServiceError> {
        let api_key = Zeroizing::new(bioguard_crypto::random_token("bgc_")?);
        let mut leaf = self.leaf("client.key_rotate", "admin");
        leaf.decision = Some("rotated".into());
        leaf.detail = vec![("client".into(), client.to_string())];
        if !self
            .store
            .replace_client_key(client, &self.secrets.token_digest(&api_key), &leaf)
            .await?
        {
            return Err(ServiceError::ClientNotFound);
        }
        tracing::info!(client = %client, "client API key rotated");
        Ok(ClientCreated {
            id: client.clone(),
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
    ) -> Result<(ConsentChange, String), ServiceError> {
        let stored = self.require_purpose(purpose).await?;
        client.require_any(purpose)?;
        // Consent is given to the notice the person is shown now, and to no other.
        let notices = self.notice_state(purpose).await?;
        let current = notices.current().map(|n| n.version).unwrap_or(0);
        match notices.get(notice_version.as_str()) {
            Some(n) if n.version == current => {}
            Some(_) => {
                return Err(ServiceError::NoticeOutdated(format!("v{current}")));
            }
            None => {
                return Err(ValidationError::new(
                    "notice_version",
                    format!("this purpose has no such notice; its current notice is v{current}"),
                )
                .into());
            }
        }
        let consent = NewConsent {
            id: ConsentId::from_random(random16()?),
            purpose: purpose.clone(),
            notice_version,
            method,
            client: client.record().id.clone(),
            at: self.now(),
        };
        let change = self
            .store
            .grant_consent(&self.secrets.pseudonym(subject), &consent, &{
                let mut leaf = self.leaf("consent.grant", client.actor());
                leaf.subject = Some(self.secrets.pseudonym(subject));
                leaf.purpose = Some(purpose.clone());
                leaf.decision = Some("granted".into());
                leaf.detail = vec![
                    ("consent".into(), consent.id.to_string()),
                    (
                        "notice_version".into(),
                        consent.notice_version.as_str().to_owned(),
                    ),
                    ("method".into(), consent.method.as_str().to_owned()),
                ];
                leaf
            })
            .await?;
        if change.created {
            tracing::info!(purpose = %purpose, client = %client.record().id, "consent recorded");
        }
        let receipt = self.consent_receipt(
            &self.secrets.pseudonym(subject),
            &stored,
            &change.record,
            notices.get(change.record.notice_version.as_str()),
        );
        Ok((change, receipt))
    }

    /// Withdraws consent; the template and its data key are destroyed in the same
    /// transaction, and the template leaves this node's galleries before the call returns.
    pub async fn withdraw_consent(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose: &PurposeId,
    ) -> Result<(WithdrawOutcome, String), ServiceError> {
        self.require_purpose(purpose).await?;
        client.require_any(purpose)?;
        self.withdraw_as(&self.secrets.pseudonym(subject), purpose, client.actor())
            .await
    }

    /// Withdraws a subject's consent on behalf of `actor` (a client, or the person through the
    /// portal), returning the outcome and the withdrawal's receipt.
    pub(crate) async fn withdraw_as(
        &self,
        pseudonym: &bioguard_core::Pseudonym,
        purpose: &PurposeId,
        actor: String,
    ) -> Result<(WithdrawOutcome, String), ServiceError> {
        let stored = self.require_purpose(purpose).await?;
        let out = self
            .store
            .withdraw_consent(pseudonym, purpose, self.now(), &{
                let mut leaf = self.leaf("consent.withdraw", actor.clone());
                leaf.subject = Some(pseudonym.clone());
                leaf.purpose = Some(purpose.clone());
                leaf.decision = Some("withdrawn".into());
                leaf
            })
            .await?
            .ok_or(ServiceError::ConsentNotFound)?;
        if let Some(id) = &out.template_id {
            self.galleries.remove(purpose, std::slice::from_ref(id));
        }
        tracing::info!(
            purpose = %purpose,
            actor = %actor,
            template_destroyed = out.template_destroyed,
            "consent withdrawn"
        );
        let notices = self.notice_state(purpose).await?;
        let receipt = self.consent_receipt(
            pseudonym,
            &stored,
            &out.consent,
            notices.get(out.consent.notice_version.as_str()),
        );
        Ok((out, receipt))
    }

    /// Enrols (or replaces) a subject's template for a purpose: the embedding becomes a
    /// protected code at once, and only the sealed code is stored.
    pub async fn enroll(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose_id: &PurposeId,
        values: Vec<f32>,
        galleries: Vec<GalleryName>,
    ) -> Result<Enrolment, ServiceError> {
        let purpose = self.require_purpose(purpose_id).await?;
        client.require(purpose_id, Operation::Enroll)?;
        let embedding = Embedding::parse(values, purpose.purpose.dimension)?;
        let mut galleries = galleries;
        galleries.sort();
        galleries.dedup();
        if !galleries.is_empty() && !purpose.purpose.allows(Operation::Identify) {
            return Err(ValidationError::new(
                "galleries",
                "this purpose does not allow identification, so templates join no gallery",
            )
            .into());
        }
        if galleries.len() > MAX_GALLERIES_PER_TEMPLATE {
            return Err(ValidationError::new(
                "galleries",
                format!("at most {MAX_GALLERIES_PER_TEMPLATE} galleries per template"),
            )
            .into());
        }
        let pseudonym = self.secrets.pseudonym(subject);
        // A cheap early refusal; the authoritative checks run inside the storing transaction.
        let material = self.store.verify_material(&pseudonym, purpose_id).await?;
        if material.locked {
            return Err(ServiceError::Locked);
        }
        if !material.consent_live {
            return Err(ServiceError::ConsentRequired);
        }
        if let Some(n) = &material.consent_notice
            && !crate::notices::allows_enrolment(material.notice_floor.as_ref(), n)
        {
            return Err(ServiceError::ReconsentRequired);
        }
        let code = self.protect(&purpose, embedding).await?;
        let subject_ref = (!galleries.is_empty()).then_some(subject);
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
            let sealing = Sealing {
                subject: &pseudonym,
                purpose: purpose_id,
                template: &template_id,
                data_key: &stored.id,
                protection_version: purpose.protection_version,
            };
            let sealed = seal_template(&key, &sealing, &code, subject_ref)?;
            let at = self.now();
            let template = NewTemplate {
                id: template_id.clone(),
                format: FORMAT_PROTECTED,
                sealed,
                protection_version: purpose.protection_version,
                galleries: galleries.clone(),
                max_gallery_size: purpose.purpose.max_gallery_size,
                at,
            };
            match self
                .store
                .put_template(&pseudonym, purpose_id, &stored, is_new, &template, &{
                    let mut leaf = self.leaf("enrol", client.actor());
                    leaf.subject = Some(pseudonym.clone());
                    leaf.purpose = Some(purpose_id.clone());
                    leaf.decision = Some("enrolled".into());
                    leaf.detail = vec![
                        ("template".into(), template_id.to_string()),
                        (
                            "protection_version".into(),
                            purpose.protection_version.to_string(),
                        ),
                        ("galleries".into(), galleries.len().to_string()),
                    ];
                    leaf
                })
                .await
            {
                Ok(out) => {
                    if let Some(old) = &out.replaced {
                        self.galleries.remove(purpose_id, std::slice::from_ref(old));
                    }
                    if !galleries.is_empty() {
                        self.galleries.insert(
                            purpose_id,
                            purpose.protection_version,
                            purpose.purpose.code_bits,
                            &pseudonym,
                            &template_id,
                            &galleries,
                            &code,
                        );
                        // A withdrawal or erasure that committed after our commit but removed
                        // from the galleries before our insert would leave a stale entry:
                        // look again and take it out.
                        if !self.store.template_exists(&template_id).await? {
                            self.galleries
                                .remove(purpose_id, std::slice::from_ref(&template_id));
                        }
                    }
                    tracing::info!(
                        purpose = %purpose_id,
                        client = %client.record().id,
                        replaced = out.replaced.is_some(),
                        galleries = galleries.len(),
                        "template enrolled"
                    );
                    return Ok(Enrolment {
                        replaced: out.replaced.is_some(),
                        enrolled_at: at,
                        galleries,
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

    /// Verifies a probe against a subject's template (1:1) by the Hamming distance of their
    /// protected codes, for the client holding `api_key` (authenticated here, in the same read
    /// as the rest: see `Store::verify_material_for`).
    pub async fn verify(
        &self,
        api_key: &str,
        subject: &SubjectRef,
        purpose_id: &PurposeId,
        values: Vec<f32>,
        capture: Option<&crate::Capture>,
    ) -> Result<Decision, ServiceError> {
        let Some(digest) = self.key_digest(api_key) else {
            return Err(self.failed().await);
        };
        // The client, purpose, notice floor, consent, lock and template in one read: the
        // checks below refuse in the same order as ever (authentication first), and a
        // verification costs one round trip before its ledger leaf.
        let pseudonym = self.secrets.pseudonym(subject);
        let mut material = self
            .store
            .verify_material_for(&pseudonym, purpose_id, Some((&digest, Operation::Verify)))
            .await?;
        let client = &self.admit(material.client.take()).await?;
        let purpose = material
            .purpose
            .take()
            .ok_or(ServiceError::PurposeNotFound)?;
        client.require(purpose_id, Operation::Verify)?;
        let risk = purpose.purpose.risk;
        self.check_capture(
            client,
            purpose_id,
            &risk,
            Some(&pseudonym),
            capture,
            &values,
        )
        .await?;
        self.check_lockout(&pseudonym, purpose_id)?;
        self.watch(client, &pseudonym).await?;
        let probe = Embedding::parse(values, purpose.purpose.dimension)?;
        if material.locked {
            return Err(ServiceError::Locked);
        }
        if !material.consent_live {
            return Err(ServiceError::ConsentRequired);
        }
        if let Some(n) = &material.consent_notice
            && !crate::notices::allows_use(material.notice_floor.as_ref(), n, self.now())
        {
            return Err(ServiceError::ReconsentRequired);
        }
        let consent = ConsentChecked::after_live_consent_read();
        let stored = material.template.ok_or(ServiceError::NotEnrolled)?;
        if stored.protection_version != purpose.protection_version {
            return Err(ServiceError::ReenrolmentRequired);
        }
        let stored_id = stored.id.clone();
        let probe = self.protect(&purpose, probe).await?;
        let bits = purpose.purpose.code_bits;
        let reference = match open_template(
            &consent,
            self.keys.as_ref(),
            &pseudonym,
            purpose_id,
            bits,
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
        let distance = Kernel::best().distance(probe.words(), reference.code.words());
        drop(reference);
        let max_distance = bits.max_distance(purpose.purpose.threshold.get());
        let matched = distance <= max_distance;
        // Scored before this attempt is counted, from the signals that led to it.
        let risk_score = self.score(
            &pseudonym,
            purpose_id,
            &risk,
            capture,
            distance,
            max_distance,
        );
        let decision = Decision {
            id: DecisionId::from_random(random16()?),
            matched,
            risk: risk_score,
            step_up: matched && risk_score.score > risk.step_up_score,
        };
        let mut leaf = self.leaf("verify", client.actor());
        leaf.subject = Some(pseudonym.clone());
        leaf.purpose = Some(purpose_id.clone());
        leaf.decision = Some(
            if decision.matched {
                "match"
            } else {
                "no_match"
            }
            .into(),
        );
        leaf.detail = vec![
            ("decision".into(), decision.id.to_string()),
            ("risk".into(), decision.risk.score.to_string()),
        ];
        if decision.step_up {
            leaf.detail.push(("step_up".into(), "required".into()));
        }
        if let Some(c) = capture {
            // The signals a dispute will need: which device, what liveness it reported.
            leaf.detail
                .push(("device".into(), c.device.chars().take(40).collect()));
            leaf.detail
                .push(("liveness".into(), c.liveness.to_string()));
        }
        self.store
            .record_verification(&stored_id, self.now(), &leaf)
            .await?;
        self.count_attempt(client, &pseudonym, purpose_id, &risk, decision.matched)
            .await?;
        if !decision.matched {
            // Near the threshold: closer than halfway between it and a random code.
            let max = bits.max_distance(purpose.purpose.threshold.get());
            let band = max + (bits.bits() as u32 / 2).saturating_sub(max) / 2;
            self.watch_failure(client, &pseudonym, purpose_id, distance, band)
                .await?;
        }
        tracing::info!(
            decision = %decision.id,
            purpose = %purpose_id,
            client = %client.record().id,
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

    /// Erases everything held about a subject, including from this node's galleries.
    pub async fn erase_subject(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<(EraseOutcome, String), ServiceError> {
        self.erase_as(&self.secrets.pseudonym(subject), client.actor())
            .await
    }

    /// Erases everything held about a subject on behalf of `actor`, returning the outcome
    /// and the signed deletion certificate.
    pub(crate) async fn erase_as(
        &self,
        pseudonym: &bioguard_core::Pseudonym,
        actor: String,
    ) -> Result<(EraseOutcome, String), ServiceError> {
        let at = self.now();
        let out = self
            .store
            .erase_subject(pseudonym, &{
                let mut leaf = self.leaf("subject.erase", actor.clone());
                leaf.subject = Some(pseudonym.clone());
                leaf.decision = Some("erased".into());
                leaf
            })
            .await?;
        for (purpose, id) in &out.template_ids {
            self.galleries.remove(purpose, std::slice::from_ref(id));
        }
        tracing::info!(
            actor = %actor,
            templates = out.templates,
            consents = out.consents,
            "subject erased"
        );
        let certificate = self.deletion_certificate(pseudonym, at, &out);
        Ok((out, certificate))
    }

    /// Locks (`lock`) or unlocks the use of a subject's biometrics for every purpose. While
    /// locked, verification and enrolment are refused and identification never returns the
    /// subject. Returns when the subject locked, if locked now.
    pub async fn set_lock(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        lock: bool,
    ) -> Result<Option<bioguard_core::Timestamp>, ServiceError> {
        self.set_lock_as(
            &self.secrets.pseudonym(subject),
            lock,
            &client.record().id,
            client.actor(),
        )
        .await
    }

    /// Locks or unlocks on behalf of `actor`; `client` is the relying party the lock is
    /// recorded under (for the portal, the one that issued the link).
    pub(crate) async fn set_lock_as(
        &self,
        pseudonym: &bioguard_core::Pseudonym,
        lock: bool,
        client: &bioguard_core::ClientId,
        actor: String,
    ) -> Result<Option<bioguard_core::Timestamp>, ServiceError> {
        let mut leaf = self.leaf(
            if lock {
                "subject.lock"
            } else {
                "subject.unlock"
            },
            actor.clone(),
        );
        leaf.subject = Some(pseudonym.clone());
        leaf.decision = Some(if lock { "locked" } else { "unlocked" }.into());
        let changed = self
            .store
            .set_lock(pseudonym, lock, client, self.now(), &leaf)
            .await?;
        tracing::info!(actor = %actor, lock, changed, "subject lock set");
        Ok(self.store.locked_at(pseudonym).await?)
    }
}
