//! Signed documents the person keeps: consent receipts (on grant and withdrawal) and deletion
//! certificates (on erasure), compact JWS signed with the service's document key, whose
//! public half is published as a JSON Web Key Set (`GET /v1/keys`).
//!
//! A receipt carries the fields of a consent record in the sense of ISO/IEC TS 27560: record
//! id and schema version, principal (the subject's pseudonym: the receipt names no one), the
//! notice, language, purpose, data types, controller, storage location, retention,
//! jurisdiction, recipients, withdrawal method, and the event's time, type and state.

use bioguard_core::{Pseudonym, Timestamp};
use bioguard_store::{ConsentRecord, StoredPurpose};
use serde_json::{Map, Value, json};

use crate::Service;

/// The `typ` of a consent receipt.
pub const RECEIPT_TYPE: &str = "bioguard-consent-receipt+jwt";
/// The `typ` of a deletion certificate.
pub const CERTIFICATE_TYPE: &str = "bioguard-deletion-certificate+jwt";

/// What is collected under every purpose: the protected template only, never an image.
const DATA_TYPES: &str = "biometric template: a protected binary code derived from an \
                          embedding; no image, audio or raw embedding is kept";

fn rfc3339(t: Timestamp) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unix().max(0) as u64),
    )
    .to_string()
}

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
    ) -> String {
        let p = &purpose.purpose;
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
            "notice": {"version": record.notice_version.as_str()},
            "purpose": {"id": p.id.as_str(), "description": p.description.as_str()},
            "data_types": [DATA_TYPES],
            "controller": self.controller(),
            "storage_location": "the operator's bioguard database, encrypted under per-subject data keys",
            "retention": {
                "max_days_since_enrolment": p.retention.max_days_since_enrolment(),
                "max_days_since_last_use": p.retention.max_days_since_last_use(),
            },
            "jurisdiction": "as stated in the notice",
            "recipients": [],
            "withdrawal_method": "ask the relying party, which calls DELETE /v1/subjects/{subject}/consents/{purpose}; it takes effect before the call answers",
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
