//! Sealing and opening templates under their subject's data key.
//!
//! The associated data binds each ciphertext to (subject pseudonym, purpose, template id,
//! data key id); the wrapped data key is bound to (subject pseudonym, purpose, data key id).
//! A ciphertext copied to another row, subject or purpose therefore fails to open, and the
//! failure is [`ServiceError::Integrity`], which the API reports as an error, never as a
//! non-match.

use bioguard_core::{DataKeyId, Embedding, Pseudonym, PurposeId, TemplateId};
use bioguard_crypto::{Aad, KekRef, Key256, KeyProvider, WrappedKey, open, seal};
use bioguard_store::{SealedKey, StoredDataKey, StoredTemplate};

use crate::ServiceError;

/// The plaintext format of sealed templates: little-endian f32 values.
pub(crate) const FORMAT_RAW_F32: i64 = 1;

/// Proof that a live consent was found for a subject and purpose in the same read as the
/// template. Only the consent check in the verify use case constructs it; opening a
/// template requires it.
pub(crate) struct ConsentChecked(());

impl ConsentChecked {
    /// Constructs the proof. Call only after reading a live consent for the subject and
    /// purpose whose template is about to be opened.
    pub(crate) fn after_live_consent_read() -> Self {
        Self(())
    }
}

fn key_aad(subject: &Pseudonym, purpose: &PurposeId, key: &DataKeyId) -> Aad {
    Aad::new("bioguard/data-key/v1")
        .field(subject.as_str().as_bytes())
        .field(purpose.as_str().as_bytes())
        .field(key.as_str().as_bytes())
}

fn template_aad(
    subject: &Pseudonym,
    purpose: &PurposeId,
    template: &TemplateId,
    key: &DataKeyId,
    format: i64,
) -> Aad {
    Aad::new("bioguard/template/v1")
        .field(subject.as_str().as_bytes())
        .field(purpose.as_str().as_bytes())
        .field(template.as_str().as_bytes())
        .field(key.as_str().as_bytes())
        .field(&format.to_be_bytes())
}

/// A fresh data key for a subject and purpose, wrapped by the key provider.
pub(crate) async fn new_data_key(
    keys: &dyn KeyProvider,
    subject: &Pseudonym,
    purpose: &PurposeId,
) -> Result<(Key256, StoredDataKey), ServiceError> {
    let id = DataKeyId::from_random(crate::random16()?);
    let key = Key256::random()?;
    let wrapped = keys.wrap(&key, &key_aad(subject, purpose, &id)).await?;
    let stored = StoredDataKey {
        id,
        sealed: SealedKey {
            kek: wrapped.kek.to_string(),
            wrapped: wrapped.ciphertext,
        },
    };
    Ok((key, stored))
}

/// Unwraps a stored data key.
pub(crate) async fn unwrap_data_key(
    keys: &dyn KeyProvider,
    subject: &Pseudonym,
    purpose: &PurposeId,
    stored: &StoredDataKey,
) -> Result<Key256, ServiceError> {
    let kek: KekRef = stored
        .sealed
        .kek
        .parse()
        .map_err(|()| ServiceError::Integrity)?;
    let wrapped = WrappedKey {
        kek,
        ciphertext: stored.sealed.wrapped.clone(),
    };
    Ok(keys
        .unwrap(&wrapped, &key_aad(subject, purpose, &stored.id))
        .await?)
}

/// Seals an embedding as a new template.
pub(crate) fn seal_template(
    key: &Key256,
    subject: &Pseudonym,
    purpose: &PurposeId,
    template: &TemplateId,
    data_key: &DataKeyId,
    embedding: &Embedding,
) -> Result<Vec<u8>, ServiceError> {
    let aad = template_aad(subject, purpose, template, data_key, FORMAT_RAW_F32);
    Ok(seal(key, &aad, &embedding.to_bytes())?)
}

/// Opens a stored template. Requires proof of a live consent.
pub(crate) async fn open_template(
    _consent: &ConsentChecked,
    keys: &dyn KeyProvider,
    subject: &Pseudonym,
    purpose: &PurposeId,
    stored: &StoredTemplate,
) -> Result<Embedding, ServiceError> {
    if stored.format != FORMAT_RAW_F32 {
        return Err(ServiceError::Internal(format!(
            "template format {} is not known to this version",
            stored.format
        )));
    }
    let key = unwrap_data_key(keys, subject, purpose, &stored.data_key).await?;
    let aad = template_aad(
        subject,
        purpose,
        &stored.id,
        &stored.data_key.id,
        stored.format,
    );
    let plain = open(&key, &aad, &stored.sealed)?;
    Embedding::from_bytes(&plain).ok_or(ServiceError::Integrity)
}
