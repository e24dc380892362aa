//! The closed sets of values the API's bodies carry, as the OpenAPI document names them.
//!
//! Bodies keep plain strings (requests are parsed, and refused with a 422 naming the field,
//! by the domain types in `bioguard-core`); these types only give each field its `enum` in the
//! document, so that generated clients get typed values. Schemathesis checks every response
//! against them, and `enums_match_the_domain` below checks them against the domain's parsers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An operation a purpose allows and a grant permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Store a template.
    Enroll,
    /// 1:1: does this probe match this subject?
    Verify,
    /// 1:N: who in this gallery matches this probe?
    Identify,
}

/// Whether a client may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    /// Its key works.
    Active,
    /// Stopped by an incident action; every call is refused with `client_suspended`.
    Suspended,
}

/// What a client may do to a subject as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectRight {
    /// Read the summary, report and history.
    Read,
    /// Erase everything held.
    Erase,
    /// Lock and unlock the use of the subject's biometrics.
    Lock,
    /// Issue portal links.
    Portal,
}

/// A decision's risk band from its signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    /// No signal of concern.
    Low,
    /// Some signals of concern.
    Medium,
    /// Strong signals of concern.
    High,
}

/// A flag that is present only when something is required of the relying party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Required {
    /// The relying party must act (offer the alternative, ask for a second factor).
    Required,
}

/// Where a consent record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// Live.
    Granted,
    /// Withdrawn by the person (or for them).
    Withdrawn,
    /// Replaced by a consent to a newer notice.
    Superseded,
}

/// Where a risk-group proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Collecting approvals.
    Open,
    /// Quorum reached; being applied.
    Applying,
    /// Applied.
    Applied,
    /// Quorum reached but applying it failed.
    Failed,
}

/// A purpose's fairness gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FairnessStatus {
    /// No report accepted.
    None,
    /// A report passed the gate.
    Passed,
    /// A risk-group quorum set the gate aside.
    Override,
}

/// An action on an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentActionKind {
    /// Stop a client (`client`).
    SuspendClient,
    /// Let a suspended client work again (`client`).
    ReinstateClient,
    /// Revoke a capture device (`device`).
    RevokeDevice,
    /// Propose rotating a purpose's protection key (`purpose`; a risk-group proposal).
    RevokePurposeKey,
    /// Record that the notifications owed to affected people were sent.
    NotificationsSent,
    /// Add a note (`note`).
    Note,
    /// Close the incident (optional `note`).
    Close,
}

/// Who opened an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentOpener {
    /// The abuse detector.
    Detector,
    /// The operator.
    Admin,
}

/// Where a compensation claim stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Waiting for a reviewer.
    Filed,
    /// Approved and paid from the reserve.
    Paid,
    /// Denied.
    Denied,
}

/// The form of a public document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON (the default).
    Json,
    /// An HTML page for people.
    Html,
}

/// The database behind the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseKind {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// An event a webhook endpoint receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum WebhookEvent {
    /// The person (in their portal) or a client withdrew consent for a purpose; the template
    /// is destroyed.
    #[serde(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    /// The use of the person's biometrics was locked.
    #[serde(rename = "subject.locked")]
    SubjectLocked,
    /// The lock was lifted.
    #[serde(rename = "subject.unlocked")]
    SubjectUnlocked,
    /// Everything held about the person was erased.
    #[serde(rename = "subject.erased")]
    SubjectErased,
    /// The retention schedule deleted a template.
    #[serde(rename = "retention.deleted")]
    RetentionDeleted,
    /// An incident owes the person a notification.
    #[serde(rename = "incident.notification_owed")]
    IncidentNotificationOwed,
    /// A compensation claim was decided.
    #[serde(rename = "claim.decided")]
    ClaimDecided,
}

/// Where a webhook message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; an attempt is due.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the last retry (replay sends it again).
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bioguard_core as core;

    fn names<T: Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .expect("serialise")
                    .as_str()
                    .expect("a string")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn enums_match_the_domain() {
        let ops = names(&[Operation::Enroll, Operation::Verify, Operation::Identify]);
        assert_eq!(ops, core::Operation::ALL.map(|o| o.as_str()));
        let rights = names(&[
            SubjectRight::Read,
            SubjectRight::Erase,
            SubjectRight::Lock,
            SubjectRight::Portal,
        ]);
        assert_eq!(rights, core::SubjectRight::ALL.map(|r| r.as_str()));
        for c in names(&[ClaimStatus::Filed, ClaimStatus::Paid, ClaimStatus::Denied]) {
            assert_eq!(
                core::ClaimStatus::parse(&c).map(|s| s.as_str()),
                Some(c.as_str())
            );
        }
        let proposals = [
            ProposalStatus::Open,
            ProposalStatus::Applying,
            ProposalStatus::Applied,
            ProposalStatus::Failed,
        ];
        for p in names(&proposals) {
            assert_eq!(
                core::ProposalStatus::parse(&p).map(|s| s.as_str()),
                Some(p.as_str())
            );
        }
        for o in names(&[IncidentOpener::Detector, IncidentOpener::Admin]) {
            assert_eq!(
                core::Opener::parse(&o).map(|s| s.as_str()),
                Some(o.as_str())
            );
        }
        let bands = [
            core::RiskBand::Low,
            core::RiskBand::Medium,
            core::RiskBand::High,
        ];
        assert_eq!(
            names(&[RiskBand::Low, RiskBand::Medium, RiskBand::High]),
            bands.map(|b| b.as_str())
        );
        let actions = [
            IncidentActionKind::SuspendClient,
            IncidentActionKind::ReinstateClient,
            IncidentActionKind::RevokeDevice,
            IncidentActionKind::RevokePurposeKey,
            IncidentActionKind::NotificationsSent,
            IncidentActionKind::Note,
            IncidentActionKind::Close,
        ];
        for a in names(&actions) {
            let client = core::ClientId::from_random([1; 16]);
            let device = core::DeviceId::from_random([2; 16]);
            let parsed = core::IncidentAction::parse(
                &a,
                Some(client.as_str()),
                Some("pay"),
                Some(device.as_str()),
                Some("a note"),
            );
            assert_eq!(parsed.map(|p| p.name()).ok(), Some(a.as_str()), "{a}");
        }
        let events = [
            WebhookEvent::ConsentWithdrawn,
            WebhookEvent::SubjectLocked,
            WebhookEvent::SubjectUnlocked,
            WebhookEvent::SubjectErased,
            WebhookEvent::RetentionDeleted,
            WebhookEvent::IncidentNotificationOwed,
            WebhookEvent::ClaimDecided,
        ];
        assert_eq!(names(&events), bioguard_service::WEBHOOK_EVENTS);
    }
}
