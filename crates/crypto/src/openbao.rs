//! Key-encryption keys in OpenBao's transit engine (the Vault-compatible API).
//!
//! The key never leaves OpenBao: data keys are sent to `transit/encrypt/<key>` and come back
//! as `vault:v<N>:<base64>` ciphertexts, with the context (key reference and the caller's
//! associated data) as AES-GCM associated data. The key version is OpenBao's own, so a
//! rotation inside OpenBao shows up as a new `KekRef` version.
//!
//! The token is given by the operator (an environment variable or a file) and never logged.
//! This client speaks plain HTTP: run it against OpenBao on loopback or a private link.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Aad, CryptoError, KekRef, Key256, KeyError, KeyProvider, WrappedKey};

const KIND: &str = "openbao";

/// Where OpenBao is and which transit key to use.
#[derive(Clone)]
pub struct OpenBaoConfig {
    /// The server, e.g. `http://127.0.0.1:8200`.
    pub addr: String,
    /// The token.
    pub token: zeroize::Zeroizing<String>,
    /// The transit engine's mount path (default `transit`).
    pub mount: String,
    /// The transit key's name.
    pub key: String,
}

impl std::fmt::Debug for OpenBaoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBaoConfig")
            .field("addr", &self.addr)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A [`KeyProvider`] over OpenBao transit.
pub struct OpenBaoTransit {
    client: Client<HttpConnector, Full<Bytes>>,
    config: OpenBaoConfig,
    latest: AtomicU32,
    oldest: AtomicU32,
}

impl std::fmt::Debug for OpenBaoTransit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBaoTransit")
            .field("config", &self.config)
            .field("latest", &self.latest.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// An answer from OpenBao: its status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn errors(&self) -> String {
        self.body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }
}

