//! Passkeys: the relying party's half of WebAuthn (W3C Web Authentication Level 3), enough
//! to register a credential and to check an assertion, with nothing trusted but the bytes.
//!
//! bioguard uses passkeys for one thing that must be provable afterwards: a risk-group
//! member's approval of a proposal. So the checks live here, in the crate the offline
//! verifier uses, and an approval is stored whole (authenticator data, client data, signature)
//! so anyone holding the member's registered public key can check it again:
//! - the client data says `webauthn.get`, carries the challenge derived from the proposal
//!   ([`approval_challenge`]) and the deployment's origin, and was not made cross-origin;
//! - the authenticator data's first 32 bytes are SHA-256 of the relying party id, and its
//!   flags say the user was present (UP) and verified (UV: a PIN or biometric on the key);
//! - the signature verifies over `authenticatorData || SHA-256(clientDataJSON)` under the
//!   credential's key: ES256 (COSE -7, ECDSA P-256 with SHA-256, DER) or EdDSA (COSE -8,
//!   Ed25519, strict).
//!
//! The signature counter is the caller's to compare (it is state, and the offline verifier has
//! none). Registration accepts the `none` attestation only: bioguard asks for no attestation,
//! because a credential earns trust by the quorum admitting it, not by its maker's certificate
//! (which would also identify the device model).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::cbor::{self, Value};

/// Flag bit: the user was present.
pub const FLAG_UP: u8 = 0x01;
/// Flag bit: the user was verified.
pub const FLAG_UV: u8 = 0x04;
/// Flag bit: attested credential data follows.
const FLAG_AT: u8 = 0x40;
/// Flag bit: extension data follows.
const FLAG_ED: u8 = 0x80;

/// The longest credential id the specification allows.
const MAX_CREDENTIAL_ID: usize = 1023;

/// Why a WebAuthn response was refused. Each names what a verifier of the record would see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebauthnError {
    /// The bytes are not the structure they claim to be.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The client data is for another ceremony (`webauthn.create` where `webauthn.get` was due).
    #[error("the client data is for another ceremony")]
    WrongCeremony,
    /// The challenge is not this one.
    #[error("the challenge is not this one")]
    WrongChallenge,
    /// The browser reported another origin.
    #[error("made for another origin")]
    WrongOrigin,
    /// Made inside a frame of another site.
    #[error("made cross-origin")]
    CrossOrigin,
    /// The authenticator data is for another relying party id.
    #[error("made for another relying party")]
    WrongRelyingParty,
    /// The user-present flag is not set.
    #[error("the user was not present")]
    UserNotPresent,
    /// The user-verified flag is not set.
    #[error("the user was not verified (no PIN or biometric on the key)")]
    UserNotVerified,
    /// The key is neither ES256 nor EdDSA, or not a usable key of its kind.
    #[error("an unsupported or unusable public key")]
    UnsupportedKey,
    /// An attestation format other than `none`.
    #[error("an attestation other than none")]
    UnsupportedAttestation,
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// The origin is not one a passkey can be made for.
    #[error("{0}")]
    BadOrigin(&'static str),
}

/// A credential's signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
}

impl Algorithm {
    /// The COSE algorithm number.
    pub fn cose(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
        }
    }

    /// Its name in the COSE registry.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }
}

/// A credential's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialKey {
    alg: Algorithm,
    /// P-256: the uncompressed point (65 bytes, `04 || x || y`); Ed25519: 32 bytes.
    raw: Vec<u8>,
}

impl CredentialKey {
    /// Reads a COSE_Key (RFC 9053): EC2 P-256 with ES256, or OKP Ed25519 with EdDSA.
    pub fn from_cose(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let v = cbor::read_all(bytes).map_err(|_| WebauthnError::Malformed("COSE key"))?;
        Self::from_value(&v)
    }

    fn from_value(v: &Value) -> Result<Self, WebauthnError> {
        let int = |k| match v.int_key(k) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        let bytes32 = |k| match v.int_key(k) {
            Some(Value::Bytes(b)) if b.len() == 32 => Some(b.clone()),
            _ => None,
        };
        match (int(1), int(3), int(-1)) {
            // kty EC2, alg ES256, crv P-256.
            (Some(2), Some(-7), Some(1)) => {
                let (x, y) = bytes32(-2)
                    .zip(bytes32(-3))
                    .ok_or(WebauthnError::UnsupportedKey)?;
                let mut raw = Vec::with_capacity(65);
                raw.push(4);
                raw.extend_from_slice(&x);
                raw.extend_from_slice(&y);
                Ok(CredentialKey {
                    alg: Algorithm::Es256,
                    raw,
                })
            }
            // kty OKP, alg EdDSA, crv Ed25519.
            (Some(1), Some(-8), Some(6)) => {
                let x = bytes32(-2).ok_or(WebauthnError::UnsupportedKey)?;
                let k: [u8; 32] = x
                    .as_slice()
                    .try_into()
                    .map_err(|_| WebauthnError::UnsupportedKey)?;
                crate::strong_key(&k).ok_or(WebauthnError::UnsupportedKey)?;
                Ok(CredentialKey {
                    alg: Algorithm::EdDsa,
                    raw: x,
                })
            }
            _ => Err(WebauthnError::UnsupportedKey),
        }
    }

