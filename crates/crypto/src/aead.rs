//! AES-256-GCM-SIV (RFC 8452) with a random 96-bit nonce stored in front of the ciphertext.
//!
//! GCM-SIV rather than GCM: a repeated nonce under one key reveals only whether two messages
//! were equal, instead of the authentication key. Random nonces are safe either way for the
//! few messages a data key ever seals, but the margin costs little.

use aes_gcm_siv::aead::AeadInOut;
use aes_gcm_siv::{Aes256GcmSiv, KeyInit, Nonce};
use zeroize::Zeroizing;

use crate::{Aad, CryptoError, Key256, random_array};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Seals `plaintext` under `key`, bound to `aad`. Output: nonce || ciphertext || tag.
pub fn seal(key: &Key256, aad: &Aad, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256GcmSiv::new(key.expose().into());
    let nonce_bytes = random_array::<NONCE_LEN>()?;
    let nonce = Nonce::from(nonce_bytes);
    let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    buf.extend_from_slice(&nonce_bytes);
    let mut body = Zeroizing::new(plaintext.to_vec());
    cipher
        .encrypt_in_place(&nonce, aad.as_bytes(), &mut *body)
        .map_err(|_| CryptoError::Integrity)?;
    buf.extend_from_slice(&body);
    Ok(buf)
}

/// Opens a value sealed by [`seal`]. Fails with [`CryptoError::Integrity`] if the key, the
/// associated data or any byte differs.
pub fn open(key: &Key256, aad: &Aad, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let (nonce_bytes, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce_bytes).map_err(|_| CryptoError::Truncated)?;
    let cipher = Aes256GcmSiv::new(key.expose().into());
    let mut buf = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place(&nonce, aad.as_bytes(), &mut *buf)
        .map_err(|_| CryptoError::Integrity)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = Key256::random().expect("rng");
        let aad = Aad::new("test").field(b"row-1");
        let sealed = seal(&key, &aad, b"template bytes").expect("seal");
        assert_eq!(
            &**open(&key, &aad, &sealed).expect("open"),
            b"template bytes"
        );

        let other_aad = Aad::new("test").field(b"row-2");
        assert!(matches!(
            open(&key, &other_aad, &sealed),
            Err(CryptoError::Integrity)
        ));

        let other_key = Key256::random().expect("rng");
        assert!(matches!(
            open(&other_key, &aad, &sealed),
            Err(CryptoError::Integrity)
        ));

        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            open(&key, &aad, &flipped),
            Err(CryptoError::Integrity)
        ));
        assert!(matches!(
            open(&key, &aad, &sealed[..20]),
            Err(CryptoError::Truncated)
        ));
    }

    #[test]
    fn nonces_differ() {
        let key = Key256::random().expect("rng");
        let aad = Aad::new("test");
        assert_ne!(
            seal(&key, &aad, b"x").expect("seal"),
            seal(&key, &aad, b"x").expect("seal")
        );
    }
}
