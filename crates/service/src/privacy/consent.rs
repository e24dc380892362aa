//! Consent: given per purpose, to the notice the person is shown now, withdrawn at any time
//! (and then the template and its key are destroyed before the call returns), and checked
//! before any template is opened.
//!
//! The proof type [`ConsentChecked`] is made only here, by the checks that read a live
//! consent in the same statement as the template; opening a template requires it, and it
//! names the subject and purpose it was checked for.

use bioguard_core::{
    ConsentId, ConsentMethod, ConsentRecord, NewConsent, NoticeVersion, Operation, Pseudonym,
    PurposeId, PurposeName, SubjectRef, Timestamp, ValidationError,
};
use bioguard_store::{ConsentEvidence, IndexRecord, LeafDraft};

use crate::abuse::auth::AuthenticatedClient;
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::notices::{NoticeState, allows_enrolment, allows_use};

/// Proof that a live consent of one subject for one purpose was read, in the same read as
/// the template about to be opened, and that nothing stops its use. Only this module makes
/// it; [`crate::security::templates::open_template`] requires it.
pub(crate) struct ConsentChecked {
    subject: Pseudonym,
    purpose: PurposeId,
}

/// Why a subject's consent does not allow a use now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsentRefusal {
    /// The subject locked the use of their biometrics.
    Locked,
    /// No live consent.
    Missing,
    /// The consent predates the purpose's latest material notice and its grace has passed.
    Reconsent,
}

impl From<ConsentRefusal> for ServiceError {
    fn from(r: ConsentRefusal) -> Self {
        match r {
            ConsentRefusal::Locked => ServiceError::Locked,
            ConsentRefusal::Missing => ServiceError::ConsentRequired,
            ConsentRefusal::Reconsent => ServiceError::ReconsentRequired,
        }
    }
}

impl ConsentChecked {
    /// Checks a use (a verification, an identification candidate) at `now`: not locked, a
    /// live consent, and one given under a notice that still allows use.
    pub(crate) fn for_use(
        subject: &Pseudonym,
        purpose: &PurposeId,
        evidence: &ConsentEvidence,
        now: Timestamp,
    ) -> Result<Self, ConsentRefusal> {
        if evidence.locked {
            return Err(ConsentRefusal::Locked);
        }
        if !evidence.live {
            return Err(ConsentRefusal::Missing);
        }
        if let Some(n) = &evidence.notice
            && !allows_use(evidence.floor.as_ref(), n, now)
        {
            return Err(ConsentRefusal::Reconsent);
        }
        Ok(Self {
            subject: subject.clone(),
            purpose: purpose.clone(),
        })
    }

    /// For a template the gallery index listed: the index lists only templates whose
    /// subject has a live consent (and every candidate found among them is checked again
    /// with [`ConsentChecked::for_use`] before it is returned).
    pub(crate) fn listed(purpose: &PurposeId, record: &IndexRecord) -> Self {
        Self {
            subject: record.subject.clone(),
            purpose: purpose.clone(),
        }
    }

    /// The subject it was checked for.
    pub(crate) fn subject(&self) -> &Pseudonym {
        &self.subject
    }

    /// The purpose it was checked for.
    pub(crate) fn purpose(&self) -> &PurposeId {
        &self.purpose
    }
}

/// Whether enrolment may go ahead: not locked, a live consent, given under the purpose's
/// latest material notice or a later one.
pub(crate) fn check_for_enrolment(evidence: &ConsentEvidence) -> Result<(), ServiceError> {
    if evidence.locked {
        return Err(ServiceError::Locked);
    }
    if !evidence.live {
        return Err(ServiceError::ConsentRequired);
    }
    if let Some(n) = &evidence.notice
        && !allows_enrolment(evidence.floor.as_ref(), n)
    {
        return Err(ServiceError::ReconsentRequired);
    }
    Ok(())
}

/// Consent is given to the notice the person is shown now, and to no other.
pub(crate) fn check_notice_for_consent(
    notices: &NoticeState,
    requested: &NoticeVersion,
) -> Result<(), ServiceError> {
    let current = notices.current().map(|n| n.version).unwrap_or(0);
    match notices.get(requested.as_str()) {
        Some(n) if n.version == current => Ok(()),
        Some(_) => Err(ServiceError::NoticeOutdated(format!("v{current}"))),
        None => Err(ValidationError::new(
            "notice_version",
            format!("this purpose has no such notice; its current notice is v{current}"),
        )
        .into()),
    }
}

/// A consent recorded.
#[derive(Debug, Clone)]
pub struct ConsentGiven {
    /// The live consent.
    pub record: ConsentRecord,
    /// Whether a new record was written (false: the same consent was already live).
    pub created: bool,
    /// The signed receipt for the person to keep.
    pub receipt: String,
}

