//! Signed documents the person keeps: consent receipts (on grant and withdrawal) and deletion
//! certificates (on erasure), compact JWS signed with the service's document key, whose
//! public half is published as a JSON Web Key Set (`GET /v1/keys`).
//!
//! A receipt carries the fields of a consent record in the sense of ISO/IEC TS 27560: record
//! id and schema version, principal (derived from the subject's ledger key: the receipt names
//! no one, and its principal appears in no public leaf), the
//! notice, language, purpose, data types, controller, storage location, retention,
//! jurisdiction, recipients, withdrawal method, and the event's time, type and state.

use bioguard_core::{
    ConsentRecord, ConsentState, EndReason, Notice, PurposeRecord, Timestamp, rfc3339,
};
use bioguard_ledger::Jwk;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::facade::Service;
use crate::privacy::notices::{DATA_TYPES, notice_json};

pub use bioguard_ledger::{CERTIFICATE_TYPE, RECEIPT_TYPE};

/// Who is responsible for the processing, as receipts state it when the notice does not.
const CONTROLLER: &str = "the operator of this bioguard service (named in the purpose's notice)";

/// A JSON Web Key Set: the keys that check receipts and certificates.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The keys (RFC 7517 JSON Web Keys: Ed25519 as `OKP`).
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Jwk>,
}

/// What a certificate says an erasure destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Destroyed<'a> {
    pub(crate) templates: u64,
    pub(crate) data_keys: u64,
    pub(crate) consents: u64,
    pub(crate) purposes: &'a [&'a str],
    pub(crate) ledger_index: u64,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The event a receipt records: its type, the record's state, and when.
fn receipt_event(record: &ConsentRecord) -> (&'static str, &'static str, Timestamp) {
    match record.state {
        ConsentState::Ended { at, reason } => (
            match reason {
                EndReason::Withdrawn => "withdrawn",
                EndReason::Superseded => "superseded",
            },
            "ended",
            at,
        ),
        ConsentState::Live => ("given", "active", record.granted_at),
    }
}

impl Service {
    /// The public keys that check receipts and certificates, as a JSON Web Key Set.
    pub fn document_keys(&self) -> Jwks {
        Jwks {
            keys: vec![self.secrets.document_key().verifier().jwk()],
        }
    }

    /// A signed receipt for a consent record's current state (given, or withdrawn).
    pub(crate) fn consent_receipt(
        &self,
        principal: &str,
        purpose: &PurposeRecord,
        record: &ConsentRecord,
        notice: Option<&Notice>,
    ) -> String {
        let p = &purpose.purpose;
        // The notice's own statements, as published (the hash binds the receipt to its text).
        let body = notice.map(notice_json).unwrap_or(Value::Null);
        let said = |k: &str, default: Value| body.get(k).cloned().unwrap_or(default);
        let (event_type, state, time) = receipt_event(record);
        let payload = json!({
            "schema": "bioguard consent record v1 (ISO/IEC TS 27560 fields)",
            "schema_version": "1",
            "record_id": record.id.as_str(),
            "principal": principal,
            "notice": {
                "version": record.notice_version.as_str(),
                "hash": notice.map(|n| n.hash.as_str()),
                "published_at": notice.map(|n| rfc3339(n.published_at)),
            },
            "language": said("language", json!("en")),
            "purpose": {"id": p.id.as_str(), "description": p.description.as_str(),
                "tenant": p.id.tenant().as_str()},
            "data_types": [DATA_TYPES],
            "controller": said("controller", json!(CONTROLLER)),
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
        principal: &str,
        at: Timestamp,
        d: Destroyed<'_>,
    ) -> String {
        let payload = json!({
            "schema": "bioguard deletion certificate v1",
            "principal": principal,
            "erased_at": rfc3339(at),
            "destroyed": {
                "templates": d.templates,
                "data_keys": d.data_keys,
                "consent_records": d.consents,
                "template_purposes": d.purposes,
            },
            "method": "rows deleted in one transaction; each template's data key destroyed with it (crypto-shredding)",
            "ledger_index": d.ledger_index,
            "issuer": self.secrets.origin(),
        });
        self.secrets
            .document_key()
            .sign(CERTIFICATE_TYPE, &object(payload))
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::{ClientId, ConsentId, ConsentMethod, NoticeVersion, PurposeId};

    use super::*;

    #[test]
    fn a_receipt_records_the_event_its_record_is_at() {
        let record = ConsentRecord {
            id: ConsentId::from_random([1; 16]),
            purpose: PurposeId::parse("pay").expect("valid"),
            notice_version: NoticeVersion::parse("v1").expect("valid"),
            method: ConsentMethod::parse("app").expect("valid"),
            client: ClientId::from_random([2; 16]),
            granted_at: Timestamp::from_unix(10),
            state: ConsentState::Live,
        };
        assert_eq!(
            receipt_event(&record),
            ("given", "active", Timestamp::from_unix(10))
        );
        let ended = record
            .clone()
            .withdrawn(Timestamp::from_unix(20))
            .expect("live");
        assert_eq!(
            receipt_event(&ended),
            ("withdrawn", "ended", Timestamp::from_unix(20))
        );
        let superseded = record.superseded(Timestamp::from_unix(30)).expect("live");
        assert_eq!(receipt_event(&superseded).0, "superseded");
    }
}
