//! 1:N identification inside a named gallery.
//!
//! The scan runs over this node's in-memory galleries on all cores; every candidate it finds
//! is then confirmed against the database before it is returned: the template still exists,
//! is in the requested gallery, was made under the current protection key, its subject has a
//! live consent for the purpose, and its stored code (decrypted) is within the threshold of
//! the probe. A withdrawn, erased or re-keyed subject is therefore never returned, whatever
//! the state of the in-memory galleries.

use std::time::Instant;

use bioguard_core::{
    DecisionId, Embedding, GalleryName, Operation, PurposeId, SubjectRef, TemplateId,
    ValidationError,
};
use bioguard_engine::{Kernel, ProtectedCode};

use crate::templates::{ConsentChecked, open_template};
use crate::{AuthenticatedClient, Service, ServiceError, random16};

/// The most candidates one identification may return.
pub const MAX_CANDIDATES: usize = 100;
/// The most probes in one batch.
pub const MAX_BATCH: usize = 256;
/// Templates read per database page while filling the galleries at start.
const LOAD_PAGE: u32 = 5_000;

/// What a candidate must satisfy to be returned.
#[derive(Clone, Copy)]
struct Target<'a> {
    purpose: &'a PurposeId,
    gallery: &'a GalleryName,
    version: u32,
    bits: bioguard_core::CodeBits,
    max_distance: u32,
}

/// A 1:N request: one probe, or a batch.
pub struct IdentifyRequest {
    /// The purpose.
    pub purpose: PurposeId,
    /// The gallery to search.
    pub gallery: GalleryName,
    /// The most subjects to return per probe (1 to 100).
    pub max_candidates: usize,
    /// The probe embeddings (1 to 256).
    pub probes: Vec<Vec<f32>>,
    /// The capture of a single probe, signed by a registered device (required by purposes
    /// whose risk policy requires captures, which then take one probe per request).
    pub capture: Option<crate::Capture>,
}

/// The answer for one probe: the subjects above threshold, best first.
pub struct Identification {
    /// The decision's id.
    pub decision: DecisionId,
    /// The subjects found, best first.
    pub subjects: Vec<SubjectRef>,
}

