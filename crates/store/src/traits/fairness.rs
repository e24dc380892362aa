use async_trait::async_trait;
use bioguard_core::{PurposeId, Timestamp};

use crate::error::StoreError;
use crate::records::KeptReport;

/// Fairness reports submitted to the gate, kept so a quorum can name one in an override.
#[async_trait]
pub trait FairnessStore: Send + Sync {
    /// Keeps a fairness report received for a purpose, by its SHA-256 (once).
    async fn save_fairness_report(
        &self,
        sha256: &str,
        purpose: &PurposeId,
        body: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// A kept report.
    async fn fairness_report(&self, sha256: &str) -> Result<Option<KeptReport>, StoreError>;
}
