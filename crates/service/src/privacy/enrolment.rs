//! Enrolment: collecting the minimum. The embedding becomes a protected code at once and is
//! zeroed; only the sealed code is stored, under the subject's own data key, and only while
//! the subject's consent to the purpose is live (checked again inside the storing
//! transaction).

use bioguard_core::{
    Embedding, GalleryName, Operation, PurposeName, SubjectRef, TemplateId, Timestamp,
    ValidationError,
};
use bioguard_store::{NewTemplate, StoreError};

use crate::abuse::auth::AuthenticatedClient;
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::check_for_enrolment;
use crate::security::templates::{
    FORMAT_PROTECTED, Sealing, new_data_key, seal_template, unwrap_data_key,
};

/// How many times a template is sealed again when a concurrent request changed the data key.
const KEY_RACE_RETRIES: usize = 3;
/// The most galleries one template may be enrolled into.
pub const MAX_GALLERIES_PER_TEMPLATE: usize = 16;

/// The result of an enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// Whether an earlier template for the purpose was replaced.
    pub replaced: bool,
    /// When the template was stored.
    pub enrolled_at: Timestamp,
    /// The galleries 1:N search can find it in.
    pub galleries: Vec<GalleryName>,
}

/// The galleries a template joins: sorted, without duplicates, only for purposes that allow
/// identification, at most [`MAX_GALLERIES_PER_TEMPLATE`].
pub(crate) fn gallery_list(
    mut galleries: Vec<GalleryName>,
    identify_allowed: bool,
) -> Result<Vec<GalleryName>, ValidationError> {
    galleries.sort();
    galleries.dedup();
    if !galleries.is_empty() && !identify_allowed {
        return Err(ValidationError::new(
            "galleries",
            "this purpose does not allow identification, so templates join no gallery",
        ));
    }
    if galleries.len() > MAX_GALLERIES_PER_TEMPLATE {
        return Err(ValidationError::new(
            "galleries",
            format!("at most {MAX_GALLERIES_PER_TEMPLATE} galleries per template"),
        ));
    }
    Ok(galleries)
}

impl Service {
    /// Enrols (or replaces) a subject's template for a purpose: the embedding becomes a
    /// protected code at once, and only the sealed code is stored.
    pub async fn enroll(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        purpose: &PurposeName,
        values: Vec<f32>,
        galleries: Vec<GalleryName>,
    ) -> Result<Enrolment, ServiceError> {
        let purpose_id = &client.purpose(purpose);
        let purpose = self.require_purpose(purpose_id).await?;
        let authorized = client.authorize(purpose_id, Operation::Enroll)?;
        if purpose.retired_at.is_some() {
            return Err(ServiceError::PurposeRetired);
        }
        let embedding = Embedding::parse(values, purpose.purpose.dimension)?;
        let galleries = gallery_list(galleries, purpose.purpose.allows(Operation::Identify))?;
        let pseudonym = self.secrets.pseudonym(client.tenant(), subject);
        // A cheap early refusal; the authoritative checks run inside the storing transaction.
        let material = self
            .db
            .verification
            .verify_material(&pseudonym, purpose_id)
            .await?;
        check_for_enrolment(&material.consent)?;
        let ledger_key = match material.ledger_salt {
            Some(salt) => self.key_of(&pseudonym, &salt),
            None => self.subject_key(&pseudonym).await?,
        };
        let code = self.protect(&authorized, &purpose, embedding).await?;
        let subject_ref = (!galleries.is_empty()).then_some(subject);
        for _ in 0..KEY_RACE_RETRIES {
            let (key, stored, is_new) =
                match self.db.consents.data_key(&pseudonym, purpose_id).await? {
                    Some(stored) => {
                        let key =
                            unwrap_data_key(self.keys.as_ref(), &pseudonym, purpose_id, &stored)
                                .await?;
                        (key, stored, false)
                    }
                    None => {
                        let (key, stored) =
                            new_data_key(self.keys.as_ref(), &pseudonym, purpose_id).await?;
                        (key, stored, true)
                    }
                };
            let template_id = TemplateId::from_random(random16()?);
            let sealing = Sealing {
                subject: &pseudonym,
                purpose: purpose_id,
                template: &template_id,
                data_key: &stored.id,
                protection_version: purpose.protection_version,
            };
            let sealed = seal_template(&key, &sealing, &code, subject_ref)?;
            let at = self.now();
            let template = NewTemplate {
                id: template_id.clone(),
                format: FORMAT_PROTECTED,
                sealed,
                protection_version: purpose.protection_version,
                galleries: galleries.clone(),
                max_gallery_size: purpose.purpose.max_gallery_size,
                at,
            };
            let mut leaf = self.leaf("enrol", client.actor());
            leaf.subject = Some(self.leaf_subject(&pseudonym, &ledger_key)?);
            leaf.purpose = Some(purpose_id.clone());
            leaf.decision = Some("enrolled".into());
            // No template id: the template's later leaves would share it.
            leaf.detail = vec![
                (
                    "protection_version".into(),
                    purpose.protection_version.to_string(),
                ),
                ("galleries".into(), galleries.len().to_string()),
            ];
            match self
                .db
                .consents
                .put_template(&pseudonym, purpose_id, &stored, is_new, &template, &leaf)
                .await
            {
                Ok(out) => {
                    if let Some(old) = &out.replaced {
                        self.galleries.remove(purpose_id, std::slice::from_ref(old));
                    }
                    if !galleries.is_empty() {
                        self.galleries.insert(
                            purpose_id,
                            purpose.protection_version,
                            purpose.purpose.code_bits,
                            &pseudonym,
                            &template_id,
                            &galleries,
                            &code,
                        );
                        // A withdrawal or erasure that committed after our commit but removed
                        // from the galleries before our insert would leave a stale entry:
                        // look again and take it out.
                        if !self.db.galleries.template_exists(&template_id).await? {
                            self.galleries
                                .remove(purpose_id, std::slice::from_ref(&template_id));
                        }
                    }
                    tracing::info!(
                        purpose = %purpose_id,
                        client = %client.record().id,
                        replaced = out.replaced.is_some(),
                        galleries = galleries.len(),
                        "template enrolled"
                    );
                    return Ok(Enrolment {
                        replaced: out.replaced.is_some(),
                        enrolled_at: at,
                        galleries,
                    });
                }
                Err(StoreError::KeyChanged) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Unavailable(
            "concurrent enrolments for this subject kept conflicting; retry".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(names: &[&str]) -> Vec<GalleryName> {
        names
            .iter()
            .map(|n| GalleryName::parse(n).expect("valid"))
            .collect()
    }

    #[test]
    fn galleries_are_deduplicated_bounded_and_only_for_search_purposes() {
        assert_eq!(
            gallery_list(g(&["b", "a", "b"]), true).expect("valid"),
            g(&["a", "b"])
        );
        assert!(gallery_list(Vec::new(), false).expect("valid").is_empty());
        assert_eq!(
            gallery_list(g(&["a"]), false).map_err(|e| e.field()),
            Err("galleries")
        );
        let many: Vec<String> = (0..=MAX_GALLERIES_PER_TEMPLATE)
            .map(|i| format!("g{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(gallery_list(g(&many), true).is_err());
    }
}
