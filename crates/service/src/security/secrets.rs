//! The service's own secrets: the key behind subject pseudonyms and the key behind API-key
//! and admin-token digests.
//!
//! They live in the database wrapped by the key provider, so every node sharing a database
//! and a key manager derives the same pseudonyms, and a stolen database without the key
//! manager yields neither. On first start one node creates them; a node that loses the race
//! reads the winner's.

use bioguard_core::{Pseudonym, SubjectRef, TenantId};
use bioguard_crypto::{Aad, KekRef, Key256, KeyProvider, MacKey, WrappedKey};
use bioguard_store::{KeyStore, SealedKey};
use sha2::Digest;

use crate::clock::now;
use crate::error::ServiceError;

const PSEUDONYM_KEY: &str = "pseudonym-key";
const TOKEN_KEY: &str = "token-digest-key";
const LOG_KEY: &str = "audit-log-key";
const DOCUMENT_KEY: &str = "document-signing-key";
const LEDGER_KEY: &str = "ledger-subject-key";
const WEBHOOK_KEY: &str = "webhook-key";

/// The service secrets, unwrapped in memory.
pub struct Secrets {
    pseudonym: MacKey,
    ledger: MacKey,
    token: MacKey,
    webhook: MacKey,
    log: bioguard_ledger::LogKey,
    origin: String,
    documents: bioguard_ledger::DocumentKey,
}

impl Secrets {
    pub(crate) async fn load_or_create(
        store: &dyn KeyStore,
        keys: &dyn KeyProvider,
    ) -> Result<Self, ServiceError> {
        let seed = load_one(store, keys, LOG_KEY).await?;
        // The origin names this log: a fingerprint of its public key, so two deployments
        // never share one, and every node of a deployment agrees on it.
        let public = ed25519_public(seed.expose());
        let origin = format!(
            "bioguard.log/{}",
            bioguard_crypto::hex_encode(&sha2::Sha256::digest(public)[..8])
        );
        let log = bioguard_ledger::LogKey::from_seed(&origin, seed.expose())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Self {
            pseudonym: MacKey::new(load_one(store, keys, PSEUDONYM_KEY).await?),
            ledger: MacKey::new(load_one(store, keys, LEDGER_KEY).await?),
            token: MacKey::new(load_one(store, keys, TOKEN_KEY).await?),
            webhook: MacKey::new(load_one(store, keys, WEBHOOK_KEY).await?),
            log,
            origin,
            documents: bioguard_ledger::DocumentKey::from_seed(
                load_one(store, keys, DOCUMENT_KEY).await?.expose(),
            ),
        })
    }

    /// The key that signs consent receipts and deletion certificates.
    pub(crate) fn document_key(&self) -> &bioguard_ledger::DocumentKey {
        &self.documents
    }

    /// The audit log's signing key.
    pub(crate) fn log_key(&self) -> &bioguard_ledger::LogKey {
        &self.log
    }

    /// The audit log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The pseudonym of a relying party's subject identifier.
    /// The default tenant keeps the formula of the days before tenants, so existing
    /// subjects keep their pseudonyms; another tenant's subjects are keyed by the tenant too
    /// (a tenant id holds no `:`, so the input is unambiguous).
    pub fn pseudonym(&self, tenant: &TenantId, subject: &SubjectRef) -> Pseudonym {
        if tenant.is_default() {
            return Pseudonym::from_digest(
                self.pseudonym
                    .mac("bioguard/subject/v1", subject.expose_bytes()),
            );
        }
        let mut input = Vec::with_capacity(tenant.as_str().len() + 1 + SubjectRef::MAX_LEN);
        input.extend_from_slice(tenant.as_str().as_bytes());
        input.push(b':');
        input.extend_from_slice(subject.expose_bytes());
        Pseudonym::from_digest(self.pseudonym.mac("bioguard/tenant-subject/v1", &input))
    }

    /// A subject's ledger key: from the service's ledger secret, the pseudonym and the
    /// subject's random salt (kept in the subject's row, deleted by erasure).
    pub(crate) fn subject_ledger_key(&self, subject: &Pseudonym, salt: &[u8; 32]) -> Key256 {
        let mut input = Vec::with_capacity(64 + 32);
        input.extend_from_slice(subject.as_str().as_bytes());
        input.extend_from_slice(salt);
        Key256::from_bytes(self.ledger.mac("bioguard/ledger-subject/v1", &input))
    }

    /// The key that seals webhook secrets and outbox payloads, one per use and record: `use`
    /// names what is sealed (`secret`, `payload`), `id` the endpoint or message.
    pub(crate) fn webhook_seal_key(&self, use_: &str, id: &str) -> Key256 {
        let mut input = Vec::with_capacity(use_.len() + 1 + id.len());
        input.extend_from_slice(use_.as_bytes());
        input.push(0);
        input.extend_from_slice(id.as_bytes());
        Key256::from_bytes(self.webhook.mac("bioguard/webhook-seal/v1", &input))
    }

    /// The digest under which a bearer token is stored.
    pub fn token_digest(&self, token: &str) -> [u8; 32] {
        self.token.mac("bioguard/token/v1", token.as_bytes())
    }
}

/// The Ed25519 public key of a seed, for naming the log before its key is built.
fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    // A throwaway name: only the public key is read.
    bioguard_ledger::LogKey::from_seed("x", seed)
        .map(|k| k.verifier().public_key())
        .unwrap_or([0; 32])
}

pub(crate) fn aad(name: &str) -> Aad {
    Aad::new("bioguard/system-secret/v1").field(name.as_bytes())
}

async fn load_one(
    store: &dyn KeyStore,
    keys: &dyn KeyProvider,
    name: &str,
) -> Result<Key256, ServiceError> {
    if store.system_secret(name).await?.is_none() {
        let fresh = Key256::random()?;
        let wrapped = keys.wrap(&fresh, &aad(name)).await?;
        let sealed = SealedKey {
            kek: wrapped.kek.to_string(),
            wrapped: wrapped.ciphertext,
        };
        if store.insert_system_secret(name, &sealed, now()).await? {
            tracing::info!(secret = name, kek = %wrapped.kek, "created service secret");
        }
    }
    let sealed = store
        .system_secret(name)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("service secret {name} vanished")))?;
    let kek: KekRef = sealed.kek.parse().map_err(|()| {
        ServiceError::Internal(format!("service secret {name} names an unreadable key"))
    })?;
    let key = keys
        .unwrap(
            &WrappedKey {
                kek,
                ciphertext: sealed.wrapped,
            },
            &aad(name),
        )
        .await
        .map_err(|e| {
            ServiceError::Internal(format!(
                "cannot unwrap service secret {name}: {e}. The database was initialised with \
                 another master key; start with the same key file (or key manager) it was \
                 created with"
            ))
        })?;
    Ok(key)
}
