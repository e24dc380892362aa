//! The in-memory galleries for 1:N identification.
//!
//! Filled at start by decrypting every gallery template of every purpose that allows
//! identification, and kept current by the calls that enrol, withdraw and erase on this node
//! and, for changes made by other nodes, by following the audit ledger (`sync_galleries`).
//! The database stays the authority: identification confirms every candidate against it
//! (template present, consent live, gallery membership, current key version) before returning
//! it, so a stale entry can cost a candidate slot but can never return a wrong subject.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use bioguard_core::{CodeBits, GalleryName, Operation, Pseudonym, PurposeId, TemplateId};
use bioguard_engine::{Candidate, Gallery, Kernel, ProtectedCode};
use bioguard_store::IndexRecord;

use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::ConsentChecked;
use crate::security::templates::open_template;

/// Templates read per database page while filling the galleries at start.
const LOAD_PAGE: u32 = 5_000;

/// The galleries of one purpose, under one protection key version.
struct PurposeGalleries {
    version: u32,
    galleries: HashMap<GalleryName, Gallery<[u8; 16]>>,
    /// Which templates each subject has here, to bring one subject up to date.
    subjects: HashMap<Pseudonym, Vec<TemplateId>>,
}

impl PurposeGalleries {
    fn new(version: u32) -> Self {
        Self {
            version,
            galleries: HashMap::new(),
            subjects: HashMap::new(),
        }
    }
}

/// All in-memory galleries of this node.
pub(crate) struct Galleries {
    inner: RwLock<HashMap<PurposeId, PurposeGalleries>>,
    /// Threads one scan may use.
    threads: std::sync::atomic::AtomicUsize,
}

impl Default for Galleries {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            threads: std::sync::atomic::AtomicUsize::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            ),
        }
    }
}

impl Galleries {
    /// Sets how many threads one scan may use.
    pub(crate) fn set_threads(&self, threads: usize) {
        self.threads
            .store(threads.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<PurposeId, PurposeGalleries>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<PurposeId, PurposeGalleries>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a template's code to its galleries. A purpose whose galleries were built under an
    /// older key version is reset first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        purpose: &PurposeId,
        version: u32,
        bits: CodeBits,
        subject: &Pseudonym,
        template: &TemplateId,
        galleries: &[GalleryName],
        code: &ProtectedCode,
    ) {
        let mut all = self.write();
        let entry = all
            .entry(purpose.clone())
            .or_insert_with(|| PurposeGalleries::new(version));
        if entry.version != version {
            if version < entry.version {
                return;
            }
            *entry = PurposeGalleries::new(version);
        }
        let held = entry.subjects.entry(subject.clone()).or_default();
        if held.contains(template) {
            return;
        }
        held.push(template.clone());
        let id = template.to_bytes();
        for g in galleries {
            entry
                .galleries
                .entry(g.clone())
                .or_insert_with(|| Gallery::new(bits))
                .insert(code, id);
        }
    }

    /// Removes templates from every gallery of `purpose`.
    pub(crate) fn remove(&self, purpose: &PurposeId, templates: &[TemplateId]) {
        if templates.is_empty() {
            return;
        }
        let ids: Vec<[u8; 16]> = templates.iter().map(TemplateId::to_bytes).collect();
        let mut all = self.write();
        if let Some(p) = all.get_mut(purpose) {
            for g in p.galleries.values_mut() {
                g.remove_where(|e| ids.contains(e));
            }
            p.galleries.retain(|_, g| !g.is_empty());
            p.subjects.retain(|_, held| {
                held.retain(|t| !templates.contains(t));
                !held.is_empty()
            });
        }
    }

    /// Whether this node holds `template` for `subject` under `purpose`.
    pub(crate) fn holds(
        &self,
        purpose: &PurposeId,
        subject: &Pseudonym,
        template: &TemplateId,
    ) -> bool {
        self.read()
            .get(purpose)
            .and_then(|p| p.subjects.get(subject))
            .is_some_and(|held| held.contains(template))
    }

    /// Removes every template of one subject from `purpose`'s galleries.
    pub(crate) fn remove_subject(&self, purpose: &PurposeId, subject: &Pseudonym) {
        let held = self
            .read()
            .get(purpose)
            .and_then(|p| p.subjects.get(subject).cloned())
            .unwrap_or_default();
        self.remove(purpose, &held);
    }

    /// Drops every gallery of `purpose` (its key was rotated: the codes are revoked).
    pub(crate) fn drop_purpose(&self, purpose: &PurposeId) {
        self.write().remove(purpose);
    }

    /// The number of codes in a gallery.
    pub(crate) fn size(&self, purpose: &PurposeId, gallery: &GalleryName) -> usize {
        self.read()
            .get(purpose)
            .and_then(|p| p.galleries.get(gallery))
            .map_or(0, Gallery::len)
    }

    /// Searches a gallery for each probe; an unknown gallery or another key version gives
    /// empty results.
    pub(crate) fn search(
        &self,
        purpose: &PurposeId,
        version: u32,
        gallery: &GalleryName,
        probes: &[ProtectedCode],
        max_distance: u32,
        limit: usize,
    ) -> Vec<Vec<Candidate<[u8; 16]>>> {
        let threads = self.threads.load(std::sync::atomic::Ordering::Relaxed);
        let all = self.read();
        match all.get(purpose) {
            Some(p) if p.version == version => match p.galleries.get(gallery) {
                Some(g) => g.search_batch(Kernel::best(), probes, max_distance, limit, threads),
                None => probes.iter().map(|_| Vec::new()).collect(),
            },
            _ => probes.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// Codes and bytes held, over all galleries.
    pub(crate) fn stats(&self) -> (usize, usize) {
        let all = self.read();
        all.values()
            .flat_map(|p| p.galleries.values())
            .fold((0, 0), |(n, b), g| (n + g.len(), b + g.memory_bytes()))
    }
}

impl Service {
    /// Brings this node's galleries up to date with changes other nodes committed, by
    /// following the audit ledger from where it last stopped: each enrolment, withdrawal,
    /// retention deletion or erasure re-reads that subject's gallery templates from the
    /// database, and a protection-key rotation drops the purpose's codes. Called when
    /// PostgreSQL announces a commit and periodically; correctness never depends on it, since
    /// identification confirms every candidate against the database.
    pub async fn sync_galleries(&self) -> Result<u64, ServiceError> {
        let mut seen = self.gallery_sync.lock().await;
        let size = self.db.ledger.audit_size().await?;
        let mut applied = 0;
        while *seen < size {
            let end = (*seen + 1000).min(size);
            let leaves = self.db.ledger.audit_leaves(*seen, end).await?;
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
                for p in self.db.purposes.purposes().await? {
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
        let Some(stored) = self.db.purposes.purpose(purpose).await? else {
            return Ok(false);
        };
        if !stored.purpose.allows(Operation::Identify) {
            return Ok(false);
        }
        let bits = stored.purpose.code_bits;
        let records = self
            .db
            .galleries
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
        rec: &IndexRecord,
    ) -> Result<bool, ServiceError> {
        let consent = ConsentChecked::listed(purpose, rec);
        match open_template(&consent, self.keys.as_ref(), bits, &rec.template).await {
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
        *self.gallery_sync.lock().await = self.db.ledger.audit_size().await?;
        let mut total = 0usize;
        for purpose in self.db.purposes.purposes().await? {
            if !purpose.purpose.allows(Operation::Identify) {
                continue;
            }
            let id = &purpose.purpose.id;
            let bits = purpose.purpose.code_bits;
            let mut after: Option<TemplateId> = None;
            loop {
                let page = self
                    .db
                    .galleries
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