/// A consent withdrawn.
#[derive(Debug, Clone)]
pub struct Withdrawal {
    /// The consent as it is now (ended).
    pub consent: ConsentRecord,
    /// Whether a template was deleted (and its data key destroyed) in the same transaction.
    pub template_destroyed: bool,
    /// The signed receipt of the withdrawal.
    pub receipt: String,
}

impl Service {
    /// Records a subject's consent to a purpose of the client's tenant. Needs the client's
    /// enrol grant on the purpose.
    pub async fn grant_consent(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose: &PurposeName,
        notice_version: NoticeVersion,
        method: ConsentMethod,
    ) -> Result<ConsentGiven, ServiceError> {
        let purpose = &client.purpose(purpose);
        let stored = self.require_purpose(purpose).await?;
        client.authorize(purpose, Operation::Enroll)?;
        if stored.retired_at.is_some() {
            return Err(ServiceError::PurposeRetired);
        }
        let notices = self.notice_state(purpose).await?;
        check_notice_for_consent(&notices, &notice_version)?;
        let consent = NewConsent {
            id: ConsentId::from_random(random16()?),
            purpose: purpose.clone(),
            notice_version,
            method,
            client: client.record().id.clone(),
            at: self.now(),
        };
        let pseudonym = self.secrets.pseudonym(client.tenant(), subject);
        let key = self.subject_key(&pseudonym).await?;
        let mut leaf = self.leaf("consent.grant", client.actor());
        leaf.subject = Some(self.leaf_subject(&pseudonym, &key)?);
        leaf.purpose = Some(purpose.clone());
        leaf.decision = Some("granted".into());
        // No consent id: it would be shared with the withdrawal's leaf.
        leaf.detail = vec![
            (
                "notice_version".into(),
                consent.notice_version.as_str().to_owned(),
            ),
            ("method".into(), consent.method.as_str().to_owned()),
        ];
        let change = self
            .db
            .consents
            .grant_consent(&pseudonym, &consent, &leaf)
            .await?;
        if change.created {
            tracing::info!(purpose = %purpose, client = %client.record().id, "consent recorded");
        }
        self.remember_ref(&pseudonym, &key, subject, &client.record().id)
            .await?;
        let receipt = self.consent_receipt(
            &key.principal(),
            &stored,
            &change.record,
            notices.get(change.record.notice_version.as_str()),
        );
        Ok(ConsentGiven {
            record: change.record,
            created: change.created,
            receipt,
        })
    }

    /// Withdraws consent; the template and its data key are destroyed in the same
    /// transaction, and the template leaves this node's galleries before the call returns.
    /// Needs the client's enrol grant on the purpose (the person can always withdraw in the
    /// portal).
    pub async fn withdraw_consent(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose: &PurposeName,
    ) -> Result<Withdrawal, ServiceError> {
        let purpose = &client.purpose(purpose);
        self.require_purpose(purpose).await?;
        client.authorize(purpose, Operation::Enroll)?;
        self.withdraw_as(
            &self.secrets.pseudonym(client.tenant(), subject),
            purpose,
            client.actor(),
        )
        .await
    }

    /// Withdraws a subject's consent on behalf of `actor` (a client, or the person through the
    /// portal), returning the outcome and the withdrawal's receipt.
    pub(crate) async fn withdraw_as(
        &self,
        pseudonym: &Pseudonym,
        purpose: &PurposeId,
        actor: String,
    ) -> Result<Withdrawal, ServiceError> {
        let stored = self.require_purpose(purpose).await?;
        // A subject without a ledger key has never consented to anything.
        let key = self
            .existing_subject_key(pseudonym)
            .await?
            .ok_or(ServiceError::ConsentNotFound)?;
        let mut leaf: LeafDraft = self.leaf("consent.withdraw", actor.clone());
        leaf.subject = Some(self.leaf_subject(pseudonym, &key)?);
        leaf.purpose = Some(purpose.clone());
        leaf.decision = Some("withdrawn".into());
        let serving = self.serving_clients(pseudonym, Some(purpose)).await?;
        leaf.outbox = self
            .owe(
                "consent.withdrawn",
                &serving,
                Some(pseudonym),
                serde_json::json!({ "purpose": purpose.name(), "by": by_whom(&actor) }),
            )
            .await?;
        let out = self
            .db
            .consents
            .withdraw_consent(pseudonym, purpose, self.now(), &leaf)
            .await?
            .ok_or(ServiceError::ConsentNotFound)?;
        if let Some(id) = &out.template_id {
            self.galleries.remove(purpose, std::slice::from_ref(id));
        }
        tracing::info!(
            purpose = %purpose,
            actor = %actor,
            template_destroyed = out.template_id.is_some(),
            "consent withdrawn"
        );
        let notices = self.notice_state(purpose).await?;
        let receipt = self.consent_receipt(
            &key.principal(),
            &stored,
            &out.consent,
            notices.get(out.consent.notice_version.as_str()),
        );
        Ok(Withdrawal {
            template_destroyed: out.template_id.is_some(),
            consent: out.consent,
            receipt,
        })
    }
}

