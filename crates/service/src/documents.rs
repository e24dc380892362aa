//! Signed documents the person keeps: consent receipts (on grant and withdrawal) and deletion
//! certificates (on erasure), compact JWS signed with the service's document key, whose
//! public half is published as a JSON Web Key Set (`GET /v1/keys`).
//!
//! A receipt carries the fields of a consent record in the sense of ISO/IEC TS 27560: record
//! id and schema version, principal (the subject's pseudonym: the receipt names no one), the
//! notice, language, purpose, data types, controller, storage location, retention,
//! jurisdiction, recipients, withdrawal method, and the event's time, type and state.

use bioguard_core::{Pseudonym, Timestamp, rfc3339};
use bioguard_store::{ConsentRecord, StoredPurpose};
use serde_json::{Map, Value, json};

use crate::Service;

/// The `typ` of a consent receipt.
pub const RECEIPT_TYPE: &str = "bioguard-consent-receipt+jwt";
/// The `typ` of a deletion certificate.
pub const CERTIFICATE_TYPE: &str = "bioguard-deletion-certificate+jwt";

/// What is collected under every purpose: the protected template only, never an image.
pub(crate) const DATA_TYPES: &str = "biometric template: a protected binary code derived from an \
                          embedding; no image, audio or raw embedding is kept";

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Service {
    /// The public keys that check receipts and certificates, as a JSON Web Key Set.
    pub fn document_keys(&self) -> Value {
        json!({"keys": [self.secrets.document_key().verifier().to_jwk()]})
    }

    /// A signed receipt for a consent record's current state (given, or withdrawn).
    pub(crate) fn consent_receipt(
        &self,
        subject: &Pseudonym,
        purpose: &StoredPurpose,
        record: &ConsentRecord,
        notice: Option<&bioguard_store::StoredNotice>,
    ) -> String {
        let p = &purpose.purpose;
        // The notice's own statements, as published (the hash binds the receipt to its text).
        let body = notice.map(crate::notice_json).unwrap_or(Value::Null);
        let said = |k: &str, default: Value| body.get(k).cloned().unwrap_or(default);
        let (event_type, state, time) = match (record.ended_at, record.end_reason) {
            (Some(at), Some(reason)) => (
                match reason {
                    bioguard_store::EndReason::Withdrawn => "withdrawn",
                    bioguard_store::EndReason::Superseded => "superseded",
                },
                "ended",
                at,
            ),
            (Some(at), None) => ("ended", "ended", at),
            (None, _) => ("given", "active", record.granted_at),
        };
        let payload = json!({
            "schema": "bioguard consent record v1 (ISO/IEC TS 27560 fields)",
            "schema_version": "1",
            "record_id": record.id.as_str(),
            "principal": subject.as_str(),
            "notice": {
                "version": record.notice_version.as_str(),
                "hash": notice.map(|n| n.hash.as_str()),
                "published_at": notice.map(|n| rfc3339(n.published_at)),
            },
            "language": said("language", json!("en")),
            "purpose": {"id": p.id.as_str(), "description": p.description.as_str()},
            "data_types": [DATA_TYPES],
            "controller": said("controller", json!(self.controller())),
            "storage_location": "the operator's bioguard database, encrypted under per-subject data keys",
            "retention": {
                "max_days_since_enrolment": p.retention.max_days_since_enrolment(),
                "max_days_since_last_use": p.retention.max_days_since_last_use(),
            },
            "jurisdiction": said("jurisdiction", json!("as stated in the notice")),
            "recipients": said("recipients", json!([])),
            "withdrawal_method": said("withdrawal_method", json!("ask the relying party; withdrawal takes effect before its call answers")),
            "method": record.method.as_str(),
            "recorded_by": record.client.as_str(),
            "given_at": rfc3339(record.granted_at),
            "event": {"time": rfc3339(time), "type": event_type, "state": state},
            "issuer": self.secrets.origin(),
        });
        self.secrets
            .document_key()
            .sign(RECEIPT_TYPE, &object(payload))
    }

    /// A signed certificate of what an erasure destroyed.
    pub(crate) fn deletion_certificate(
        &self,
        subject: &Pseudonym,
        at: Timestamp,
        out: &bioguard_store::EraseOutcome,
    ) -> String {
        let purposes: std::collections::BTreeSet<&str> =
            out.template_ids.iter().map(|(p, _)| p.as_str()).collect();
        let payload = json!({
            "schema": "bioguard deletion certificate v1",
            "principal": subject.as_str(),
            "erased_at": rfc3339(at),
            "destroyed": {
                "templates": out.templates,
                "data_keys": out.data_keys,
                "consent_records": out.consents,
                "template_purposes": purposes,
            },
            "method": "rows deleted in one transaction; each template's data key destroyed with it (crypto-shredding)",
            "ledger_index": out.leaf_index,
            "issuer": self.secrets.origin(),
        });
        self.secrets
            .document_key()
            .sign(CERTIFICATE_TYPE, &object(payload))
    }

    /// Who is responsible for the processing, as receipts state it.
    fn controller(&self) -> &str {
        "the operator of this bioguard service (named in the purpose's notice)"
    }
}

