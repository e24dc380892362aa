//! Signed documents the person keeps (consent receipts, deletion certificates): compact JWS
//! (RFC 7515) with EdDSA over Ed25519 (RFC 8037), so that any JOSE library can check them
//! against the published JSON Web Key.
//!
//! Only `alg` `EdDSA` is produced and accepted; a token naming any other algorithm, another
//! key id, or carrying anything but a JSON object as payload is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::{Map, Value, json};
use sha2::Digest;

/// Why a signed document does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts of a compact JWS.
    #[error("not a compact JWS (three base64url parts separated by dots)")]
    Format,
    /// The header is not the one this service writes.
    #[error("unexpected header: {0}")]
    Header(String),
    /// The signature does not verify under the key.
    #[error("the signature does not verify: the document was altered or signed by another key")]
    Signature,
    /// The payload is not a JSON object.
    #[error("the payload is not a JSON object")]
    Payload,
    /// The key given is not an Ed25519 JSON Web Key.
    #[error("not an Ed25519 JSON Web Key: {0}")]
    Key(String),
}

/// A key that signs documents.
pub struct DocumentKey {
    key: SigningKey,
    kid: String,
}

impl DocumentKey {
    /// The key from a 32-byte seed. Its id is derived from the public key.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let kid = kid_of(&key.verifying_key());
        Self { key, kid }
    }

    /// The key's id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifier(&self) -> DocumentVerifier {
        DocumentVerifier {
            key: self.key.verifying_key(),
            kid: self.kid.clone(),
        }
    }

    /// Signs a JSON object as a compact JWS with header `{"alg":"EdDSA","kid":..,"typ":typ}`.
    pub fn sign(&self, typ: &str, payload: &Map<String, Value>) -> String {
        let header = json!({"alg": "EdDSA", "kid": self.kid, "typ": typ});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(Value::Object(payload.clone()).to_string())
        );
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64URL.encode(sig.to_bytes()))
    }
}

impl std::fmt::Debug for DocumentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A public key as a JSON Web Key (RFC 7517, RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: &'static str,
    /// Curve: `Ed25519`.
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    /// The key's id.
    pub kid: String,
    /// What it is for: `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
    /// The algorithm: `EdDSA`.
    pub alg: &'static str,
}

/// The `typ` of a consent receipt.
pub const RECEIPT_TYPE: &str = "bioguard-consent-receipt+jwt";
/// The `typ` of a deletion certificate.
pub const CERTIFICATE_TYPE: &str = "bioguard-deletion-certificate+jwt";

/// The public key that checks documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentVerifier {
    key: VerifyingKey,
    kid: String,
}

/// A checked document: its header type and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The header's `typ`.
    pub typ: String,
    /// The payload.
    pub payload: Map<String, Value>,
}