    /// The key as a COSE_Key, in CTAP2's canonical form.
    pub fn to_cose(&self) -> Vec<u8> {
        let mut pairs = match self.alg {
            Algorithm::Es256 => vec![
                (Value::Int(1), Value::Int(2)),
                (Value::Int(3), Value::Int(-7)),
                (Value::Int(-1), Value::Int(1)),
                (Value::Int(-2), Value::Bytes(self.raw[1..33].to_vec())),
                (Value::Int(-3), Value::Bytes(self.raw[33..65].to_vec())),
            ],
            Algorithm::EdDsa => vec![
                (Value::Int(1), Value::Int(1)),
                (Value::Int(3), Value::Int(-8)),
                (Value::Int(-1), Value::Int(6)),
                (Value::Int(-2), Value::Bytes(self.raw.clone())),
            ],
        };
        pairs.shrink_to_fit();
        let mut out = Vec::new();
        cbor::write(&Value::Map(pairs), &mut out);
        out
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.alg {
            Algorithm::Es256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.raw)
                .verify(message, signature)
                .is_ok(),
            Algorithm::EdDsa => {
                let (Ok(k), Ok(sig)) = (
                    <[u8; 32]>::try_from(self.raw.as_slice()),
                    <[u8; 64]>::try_from(signature),
                ) else {
                    return false;
                };
                crate::strong_key(&k).is_some_and(|key| crate::verifies(&key, message, &sig))
            }
        }
    }
}

/// Who the passkeys are for: the relying party id (a host name) and the exact origin pages
/// are served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    origin: String,
}

impl RelyingParty {
    /// The relying party of `origin` (`https://host[:port]`, or `http://localhost[:port]`,
    /// which browsers treat as secure): its id is the host. Browsers refuse IP addresses as
    /// relying party ids, so an address is refused here with the reason.
    pub fn from_origin(origin: &str) -> Result<Self, WebauthnError> {
        let (scheme, rest) = origin.split_once("://").ok_or(WebauthnError::BadOrigin(
            "an origin is scheme://host[:port]",
        ))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(WebauthnError::BadOrigin(
                "an origin is scheme://host[:port], with no path",
            ));
        }
        let host = match rest.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return Err(WebauthnError::BadOrigin("the port is not a number")),
            None => rest,
        };
        if host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[') {
            return Err(WebauthnError::BadOrigin(
                "passkeys need a host name, not an IP address (use localhost or a DNS name)",
            ));
        }
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !host_ok {
            return Err(WebauthnError::BadOrigin(
                "the host must be a lowercase DNS name",
            ));
        }
        match scheme {
            "https" => {}
            "http" if host == "localhost" => {}
            _ => {
                return Err(WebauthnError::BadOrigin(
                    "passkeys need https (plain http only for localhost)",
                ));
            }
        }
        Ok(RelyingParty {
            id: host.to_owned(),
            origin: origin.to_owned(),
        })
    }

    /// The relying party id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The parts of authenticator data a relying party reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    /// SHA-256 of the relying party id.
    pub rp_id_hash: [u8; 32],
    /// The flags byte.
    pub flags: u8,
    /// The signature counter (0 when the authenticator keeps none).
    pub sign_count: u32,
    /// The new credential, in a registration.
    pub attested: Option<(Vec<u8>, CredentialKey)>,
}

impl AuthenticatorData {
    /// Reads authenticator data (WebAuthn section 6.1).
    pub fn parse(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let bad = WebauthnError::Malformed("authenticator data");
        if bytes.len() < 37 {
            return Err(bad);
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let mut rest = &bytes[37..];
        let mut attested = None;
        if flags & FLAG_AT != 0 {
            // aaguid (16), credential id length (2), credential id, COSE key.
            if rest.len() < 18 {
                return Err(bad);
            }
            let n = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            rest = &rest[18..];
            if n == 0 || n > MAX_CREDENTIAL_ID || rest.len() < n {
                return Err(bad);
            }
            let id = rest[..n].to_vec();
            let (key, after) = cbor::read(&rest[n..]).map_err(|_| bad.clone())?;
            attested = Some((id, CredentialKey::from_value(&key)?));
            rest = after;
        }
        if flags & FLAG_ED != 0 {
            let (ext, after) = cbor::read(rest).map_err(|_| bad.clone())?;
            if !matches!(ext, Value::Map(_)) {
                return Err(bad);
            }
            rest = after;
        }
        if !rest.is_empty() {
            return Err(bad);
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }

    fn check(&self, rp: &RelyingParty) -> Result<(), WebauthnError> {
        if self.rp_id_hash != <[u8; 32]>::from(Sha256::digest(rp.id.as_bytes())) {
            return Err(WebauthnError::WrongRelyingParty);
        }
        if self.flags & FLAG_UP == 0 {
            return Err(WebauthnError::UserNotPresent);
        }
        if self.flags & FLAG_UV == 0 {
            return Err(WebauthnError::UserNotVerified);
        }
        Ok(())
    }
}

/// The client data the browser wrote (WebAuthn section 5.8.1).
#[derive(Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default, rename = "crossOrigin")]
    cross_origin: Option<bool>,
    #[serde(default, rename = "topOrigin")]
    top_origin: Option<String>,
}

fn check_client_data(
    rp: &RelyingParty,
    ceremony: &str,
    challenge: &[u8],
    client_data_json: &[u8],
) -> Result<(), WebauthnError> {
    let c: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|_| WebauthnError::Malformed("client data"))?;
    if c.kind != ceremony {
        return Err(WebauthnError::WrongCeremony);
    }
    if c.challenge != B64URL.encode(challenge) {
        return Err(WebauthnError::WrongChallenge);
    }
    if c.origin != rp.origin {
        return Err(WebauthnError::WrongOrigin);
    }
    if c.cross_origin == Some(true) || c.top_origin.is_some() {
        return Err(WebauthnError::CrossOrigin);
    }
    Ok(())
}

