//! Incidents and abuse detection: an incident has a timeline of actions (suspending a client,
//! notes, closing); the detector opens one by itself when a client's verifications sweep
//! through many distinct subjects (enumeration) and suspends that client at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bioguard_core::{ClientId, Pseudonym, Timestamp, ValidationError};
use bioguard_store::StoredIncident;

use crate::{Admin, AuthenticatedClient, Service, ServiceError};

/// How long the operator has to notify affected subjects, by default: 72 hours.
pub const NOTIFY_WITHIN_SECS: i64 = 72 * 3600;

/// The notifications an incident owes, and their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications {
    /// Each owed notification: (subject pseudonym, purpose, deadline, sent at).
    pub items: Vec<(String, String, i64, Option<i64>)>,
    /// Sent by their deadline.
    pub on_time: u64,
    /// Sent after their deadline, or not sent and past it.
    pub late: u64,
    /// Not sent, still within their deadline.
    pub pending: u64,
}

/// An action on an incident and what it names.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncidentAction<'a> {
    /// `suspend_client`, `reinstate_client`, `revoke_device`, `revoke_purpose_key`,
    /// `notifications_sent`, `note` or `close`.
    pub action: &'a str,
    /// The client, for suspend and reinstate.
    pub client: Option<&'a ClientId>,
    /// The purpose, for `revoke_purpose_key`.
    pub purpose: Option<&'a str>,
    /// The device, for `revoke_device`.
    pub device: Option<&'a str>,
    /// A note, for `note` and `close`.
    pub note: Option<&'a str>,
}

/// The window distinct subjects are counted in.
const WINDOW_SECS: i64 = 60;

/// The window near-threshold probes are watched over, for hill-climbing.
const CLIMB_WINDOW_SECS: i64 = 600;

/// Recent near-threshold probe distances per (client, subject, purpose).
type Climbs = HashMap<(ClientId, Pseudonym, bioguard_core::PurposeId), Vec<(i64, u32)>>;

/// Distinct subjects each client verified on this node in the current window, and the
/// distances of its recent near-threshold failed probes.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    limit: std::sync::atomic::AtomicU32,
    climb_probes: std::sync::atomic::AtomicU32,
    seen: Mutex<HashMap<ClientId, (i64, HashSet<Pseudonym>)>>,
    climbs: Mutex<Climbs>,
}

