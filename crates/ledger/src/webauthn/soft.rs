//! A software authenticator for tests: it makes registrations and assertions exactly as a
//! security key would (CTAP2 authenticator data, COSE keys, DER ES256 or Ed25519 signatures),
//! so the relying party's checks are exercised on real signatures. Never used outside tests.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use sha2::{Digest, Sha256};

use super::{Algorithm, CredentialKey, FLAG_UP, FLAG_UV, RelyingParty, b64url_encode, cbor};
use crate::cbor::Value;

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// An assertion a software key made, its parts owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedAssertion {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The authenticator data.
    pub authenticator_data: Vec<u8>,
    /// The client data JSON.
    pub client_data_json: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

impl OwnedAssertion {
    /// Borrowed, for [`super::verify_assertion`].
    pub fn as_ref(&self) -> super::Assertion<'_> {
        super::Assertion {
            credential_id: &self.credential_id,
            authenticator_data: &self.authenticator_data,
            client_data_json: &self.client_data_json,
            signature: &self.signature,
        }
    }
}

/// One credential on a software key.
pub struct SoftAuthenticator {
    pair: Pair,
    id: Vec<u8>,
    counter: u32,
    counts: bool,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftAuthenticator")
    }
}

impl SoftAuthenticator {
    /// A new credential of `alg`; `counts` says whether it keeps a signature counter.
    pub fn new(alg: Algorithm, counts: bool) -> Self {
        let rng = SystemRandom::new();
        let pair = match alg {
            Algorithm::Es256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                    .expect("a P-256 key");
                Pair::Es256(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref(), &rng)
                        .expect("reads back"),
                )
            }
            Algorithm::EdDsa => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).expect("an Ed25519 key");
                Pair::EdDsa(Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("reads back"))
            }
        };
        let mut id = vec![0u8; 32];
        getrandom_fill(&rng, &mut id);
        SoftAuthenticator {
            pair,
            id,
            counter: 0,
            counts,
            rng,
        }
    }

    /// The credential id.
    pub fn credential_id(&self) -> &[u8] {
        &self.id
    }

    /// The credential's public key.
    pub fn key(&self) -> CredentialKey {
        match &self.pair {
            Pair::Es256(p) => CredentialKey {
                alg: Algorithm::Es256,
                raw: p.public_key().as_ref().to_vec(),
            },
            Pair::EdDsa(p) => CredentialKey {
                alg: Algorithm::EdDsa,
                raw: p.public_key().as_ref().to_vec(),
            },
        }
    }

    /// A registration for `challenge`: (clientDataJSON, attestationObject), `none` attestation.
    pub fn register(&mut self, rp: &RelyingParty, challenge: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let client = client_data("webauthn.create", challenge, rp.origin());
        let mut auth = self.auth_head(rp.id(), FLAG_UP | FLAG_UV | 0x40);
        auth.extend_from_slice(&[0u8; 16]);
        auth.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.id);
        auth.extend_from_slice(&self.key().to_cose());
        let att = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), Value::Map(Vec::new())),
            (Value::Text("authData".into()), Value::Bytes(auth)),
        ]);
        let mut out = Vec::new();
        cbor::write(&att, &mut out);
        (client, out)
    }

    /// An assertion for `challenge`, with the user present and verified.
    pub fn assert(&mut self, rp: &RelyingParty, challenge: &[u8]) -> OwnedAssertion {
        self.assert_as(rp.id(), rp.origin(), challenge, FLAG_UP | FLAG_UV)
    }

    /// An assertion with the relying party id, origin and flags given (for refusals).
    pub fn assert_as(
        &mut self,
        rp_id: &str,
        origin: &str,
        challenge: &[u8],
        flags: u8,
    ) -> OwnedAssertion {
        let client_data_json = client_data("webauthn.get", challenge, origin);
        let authenticator_data = self.auth_head(rp_id, flags);
        let mut signed = authenticator_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        let signature = match &self.pair {
            Pair::Es256(p) => p.sign(&self.rng, &signed).expect("signs").as_ref().to_vec(),
            Pair::EdDsa(p) => p.sign(&signed).as_ref().to_vec(),
        };
        OwnedAssertion {
            credential_id: self.id.clone(),
            authenticator_data,
            client_data_json,
            signature,
        }
    }

    fn auth_head(&mut self, rp_id: &str, flags: u8) -> Vec<u8> {
        if self.counts {
            self.counter += 1;
        }
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(flags);
        auth.extend_from_slice(&self.counter.to_be_bytes());
        auth
    }
}

fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": kind,
        "challenge": b64url_encode(challenge),
        "origin": origin,
        "crossOrigin": false,
    }))
    .expect("JSON")
}

fn getrandom_fill(rng: &SystemRandom, out: &mut [u8]) {
    use ring::rand::SecureRandom as _;
    rng.fill(out).expect("random bytes");
}
