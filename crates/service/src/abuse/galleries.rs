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

use bioguard_core::{CodeBits, GalleryName, Pseudonym, PurposeId, TemplateId};
use bioguard_engine::{Candidate, Gallery, Kernel, ProtectedCode};

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
