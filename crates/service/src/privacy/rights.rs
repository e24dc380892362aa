//! The person's rights over what is held: to see it (summary, report, history), to stop its
//! use (lock), and to have it erased (with a signed certificate of what was destroyed).

use std::collections::BTreeSet;

use bioguard_core::{
    ClientId, LedgerEntry, LockStep, Locker, Pseudonym, Retention, SubjectRef, SubjectRight,
    SubjectSummary, TemplateInfo, Timestamp, retention_deadline, rfc3339,
};
use serde::Serialize;

use crate::abuse::auth::AuthenticatedClient;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::documents::{Destroyed, Jwks};

/// What an erasure destroyed, with its certificate.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// Templates deleted.
    pub templates: u64,
    /// Data keys destroyed.
    pub data_keys: u64,
    /// Consent records deleted.
    pub consents: u64,
    /// The audit leaf that records the erasure.
    pub ledger_index: u64,
    /// The signed deletion certificate for the person to keep.
    pub certificate: String,
}

/// Everything held about one subject and every use of it, as the person downloads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubjectReport {
    /// What this document is.
    pub report: &'static str,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The name receipts and certificates give the subject: derived from the subject's
    /// ledger key, it appears in no public leaf.
    pub principal: String,
    /// Since when the subject has locked the use of their biometrics, if they have.
    pub locked_since: Option<String>,
    /// The purposes anything is held for.
    pub purposes: Vec<ReportPurpose>,
    /// Consent records, live and ended, each with its signed receipt.
    pub consents: Vec<ReportConsent>,
    /// Templates held, with their deletion deadlines.
    pub templates: Vec<ReportTemplate>,
    /// The changes and uses recorded about the subject, with ledger indexes: every one, or
    /// the newest 1000 when there are more (see `history_complete`).
    pub history: Vec<ReportUse>,
    /// Whether `history` holds every entry; when not, the older ones are read a page at a time
    /// with `GET /v1/subjects/{subject}/history?after=&limit=`.
    pub history_complete: bool,
    /// The keys that check the receipts and the ledger.
    pub verify_with: VerifyWith,
    /// How to exercise the rights.
    pub rights: Rights,
}

/// A purpose in a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportPurpose {
    /// Its id.
    pub id: String,
    /// Who is responsible for it: its tenant, by name.
    pub controller: String,
    /// What it is for.
    pub description: String,
    /// What may be done.
    pub operations: Vec<&'static str>,
    /// How long templates are kept.
    pub retention: ReportRetention,
    /// Its current notice.
    pub current_notice: Option<ReportNotice>,
}

/// A retention rule in a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportRetention {
    /// Days after enrolment.
    pub max_days_since_enrolment: u32,
    /// Days after the last use, if limited.
    pub max_days_since_last_use: Option<u32>,
}

impl ReportRetention {
    fn of(r: &Retention) -> Self {
        Self {
            max_days_since_enrolment: r.max_days_since_enrolment(),
            max_days_since_last_use: r.max_days_since_last_use(),
        }
    }
}

/// A notice version in a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportNotice {
    /// `vN`.
    pub version: String,
    /// Its SHA-256.
    pub hash: String,
}

/// A consent record in a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportConsent {
    /// The record's id.
    pub id: String,
    /// The purpose.
    pub purpose: String,
    /// The notice version shown.
    pub notice_version: String,
    /// How consent was collected.
    pub method: String,
    /// The client that recorded it.
    pub recorded_by: String,
    /// When it was given.
    pub given_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Why it ended.
    pub end_reason: Option<&'static str>,
    /// Its signed receipt.
    pub receipt: String,
}

/// A template in a report (never its bytes).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportTemplate {
    /// The purpose.
    pub purpose: String,
    /// When it was enrolled.
    pub enrolled_at: String,
    /// When it was last used.
    pub last_used_at: Option<String>,
    /// What is held.
    pub held: &'static str,
    /// When the retention schedule deletes it.
    pub deleted_by: String,
}

/// One entry of the history in a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportUse {
    /// The leaf's index, for an inclusion proof.
    pub ledger_index: u64,
    /// The leaf's tag for the subject (absent when the leaf names them among the subjects
    /// an identification returned).
    pub tag: Option<String>,
    /// When.
    pub time: String,
    /// What happened.
    pub operation: String,
    /// For which purpose.
    pub purpose: Option<String>,
    /// The outcome.
    pub decision: Option<String>,
    /// Who did it.
    pub by: String,
}

