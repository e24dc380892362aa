//! Keeping this node's galleries current: filled at start by decrypting every gallery
//! template, then brought up to date with changes other nodes committed by following the audit
//! ledger. The database stays the authority (see `identify`).

use std::time::Instant;

use bioguard_core::{CodeBits, Operation, Pseudonym, PurposeId, TemplateId};
use bioguard_store::IndexRecord;

use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::ConsentChecked;
use crate::security::templates::open_template;

/// Templates read per database page while filling the galleries at start.
const LOAD_PAGE: u32 = 5_000;

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
            // The leaves name subjects by tags; the pseudonym kept beside each says whom.
            let leaves = self
                .db
                .ledger
                .audit_leaves_with_subjects(*seen, end)
                .await?;
            for (bytes, subject) in leaves {
                let Some(leaf) = bioguard_ledger::Leaf::decode(&bytes) else {
                    continue;
                };
                applied += u64::from(self.follow(&leaf, subject).await?);
            }
            *seen = end;
        }
        Ok(applied)
    }

    /// Applies one leaf to the galleries; whether it changed anything.
    async fn follow(
        &self,
        leaf: &bioguard_ledger::Leaf,
        subject: Option<Pseudonym>,
    ) -> Result<bool, ServiceError> {
        let purpose = leaf
            .purpose
            .as_deref()
            .and_then(|p| PurposeId::parse(p).ok());
        match (leaf.op.as_str(), subject, purpose) {
            ("enrol" | "consent.withdraw" | "retention.delete", Some(s), Some(p)) => {
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
        subject: &Pseudonym,
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
        bits: CodeBits,
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
