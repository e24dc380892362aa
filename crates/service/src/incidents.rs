//! Incidents and abuse detection: an incident has a timeline of actions (suspending a client,
//! notes, closing); the detector opens one by itself when a client's verifications sweep
//! through many distinct subjects (enumeration) and suspends that client at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bioguard_core::{ClientId, Pseudonym, ValidationError};
use bioguard_store::StoredIncident;

use crate::{Admin, AuthenticatedClient, Service, ServiceError};

/// The window distinct subjects are counted in.
const WINDOW_SECS: i64 = 60;

/// Distinct subjects each client verified on this node in the current window.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    limit: std::sync::atomic::AtomicU32,
    seen: Mutex<HashMap<ClientId, (i64, HashSet<Pseudonym>)>>,
}

impl Detector {
    pub(crate) fn set(&self, limit: u32) {
        self.limit
            .store(limit, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts a subject for a client; true when the client passes the limit now.
    fn note(&self, client: &ClientId, subject: &Pseudonym, now: i64) -> bool {
        let limit = self.limit.load(std::sync::atomic::Ordering::Relaxed);
        if limit == 0 {
            return false;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (start, subjects) = seen.entry(client.clone()).or_insert((now, HashSet::new()));
        if now - *start >= WINDOW_SECS {
            *start = now;
            subjects.clear();
        }
        subjects.insert(subject.clone());
        if subjects.len() as u32 > limit {
            subjects.clear();
            return true;
        }
        false
    }
}

fn new_id() -> Result<String, ServiceError> {
    Ok(format!(
        "inc_{}",
        bioguard_crypto::hex_encode(&crate::random16()?)
    ))
}

impl Service {
    /// Suspends a client automatically when its verifications cover more than `limit`
    /// distinct subjects within a minute on this node (0: off, the default).
    pub fn with_enumeration_limit(self, limit: u32) -> Self {
        self.detector.set(limit);
        self
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
        let now = self.now();
        let incident = StoredIncident {
            id: new_id()?,
            kind: "abuse.enumeration".into(),
            summary: format!(
                "client {id} verified more distinct subjects within a minute than allowed"
            ),
            opened_by: "detector".into(),
            opened_at: now,
            closed_at: None,
            events: vec![
                (now, "opened".into(), "enumeration burst detected".into()),
                (now, "suspend_client".into(), id.to_string()),
            ],
        };
        let mut leaf = self.leaf("incident.open", "detector");
        leaf.decision = Some("abuse.enumeration".into());
        leaf.detail = vec![
            ("incident".into(), incident.id.clone()),
            ("client".into(), id.to_string()),
        ];
        self.store.open_incident(&incident, &leaf).await?;
        let mut leaf = self.leaf("client.suspend", "detector");
        leaf.decision = Some("suspended".into());
        leaf.detail = vec![
            ("client".into(), id.to_string()),
            ("incident".into(), incident.id.clone()),
        ];
        self.store
            .set_client_suspended(id, Some(now), &leaf)
            .await?;
        tracing::warn!(client = %id, incident = %incident.id, "enumeration burst: client suspended");
        Err(ServiceError::ClientSuspended)
    }

    /// Opens an incident (operator).
    pub async fn open_incident(
        &self,
        _admin: &Admin,
        kind: &str,
        summary: &str,
    ) -> Result<StoredIncident, ServiceError> {
        let ok = |s: &str, max: usize| {
            !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
        };
        if !ok(kind, 64) || !ok(summary, 2000) {
            return Err(ValidationError::new(
                "summary",
                "kind 1-64 and summary 1-2000 characters, no control characters",
            )
            .into());
        }
        let now = self.now();
        let incident = StoredIncident {
            id: new_id()?,
            kind: kind.into(),
            summary: summary.into(),
            opened_by: "admin".into(),
            opened_at: now,
            closed_at: None,
            events: vec![(now, "opened".into(), summary.into())],
        };
        let mut leaf = self.leaf("incident.open", "admin");
        leaf.decision = Some(kind.into());
        leaf.detail = vec![("incident".into(), incident.id.clone())];
        self.store.open_incident(&incident, &leaf).await?;
        Ok(incident)
    }

    /// An incident with its timeline.
    pub async fn incident(&self, _admin: &Admin, id: &str) -> Result<StoredIncident, ServiceError> {
        self.store
            .incident(id)
            .await?
            .ok_or(ServiceError::IncidentNotFound)
    }

    /// Takes an action on an open incident: `suspend_client`, `reinstate_client`, `note` or
    /// `close`; each is an event on its timeline and a leaf.
    pub async fn incident_action(
        &self,
        _admin: &Admin,
        id: &str,
        action: &str,
        client: Option<&ClientId>,
        note: Option<&str>,
    ) -> Result<StoredIncident, ServiceError> {
        let now = self.now();
        let (detail, close) = match action {
            "suspend_client" | "reinstate_client" => {
                let c = client
                    .ok_or_else(|| ValidationError::new("client", "required for this action"))?;
                let suspend = action == "suspend_client";
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
                    ("incident".into(), id.to_owned()),
                ];
                if !self
                    .store
                    .set_client_suspended(c, suspend.then_some(now), &leaf)
                    .await?
                {
                    return Err(ServiceError::ClientNotFound);
                }
                (c.to_string(), false)
            }
            "note" => (
                note.filter(|n| !n.trim().is_empty() && n.len() <= 2000)
                    .ok_or_else(|| ValidationError::new("note", "1 to 2000 characters"))?
                    .to_owned(),
                false,
            ),
            "close" => (note.unwrap_or("closed").to_owned(), true),
            _ => {
                return Err(ValidationError::new(
                    "action",
                    "suspend_client, reinstate_client, note or close",
                )
                .into());
            }
        };
        let mut leaf = self.leaf("incident.action", "admin");
        leaf.decision = Some(action.to_owned());
        leaf.detail = vec![("incident".into(), id.to_owned())];
        if !self
            .store
            .add_incident_event(id, now, action, &detail, close, &leaf)
            .await?
        {
            return Err(match self.store.incident(id).await? {
                None => ServiceError::IncidentNotFound,
                Some(_) => ServiceError::Conflict("a closed incident (open a new one)"),
            });
        }
        self.incident(_admin, id).await
    }
}