/// Who made a change, as a webhook payload says it: `person` (in their portal) or `client`.
pub(crate) fn by_whom(actor: &str) -> &'static str {
    if actor.starts_with("subject:") {
        "person"
    } else if actor.starts_with("client:") {
        "client"
    } else {
        "operator"
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::{Notice, NoticeFloor};

    use super::*;

    fn evidence(live: bool, notice: Option<&str>, floor: Option<NoticeFloor>) -> ConsentEvidence {
        ConsentEvidence {
            live,
            notice: notice.map(str::to_owned),
            floor,
            locked: false,
        }
    }

    fn floor(version: u32, days: Option<u32>) -> NoticeFloor {
        NoticeFloor {
            version,
            published_at: Timestamp::from_unix(1_000_000),
            reconsent_days: days,
        }
    }

    fn ids() -> (Pseudonym, PurposeId) {
        (
            Pseudonym::from_digest([7; 32]),
            PurposeId::parse("pay").expect("valid"),
        )
    }

    #[test]
    fn webhooks_say_who_acted_in_a_word() {
        assert_eq!(by_whom("subject:portal (link from client:cl_1)"), "person");
        assert_eq!(by_whom("client:cl_1"), "client");
        assert_eq!(by_whom("admin"), "operator");
        assert_eq!(by_whom("system:retention"), "operator");
    }

    #[test]
    fn a_use_needs_a_live_unlocked_consent() {
        let (s, p) = ids();
        let now = Timestamp::from_unix(2_000_000);
        let ok = ConsentChecked::for_use(&s, &p, &evidence(true, Some("v1"), None), now)
            .expect("allowed");
        assert_eq!((ok.subject(), ok.purpose()), (&s, &p));
        assert_eq!(
            ConsentChecked::for_use(&s, &p, &evidence(false, None, None), now).err(),
            Some(ConsentRefusal::Missing)
        );
        let locked = ConsentEvidence {
            locked: true,
            ..evidence(true, Some("v1"), None)
        };
        // A lock wins over everything else, so a locked subject is never told apart.
        assert_eq!(
            ConsentChecked::for_use(&s, &p, &locked, now).err(),
            Some(ConsentRefusal::Locked)
        );
    }

    #[test]
    fn an_older_consent_is_used_only_within_its_grace() {
        let (s, p) = ids();
        let e = evidence(true, Some("v1"), Some(floor(2, Some(30))));
        let inside = Timestamp::from_unix(1_000_000 + 29 * 86_400);
        let after = Timestamp::from_unix(1_000_000 + 30 * 86_400);
        assert!(ConsentChecked::for_use(&s, &p, &e, inside).is_ok());
        assert_eq!(
            ConsentChecked::for_use(&s, &p, &e, after).err(),
            Some(ConsentRefusal::Reconsent)
        );
        let until_reconsent = evidence(true, Some("v1"), Some(floor(2, None)));
        assert!(ConsentChecked::for_use(&s, &p, &until_reconsent, after).is_ok());
        let current = evidence(true, Some("v2"), Some(floor(2, Some(30))));
        assert!(ConsentChecked::for_use(&s, &p, &current, after).is_ok());
    }

    #[test]
    fn enrolment_needs_consent_to_the_latest_material_notice() {
        assert!(check_for_enrolment(&evidence(true, Some("v2"), Some(floor(2, Some(30))))).is_ok());
        assert!(matches!(
            check_for_enrolment(&evidence(true, Some("v1"), Some(floor(2, Some(30))))),
            Err(ServiceError::ReconsentRequired)
        ));
        assert!(matches!(
            check_for_enrolment(&evidence(false, None, None)),
            Err(ServiceError::ConsentRequired)
        ));
    }

    #[test]
    fn consent_is_given_to_the_current_notice_only() {
        let notice = |version| Notice {
            version,
            body: "{}".into(),
            hash: String::new(),
            material: true,
            reconsent_days: None,
            published_at: Timestamp::from_unix(0),
        };
        let state = NoticeState {
            notices: vec![notice(1), notice(2)],
        };
        let v = |s| NoticeVersion::parse(s).expect("valid");
        assert!(check_notice_for_consent(&state, &v("v2")).is_ok());
        assert!(matches!(
            check_notice_for_consent(&state, &v("v1")),
            Err(ServiceError::NoticeOutdated(current)) if current == "v2"
        ));
        assert!(matches!(
            check_notice_for_consent(&state, &v("v9")),
            Err(ServiceError::Invalid(e)) if e.field() == "notice_version"
        ));
    }
}
