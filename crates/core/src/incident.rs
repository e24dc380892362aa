//! Incidents: something went wrong (or a detector thinks so), and what was done about it, in
//! order. An incident is open until closed; every action on it is an event on its timeline.
//! When an action affects people (a purpose's protection key revoked), each of them is owed a
//! notification by a deadline.

use crate::{ClientId, DeviceId, IncidentId, Pseudonym, PurposeId, Timestamp, ValidationError};

/// Who opened an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// The operator (admin token).
    Admin,
    /// The service's own abuse detector.
    Detector,
}

impl Opener {
    /// The text form stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Opener::Admin => "admin",
            Opener::Detector => "detector",
        }
    }

    /// Reads [`Opener::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Opener::Admin),
            "detector" => Some(Opener::Detector),
            _ => None,
        }
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEvent {
    /// When.
    pub at: Timestamp,
    /// What was done (`opened`, an [`IncidentAction`]'s name).
    pub action: String,
    /// What it concerned, in words.
    pub detail: String,
}

/// An incident and its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Its id.
    pub id: IncidentId,
    /// What kind (`abuse.enumeration`, `operator`, ...).
    pub kind: String,
    /// What happened, in words.
    pub summary: String,
    /// Who opened it.
    pub opened_by: Opener,
    /// When.
    pub opened_at: Timestamp,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// The timeline, in order.
    pub events: Vec<IncidentEvent>,
}

impl Incident {
    /// Whether actions may still be taken on it.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// The longest note or summary, in bytes.
pub const MAX_NOTE_BYTES: usize = 2000;

/// An action on an open incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentAction {
    /// Suspend a client: its keys stop working until reinstated.
    SuspendClient(ClientId),
    /// Lift a client's suspension.
    ReinstateClient(ClientId),
    /// Revoke a capture device: its signatures are refused from now on.
    RevokeDevice(DeviceId),
    /// Revoke a purpose's protection key version: every template under it stops matching, and
    /// its subjects are owed a notification.
    RevokePurposeKey(PurposeId),
    /// Record that the owed notifications were sent.
    NotificationsSent,
    /// A note on the timeline.
    Note(String),
    /// Close the incident, with an optional note.
    Close(Option<String>),
}

impl IncidentAction {
    /// Parses an action from its name and the fields a request may carry.
    pub fn parse(
        action: &str,
        client: Option<&str>,
        purpose: Option<&str>,
        device: Option<&str>,
        note: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let client = client.map(ClientId::parse).transpose()?;
        let required =
            |field: &'static str| ValidationError::new(field, "required for this action");
        Ok(match action {
            "suspend_client" => Self::SuspendClient(client.ok_or_else(|| required("client"))?),
            "reinstate_client" => Self::ReinstateClient(client.ok_or_else(|| required("client"))?),
            "revoke_purpose_key" => Self::RevokePurposeKey(
                PurposeId::parse(purpose.ok_or_else(|| required("purpose"))?)
                    .map_err(|e| ValidationError::new("purpose", e.rule()))?,
            ),
            "revoke_device" => Self::RevokeDevice(
                device
                    .and_then(|d| DeviceId::parse(d).ok())
                    .ok_or_else(|| ValidationError::new("device", "the device id to revoke"))?,
            ),
            "notifications_sent" => Self::NotificationsSent,
            "note" => Self::Note(
                note.filter(|n| !n.trim().is_empty() && n.len() <= MAX_NOTE_BYTES)
                    .ok_or_else(|| ValidationError::new("note", "1 to 2000 characters"))?
                    .to_owned(),
            ),
            "close" => Self::Close(note.map(str::to_owned)),
            _ => {
                return Err(ValidationError::new(
                    "action",
                    "suspend_client, reinstate_client, revoke_device, revoke_purpose_key, \
                     notifications_sent, note or close",
                ));
            }
        })
    }