impl Detector {
    pub(crate) fn set(&self, limit: u32) {
        self.limit
            .store(limit, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records a failed probe's distance; true when the last `climb_probes` failed probes of
    /// this client on this subject, all in the band just above the threshold, came strictly
    /// closer each time: someone is climbing towards a match.
    fn climb(
        &self,
        key: (ClientId, Pseudonym, bioguard_core::PurposeId),
        now: i64,
        distance: u32,
        band: u32,
    ) -> bool {
        let n = self.climb_probes.load(std::sync::atomic::Ordering::Relaxed) as usize;
        if n == 0 {
            return false;
        }
        let mut climbs = self.climbs.lock().unwrap_or_else(|p| p.into_inner());
        let probes = climbs.entry(key).or_default();
        probes.retain(|(t, _)| now - *t < CLIMB_WINDOW_SECS);
        if distance > band {
            probes.clear();
            return false;
        }
        probes.push((now, distance));
        let recent = &probes[probes.len().saturating_sub(n)..];
        if recent.len() == n && recent.windows(2).all(|w| w[1].1 < w[0].1) {
            probes.clear();
            return true;
        }
        false
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
        purpose: &bioguard_core::PurposeId,
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

    /// Suspends a client and opens the incident the detector found.
    async fn suspend_for(
        &self,
        client: &AuthenticatedClient,
        kind: &str,
        what: &str,
    ) -> Result<(), ServiceError> {
        let id = &client.record().id;
        let now = self.now();
        let incident = StoredIncident {
            id: new_id()?,
            kind: kind.into(),
            summary: format!("client {id}: {what}"),
            opened_by: "detector".into(),
            opened_at: now,
            closed_at: None,
            events: vec![
                (now, "opened".into(), what.into()),
                (now, "suspend_client".into(), id.to_string()),
            ],
        };
        let mut leaf = self.leaf("incident.open", "detector");
        leaf.decision = Some(kind.into());
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
        tracing::warn!(client = %id, incident = %incident.id, kind, "client suspended by the detector");
        Err(ServiceError::ClientSuspended)
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
        act: IncidentAction<'_>,
    ) -> Result<StoredIncident, ServiceError> {
        let IncidentAction {
            action,
            client,
            purpose,
            device,
            note,
        } = act;
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
            "revoke_purpose_key" => {
                let purpose =
                    bioguard_core::PurposeId::parse(purpose.ok_or_else(|| {
                        ValidationError::new("purpose", "required for this action")
                    })?)
                    .map_err(|e| ValidationError::new("purpose", e.rule()))?;
                if self
                    .store
                    .incident(id)
                    .await?
                    .is_none_or(|i| i.closed_at.is_some())
                {
                    return Err(ServiceError::IncidentNotFound);
                }
                let before = self.require_purpose(&purpose).await?.protection_version;
                // Who holds a template that is about to stop matching: exactly those are told.
                let affected = self.store.subjects_with_templates(&purpose, before).await?;
                let rotated = self.rotate_protection_key(_admin, &purpose).await?;
                let deadline = Timestamp::from_unix(now.unix() + NOTIFY_WITHIN_SECS);
                let mut leaf = self.leaf("incident.notify", "admin");
                leaf.purpose = Some(purpose.clone());
                leaf.decision = Some(format!("{} subjects", affected.len()));
                leaf.detail = vec![("incident".into(), id.to_owned())];
                leaf.mentions = affected.clone();
                self.store
                    .create_notifications(id, &purpose, &affected, now, deadline, &leaf)
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
            "revoke_device" => {
                let device = device
                    .filter(|d| d.starts_with("dev_") && d.len() <= 64)
                    .ok_or_else(|| ValidationError::new("device", "the device id to revoke"))?;
                let mut leaf = self.leaf("device.revoke", "admin");
                leaf.decision = Some("revoked".into());
                leaf.detail = vec![
                    ("device".into(), device.to_owned()),
                    ("incident".into(), id.to_owned()),
                ];
                if !self.store.revoke_device(device, now, &leaf).await? {
                    return Err(ServiceError::Conflict(
                        "a revocation of this device (or no such device)",
                    ));
                }
                (device.to_owned(), false)
            }
            "notifications_sent" => {
                let mut leaf = self.leaf("incident.notified", "admin");
                leaf.detail = vec![("incident".into(), id.to_owned())];
                let n = self.store.mark_notifications_sent(id, now, &leaf).await?;
                (format!("{n} notifications sent"), false)
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
                    "suspend_client, reinstate_client, revoke_device, revoke_purpose_key, notifications_sent, note or close",
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

    /// The notifications an incident owes, with how many were on time, late or pending.
    pub async fn incident_notifications(&self, id: &str) -> Result<Notifications, ServiceError> {
        let now = self.now().unix();
        let mut out = Notifications {
            items: Vec::new(),
            on_time: 0,
            late: 0,
            pending: 0,
        };
        for (subject, purpose, deadline, sent) in self.store.notifications(id).await? {
            let deadline = deadline.unix();
            let sent = sent.map(|t| t.unix());
            match sent {
                Some(t) if t <= deadline => out.on_time += 1,
                Some(_) => out.late += 1,
                None if now > deadline => out.late += 1,
                None => out.pending += 1,
            }
            out.items.push((
                subject.as_str().to_owned(),
                purpose.to_string(),
                deadline,
                sent,
            ));
        }
        Ok(out)
    }
}
