//! Incidents and abuse detection: an incident has a timeline of actions (suspending a client,
//! revoking a device or a purpose's protection key, notes, closing); the detector opens one by
//! itself when a client's verifications sweep through many distinct subjects (enumeration) or
//! climb towards a match (hill-climbing), and suspends that client at once. Revoking a
//! protection key owes every affected subject a notification within 72 hours.

use bioguard_core::{
    ClientId, Incident, IncidentAction, IncidentEvent, IncidentId, MAX_NOTE_BYTES, Notification,
    NotificationCounts, Opener, Pseudonym, PurposeId, Timestamp, ValidationError,
};

use crate::abuse::auth::{Admin, AuthenticatedClient};
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;

/// How long the operator has to notify affected subjects, by default: 72 hours.
pub const NOTIFY_WITHIN_SECS: i64 = 72 * 3600;

/// The notifications an incident owes, and their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications {
    /// Each owed notification.
    pub items: Vec<Notification>,
    /// For each item, the principal the subject's receipts and report name them by (how the
    /// relying party tells whom to notify); `None` once the subject was erased.
    pub principals: Vec<Option<String>>,
    /// How many are on time, late and pending.
    pub counts: NotificationCounts,
}

/// Counts notifications by their state at `now`.
pub(crate) fn count(items: &[Notification], now: Timestamp) -> NotificationCounts {
    let mut counts = NotificationCounts::default();
    for n in items {
        counts.add(n.state(now));
    }
    counts
}

/// Checks an operator's incident kind and summary.
pub(crate) fn check_report(kind: &str, summary: &str) -> Result<(), ValidationError> {
    let ok = |s: &str, max: usize| {
        !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
    };
    if !ok(kind, 64) || !ok(summary, MAX_NOTE_BYTES) {
        return Err(ValidationError::new(
            "summary",
            "kind 1-64 and summary 1-2000 characters, no control characters",
        ));
    }
    Ok(())
}

/// The incident the detector opens when it suspends a client: opened and suspension, both
/// now.
pub(crate) fn detector_incident(
    id: IncidentId,
    client: &ClientId,
    kind: &str,
    what: &str,
    now: Timestamp,
) -> Incident {
    Incident {
        id,
        kind: kind.into(),
        summary: format!("client {client}: {what}"),
        opened_by: Opener::Detector,
        opened_at: now,
        closed_at: None,
        events: vec![
            IncidentEvent {
                at: now,
                action: "opened".into(),
                detail: what.into(),
            },
            IncidentEvent {
                at: now,
                action: "suspend_client".into(),
                detail: client.to_string(),
            },
        ],
    }
}

impl Service {
    /// Suspends a client automatically when its verifications cover more than `limit`
    /// distinct subjects within a minute on this node (0: off, the default).
    pub fn with_enumeration_limit(self, limit: u32) -> Self {
        self.detector.set(limit);
        self
    }