/// The keys that check a report's documents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyWith {
    /// The keys that check receipts and certificates.
    pub receipt_keys: Jwks,
    /// The subject's ledger key, which recognises their tags in the public ledger.
    pub subject_ledger_key: LedgerKeyInfo,
    /// The audit log's identity and key.
    pub audit_log: AuditLogKey,
}

/// A subject's ledger key and how to use it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerKeyInfo {
    /// The key, base64url without padding. Keep it private: whoever holds it can pick out
    /// every leaf about the subject.
    pub key: String,
    /// How a tag is checked with it.
    pub tags: &'static str,
}

/// The audit log's identity and verifier key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditLogKey {
    /// Its origin line.
    pub origin: String,
    /// Its C2SP verifier key.
    pub verifier_key: String,
}

/// How a subject's rights are exercised through the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rights {
    /// Withdraw a consent.
    pub withdraw: &'static str,
    /// Erase everything.
    pub erase: &'static str,
    /// Lock every use.
    pub lock: &'static str,
}

/// What a report says is held for one template: its times and when the schedule deletes it.
fn report_template(t: &TemplateInfo, retention: &Retention) -> ReportTemplate {
    let (_, deadline) = retention_deadline(retention, t.enrolled_at, t.last_used_at);
    ReportTemplate {
        purpose: t.purpose.to_string(),
        enrolled_at: rfc3339(t.enrolled_at),
        last_used_at: t.last_used_at.map(rfc3339),
        held: "a protected binary code sealed under this subject's own data key; no image or embedding",
        deleted_by: rfc3339(deadline),
    }
}

impl Service {
    /// Checks the client may read what is held about a subject of its tenant and records
    /// that it looked (who looked at whom is itself a use); returns the subject's pseudonym.
    pub(crate) async fn read_subject(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        what: &'static str,
    ) -> Result<Pseudonym, ServiceError> {
        client.require_right(SubjectRight::Read)?;
        let pseudonym = self.secrets.pseudonym(client.tenant(), subject);
        let key = self.known_subject_key(&pseudonym).await?;
        let mut leaf = self.leaf("subject.read", client.actor());
        leaf.subject = Some(self.leaf_subject(&pseudonym, &key)?);
        leaf.decision = Some(what.into());
        self.db.ledger.append_audit(&leaf).await?;
        Ok(pseudonym)
    }

