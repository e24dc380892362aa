//! Tags: how a public leaf names its subject without saying who it is.
//!
//! Each subject has a ledger key, derived from a service secret, the pseudonym and a random
//! salt kept in the subject's row. A leaf about the subject carries a tag made for that leaf
//! alone: a fresh 16-byte nonce and the first 16 bytes of HMAC-SHA-256 of the nonce under the
//! subject's key, written `t1.` followed by the 32 bytes in base64url without padding. No two
//! tags share a value, so nothing public links two uses of one person; whoever holds the
//! key (the person, through their report or portal, and their tenant, through the report)
//! recognises every one of their tags. Erasure deletes the salt, and with it the key: from
//! then on the subject's leaves can be tied to no one, not even by this service.
//!
//! The report and receipts name the subject by a principal also derived from the key, so
//! nothing a person or client is handed appears in a public leaf.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use bioguard_core::Pseudonym;
use bioguard_crypto::{Key256, MacKey};
use bioguard_store::LeafSubject;

use crate::error::ServiceError;
use crate::facade::Service;

/// The detail of an identification's leaf that lists the tags of the subjects returned.
pub(crate) const RETURNED: &str = "returned";

/// What every tag starts with (the format's version).
pub const TAG_PREFIX: &str = "t1.";
const TAG_DOMAIN: &str = "bioguard/leaf-tag/v1";
const PRINCIPAL_DOMAIN: &str = "bioguard/principal/v1";
const DEVICE_DOMAIN: &str = "bioguard/leaf-device/v1";
const REF_DOMAIN: &str = "bioguard/subject-ref/v1";

/// One subject's ledger key. No `Debug`, no `Clone`; zeroed on drop.
pub struct SubjectKey(MacKey, Key256);

impl SubjectKey {
    pub(crate) fn new(key: Key256) -> Self {
        let copy = Key256::from_bytes(*key.expose());
        Self(MacKey::new(key), copy)
    }

    /// A tag for one new leaf, from `nonce` (fresh random bytes each time).
    pub fn tag_with(&self, nonce: [u8; 16]) -> String {
        let mac = self.0.mac(TAG_DOMAIN, &nonce);
        let mut raw = [0u8; 32];
        raw[..16].copy_from_slice(&nonce);
        raw[16..].copy_from_slice(&mac[..16]);
        format!("{TAG_PREFIX}{}", B64URL.encode(raw))
    }

    /// Whether `tag` was made with this key.
    pub fn recognises(&self, tag: &str) -> bool {
        let Some(raw) = tag
            .strip_prefix(TAG_PREFIX)
            .and_then(|b| B64URL.decode(b).ok())
        else {
            return false;
        };
        let Ok(raw) = <[u8; 32]>::try_from(raw.as_slice()) else {
            return false;
        };
        let mac = self.0.mac(TAG_DOMAIN, &raw[..16]);
        // Not secret-dependent timing that matters here: the tag is public, and so is the
        // answer to whoever holds the key.
        mac[..16] == raw[16..]
    }

    /// How a leaf with `tag` names the capture device `device`: 32 hex digits of
    /// HMAC-SHA-256 of the tag, a zero byte and the device id under the subject's key. The
    /// tag is new in every leaf, so the same device gives a new value each time (a phone is
    /// often one person's), and the key's holders can check which device it was.
    pub fn device_digest(&self, tag: &str, device: &str) -> String {
        let mut input = Vec::with_capacity(tag.len() + 1 + device.len());
        input.extend_from_slice(tag.as_bytes());
        input.push(0);
        input.extend_from_slice(device.as_bytes());
        bioguard_crypto::hex_encode(&self.0.mac(DEVICE_DOMAIN, &input)[..16])
    }

    /// Whether `leaf` names the subject of this key: its subject tag, or one of the tags an
    /// identification returned, is theirs; or (for leaves written before tags, and only if
    /// given) it carries their pseudonym.
    pub fn names(&self, leaf: &bioguard_ledger::Leaf, legacy: Option<&Pseudonym>) -> bool {
        let tagged = |s: &str| self.recognises(s) || legacy.is_some_and(|p| p.as_str() == s);
        leaf.subject.as_deref().is_some_and(tagged)
            || leaf
                .detail
                .iter()
                .filter(|(k, _)| k == RETURNED)
                .any(|(_, v)| v.split(',').any(tagged))
    }

    /// The key that seals the client's identifier for this subject (see the webhooks): it
    /// goes with the subject's salt, so erasure destroys it.
    pub(crate) fn ref_seal_key(&self) -> Key256 {
        Key256::from_bytes(self.0.mac(REF_DOMAIN, b""))
    }

    /// The name the subject's report, receipts and certificates give them: 32 hex digits
    /// that appear in no leaf.
    pub fn principal(&self) -> String {
        bioguard_crypto::hex_encode(&self.0.mac(PRINCIPAL_DOMAIN, b"")[..16])
    }

    /// The key itself, base64url, for the person and their tenant to recognise tags with.
    pub fn expose_b64(&self) -> String {
        B64URL.encode(self.1.expose())
    }

