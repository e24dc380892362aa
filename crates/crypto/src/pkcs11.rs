//! Key-encryption keys inside a PKCS#11 token (an HSM, or SoftHSM2 for tests and small
//! deployments).
//!
//! Each key version is an AES-256 secret key object on the token, labelled
//! `bioguard-kek-v<N>`, created sensitive and not extractable: it never leaves the token.
//! Data keys are wrapped with AES-GCM inside the token under a fresh 96-bit IV, with the
//! context (key reference and the caller's associated data) as GCM associated data, which
//! is therefore never empty. The wrapped form is `IV || ciphertext || tag`.
//!
//! The token is found by its label, never by slot number (slot ids change when tokens are
//! initialised). The user PIN is given by the operator (an environment variable or a file)
//! and kept in a zeroizing secret.

use std::sync::Mutex;

use async_trait::async_trait;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::{Aad, CryptoError, KekRef, Key256, KeyError, KeyProvider, WrappedKey, hex_encode};

const KIND: &str = "pkcs11";
const LABEL_PREFIX: &str = "bioguard-kek-v";
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// Where the token is and how to log in.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: std::path::PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

struct Version {
    kek: KekRef,
    handle: ObjectHandle,
}

/// A [`KeyProvider`] whose key-encryption keys live in a PKCS#11 token.
pub struct Pkcs11Provider {
    // Declared before `_context`, so the session closes before the library is finalised.
    session: Mutex<Session>,
    versions: std::sync::RwLock<Vec<Version>>,
    token_label: String,
    _context: Pkcs11,
}

impl std::fmt::Debug for Pkcs11Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Provider")
            .field("token_label", &self.token_label)
            .field("current", &self.current().to_string())
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: CkError) -> KeyError {
    KeyError::Unavailable(format!("PKCS#11: {what}: {e}"))
}

impl Pkcs11Provider {
    /// Opens the token, logs in, and loads its key versions; creates version 1 if the token
    /// holds none. Returns the provider and whether a key was created.
    pub fn open_or_create(config: &Pkcs11Config) -> Result<(Self, bool), KeyError> {
        let context = Pkcs11::new(&config.module).map_err(|e| {
            KeyError::Unavailable(format!(
                "cannot load the PKCS#11 module {}: {e}",
                config.module.display()
            ))
        })?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| unavailable("initialise", e))?;
        let slot = context
            .get_slots_with_token()
            .map_err(|e| unavailable("list slots", e))?
            .into_iter()
            .find(|s| {
                context
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label().trim_end() == config.token_label)
            })
            .ok_or_else(|| {
                KeyError::Unavailable(format!(
                    "no PKCS#11 token is labelled {:?}; initialise one (softhsm2-util \
                     --init-token --free --label ...) or correct pkcs11_token_label",
                    config.token_label
                ))
            })?;
        let session = context
            .open_rw_session(slot)
            .map_err(|e| unavailable("open a session", e))?;
        let pin = AuthPin::from(config.pin.as_str().to_owned());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
                return Err(KeyError::Unavailable(
                    "the PKCS#11 token refused the PIN".into(),
                ));
            }
            Err(e) => return Err(unavailable("log in", e)),
        }
        let mut versions = load_versions(&session)?;
        let created = versions.is_empty();
        if created {
            versions.push(generate(&session, 1)?);
        }
        Ok((
            Self {
                session: Mutex::new(session),
                versions: std::sync::RwLock::new(versions),
                token_label: config.token_label.clone(),
                _context: context,
            },
            created,
        ))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Version>> {
        self.versions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn reload(&self) -> Result<(), KeyError> {
        let fresh = load_versions(&self.session())?;
        if fresh.is_empty() {
            return Err(KeyError::Unavailable(
                "the PKCS#11 token no longer holds any bioguard key".into(),
            ));
        }
        *self.versions.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn held(&self) -> String {
        self.read()
            .iter()
            .map(|v| v.kek.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn context(kek: &KekRef, aad: &Aad) -> Aad {
        Aad::new("bioguard/kek/pkcs11/v1")
            .field(kek.to_string().as_bytes())
            .field(aad.as_bytes())
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The bioguard key versions on the token, oldest first.
fn load_versions(session: &Session) -> Result<Vec<Version>, KeyError> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
        ])
        .map_err(|e| unavailable("find keys", e))?;
    let mut out = Vec::new();
    for h in handles {
        let attrs = session
            .get_attributes(h, &[AttributeType::Label, AttributeType::Id])
            .map_err(|e| unavailable("read key attributes", e))?;
        let (mut label, mut id) = (None, None);
        for a in attrs {
            match a {
                Attribute::Label(l) => label = String::from_utf8(l).ok(),
                Attribute::Id(i) => id = Some(i),
                _ => {}
            }
        }
        let Some(version) = label
            .as_deref()
            .and_then(|l| l.strip_prefix(LABEL_PREFIX))
            .and_then(|v| v.parse::<u32>().ok())
        else {
            continue;
        };
        out.push(Version {
            kek: KekRef {
                provider: KIND.into(),
                version,
                key_id: hex_encode(&id.unwrap_or_default()),
            },
            handle: h,
        });
    }
    out.sort_by_key(|v| v.kek.version);
    Ok(out)
}

/// Generates key version `version` inside the token.
fn generate(session: &Session, version: u32) -> Result<Version, KeyError> {
    let id = crate::random_array::<8>().map_err(|e| KeyError::Unavailable(e.to_string()))?;
    let handle = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(format!("{LABEL_PREFIX}{version}").into_bytes()),
                Attribute::Id(id.to_vec()),
            ],
        )
        .map_err(|e| unavailable("generate a key", e))?;
    Ok(Version {
        kek: KekRef {
            provider: KIND.into(),
            version,
            key_id: hex_encode(&id),
        },
        handle,
    })
}