    /// Suspends a client whose last `probes` failed verifications of one subject each came
    /// strictly closer to the threshold, within ten minutes (0: off, the default).
    pub fn with_hill_climbing_detection(self, probes: u32) -> Self {
        self.detector
            .climb_probes
            .store(probes, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Watches a failed verification's distance: a hill-climbing series suspends the client
    /// and opens an incident. `band` is the largest distance counted as near the threshold.
    pub(crate) async fn watch_failure(
        &self,
        client: &AuthenticatedClient,
        subject: &Pseudonym,
        purpose: &PurposeId,
        distance: u32,
        band: u32,
    ) -> Result<(), ServiceError> {
        let id = &client.record().id;
        let key = (id.clone(), subject.clone(), purpose.clone());
        if !self.detector.climb(key, self.now().unix(), distance, band) {
            return Ok(());
        }
        self.suspend_for(
            client,
            "abuse.hill_climbing",
            "a client's failed probes of one subject came steadily closer to the threshold",
        )
        .await
    }

    /// Counts a verified subject towards the client's pattern; on an enumeration burst the
    /// client is suspended and an incident opened, and this call answers `ClientSuspended`.
    pub(crate) async fn watch(
        &self,
        client: &AuthenticatedClient,
        subject: &Pseudonym,
    ) -> Result<(), ServiceError> {
        let id = &client.record().id;
        if !self.detector.note(id, subject, self.now().unix()) {
            return Ok(());
        }
        self.suspend_for(
            client,
            "abuse.enumeration",
            "verified more distinct subjects within a minute than allowed",
        )
        .await
    }

    /// Suspends a client and opens the incident the detector found; answers
    /// `ClientSuspended`.
    async fn suspend_for(
        &self,
        client: &AuthenticatedClient,
        kind: &str,
        what: &str,
    ) -> Result<(), ServiceError> {
        let id = &client.record().id;
        let now = self.now();
        let incident = detector_incident(IncidentId::from_random(random16()?), id, kind, what, now);
        let mut leaf = self.leaf("incident.open", "detector");
        leaf.decision = Some(kind.into());
        leaf.detail = vec![
            ("incident".into(), incident.id.to_string()),
            ("client".into(), id.to_string()),
        ];
        self.db.incidents.open_incident(&incident, &leaf).await?;
        let mut leaf = self.leaf("client.suspend", "detector");
        leaf.decision = Some("suspended".into());
        leaf.detail = vec![
            ("client".into(), id.to_string()),
            ("incident".into(), incident.id.to_string()),
        ];
        self.db
            .clients
            .set_client_suspended(id, Some(now), &leaf)
            .await?;
        tracing::warn!(client = %id, incident = %incident.id, kind, "client suspended by the detector");
        Err(ServiceError::ClientSuspended)
    }

    /// Opens an incident (operator).
    pub async fn open_incident(
        &self,
        _admin: &Admin,
        kind: &str,
        summary: &str,
    ) -> Result<Incident, ServiceError> {
        check_report(kind, summary)?;
        let now = self.now();
        let incident = Incident {
            id: IncidentId::from_random(random16()?),
            kind: kind.into(),
            summary: summary.into(),
            opened_by: Opener::Admin,
            opened_at: now,
            closed_at: None,
            events: vec![IncidentEvent {
                at: now,
                action: "opened".into(),
                detail: summary.into(),
            }],
        };
        let mut leaf = self.leaf("incident.open", "admin");
        leaf.decision = Some(kind.into());
        leaf.detail = vec![("incident".into(), incident.id.to_string())];
        self.db.incidents.open_incident(&incident, &leaf).await?;
        Ok(incident)
    }

    /// An incident with its timeline.
    pub async fn incident(
        &self,
        _admin: &Admin,
        id: &IncidentId,
    ) -> Result<Incident, ServiceError> {
        self.db
            .incidents
            .incident(id)
            .await?
            .ok_or(ServiceError::IncidentNotFound)
    }

    /// Takes an action on an open incident; each is an event on its timeline and a leaf.
    /// Revoking a purpose's protection key destroys key material: once a risk group exists it
    /// is an `incident.revoke_purpose_key` proposal.
    pub async fn incident_action(
        &self,
        _admin: &Admin,
        id: &IncidentId,
        action: IncidentAction,
    ) -> Result<Incident, ServiceError> {
        if matches!(action, IncidentAction::RevokePurposeKey(_))
            && self.db.governance.risk_group().await?.is_some()
        {
            return Err(ServiceError::QuorumRequired);
        }
        self.incident_action_now(id, action, "admin").await
    }

    /// Takes an action on an open incident, approved or ungated; `actor` names who decided.
    pub(crate) async fn incident_action_now(
        &self,
        id: &IncidentId,
        action: IncidentAction,
        actor: &str,
    ) -> Result<Incident, ServiceError> {
        let now = self.now();
        let (detail, close) = match &action {
            IncidentAction::SuspendClient(c) | IncidentAction::ReinstateClient(c) => {
                let suspend = matches!(action, IncidentAction::SuspendClient(_));
                let mut leaf = self.leaf(
                    if suspend {
                        "client.suspend"
                    } else {
                        "client.reinstate"
                    },
                    "admin",
                );
                leaf.decision = Some(if suspend { "suspended" } else { "reinstated" }.into());
                leaf.detail = vec![
                    ("client".into(), c.to_string()),
                    ("incident".into(), id.to_string()),
                ];
                if !self
                    .db
                    .clients
                    .set_client_suspended(c, suspend.then_some(now), &leaf)
                    .await?
                {
                    return Err(ServiceError::ClientNotFound);
                }
                (c.to_string(), false)
            }
            IncidentAction::RevokePurposeKey(purpose) => {
                if self
                    .db
                    .incidents
                    .incident(id)
                    .await?
                    .is_none_or(|i| !i.is_open())
                {
                    return Err(ServiceError::IncidentNotFound);
                }
                let before = self.require_purpose(purpose).await?.protection_version;
                // Who holds a template that is about to stop matching: exactly those are told.
                let affected = self
                    .db
                    .incidents
                    .subjects_with_templates(purpose, before)
                    .await?;
                let rotated = self.rotate_protection_key_now(purpose, actor).await?;
                let deadline = Timestamp::from_unix(now.unix() + NOTIFY_WITHIN_SECS);
                let mut leaf = self.leaf("incident.notify", actor);
                leaf.purpose = Some(purpose.clone());
                leaf.decision = Some(format!("{} subjects", affected.len()));
                leaf.detail = vec![("incident".into(), id.to_string())];
                leaf.mentions = affected.clone();
                // Each relying party that serves one of them is told whom it must notify,
                // by its own name for them, with the deadline.
                let told = self.db.webhooks.any_live_endpoint().await?;
                for subject in affected.iter().filter(|_| told) {
                    let serving = self.serving_clients(subject, Some(purpose)).await?;
                    leaf.outbox.extend(
                        self.owe(
                            "incident.notification_owed",
                            &serving,
                            Some(subject),
                            serde_json::json!({
                                "purpose": purpose.name(),
                                "incident": id.to_string(),
                                "deadline": bioguard_core::rfc3339(deadline),
                            }),
                        )
                        .await?,
                    );
                }
                self.db
                    .incidents
                    .create_notifications(id, purpose, &affected, now, deadline, &leaf)
                    .await?;
                (
                    format!(
                        "purpose {purpose}: protection key version {before} revoked (now {}); {} \
                         subjects to notify by {}",
                        rotated.version,
                        affected.len(),
                        deadline.unix()
                    ),
                    false,
                )
            }
            IncidentAction::RevokeDevice(device) => {
                let mut leaf = self.leaf("device.revoke", "admin");
                leaf.decision = Some("revoked".into());
                leaf.detail = vec![
                    ("device".into(), device.to_string()),
                    ("incident".into(), id.to_string()),
                ];
                if !self.db.devices.revoke_device(device, now, &leaf).await? {
                    return Err(ServiceError::Conflict(
                        "a revocation of this device (or no such device)",
                    ));
                }
                (device.to_string(), false)
            }
            IncidentAction::NotificationsSent => {
                let mut leaf = self.leaf("incident.notified", "admin");
                leaf.detail = vec![("incident".into(), id.to_string())];
                let n = self
                    .db
                    .incidents
                    .mark_notifications_sent(id, now, &leaf)
                    .await?;
                (format!("{n} notifications sent"), false)
            }
            IncidentAction::Note(note) => (note.clone(), false),
            IncidentAction::Close(note) => (note.clone().unwrap_or_else(|| "closed".into()), true),
        };
        let mut leaf = self.leaf("incident.action", actor);
        leaf.decision = Some(action.name().to_owned());
        leaf.detail = vec![("incident".into(), id.to_string())];
        let event = IncidentEvent {
            at: now,
            action: action.name().to_owned(),
            detail,
        };
        if !self
            .db
            .incidents
            .add_incident_event(id, &event, close, &leaf)
            .await?
        {
            return Err(match self.db.incidents.incident(id).await? {
                None => ServiceError::IncidentNotFound,
                Some(_) => ServiceError::Conflict("a closed incident (open a new one)"),
            });
        }
        self.db
            .incidents
            .incident(id)
            .await?
            .ok_or(ServiceError::IncidentNotFound)
    }

    /// The notifications an incident owes, with how many were on time, late or pending.
    pub async fn incident_notifications(
        &self,
        id: &IncidentId,
    ) -> Result<Notifications, ServiceError> {
        let items = self.db.incidents.notifications(id).await?;
        let mut principals = Vec::with_capacity(items.len());
        for i in &items {
            principals.push(
                self.existing_subject_key(&i.subject)
                    .await?
                    .map(|k| k.principal()),
            );
        }
        Ok(Notifications {
            counts: count(&items, self.now()),
            items,
            principals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detector_incident_records_the_suspension() {
        let c = ClientId::from_random([4; 16]);
        let now = Timestamp::from_unix(9);
        let i = detector_incident(IncidentId::from_random([5; 16]), &c, "abuse.x", "why", now);
        assert_eq!(i.opened_by, Opener::Detector);
        assert!(i.is_open());
        let actions: Vec<&str> = i.events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["opened", "suspend_client"]);
        assert_eq!(i.events[1].detail, c.to_string());
    }

    #[test]
    fn operator_reports_are_bounded_text() {
        assert!(check_report("operator", "a leak").is_ok());
        assert!(check_report("", "a leak").is_err());
        assert!(check_report("operator", " ").is_err());
        assert!(check_report("operator", "a\u{7}b").is_err());
        assert!(check_report(&"k".repeat(65), "x").is_err());
        assert!(check_report("k", &"x".repeat(2001)).is_err());
    }

    #[test]
    fn notifications_are_counted_by_state() {
        let n = |deadline, sent: Option<i64>| Notification {
            subject: Pseudonym::from_digest([1; 32]),
            purpose: PurposeId::parse("pay").expect("valid"),
            deadline: Timestamp::from_unix(deadline),
            sent_at: sent.map(Timestamp::from_unix),
        };
        let c = count(
            &[n(10, Some(5)), n(10, Some(11)), n(10, None), n(30, None)],
            Timestamp::from_unix(20),
        );
        assert_eq!((c.on_time, c.late, c.pending), (1, 2, 1));
    }
}
