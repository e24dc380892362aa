use async_trait::async_trait;
use bioguard_core::{Operation, Pseudonym, PurposeId, TemplateId, Timestamp};

use crate::error::StoreError;
use crate::records::{LeafDraft, VerifyMaterial};

/// The 1:1 verification hot path: one read, one buffered write.
#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// [`VerificationStore::verify_material_for`] without a client.
    async fn verify_material(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
    ) -> Result<VerifyMaterial, StoreError> {
        self.verify_material_for(subject, purpose, None).await
    }

    /// The purpose, its notice floor, and the consent, lock and template of a subject for
    /// it, read in one statement; with `client`, in the same statement the client whose API
    /// key has `client.0` as its digest, with its grant of operation `client.1` on this
    /// purpose if it has it: a verification authenticates, authorises and reads in one round
    /// trip.
    async fn verify_material_for(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        client: Option<(&[u8; 32], Operation)>,
    ) -> Result<VerifyMaterial, StoreError>;

    /// Records a verification: the template's use time (never moved back) and its audit leaf,
    /// in one transaction. Returns the leaf's index. A template replaced or deleted meanwhile
    /// is left as it is; the leaf is written all the same.
    async fn record_verification(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError>;
}