    /// What is held about a subject: consents and enrolment times, never template bytes.
    /// Needs the client's `read` right; the read is recorded.
    pub async fn subject_summary(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<SubjectSummary, ServiceError> {
        let pseudonym = self.read_subject(client, subject, "summary").await?;
        Ok(self.db.consents.subject_summary(&pseudonym).await?)
    }

    /// Erases everything held about a subject, including from this node's galleries. Needs
    /// the client's `erase` right.
    pub async fn erase_subject(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<Erasure, ServiceError> {
        client.require_right(SubjectRight::Erase)?;
        self.erase_as(
            &self.secrets.pseudonym(client.tenant(), subject),
            client.actor(),
        )
        .await
    }

    /// Erases everything held about a subject on behalf of `actor`, with the signed deletion
    /// certificate.
    pub(crate) async fn erase_as(
        &self,
        pseudonym: &Pseudonym,
        actor: String,
    ) -> Result<Erasure, ServiceError> {
        let at = self.now();
        // The key is read before the erasure destroys it: the erasure's own leaf is tagged,
        // and the certificate names the principal the person's receipts name.
        let key = self.known_subject_key(pseudonym).await?;
        let mut leaf = self.leaf("subject.erase", actor.clone());
        leaf.subject = Some(self.leaf_subject(pseudonym, &key)?);
        leaf.decision = Some("erased".into());
        // Told before the change destroys what names the subject.
        // Each client is told that the person is erased, not which other purposes (of other
        // clients) they had.
        let serving = self.serving_clients(pseudonym, None).await?;
        leaf.outbox = self
            .owe(
                "subject.erased",
                &serving,
                Some(pseudonym),
                serde_json::json!({ "by": crate::privacy::consent::by_whom(&actor) }),
            )
            .await?;
        let out = self.db.consents.erase_subject(pseudonym, &leaf).await?;
        for (purpose, id) in &out.template_ids {
            self.galleries.remove(purpose, std::slice::from_ref(id));
        }
        let templates = out.template_ids.len() as u64;
        tracing::info!(
            actor = %actor,
            templates,
            consents = out.consents,
            "subject erased"
        );
        let purposes: BTreeSet<&str> = out.template_ids.iter().map(|(p, _)| p.as_str()).collect();
        let purposes: Vec<&str> = purposes.into_iter().collect();
        let certificate = self.deletion_certificate(
            &key.principal(),
            at,
            Destroyed {
                templates,
                data_keys: out.data_keys,
                consents: out.consents,
                purposes: &purposes,
                ledger_index: out.leaf_index,
            },
        );
        Ok(Erasure {
            templates,
            data_keys: out.data_keys,
            consents: out.consents,
            ledger_index: out.leaf_index,
            certificate,
        })
    }

    /// Locks (`lock`) or unlocks the use of a subject's biometrics for every purpose. While
    /// locked, verification and enrolment are refused and identification never returns the
    /// subject. Returns when the subject locked, if locked now. Needs the client's `lock`
    /// right; a client lifts only a lock it set, never one the person set.
    pub async fn set_lock(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        lock: bool,
    ) -> Result<Option<Timestamp>, ServiceError> {
        client.require_right(SubjectRight::Lock)?;
        let id = &client.record().id;
        self.set_lock_as(
            &self.secrets.pseudonym(client.tenant(), subject),
            lock,
            &Locker::Client(id.clone()),
            id,
            client.actor(),
        )
        .await
    }

    /// Locks or unlocks on behalf of `by` (recorded as `actor`); `client` is the relying
    /// party a new lock is recorded under (for the portal, the one that issued the link).
    pub(crate) async fn set_lock_as(
        &self,
        pseudonym: &Pseudonym,
        lock: bool,
        by: &Locker,
        client: &ClientId,
        actor: String,
    ) -> Result<Option<Timestamp>, ServiceError> {
        let mut leaf = self.leaf(
            if lock {
                "subject.lock"
            } else {
                "subject.unlock"
            },
            actor.clone(),
        );
        let key = self.known_subject_key(pseudonym).await?;
        leaf.subject = Some(self.leaf_subject(pseudonym, &key)?);
        leaf.decision = Some(if lock { "locked" } else { "unlocked" }.into());
        if *by == Locker::Person {
            leaf.detail = vec![("by".into(), "subject".into())];
        }
        let serving = self.serving_clients(pseudonym, None).await?;
        leaf.outbox = self
            .owe(
                if lock {
                    "subject.locked"
                } else {
                    "subject.unlocked"
                },
                &serving,
                Some(pseudonym),
                serde_json::json!({
                    "by": if *by == Locker::Person { "person" } else { "client" },
                }),
            )
            .await?;
        let step = self
            .db
            .consents
            .set_lock(pseudonym, lock, by, client, self.now(), &leaf)
            .await?;
        if let LockStep::Refuse(why) = step {
            return Err(ServiceError::LockHeld(why));
        }
        tracing::info!(actor = %actor, lock, changed = step != LockStep::Unchanged, "subject lock set");
        Ok(self.db.consents.locked_at(pseudonym).await?)
    }

    /// Everything held about a subject, and every use of it, as one document the person can
    /// download: purposes, consent records with their receipts, templates with their
    /// retention deadlines, the lock, and the access history with ledger indexes (each
    /// provable with `GET /v1/audit/proof/inclusion`).
    /// Needs the client's `read` right; the read is recorded.
    pub async fn subject_report(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<SubjectReport, ServiceError> {
        let pseudonym = self.read_subject(client, subject, "report").await?;
        self.report_of(&pseudonym).await
    }

    /// The report of [`Service::subject_report`] for a pseudonym.
    pub(crate) async fn report_of(
        &self,
        pseudonym: &Pseudonym,
    ) -> Result<SubjectReport, ServiceError> {
        let history = self
            .db
            .ledger
            .subject_history_latest(pseudonym, crate::supervision::audit::REPORT_HISTORY + 1)
            .await?;
        self.report_with_history(pseudonym, &history).await
    }

    /// The report of [`Service::report_of`] around a history already read.
    pub(crate) async fn report_with_history(
        &self,
        pseudonym: &Pseudonym,
        history: &[LedgerEntry],
    ) -> Result<SubjectReport, ServiceError> {
        let summary = self.db.consents.subject_summary(pseudonym).await?;
        let key = self.known_subject_key(pseudonym).await?;
        let principal = key.principal();
        let controllers = self.tenant_names().await?;
        let mut purposes = Vec::new();
        let mut consents = Vec::new();
        let mut templates = Vec::new();
        for id in summary.purposes() {
            let Some(stored) = self.db.purposes.purpose(id).await? else {
                continue;
            };
            let p = &stored.purpose;
            let notices = self.notice_state(id).await?;
            purposes.push(ReportPurpose {
                id: id.to_string(),
                controller: controllers
                    .get(&id.tenant())
                    .cloned()
                    .unwrap_or_else(|| id.tenant().to_string()),
                description: p.description.as_str().to_owned(),
                operations: p.operations.iter().map(|o| o.as_str()).collect(),
                retention: ReportRetention::of(&p.retention),
                current_notice: notices.current().map(|n| ReportNotice {
                    version: n.name(),
                    hash: n.hash.clone(),
                }),
            });
            for c in summary.consents.iter().filter(|c| &c.purpose == id) {
                consents.push(ReportConsent {
                    id: c.id.to_string(),
                    purpose: id.to_string(),
                    notice_version: c.notice_version.as_str().to_owned(),
                    method: c.method.as_str().to_owned(),
                    recorded_by: c.client.to_string(),
                    given_at: rfc3339(c.granted_at),
                    ended_at: c.ended_at().map(rfc3339),
                    end_reason: c.end_reason().map(|r| r.as_str()),
                    receipt: self.consent_receipt(
                        &principal,
                        &stored,
                        c,
                        notices.get(c.notice_version.as_str()),
                    ),
                });
            }
            for t in summary.templates.iter().filter(|t| &t.purpose == id) {
                templates.push(report_template(t, &p.retention));
            }
        }
        let cap = crate::supervision::audit::REPORT_HISTORY as usize;
        let history_complete = history.len() <= cap;
        let history = history[history.len().saturating_sub(cap)..]
            .iter()
            .filter_map(|e| {
                let leaf = bioguard_ledger::Leaf::decode(&e.leaf)?;
                Some(ReportUse {
                    ledger_index: e.index,
                    tag: leaf
                        .subject
                        .clone()
                        .filter(|t| t.starts_with(crate::supervision::tags::TAG_PREFIX)),
                    time: rfc3339(Timestamp::from_unix(leaf.time)),
                    operation: leaf.op,
                    purpose: leaf.purpose,
                    decision: leaf.decision,
                    by: leaf.actor,
                })
            })
            .collect();
        let (origin, log_key) = self.audit_key();
        Ok(SubjectReport {
            report: "everything bioguard holds about one subject, and every use of it",
            generated_at: rfc3339(self.now()),
            principal,
            locked_since: summary.locked_at.map(rfc3339),
            purposes,
            consents,
            templates,
            history,
            history_complete,
            verify_with: VerifyWith {
                receipt_keys: self.document_keys(),
                subject_ledger_key: LedgerKeyInfo {
                    key: key.expose_b64(),
                    tags: "a tag is `t1.` and base64url (no padding) of 32 bytes: a 16-byte \
                           nonce, then the first 16 bytes of HMAC-SHA-256 under this key of \
                           `bioguard/leaf-tag/v1`, a zero byte and the nonce. A leaf is about \
                           this subject when its `subject`, or one tag of its `returned` \
                           detail, checks",
                },
                audit_log: AuditLogKey {
                    origin,
                    verifier_key: log_key.to_string(),
                },
            },
            rights: Rights {
                withdraw: "DELETE /v1/subjects/{subject}/consents/{purpose}",
                erase: "DELETE /v1/subjects/{subject}",
                lock: "POST /v1/subjects/{subject}/lock",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::PurposeId;

    use super::*;

    #[test]
    fn a_report_shows_when_each_template_is_deleted() {
        let day = |d: i64| Timestamp::from_unix(d * 86_400);
        let t = TemplateInfo {
            purpose: PurposeId::parse("pay").expect("valid"),
            enrolled_at: day(0),
            last_used_at: Some(day(200)),
        };
        let r = report_template(&t, &Retention::new(365, Some(90)).expect("valid"));
        assert_eq!(r.deleted_by, rfc3339(day(290)));
        let r = report_template(&t, &Retention::new(100, None).expect("valid"));
        assert_eq!(r.deleted_by, rfc3339(day(100)));
        assert_eq!(r.last_used_at, Some(rfc3339(day(200))));
    }
}