impl OpenBaoTransit {
    /// Connects, and creates the transit key (`aes256-gcm96`) if it does not exist. Returns
    /// the provider and whether the key was created.
    pub async fn open_or_create(config: &OpenBaoConfig) -> Result<(Self, bool), KeyError> {
        if !config.addr.starts_with("http://") {
            return Err(KeyError::Unavailable(
                "openbao_addr must be an http:// address (OpenBao on loopback or a private \
                 link); this client does not speak TLS yet"
                    .into(),
            ));
        }
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'))
        };
        if !ok_name(&config.mount) || !ok_name(&config.key) || config.key.contains('/') {
            return Err(KeyError::Unavailable(
                "openbao_mount and openbao_key must be letters, digits, - and _".into(),
            ));
        }
        let p = Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            config: config.clone(),
            latest: AtomicU32::new(0),
            oldest: AtomicU32::new(1),
        };
        let path = format!("/v1/{}/keys/{}", config.mount, config.key);
        let mut created = false;
        let mut info = p.call("GET", &path, None).await?;
        if info.status == 404 {
            let made = p
                .call("POST", &path, Some(json!({"type": "aes256-gcm96"})))
                .await?;
            if made.status >= 300 {
                return Err(KeyError::Unavailable(format!(
                    "OpenBao refused to create transit key {}: {}",
                    config.key,
                    made.errors()
                )));
            }
            created = true;
            info = p.call("GET", &path, None).await?;
        }
        if info.status != 200 {
            return Err(KeyError::Unavailable(format!(
                "OpenBao answered {} for transit key {} ({}); is the transit engine mounted \
                 at {} and does the token allow it?",
                info.status,
                config.key,
                info.errors(),
                config.mount
            )));
        }
        if info.body["data"]["type"].as_str() != Some("aes256-gcm96") {
            return Err(KeyError::Unavailable(format!(
                "transit key {} is not of type aes256-gcm96",
                config.key
            )));
        }
        p.learn(&info)?;
        Ok((p, created))
    }

    /// Takes the key's versions from a `GET keys/<key>` answer.
    fn learn(&self, info: &Answer) -> Result<(), KeyError> {
        let field = |k: &str| {
            info.body["data"][k]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
        };
        let latest = field("latest_version")
            .ok_or_else(|| KeyError::Unavailable("OpenBao gave no key version".into()))?;
        let oldest = field("min_decryption_version").unwrap_or(1).max(1);
        self.latest.store(latest, Ordering::Relaxed);
        self.oldest.store(oldest, Ordering::Relaxed);
        Ok(())
    }

    async fn key_info(&self) -> Result<Answer, KeyError> {
        let a = self
            .call(
                "GET",
                &format!("/v1/{}/keys/{}", self.config.mount, self.config.key),
                None,
            )
            .await?;
        if a.status != 200 {
            return Err(KeyError::Unavailable(format!(
                "OpenBao answered {} for transit key {}: {}",
                a.status,
                self.config.key,
                a.errors()
            )));
        }
        Ok(a)
    }

    async fn post_ok(&self, path: &str, body: Value, what: &str) -> Result<(), KeyError> {
        let a = self.call("POST", path, Some(body)).await?;
        if a.status >= 300 {
            return Err(KeyError::Unavailable(format!(
                "OpenBao refused to {what} ({}): {}",
                a.status,
                a.errors()
            )));
        }
        Ok(())
    }

    fn kek(&self, version: u32) -> KekRef {
        KekRef {
            provider: KIND.into(),
            version,
            key_id: self.config.key.clone(),
        }
    }

    fn context(key: &str, aad: &Aad) -> Aad {
        // The version is not bound here: OpenBao binds it inside its ciphertext.
        Aad::new("bioguard/kek/openbao/v1")
            .field(key.as_bytes())
            .field(aad.as_bytes())
    }

    /// Encrypts arbitrary bytes with the transit key (one round trip). bioguard itself only
    /// wraps data keys; this serves the "every template in transit" baseline of the load
    /// benchmark.
    pub async fn encrypt_bytes(&self, plaintext: &[u8]) -> Result<String, KeyError> {
        let answer = self
            .call(
                "POST",
                &format!("/v1/{}/encrypt/{}", self.config.mount, self.config.key),
                Some(json!({"plaintext": B64.encode(plaintext)})),
            )
            .await?;
        answer.body["data"]["ciphertext"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                KeyError::Unavailable(format!("OpenBao refused to encrypt: {}", answer.errors()))
            })
    }

    /// Decrypts what [`OpenBaoTransit::encrypt_bytes`] made (one round trip).
    pub async fn decrypt_bytes(&self, ciphertext: &str) -> Result<Vec<u8>, KeyError> {
        let answer = self
            .call(
                "POST",
                &format!("/v1/{}/decrypt/{}", self.config.mount, self.config.key),
                Some(json!({"ciphertext": ciphertext})),
            )
            .await?;
        answer.body["data"]["plaintext"]
            .as_str()
            .and_then(|p| B64.decode(p).ok())
            .ok_or_else(|| {
                KeyError::Unavailable(format!("OpenBao refused to decrypt: {}", answer.errors()))
            })
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, KeyError> {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.config.addr.trim_end_matches('/')))
            .header("X-Vault-Token", self.config.token.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| KeyError::Unavailable(format!("OpenBao request: {e}")))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| KeyError::Unavailable(format!("cannot reach OpenBao: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| KeyError::Unavailable(format!("OpenBao answer: {e}")))?
            .to_bytes();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|_| {
                KeyError::Unavailable(format!("OpenBao answered {status} without JSON"))
            })?
        };
        Ok(Answer { status, body })
    }
}

#[async_trait]
impl KeyProvider for OpenBaoTransit {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn current(&self) -> KekRef {
        self.kek(self.latest.load(Ordering::Relaxed))
    }

    fn versions(&self) -> Vec<KekRef> {
        (self.oldest.load(Ordering::Relaxed)..=self.latest.load(Ordering::Relaxed))
            .map(|v| self.kek(v))
            .collect()
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        let info = self.key_info().await?;
        self.learn(&info)
    }

    async fn rotate(&self) -> Result<KekRef, KeyError> {
        let base = format!("/v1/{}/keys/{}", self.config.mount, self.config.key);
        self.post_ok(
            &format!("{base}/rotate"),
            json!({}),
            "rotate the transit key",
        )
        .await?;
        self.refresh().await?;
        Ok(self.current())
    }