impl Service {
    /// Everything held about a subject, and every use of it, as one JSON document the person
    /// can download: purposes, consent records with their receipts, templates with their
    /// retention deadlines, the lock, and the access history with ledger indexes (each
    /// provable with `GET /v1/audit/proof/inclusion`).
    pub async fn subject_report(
        &self,
        _client: &crate::AuthenticatedClient,
        subject: &bioguard_core::SubjectRef,
    ) -> Result<Value, crate::ServiceError> {
        self.report_of(&self.secrets.pseudonym(subject)).await
    }

    /// The report of [`Service::subject_report`] for a pseudonym.
    pub(crate) async fn report_of(
        &self,
        pseudonym: &Pseudonym,
    ) -> Result<Value, crate::ServiceError> {
        let history = self.store.subject_history(pseudonym).await?;
        self.report_with_history(pseudonym, &history).await
    }

    /// The report of [`Service::report_of`] around a history already read.
    pub(crate) async fn report_with_history(
        &self,
        pseudonym: &Pseudonym,
        history: &[(u64, Vec<u8>)],
    ) -> Result<Value, crate::ServiceError> {
        let pseudonym = pseudonym.clone();
        let summary = self.store.subject_summary(&pseudonym).await?;
        let purposes: std::collections::BTreeSet<&bioguard_core::PurposeId> = summary
            .consents
            .iter()
            .map(|c| &c.purpose)
            .chain(summary.templates.iter().map(|t| &t.purpose))
            .collect();
        let mut purpose_docs = Vec::new();
        let mut consents = Vec::new();
        let mut templates = Vec::new();
        for id in purposes {
            let Some(stored) = self.store.purpose(id).await? else {
                continue;
            };
            let p = &stored.purpose;
            let notices = self.notice_state(id).await?;
            purpose_docs.push(json!({
                "id": id.as_str(), "description": p.description.as_str(),
                "operations": p.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                "retention": {
                    "max_days_since_enrolment": p.retention.max_days_since_enrolment(),
                    "max_days_since_last_use": p.retention.max_days_since_last_use(),
                },
                "current_notice": notices.current().map(|n| json!({
                    "version": format!("v{}", n.version), "hash": n.hash})),
            }));
            for c in summary.consents.iter().filter(|c| &c.purpose == id) {
                consents.push(json!({
                    "id": c.id.as_str(), "purpose": id.as_str(),
                    "notice_version": c.notice_version.as_str(),
                    "method": c.method.as_str(), "recorded_by": c.client.as_str(),
                    "given_at": rfc3339(c.granted_at),
                    "ended_at": c.ended_at.map(rfc3339),
                    "end_reason": c.end_reason.map(|r| r.as_str()),
                    "receipt": self.consent_receipt(&pseudonym, &stored, c,
                        notices.get(c.notice_version.as_str())),
                }));
            }
            for t in summary.templates.iter().filter(|t| &t.purpose == id) {
                let by_age = t.enrolled_at.unix()
                    + i64::from(p.retention.max_days_since_enrolment()) * 86_400;
                let by_use = p.retention.max_days_since_last_use().map(|d| {
                    t.last_used_at.unwrap_or(t.enrolled_at).unix() + i64::from(d) * 86_400
                });
                let deadline = by_use.map_or(by_age, |u| u.min(by_age));
                templates.push(json!({
                    "purpose": id.as_str(), "enrolled_at": rfc3339(t.enrolled_at),
                    "last_used_at": t.last_used_at.map(rfc3339),
                    "held": "a protected binary code sealed under this subject's own data key; no image or embedding",
                    "deleted_by": rfc3339(Timestamp::from_unix(deadline)),
                }));
            }
        }
        let uses: Vec<Value> = history
            .iter()
            .filter_map(|(index, bytes)| {
                let leaf = bioguard_ledger::Leaf::decode(bytes)?;
                Some(json!({
                    "ledger_index": index, "time": rfc3339(Timestamp::from_unix(leaf.time)),
                    "operation": leaf.op, "purpose": leaf.purpose, "decision": leaf.decision,
                    "by": leaf.actor,
                }))
            })
            .collect();
        let (origin, log_key) = self.audit_key();
        Ok(json!({
            "report": "everything bioguard holds about one subject, and every use of it",
            "generated_at": rfc3339(self.now()),
            "principal": pseudonym.as_str(),
            "locked_since": summary.locked_at.map(rfc3339),
            "purposes": purpose_docs,
            "consents": consents,
            "templates": templates,
            "history": uses,
            "verify_with": {
                "receipt_keys": self.document_keys(),
                "audit_log": {"origin": origin, "verifier_key": log_key.to_string()},
            },
            "rights": {
                "withdraw": "DELETE /v1/subjects/{subject}/consents/{purpose}",
                "erase": "DELETE /v1/subjects/{subject}",
                "lock": "POST /v1/subjects/{subject}/lock",
            },
        }))
    }
}