#[async_trait]
impl KeyProvider for Pkcs11Provider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn current(&self) -> KekRef {
        // Invariant: at least one version is held (`reload` refuses an empty token).
        let versions = self.read();
        versions[versions.len() - 1].kek.clone()
    }

    fn versions(&self) -> Vec<KekRef> {
        self.read().iter().map(|v| v.kek.clone()).collect()
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        self.reload()
    }

    async fn rotate(&self) -> Result<KekRef, KeyError> {
        self.reload()?;
        let next = self.current().version + 1;
        let v = generate(&self.session(), next)?;
        self.versions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(v);
        Ok(self.current())
    }

    async fn destroy(&self, version: u32) -> Result<(), KeyError> {
        self.reload()?;
        if version == self.current().version {
            return Err(KeyError::Unavailable(format!(
                "version {version} is the current key; rotate first"
            )));
        }
        let handle = self
            .read()
            .iter()
            .find(|v| v.kek.version == version)
            .map(|v| v.handle)
            .ok_or_else(|| KeyError::UnknownKek {
                wanted: format!("{KIND}:v{version}"),
                held: self.held(),
            })?;
        self.session()
            .destroy_object(handle)
            .map_err(|e| unavailable("destroy the key", e))?;
        self.reload()
    }

    async fn wrap(&self, key: &Key256, aad: &Aad) -> Result<WrappedKey, KeyError> {
        let (kek, handle) = {
            let versions = self.read();
            let v = &versions[versions.len() - 1];
            (v.kek.clone(), v.handle)
        };
        let v = Version { kek, handle };
        let context = Self::context(&v.kek, aad);
        let mut iv =
            crate::random_array::<IV_LEN>().map_err(|e| KeyError::Unavailable(e.to_string()))?;
        let iv_copy = iv;
        let params = GcmParams::new(&mut iv, context.as_bytes(), TAG_BITS.into())
            .map_err(|e| unavailable("GCM parameters", e))?;
        let sealed = self
            .session()
            .encrypt(&Mechanism::AesGcm(params), v.handle, key.expose())
            .map_err(|e| unavailable("encrypt", e))?;
        let mut ciphertext = Vec::with_capacity(IV_LEN + sealed.len());
        ciphertext.extend_from_slice(&iv_copy);
        ciphertext.extend_from_slice(&sealed);
        Ok(WrappedKey {
            kek: v.kek.clone(),
            ciphertext,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &Aad) -> Result<Key256, KeyError> {
        // A version made by another process (a rotation) is looked up on the token once.
        if !self.read().iter().any(|v| v.kek == wrapped.kek) {
            self.reload()?;
        }
        let v = self
            .read()
            .iter()
            .find(|v| v.kek == wrapped.kek)
            .map(|v| Version {
                kek: v.kek.clone(),
                handle: v.handle,
            })
            .ok_or_else(|| KeyError::UnknownKek {
                wanted: wrapped.kek.to_string(),
                held: self.held(),
            })?;
        if wrapped.ciphertext.len() < IV_LEN + 16 {
            return Err(KeyError::Crypto(CryptoError::Truncated));
        }
        let (iv, sealed) = wrapped.ciphertext.split_at(IV_LEN);
        let mut iv = iv.to_vec();
        let context = Self::context(&v.kek, aad);
        let params = GcmParams::new(&mut iv, context.as_bytes(), TAG_BITS.into())
            .map_err(|e| unavailable("GCM parameters", e))?;
        let plain = match self
            .session()
            .decrypt(&Mechanism::AesGcm(params), v.handle, sealed)
        {
            Ok(p) => zeroize::Zeroizing::new(p),
            // A failed tag comes back as invalid data or, from some tokens, as a generic
            // failure; either way this ciphertext does not open under this context.
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::FunctionFailed
                | RvError::GeneralError,
                _,
            )) => return Err(KeyError::Crypto(CryptoError::Integrity)),
            Err(e) => return Err(unavailable("decrypt", e)),
        };
        Key256::from_slice(&plain).ok_or(KeyError::Crypto(CryptoError::Integrity))
    }
}
