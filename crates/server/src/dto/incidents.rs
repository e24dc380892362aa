//! Bodies of incidents.

use bioguard_core::{Incident, rfc3339};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An incident to open.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentRequest {
    /// What kind (default `operator`).
    #[serde(default)]
    pub kind: Option<String>,
    /// What happened.
    pub summary: String,
}

/// An action on an incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentActionRequest {
    /// What to do.
    #[schema(value_type = crate::dto::enums::IncidentActionKind)]
    pub action: String,
    /// The client, for suspend and reinstate.
    #[serde(default)]
    pub client: Option<String>,
    /// The purpose, for `revoke_purpose_key`.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The device, for `revoke_device`.
    #[serde(default)]
    pub device: Option<String>,
    /// A note, for `note` and `close`.
    #[serde(default)]
    pub note: Option<String>,
}

/// An incident and its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentBody {
    /// Its id.
    pub id: String,
    /// What kind.
    pub kind: String,
    /// What happened.
    pub summary: String,
    /// `detector` or `admin`.
    #[schema(value_type = crate::dto::enums::IncidentOpener)]
    pub opened_by: String,
    /// When (RFC 3339).
    pub opened_at: String,
    /// When it was closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// The timeline: `{"at","action","detail"}`, in order.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<serde_json::Value>,
    /// Notifications owed to affected subjects: counts `on_time`, `late`, `pending`, and
    /// `items` (`subject`: the principal the person's receipts and report name them by, null
    /// once erased; `purpose`, `deadline`, `sent_at`).
    #[schema(value_type = Object)]
    pub notifications: serde_json::Value,
}

impl IncidentBody {
    /// With the incident's notifications.
    pub fn with_notifications(mut self, n: &bioguard_service::Notifications) -> Self {
        self.notifications = serde_json::json!({
            "on_time": n.counts.on_time, "late": n.counts.late, "pending": n.counts.pending,
            "items": n.items.iter().zip(&n.principals).map(|(i, p)| serde_json::json!({
                "subject": p, "purpose": i.purpose.as_str(),
                "deadline": rfc3339(i.deadline), "sent_at": i.sent_at.map(rfc3339)}))
                .collect::<Vec<_>>(),
        });
        self
    }
}

impl From<&Incident> for IncidentBody {
    fn from(i: &Incident) -> Self {
        Self {
            id: i.id.to_string(),
            kind: i.kind.clone(),
            summary: i.summary.clone(),
            opened_by: i.opened_by.as_str().to_owned(),
            opened_at: rfc3339(i.opened_at),
            closed_at: i.closed_at.map(rfc3339),
            timeline: i
                .events
                .iter()
                .map(|e| {
                    serde_json::json!({"at": rfc3339(e.at), "action": e.action, "detail": e.detail})
                })
                .collect(),
            notifications: serde_json::json!({"on_time": 0, "late": 0, "pending": 0, "items": []}),
        }
    }
}