    /// OpenBao keeps a contiguous range of versions: destroying version N destroys every
    /// version up to N.
    async fn destroy(&self, version: u32) -> Result<(), KeyError> {
        self.refresh().await?;
        if version >= self.latest.load(Ordering::Relaxed) {
            return Err(KeyError::Unavailable(format!(
                "version {version} is the current key; rotate first"
            )));
        }
        let base = format!("/v1/{}/keys/{}", self.config.mount, self.config.key);
        self.post_ok(
            &format!("{base}/config"),
            json!({"min_decryption_version": version + 1,
                   "min_encryption_version": self.latest.load(Ordering::Relaxed)}),
            "raise the minimum decryption version",
        )
        .await?;
        self.post_ok(
            &format!("{base}/trim"),
            json!({"min_available_version": version + 1}),
            "trim old key versions",
        )
        .await?;
        self.refresh().await
    }

    async fn wrap(&self, key: &Key256, aad: &Aad) -> Result<WrappedKey, KeyError> {
        let context = Self::context(&self.config.key, aad);
        let plaintext = zeroize::Zeroizing::new(B64.encode(key.expose()));
        let answer = self
            .call(
                "POST",
                &format!("/v1/{}/encrypt/{}", self.config.mount, self.config.key),
                Some(json!({"plaintext": plaintext.as_str(),
                            "associated_data": B64.encode(context.as_bytes())})),
            )
            .await?;
        if answer.status != 200 {
            return Err(KeyError::Unavailable(format!(
                "OpenBao refused to encrypt ({}): {}",
                answer.status,
                answer.errors()
            )));
        }
        let ciphertext = answer.body["data"]["ciphertext"]
            .as_str()
            .ok_or_else(|| KeyError::Unavailable("OpenBao returned no ciphertext".into()))?;
        let version = ciphertext
            .strip_prefix("vault:v")
            .and_then(|r| r.split(':').next())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| KeyError::Unavailable("OpenBao returned an odd ciphertext".into()))?;
        Ok(WrappedKey {
            kek: self.kek(version),
            ciphertext: ciphertext.as_bytes().to_vec(),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &Aad) -> Result<Key256, KeyError> {
        if wrapped.kek.provider != KIND || wrapped.kek.key_id != self.config.key {
            return Err(KeyError::UnknownKek {
                wanted: wrapped.kek.to_string(),
                held: format!("{KIND}:*:{}", self.config.key),
            });
        }
        // The stored ciphertext must be of the version its reference names.
        let prefix = format!("vault:v{}:", wrapped.kek.version);
        let Some(text) = std::str::from_utf8(&wrapped.ciphertext)
            .ok()
            .filter(|t| t.starts_with(&prefix) && t.len() > prefix.len())
        else {
            let latest = self.latest.load(Ordering::Relaxed);
            if wrapped.kek.version > latest {
                return Err(KeyError::UnknownKek {
                    wanted: wrapped.kek.to_string(),
                    held: format!("{KIND}:v1..v{latest}:{}", self.config.key),
                });
            }
            return Err(KeyError::Crypto(CryptoError::Integrity));
        };
        let context = Self::context(&self.config.key, aad);
        let answer = self
            .call(
                "POST",
                &format!("/v1/{}/decrypt/{}", self.config.mount, self.config.key),
                Some(json!({"ciphertext": text,
                            "associated_data": B64.encode(context.as_bytes())})),
            )
            .await?;
        match answer.status {
            200 => {}
            400 => {
                let why = answer.errors();
                // A version trimmed or below min_decryption_version: the key is gone.
                if why.contains("too old")
                    || why.contains("disallowed")
                    || why.contains("not found")
                {
                    return Err(KeyError::UnknownKek {
                        wanted: wrapped.kek.to_string(),
                        held: format!(
                            "{KIND}:*:{} (that version is no longer available)",
                            self.config.key
                        ),
                    });
                }
                return Err(KeyError::Crypto(CryptoError::Integrity));
            }
            s => {
                return Err(KeyError::Unavailable(format!(
                    "OpenBao refused to decrypt ({s}): {}",
                    answer.errors()
                )));
            }
        }
        let plain = answer.body["data"]["plaintext"]
            .as_str()
            .and_then(|p| B64.decode(p).ok())
            .map(zeroize::Zeroizing::new)
            .ok_or(KeyError::Crypto(CryptoError::Integrity))?;
        Key256::from_slice(&plain).ok_or(KeyError::Crypto(CryptoError::Integrity))
    }
}
