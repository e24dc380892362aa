use async_trait::async_trait;
use bioguard_core::{GalleryName, Pseudonym, PurposeId, TemplateId, Timestamp};

use crate::error::StoreError;
use crate::records::{CandidateMaterial, IndexRecord, LeafDraft};

/// 1:N identification: the gallery templates that fill the in-memory index, and the
/// confirmation of each candidate found there.
#[async_trait]
pub trait GalleryStore: Send + Sync {
    /// The number of templates in a gallery.
    async fn gallery_size(
        &self,
        purpose: &PurposeId,
        gallery: &GalleryName,
    ) -> Result<u64, StoreError>;

    /// The subject, consent state, template and galleries of one template of a purpose.
    async fn candidate(
        &self,
        purpose: &PurposeId,
        template: &TemplateId,
    ) -> Result<Option<CandidateMaterial>, StoreError>;

    /// Templates of a purpose under one protection version that are in at least one gallery
    /// and whose subject has a live consent, in template-id order after `after`, at most
    /// `limit`: the pages that fill the in-memory galleries at start.
    async fn index_page(
        &self,
        purpose: &PurposeId,
        version: u32,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<IndexRecord>, StoreError>;

    /// The gallery templates of one subject for a purpose under one protection version, if
    /// the subject's consent is live (what [`GalleryStore::index_page`] would list for them).
    async fn index_records_of(
        &self,
        purpose: &PurposeId,
        version: u32,
        subject: &Pseudonym,
    ) -> Result<Vec<IndexRecord>, StoreError>;

    /// Whether a template exists.
    async fn template_exists(&self, template: &TemplateId) -> Result<bool, StoreError>;

    /// Records identifications: the use of the templates found and one audit leaf per
    /// decision, in one transaction. Returns the leaves' indexes.
    async fn record_identification(
        &self,
        templates: &[TemplateId],
        at: Timestamp,
        leaves: &[LeafDraft],
    ) -> Result<Vec<u64>, StoreError>;
}