impl DocumentVerifier {
    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as a JSON Web Key (RFC 8037 `OKP`, `Ed25519`).
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: B64URL.encode(self.key.as_bytes()),
            kid: self.kid.clone(),
            key_use: "sig",
            alg: "EdDSA",
        }
    }

    /// [`DocumentVerifier::jwk`] as JSON.
    pub fn to_jwk(&self) -> Value {
        serde_json::to_value(self.jwk()).unwrap_or(Value::Null)
    }

    /// Reads a JSON Web Key; its `kid`, when present, must be the one derived from the key.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JwsError> {
        let field = |k: &str| jwk.get(k).and_then(Value::as_str);
        if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
            return Err(JwsError::Key("kty must be OKP and crv Ed25519".into()));
        }
        let x = field("x")
            .and_then(|x| B64URL.decode(x).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| JwsError::Key("x must be 32 bytes in base64url".into()))?;
        let key = crate::keys::strong_key(&x)
            .ok_or_else(|| JwsError::Key("x is not an Ed25519 public key of full order".into()))?;
        let kid = kid_of(&key);
        if let Some(given) = field("kid")
            && given != kid
        {
            return Err(JwsError::Key(format!(
                "kid {given} does not match the key (expected {kid})"
            )));
        }
        Ok(Self { key, kid })
    }

    /// Checks a compact JWS made by [`DocumentKey::sign`] whose header `typ` is one of
    /// `accepted` (one key signs receipts and certificates: the type says which a document
    /// is, and a document of another type is refused, not reinterpreted).
    pub fn verify(&self, token: &str, accepted: &[&str]) -> Result<Verified, JwsError> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Format);
        };
        let decode = |part: &str| B64URL.decode(part).map_err(|_| JwsError::Format);
        let header: Value =
            serde_json::from_slice(&decode(h)?).map_err(|_| JwsError::Header("not JSON".into()))?;
        if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
            return Err(JwsError::Header("alg must be EdDSA".into()));
        }
        if header.get("kid").and_then(Value::as_str) != Some(self.kid.as_str()) {
            return Err(JwsError::Header(format!(
                "signed by key {}, not {}",
                header
                    .get("kid")
                    .and_then(Value::as_str)
                    .unwrap_or("(none)"),
                self.kid
            )));
        }
        if header.get("crit").is_some() {
            return Err(JwsError::Header("crit is not supported".into()));
        }
        let typ = header
            .get("typ")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !accepted.contains(&typ.as_str()) {
            return Err(JwsError::Header(format!(
                "typ is {typ:?}, expected {}",
                accepted.join(" or ")
            )));
        }
        let sig: [u8; 64] = decode(s)?.try_into().map_err(|_| JwsError::Signature)?;
        if !crate::keys::verifies(&self.key, format!("{h}.{p}").as_bytes(), &sig) {
            return Err(JwsError::Signature);
        }
        let Value::Object(payload) =
            serde_json::from_slice(&decode(p)?).map_err(|_| JwsError::Payload)?
        else {
            return Err(JwsError::Payload);
        };
        Ok(Verified { typ, payload })
    }
}

/// A key id: the first 16 bytes of SHA-256 of the public key, base64url.
fn kid_of(key: &VerifyingKey) -> String {
    B64URL.encode(&sha2::Sha256::digest(key.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Map<String, Value> {
        let Value::Object(m) = json!({"record_id": "con_1", "state": "active"}) else {
            unreachable!("a literal object")
        };
        m
    }

    #[test]
    fn signs_and_verifies_and_refuses_any_change() {
        let key = DocumentKey::from_seed(&[7; 32]);
        let v = key.verifier();
        let t = key.sign("bioguard-consent-receipt", &payload());
        let ok = v
            .verify(&t, &["bioguard-consent-receipt"])
            .expect("verifies");
        // The same signature under another expected type is refused.
        assert!(matches!(
            v.verify(&t, &[CERTIFICATE_TYPE]),
            Err(JwsError::Header(_))
        ));
        assert_eq!(ok.typ, "bioguard-consent-receipt");
        assert_eq!(ok.payload, payload());
        // Every one-byte change anywhere is refused.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(b).expect("ascii");
            if altered != t {
                assert!(
                    v.verify(&altered, &["bioguard-consent-receipt"]).is_err(),
                    "byte {i} changed and still verified"
                );
            }
        }
        let other = DocumentKey::from_seed(&[8; 32]).verifier();
        assert!(other.verify(&t, &["bioguard-consent-receipt"]).is_err());
    }

    #[test]
    fn the_jwk_round_trips_and_names_its_key() {
        let v = DocumentKey::from_seed(&[7; 32]).verifier();
        let jwk = v.to_jwk();
        assert_eq!(DocumentVerifier::from_jwk(&jwk).expect("jwk"), v);
        let mut wrong = jwk.clone();
        wrong["kid"] = json!("x");
        assert!(DocumentVerifier::from_jwk(&wrong).is_err());
        let mut rsa = jwk;
        rsa["kty"] = json!("RSA");
        assert!(DocumentVerifier::from_jwk(&rsa).is_err());
    }

    #[test]
    fn refuses_other_algorithms() {
        let key = DocumentKey::from_seed(&[7; 32]);
        let t = key.sign("x", &payload());
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[0] = B64URL.encode(json!({"alg": "none", "kid": key.kid()}).to_string());
        assert!(matches!(
            key.verifier().verify(&parts.join("."), &["x"]),
            Err(JwsError::Header(_))
        ));
    }
}
