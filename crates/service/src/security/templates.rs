//! Sealing and opening templates under their subject's data key.
//!
//! A template is a protected code (never the embedding), followed, for templates enrolled
//! into galleries, by the relying party's subject identifier, so that identification can name
//! the subjects it finds. Both are sealed together under the subject's data key and destroyed
//! with it.
//!
//! The associated data binds each ciphertext to (subject pseudonym, purpose, template id,
//! data key id, format, protection key version); the wrapped data key is bound to (subject
//! pseudonym, purpose, data key id). A ciphertext copied to another row, subject or purpose
//! therefore fails to open, and the failure is [`ServiceError::Integrity`], which the API
//! reports as an error, never as a non-match.
//!
//! Opening a template needs a [`ConsentChecked`] for its subject and purpose: the proof
//! carries both, and the template is opened under exactly those, so a proof for one person
//! cannot open another's template.

use bioguard_core::{
    CodeBits, DataKeyId, Embedding, Pseudonym, PurposeId, PurposeRecord, SubjectRef, TemplateId,
};
use bioguard_crypto::{Aad, KekRef, Key256, KeyProvider, WrappedKey, open, seal};
use bioguard_engine::ProtectedCode;
use bioguard_store::{SealedKey, StoredDataKey, StoredTemplate};
use zeroize::Zeroizing;

use crate::abuse::auth::PurposeAuthorized;
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::ConsentChecked;

/// The plaintext format of sealed templates: a protected code, optionally followed by the
/// subject identifier. (Format 1, raw embeddings, was never released.)
pub(crate) const FORMAT_PROTECTED: i64 = 2;

/// An opened template.
pub(crate) struct Opened {
    pub(crate) code: ProtectedCode,
    pub(crate) subject: Option<SubjectRef>,
}

pub(crate) fn key_aad(subject: &Pseudonym, purpose: &PurposeId, key: &DataKeyId) -> Aad {
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
    protection_version: u32,
) -> Aad {
    Aad::new("bioguard/template/v2")
        .field(subject.as_str().as_bytes())
        .field(purpose.as_str().as_bytes())
        .field(template.as_str().as_bytes())
        .field(key.as_str().as_bytes())
        .field(&format.to_be_bytes())
        .field(&protection_version.to_be_bytes())
}

/// A fresh data key for a subject and purpose, wrapped by the key provider.
pub(crate) async fn new_data_key(
    keys: &dyn KeyProvider,
    subject: &Pseudonym,
    purpose: &PurposeId,
) -> Result<(Key256, StoredDataKey), ServiceError> {
    let id = DataKeyId::from_random(random16()?);
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

/// What a new template seals.
pub(crate) struct Sealing<'a> {
    pub(crate) subject: &'a Pseudonym,
    pub(crate) purpose: &'a PurposeId,
    pub(crate) template: &'a TemplateId,
    pub(crate) data_key: &'a DataKeyId,
    pub(crate) protection_version: u32,
}

/// Seals a protected code (and the subject identifier, for gallery templates).
pub(crate) fn seal_template(
    key: &Key256,
    s: &Sealing<'_>,
    code: &ProtectedCode,
    subject_ref: Option<&SubjectRef>,
) -> Result<Vec<u8>, ServiceError> {
    let aad = template_aad(
        s.subject,
        s.purpose,
        s.template,
        s.data_key,
        FORMAT_PROTECTED,
        s.protection_version,
    );
    let mut plain = code.to_bytes();
    if let Some(r) = subject_ref {
        plain.extend_from_slice(r.expose_bytes());
    }
    Ok(seal(key, &aad, &plain)?)
}

/// Opens a stored template of the subject and purpose a consent check names, with `bits`-bit
/// codes. A template of anyone else fails its integrity check.
pub(crate) async fn open_template(
    consent: &ConsentChecked,
    keys: &dyn KeyProvider,
    bits: CodeBits,
    stored: &StoredTemplate,
) -> Result<Opened, ServiceError> {
    let (subject, purpose) = (consent.subject(), consent.purpose());
    if stored.format != FORMAT_PROTECTED {
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
        stored.protection_version,
    );
    let plain: Zeroizing<Vec<u8>> = open(&key, &aad, &stored.sealed)?;
    let n = bits.bits() / 8;
    if plain.len() < n {
        return Err(ServiceError::Integrity);
    }
    let code = ProtectedCode::from_bytes(&plain[..n]).ok_or(ServiceError::Integrity)?;
    let subject = if plain.len() > n {
        let text = std::str::from_utf8(&plain[n..]).map_err(|_| ServiceError::Integrity)?;
        Some(SubjectRef::parse(text).map_err(|_| ServiceError::Integrity)?)
    } else {
        None
    };
    Ok(Opened { code, subject })
}