/// A credential a registration created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// The credential id.
    pub id: Vec<u8>,
    /// Its public key.
    pub key: CredentialKey,
    /// The counter it started at.
    pub sign_count: u32,
}

/// Checks a registration (WebAuthn section 7.1) made for `challenge`: the client data, the
/// relying party, user presence and verification, and a `none` attestation.
pub fn verify_registration(
    rp: &RelyingParty,
    challenge: &[u8],
    client_data_json: &[u8],
    attestation_object: &[u8],
) -> Result<NewCredential, WebauthnError> {
    check_client_data(rp, "webauthn.create", challenge, client_data_json)?;
    let att = cbor::read_all(attestation_object)
        .map_err(|_| WebauthnError::Malformed("attestation object"))?;
    match (att.text_key("fmt"), att.text_key("attStmt")) {
        (Some(Value::Text(f)), Some(Value::Map(stmt))) if f == "none" && stmt.is_empty() => {}
        (Some(Value::Text(_)), Some(Value::Map(_))) => {
            return Err(WebauthnError::UnsupportedAttestation);
        }
        _ => return Err(WebauthnError::Malformed("attestation object")),
    }
    let Some(Value::Bytes(auth)) = att.text_key("authData") else {
        return Err(WebauthnError::Malformed("attestation object"));
    };
    let data = AuthenticatorData::parse(auth)?;
    data.check(rp)?;
    let (id, key) = data
        .attested
        .ok_or(WebauthnError::Malformed("authenticator data"))?;
    Ok(NewCredential {
        id,
        key,
        sign_count: data.sign_count,
    })
}

/// An assertion as the browser returned it, every part kept so it can be checked again.
/// (Its JSON form, base64url parts, is `bioguard_core::PasskeyAssertion`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion<'a> {
    /// The credential id.
    pub credential_id: &'a [u8],
    /// The authenticator data.
    pub authenticator_data: &'a [u8],
    /// The client data JSON.
    pub client_data_json: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

/// What a checked assertion says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asserted {
    /// The authenticator's signature counter.
    pub sign_count: u32,
}

/// Checks an assertion (WebAuthn section 7.2) made for `challenge` under `key`: the client
/// data, the relying party, user presence and verification, and the signature. The caller
/// checks that the credential is the one it expects and compares the counter.
pub fn verify_assertion(
    rp: &RelyingParty,
    challenge: &[u8],
    key: &CredentialKey,
    a: &Assertion<'_>,
) -> Result<Asserted, WebauthnError> {
    check_client_data(rp, "webauthn.get", challenge, a.client_data_json)?;
    let data = AuthenticatorData::parse(a.authenticator_data)?;
    if data.attested.is_some() {
        return Err(WebauthnError::Malformed("authenticator data"));
    }
    data.check(rp)?;
    let mut signed = a.authenticator_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(a.client_data_json));
    if !key.verifies(&signed, a.signature) {
        return Err(WebauthnError::BadSignature);
    }
    Ok(Asserted {
        sign_count: data.sign_count,
    })
}

/// Whether a counter moved as a genuine authenticator's does: both zero (it keeps none), or
/// strictly up. A counter that did not move means a cloned key or a replayed assertion.
pub fn counter_advanced(stored: u32, asserted: u32) -> bool {
    (stored == 0 && asserted == 0) || asserted > stored
}

/// The challenge a member's passkey signs to approve a proposal: SHA-256 over a label, the
/// proposal's id, its expiry (Unix seconds) and SHA-256 of its canonical payload. Anyone with
/// the proposal can compute it, so a stored approval can be checked without the server; an
/// assertion for one proposal is worthless for any other.
pub fn approval_challenge(proposal_id: &str, expires_at: i64, payload: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"bioguard-approval/v1\n");
    h.update(proposal_id.as_bytes());
    h.update(b"\n");
    h.update(expires_at.to_string().as_bytes());
    h.update(b"\n");
    h.update(Sha256::digest(payload.as_bytes()));
    h.finalize().into()
}

/// Base64url without padding, as WebAuthn's JSON forms write binary.
pub fn b64url_encode(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

#[cfg(any(test, feature = "testing"))]
pub mod soft;

#[cfg(test)]
mod tests;