    /// Reads a key given out by [`SubjectKey::expose_b64`].
    pub fn from_b64(s: &str) -> Option<Self> {
        let bytes = B64URL.decode(s).ok()?;
        Key256::from_slice(&bytes).map(Self::new)
    }
}

impl Service {
    /// The subject's ledger key, making its salt (and its row) if it has none yet.
    pub(crate) async fn subject_key(
        &self,
        subject: &Pseudonym,
    ) -> Result<SubjectKey, ServiceError> {
        let known = self
            .db
            .tenants
            .ledger_salts(std::slice::from_ref(subject))
            .await?;
        let salt = match known.into_iter().next() {
            Some((_, salt)) => salt,
            None => {
                let fresh = bioguard_crypto::random_array::<32>()
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                self.db
                    .tenants
                    .ledger_salt(subject, fresh, self.now())
                    .await?
            }
        };
        Ok(self.key_of(subject, &salt))
    }

    /// The subject's ledger key if the subject has one (a subject with nothing held, or
    /// erased, has none); changes nothing.
    pub(crate) async fn existing_subject_key(
        &self,
        subject: &Pseudonym,
    ) -> Result<Option<SubjectKey>, ServiceError> {
        Ok(self
            .db
            .tenants
            .ledger_salts(std::slice::from_ref(subject))
            .await?
            .into_iter()
            .next()
            .map(|(_, salt)| self.key_of(subject, &salt)))
    }

    /// The subject's ledger key, or [`ServiceError::SubjectNotFound`] when nothing is held
    /// about them: what subject-level actions (read, erase, lock, portal) start from, so that
    /// they neither create a subject nor tell one tenant's client about another's.
    pub(crate) async fn known_subject_key(
        &self,
        subject: &Pseudonym,
    ) -> Result<SubjectKey, ServiceError> {
        self.existing_subject_key(subject)
            .await?
            .ok_or(ServiceError::SubjectNotFound)
    }

    /// The ledger key of a subject whose salt is in hand.
    pub(crate) fn key_of(&self, subject: &Pseudonym, salt: &[u8; 32]) -> SubjectKey {
        SubjectKey::new(self.secrets.subject_ledger_key(subject, salt))
    }

    /// The subject of a new leaf: the pseudonym kept beside it, and a fresh tag in it.
    pub(crate) fn leaf_subject(
        &self,
        subject: &Pseudonym,
        key: &SubjectKey,
    ) -> Result<LeafSubject, ServiceError> {
        Ok(LeafSubject {
            pseudonym: subject.clone(),
            tag: key.tag_with(crate::clock::random16()?),
        })
    }

    /// [`Service::leaf_subject`] for a subject whose key is not in hand.
    pub(crate) async fn tagged(&self, subject: &Pseudonym) -> Result<LeafSubject, ServiceError> {
        let key = self.subject_key(subject).await?;
        self.leaf_subject(subject, &key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SubjectKey {
        SubjectKey::new(Key256::from_bytes([b; 32]))
    }

    #[test]
    fn every_tag_is_new_and_only_its_key_recognises_it() {
        let (k, other) = (key(1), key(2));
        let (t1, t2) = (k.tag_with([7; 16]), k.tag_with([8; 16]));
        assert!(t1.starts_with(TAG_PREFIX) && t1.len() == TAG_PREFIX.len() + 43);
        assert_ne!(t1, t2);
        assert!(k.recognises(&t1) && k.recognises(&t2));
        assert!(!other.recognises(&t1));
        // Nothing but a whole, unaltered tag is recognised.
        let mut altered = t1.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(!k.recognises(&String::from_utf8(altered).expect("ascii")));
        for bad in [
            "",
            "t1.",
            "t1.!!",
            &t1[TAG_PREFIX.len()..],
            "ab".repeat(32).as_str(),
        ] {
            assert!(!k.recognises(bad), "{bad}");
        }
    }

    #[test]
    fn a_device_is_named_anew_in_every_leaf() {
        let k = key(5);
        let (t1, t2) = (k.tag_with([1; 16]), k.tag_with([2; 16]));
        assert_ne!(k.device_digest(&t1, "dev_a"), k.device_digest(&t2, "dev_a"));
        assert_ne!(k.device_digest(&t1, "dev_a"), k.device_digest(&t1, "dev_b"));
        assert_eq!(
            k.device_digest(&t1, "dev_a"),
            key(5).device_digest(&t1, "dev_a")
        );
    }

    #[test]
    fn the_principal_is_stable_per_key_and_given_out_key_round_trips() {
        let k = key(3);
        assert_eq!(k.principal(), key(3).principal());
        assert_ne!(k.principal(), key(4).principal());
        assert_eq!(k.principal().len(), 32);
        let back = SubjectKey::from_b64(&k.expose_b64()).expect("valid");
        assert!(back.recognises(&k.tag_with([1; 16])));
        assert!(SubjectKey::from_b64("short").is_none());
    }
}