impl Service {
    /// Searches a gallery for each probe.
    pub async fn identify(
        &self,
        client: &AuthenticatedClient,
        req: IdentifyRequest,
    ) -> Result<Vec<Identification>, ServiceError> {
        let purpose = self.require_purpose(&req.purpose).await?;
        client.require(&req.purpose, Operation::Identify)?;
        if !purpose.purpose.allows(Operation::Identify) {
            return Err(ServiceError::OperationNotAllowed(Operation::Identify));
        }
        if !(1..=MAX_CANDIDATES).contains(&req.max_candidates) {
            return Err(ValidationError::new(
                "max_candidates",
                format!("from 1 to {MAX_CANDIDATES}"),
            )
            .into());
        }
        if !(1..=MAX_BATCH).contains(&req.probes.len()) {
            return Err(ValidationError::new(
                "embeddings",
                format!("from 1 to {MAX_BATCH} probes"),
            )
            .into());
        }
        let risk = purpose.purpose.risk;
        if (risk.require_capture || req.capture.is_some()) && req.probes.len() != 1 {
            return Err(ValidationError::new(
                "embeddings",
                "a signed capture covers one probe: send one probe per request",
            )
            .into());
        }
        if let Some(probe) = req.probes.first() {
            self.check_capture(
                client,
                &req.purpose,
                &risk,
                None,
                req.capture.as_ref(),
                probe,
            )
            .await?;
        }
        let embeddings = req
            .probes
            .into_iter()
            .map(|v| Embedding::parse(v, purpose.purpose.dimension))
            .collect::<Result<Vec<_>, _>>()?;
        let max = purpose.purpose.max_gallery_size.unwrap_or(0);
        let size = self.galleries.size(&req.purpose, &req.gallery);
        if size > max as usize {
            return Err(ServiceError::GalleryTooLarge {
                gallery: req.gallery.to_string(),
                size,
                max,
            });
        }
        let mut probes: Vec<ProtectedCode> = Vec::with_capacity(embeddings.len());
        for e in embeddings {
            probes.push(self.protect(&purpose, e).await?);
        }
        let bits = purpose.purpose.code_bits;
        let max_distance = bits.max_distance(purpose.purpose.threshold.get());
        let version = purpose.protection_version;
        // Room for candidates the database check turns away.
        let limit = req.max_candidates + 8;
        let galleries = std::sync::Arc::clone(&self.galleries);
        let (pid, gallery) = (req.purpose.clone(), req.gallery.clone());
        let started = Instant::now();
        let (probes, found) = tokio::task::spawn_blocking(move || {
            let found = galleries.search(&pid, version, &gallery, &probes, max_distance, limit);
            (probes, found)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("gallery scan failed: {e}")))?;
        let scan_ms = started.elapsed().as_secs_f64() * 1000.0;

        let target = Target {
            purpose: &req.purpose,
            gallery: &req.gallery,
            version,
            bits,
            max_distance,
        };
        let mut out = Vec::with_capacity(found.len());
        let mut used: Vec<TemplateId> = Vec::new();
        let mut leaves = Vec::with_capacity(found.len());
        for (probe, candidates) in probes.iter().zip(found) {
            let mut subjects = Vec::new();
            let mut pseudonyms = Vec::new();
            for c in candidates {
                if subjects.len() == req.max_candidates {
                    break;
                }
                let id = TemplateId::from_random(c.entry);
                if let Some((s, p)) = self.confirm(&target, probe, &id).await? {
                    subjects.push(s);
                    pseudonyms.push(p);
                    used.push(id);
                }
            }
            let decision = DecisionId::from_random(random16()?);
            // The candidates returned, by pseudonym; nothing about the gallery's other members.
            let mut leaf = self.leaf("identify", client.actor());
            leaf.purpose = Some(req.purpose.clone());
            leaf.decision = Some(format!("{} candidates", subjects.len()));
            leaf.detail = vec![
                ("decision".into(), decision.to_string()),
                ("gallery".into(), req.gallery.to_string()),
                (
                    "returned".into(),
                    pseudonyms
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ];
            // Each returned subject finds this leaf in its own history.
            leaf.mentions = pseudonyms;
            leaves.push(leaf);
            tracing::info!(
                decision = %decision,
                purpose = %req.purpose,
                client = %client.record().id,
                gallery_size = size,
                candidates = subjects.len(),
                scan_ms,
                "identification"
            );
            out.push(Identification { decision, subjects });
        }
        used.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        used.dedup();
        self.store
            .record_identification(&used, self.now(), &leaves)
            .await?;
        Ok(out)
    }

    /// Confirms one candidate against the database; returns its subject if every rule holds.
    async fn confirm(
        &self,
        t: &Target<'_>,
        probe: &ProtectedCode,
        template: &TemplateId,
    ) -> Result<Option<(SubjectRef, bioguard_core::Pseudonym)>, ServiceError> {
        let Target {
            purpose,
            gallery,
            version,
            bits,
            max_distance,
        } = *t;
        let Some(m) = self.store.candidate(purpose, template).await? else {
            return Ok(None);
        };
        // A locked subject is never returned (answering 423 instead would tell the caller
        // that the probe matched someone who locked their biometrics).
        if !m.consent_live
            || m.locked
            || m.template.protection_version != version
            || !m.galleries.contains(gallery)
        {
            return Ok(None);
        }
        // A consent given before a material notice change, past its re-consent deadline.
        if let Some(n) = &m.consent_notice
            && !crate::notices::allows_use(m.notice_floor.as_ref(), n, self.now())
        {
            return Ok(None);
        }
        let consent = ConsentChecked::after_live_consent_read();
        let opened = match open_template(
            &consent,
            self.keys.as_ref(),
            &m.subject,
            purpose,
            bits,
            &m.template,
        )
        .await
        {
            Ok(o) => o,
            Err(ServiceError::Integrity) => {
                tracing::error!(
                    purpose = %purpose,
                    template = %template,
                    "stored template failed its integrity check (altered or moved); not returned"
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if Kernel::best().distance(probe.words(), opened.code.words()) > max_distance {
            return Ok(None);
        }
        Ok(opened.subject.map(|s| (s, m.subject)))
    }

    /// Brings this node's galleries up to date with changes other nodes committed, by
    /// following the audit ledger from where it last stopped: each enrolment, withdrawal,
    /// retention deletion or erasure re-reads that subject's gallery templates from the
    /// database, and a protection-key rotation drops the purpose's codes. Called when
    /// PostgreSQL announces a commit and periodically; correctness never depends on it, since
    /// identification confirms every candidate against the database.
    pub async fn sync_galleries(&self) -> Result<u64, ServiceError> {
        let mut seen = self.gallery_sync.lock().await;
        let size = self.store.audit_size().await?;
        let mut applied = 0;
        while *seen < size {
            let end = (*seen + 1000).min(size);
            let leaves = self.store.audit_leaves(*seen, end).await?;
            for bytes in &leaves {
                let Some(leaf) = bioguard_ledger::Leaf::decode(bytes) else {
                    continue;
                };
                applied += u64::from(self.follow(&leaf).await?);
            }
            *seen = end;
        }
        Ok(applied)
    }

    /// Applies one leaf to the galleries; whether it changed anything.
    async fn follow(&self, leaf: &bioguard_ledger::Leaf) -> Result<bool, ServiceError> {
        let subject = leaf
            .subject
            .as_deref()
            .and_then(|s| bioguard_core::Pseudonym::parse(s).ok());
        let purpose = leaf
            .purpose
            .as_deref()
            .and_then(|p| PurposeId::parse(p).ok());
        match (leaf.op.as_str(), subject, purpose) {
            ("enrol", Some(s), Some(p)) => {
                let template = leaf
                    .detail
                    .iter()
                    .find(|(k, _)| k == "template")
                    .and_then(|(_, v)| TemplateId::parse(v).ok());
                if template.is_some_and(|t| self.galleries.holds(&p, &s, &t)) {
                    return Ok(false);
                }
                self.resync_subject(&p, &s).await
            }
            ("consent.withdraw" | "retention.delete", Some(s), Some(p)) => {
                self.resync_subject(&p, &s).await
            }
            ("subject.erase", Some(s), _) => {
                let mut changed = false;
                for p in self.store.purposes().await? {
                    if p.purpose.allows(Operation::Identify) {
                        changed |= self.resync_subject(&p.purpose.id, &s).await?;
                    }
                }
                Ok(changed)
            }
            ("protection_key.rotate", _, Some(p)) => {
                self.galleries.drop_purpose(&p);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Replaces one subject's codes in a purpose's galleries by what the database holds now.
    async fn resync_subject(
        &self,
        purpose: &PurposeId,
        subject: &bioguard_core::Pseudonym,
    ) -> Result<bool, ServiceError> {
        let Some(stored) = self.store.purpose(purpose).await? else {
            return Ok(false);
        };
        if !stored.purpose.allows(Operation::Identify) {
            return Ok(false);
        }
        let bits = stored.purpose.code_bits;
        let records = self
            .store
            .index_records_of(purpose, stored.protection_version, subject)
            .await?;
        self.galleries.remove_subject(purpose, subject);
        for rec in &records {
            self.add_to_galleries(purpose, stored.protection_version, bits, rec)
                .await?;
        }
        Ok(true)
    }

    /// Opens an index record's template and adds its code to the galleries; false (logged)
    /// for a template that fails its integrity check. The record's query selected only
    /// templates whose subject has a live consent.
    async fn add_to_galleries(
        &self,
        purpose: &PurposeId,
        version: u32,
        bits: bioguard_core::CodeBits,
        rec: &bioguard_store::IndexRecord,
    ) -> Result<bool, ServiceError> {
        let consent = ConsentChecked::after_live_consent_read();
        match open_template(
            &consent,
            self.keys.as_ref(),
            &rec.subject,
            purpose,
            bits,
            &rec.template,
        )
        .await
        {
            Ok(opened) => {
                self.galleries.insert(
                    purpose,
                    version,
                    bits,
                    &rec.subject,
                    &rec.template.id,
                    &rec.galleries,
                    &opened.code,
                );
                Ok(true)
            }
            Err(ServiceError::Integrity) => {
                tracing::error!(
                    purpose = %purpose,
                    template = %rec.template.id,
                    "stored template failed its integrity check; left out of the galleries"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Fills the in-memory galleries from the database by decrypting every gallery template
    /// of every purpose that allows identification.
    pub(crate) async fn load_galleries(&self) -> Result<(), ServiceError> {
        let started = Instant::now();
        // Changes committed from here on are replayed by `sync_galleries` (idempotently).
        *self.gallery_sync.lock().await = self.store.audit_size().await?;
        let mut total = 0usize;
        for purpose in self.store.purposes().await? {
            if !purpose.purpose.allows(Operation::Identify) {
                continue;
            }
            let id = &purpose.purpose.id;
            let bits = purpose.purpose.code_bits;
            let mut after: Option<TemplateId> = None;
            loop {
                let page = self
                    .store
                    .index_page(id, purpose.protection_version, after.as_ref(), LOAD_PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.template.id.clone());
                for rec in &page {
                    total += usize::from(
                        self.add_to_galleries(id, purpose.protection_version, bits, rec)
                            .await?,
                    );
                    if total > 0 && total.is_multiple_of(100_000) {
                        tracing::info!(templates = total, "loading galleries");
                    }
                }
            }
        }
        let (codes, bytes) = self.galleries.stats();
        if total > 0 {
            tracing::info!(
                templates = total,
                gallery_entries = codes,
                mib = bytes / (1 << 20),
                seconds = started.elapsed().as_secs_f64(),
                "galleries loaded"
            );
        }
        Ok(())
    }
}