impl Service {
    /// Turns an embedding into the purpose's protected code under its current key, for a use
    /// the client is authorised for. The embedding is consumed: its memory is zeroed as soon
    /// as the code exists.
    pub(crate) async fn protect(
        &self,
        authorized: &PurposeAuthorized,
        purpose: &PurposeRecord,
        embedding: Embedding,
    ) -> Result<ProtectedCode, ServiceError> {
        if authorized.purpose() != &purpose.purpose.id {
            return Err(ServiceError::Internal(
                "an authorisation for one purpose was used for another".into(),
            ));
        }
        let transform = self
            .protection
            .get(
                self.db.purposes.as_ref(),
                self.keys.as_ref(),
                &purpose.purpose,
                purpose.protection_version,
            )
            .await?;
        let code = transform.protect(&embedding).ok_or_else(|| {
            ServiceError::Internal("transform and purpose dimension differ".into())
        })?;
        drop(embedding);
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::Timestamp;
    use bioguard_crypto::LocalKeyFile;
    use bioguard_store::ConsentEvidence;

    use super::*;

    fn live() -> ConsentEvidence {
        ConsentEvidence {
            live: true,
            notice: Some("v1".into()),
            floor: None,
            locked: false,
        }
    }

    fn checked(subject: &Pseudonym, purpose: &PurposeId) -> ConsentChecked {
        ConsentChecked::for_use(subject, purpose, &live(), Timestamp::from_unix(0))
            .expect("a live consent")
    }

    /// A template of `subject` for `purpose`, sealed as enrolment seals it.
    async fn sealed(
        keys: &LocalKeyFile,
        subject: &Pseudonym,
        purpose: &PurposeId,
        code: &ProtectedCode,
        gallery_ref: Option<&SubjectRef>,
    ) -> StoredTemplate {
        let (key, data_key) = new_data_key(keys, subject, purpose).await.expect("key");
        let id = TemplateId::from_random([5; 16]);
        let sealing = Sealing {
            subject,
            purpose,
            template: &id,
            data_key: &data_key.id,
            protection_version: 1,
        };
        StoredTemplate {
            sealed: seal_template(&key, &sealing, code, gallery_ref).expect("sealed"),
            id,
            data_key,
            format: FORMAT_PROTECTED,
            protection_version: 1,
            enrolled_at: Timestamp::from_unix(0),
            last_used_at: None,
        }
    }

    #[tokio::test]
    async fn a_consent_check_opens_its_own_subject_s_template_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (keys, _) = LocalKeyFile::open_or_create(&dir.path().join("k")).expect("key file");
        let (alice, bob) = (
            Pseudonym::from_digest([1; 32]),
            Pseudonym::from_digest([2; 32]),
        );
        let (pay, door) = (
            PurposeId::parse("pay").expect("valid"),
            PurposeId::parse("door").expect("valid"),
        );
        let bits = CodeBits::new(512).expect("valid");
        let code = ProtectedCode::from_bytes(&[0xa5; 64]).expect("a 512-bit code");
        let who = SubjectRef::parse("alice@shop").expect("valid");
        let t = sealed(&keys, &alice, &pay, &code, Some(&who)).await;

        let opened = open_template(&checked(&alice, &pay), &keys, bits, &t)
            .await
            .expect("opens");
        assert_eq!(
            opened.code.to_bytes().as_slice(),
            code.to_bytes().as_slice()
        );
        assert_eq!(
            opened.subject.as_ref().map(SubjectRef::expose_str),
            Some("alice@shop")
        );

        // A proof for someone else, or for another purpose, opens nothing: the sealed bytes
        // are bound to the subject and purpose, and the failure is an integrity error.
        for wrong in [checked(&bob, &pay), checked(&alice, &door)] {
            assert!(matches!(
                open_template(&wrong, &keys, bits, &t).await,
                Err(ServiceError::Integrity)
            ));
        }
        // A template moved to another protection key version does not open either.
        let moved = StoredTemplate {
            protection_version: 2,
            ..t
        };
        assert!(matches!(
            open_template(&checked(&alice, &pay), &keys, bits, &moved).await,
            Err(ServiceError::Integrity)
        ));
    }

    #[tokio::test]
    async fn a_verification_template_carries_no_subject_identifier() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (keys, _) = LocalKeyFile::open_or_create(&dir.path().join("k")).expect("key file");
        let (alice, pay) = (
            Pseudonym::from_digest([1; 32]),
            PurposeId::parse("pay").expect("valid"),
        );
        let code = ProtectedCode::from_bytes(&[0x3c; 64]).expect("a 512-bit code");
        let t = sealed(&keys, &alice, &pay, &code, None).await;
        let opened = open_template(
            &checked(&alice, &pay),
            &keys,
            CodeBits::new(512).expect("valid"),
            &t,
        )
        .await
        .expect("opens");
        assert!(opened.subject.is_none());
        // A format this version does not know is refused, not guessed at.
        let unknown = StoredTemplate { format: 1, ..t };
        assert!(matches!(
            open_template(
                &checked(&alice, &pay),
                &keys,
                CodeBits::new(512).expect("valid"),
                &unknown
            )
            .await,
            Err(ServiceError::Internal(_))
        ));
    }
}
