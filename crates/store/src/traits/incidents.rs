use async_trait::async_trait;
use bioguard_core::{
    Incident, IncidentEvent, IncidentId, Notification, NotificationCounts, Pseudonym, PurposeId,
    Timestamp,
};

use crate::error::StoreError;
use crate::records::LeafDraft;

/// Incidents, their timelines, and the notifications they owe people.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Opens an incident with its first events.
    async fn open_incident(&self, incident: &Incident, leaf: &LeafDraft) -> Result<(), StoreError>;

    /// Adds an event to an open incident's timeline (closing it when `close`); returns
    /// whether the incident exists and was open.
    async fn add_incident_event(
        &self,
        id: &IncidentId,
        event: &IncidentEvent,
        close: bool,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// One incident with its timeline.
    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError>;

    /// The subjects holding a template of a purpose under one protection key version.
    async fn subjects_with_templates(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Vec<Pseudonym>, StoreError>;

    /// Records that `subjects` must be notified about an incident by `deadline`.
    async fn create_notifications(
        &self,
        incident: &IncidentId,
        purpose: &PurposeId,
        subjects: &[Pseudonym],
        at: Timestamp,
        deadline: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Marks an incident's unsent notifications as sent at `at`; returns how many.
    async fn mark_notifications_sent(
        &self,
        incident: &IncidentId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError>;

    /// An incident's notifications.
    async fn notifications(&self, incident: &IncidentId) -> Result<Vec<Notification>, StoreError>;

    /// All notifications at `now`, counted by state.
    async fn notification_counts(&self, now: Timestamp) -> Result<NotificationCounts, StoreError>;
}