    /// The action's name, as on the timeline.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SuspendClient(_) => "suspend_client",
            Self::ReinstateClient(_) => "reinstate_client",
            Self::RevokeDevice(_) => "revoke_device",
            Self::RevokePurposeKey(_) => "revoke_purpose_key",
            Self::NotificationsSent => "notifications_sent",
            Self::Note(_) => "note",
            Self::Close(_) => "close",
        }
    }
}

/// A notification an incident owes one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Whom.
    pub subject: Pseudonym,
    /// About which purpose.
    pub purpose: PurposeId,
    /// By when.
    pub deadline: Timestamp,
    /// When it was sent, if it was.
    pub sent_at: Option<Timestamp>,
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    /// Sent by its deadline.
    OnTime,
    /// Sent after its deadline, or not sent and past it.
    Late,
    /// Not sent, still within its deadline.
    Pending,
}

impl Notification {
    /// Where it stands at `now`.
    pub fn state(&self, now: Timestamp) -> NotificationState {
        match self.sent_at {
            Some(t) if t <= self.deadline => NotificationState::OnTime,
            Some(_) => NotificationState::Late,
            None if now > self.deadline => NotificationState::Late,
            None => NotificationState::Pending,
        }
    }
}

/// How many notifications are on time, late and pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    /// Sent by their deadline.
    pub on_time: u64,
    /// Sent after their deadline, or not sent and past it.
    pub late: u64,
    /// Not sent, still within their deadline.
    pub pending: u64,
}

impl NotificationCounts {
    /// Counts one notification in its state.
    pub fn add(&mut self, state: NotificationState) {
        match state {
            NotificationState::OnTime => self.on_time += 1,
            NotificationState::Late => self.late += 1,
            NotificationState::Pending => self.pending += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_with_what_they_need() {
        let c = ClientId::from_random([1; 16]);
        assert_eq!(
            IncidentAction::parse("suspend_client", Some(c.as_str()), None, None, None),
            Ok(IncidentAction::SuspendClient(c.clone()))
        );
        let missing = IncidentAction::parse("suspend_client", None, None, None, None);
        assert_eq!(missing.map_err(|e| e.field()), Err("client"));
        assert_eq!(
            IncidentAction::parse("revoke_device", None, None, Some("dev_x"), None)
                .map_err(|e| e.field()),
            Err("device")
        );
        assert_eq!(
            IncidentAction::parse("note", None, None, None, Some("  ")).map_err(|e| e.field()),
            Err("note")
        );
        assert_eq!(
            IncidentAction::parse("close", None, None, None, None),
            Ok(IncidentAction::Close(None))
        );
        assert_eq!(
            IncidentAction::parse("explode", None, None, None, None).map_err(|e| e.field()),
            Err("action")
        );
        let p = IncidentAction::parse("revoke_purpose_key", None, Some("pay"), None, None);
        assert_eq!(p.map(|a| a.name()), Ok("revoke_purpose_key"));
    }

    #[test]
    fn notifications_are_on_time_late_or_pending() {
        let n = |deadline: i64, sent: Option<i64>| Notification {
            subject: Pseudonym::from_digest([1; 32]),
            purpose: PurposeId::parse("pay").expect("valid"),
            deadline: Timestamp::from_unix(deadline),
            sent_at: sent.map(Timestamp::from_unix),
        };
        let now = Timestamp::from_unix(100);
        assert_eq!(n(100, Some(100)).state(now), NotificationState::OnTime);
        assert_eq!(n(100, Some(101)).state(now), NotificationState::Late);
        assert_eq!(n(99, None).state(now), NotificationState::Late);
        assert_eq!(n(100, None).state(now), NotificationState::Pending);
        let mut counts = NotificationCounts::default();
        for s in [
            NotificationState::OnTime,
            NotificationState::Late,
            NotificationState::Late,
        ] {
            counts.add(s);
        }
        assert_eq!((counts.on_time, counts.late, counts.pending), (1, 2, 0));
    }
}
