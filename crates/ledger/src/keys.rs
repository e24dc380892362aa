//! Ed25519 public keys this service accepts, and how signatures are checked.
//!
//! A key of small order (the identity point among them) admits signatures that verify for
//! any message under the usual check; such keys are refused wherever one is registered or
//! read, and every signature is checked with the strict rules (canonical `R` and `S`, no
//! small-order key or `R`), so a key that slipped in still verifies nothing.

use ed25519_dalek::{Signature, VerifyingKey};

/// The key, if `bytes` are a valid Ed25519 point that is not of small order.
pub fn strong_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(bytes)
        .ok()
        .filter(|k| !k.is_weak())
}

/// Whether `signature` is a strictly valid Ed25519 signature of `message` under `key`.
pub fn verifies(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    !key.is_weak()
        && key
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    #[test]
    fn small_order_keys_and_their_forgeries_are_refused() {
        // The identity point, and a signature (R = identity, S = 0) that the lax check
        // accepts for any message under it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(VerifyingKey::from_bytes(&identity).is_ok(), "a valid point");
        assert!(strong_key(&identity).is_none());
        let mut forged = [0u8; 64];
        forged[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).expect("point");
        assert!(!verifies(&weak, b"anything", &forged));
        assert!(!verifies(&weak, b"something else", &forged));

        let signer = SigningKey::from_bytes(&[7; 32]);
        let key = strong_key(&signer.verifying_key().to_bytes()).expect("a strong key");
        let sig = signer.sign(b"message").to_bytes();
        assert!(verifies(&key, b"message", &sig));
        assert!(!verifies(&key, b"other", &sig));
        // S + L (non-canonical) is refused by the strict check.
        let mut malleated = sig;
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(malleated[32 + i]) + u16::from(l[i]) + carry;
            malleated[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert!(!verifies(&key, b"message", &malleated));
    }
}
