//! [`VerificationStore`] on SQL: the verification hot path (ADR 0017, ADR 0018).

use async_trait::async_trait;
use bioguard_core::{Operation, Pseudonym, PurposeId, TemplateId, Timestamp};

use crate::error::StoreError;
use crate::records::{LeafDraft, VerifyMaterial};
use crate::sql::store::SqlStore;
use crate::sql::verify_read::{VerifyKey, material_from_row, read_verify_material};
use crate::traits::VerificationStore;

#[async_trait]
impl VerificationStore for SqlStore {
    async fn verify_material_for(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        client: Option<(&[u8; 32], Operation)>,
    ) -> Result<VerifyMaterial, StoreError> {
        let key = VerifyKey {
            subject: subject.clone(),
            purpose: purpose.clone(),
            client: client.map(|(d, op)| (*d, op)),
        };
        let Some(lite) = &self.lite else {
            return read_verify_material(&self.pool, &key).await;
        };
        let digest = key.digest();
        lite.read(
            &[
                ("$1", &key.subject.as_str()),
                ("$2", &key.purpose.as_str()),
                ("$3", &digest),
                ("$4", &key.operation()),
            ],
            |row| material_from_row(row, &key),
        )
    }

    async fn record_verification(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError> {
        let (template, leaf) = (template.clone(), leaf.clone());
        // No statement of its own: the use time and the leaf go out with the batch's others.
        self.writer
            .write_rows(move |b| {
                b.touch_template(template.as_str(), at.unix());
                b.append_leaf(&leaf)
            })
            .await
    }
}
