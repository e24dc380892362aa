use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::Key256;

/// A key for HMAC-SHA-256, used for subject pseudonyms and for API key digests.
///
/// Each use passes its own domain label, so one key never produces the same output for two
/// uses. Without the key, neither a pseudonym nor a digest can be computed from a guess, which
/// is what keeps a stolen database from being searched for a known person or token.
pub struct MacKey(Key256);

impl MacKey {
    /// Wraps a key.
    pub fn new(key: Key256) -> Self {
        Self(key)
    }

    /// HMAC-SHA-256 over `domain || 0x00 || data`.
    pub fn mac(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose())
            .expect("HMAC accepts keys of any length");
        m.update(domain.as_bytes());
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate() {
        let k = MacKey::new(Key256::from_slice(&[7; 32]).expect("32 bytes"));
        assert_ne!(k.mac("a", b"x"), k.mac("b", b"x"));
        assert_eq!(k.mac("a", b"x"), k.mac("a", b"x"));
    }

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2 checks the HMAC itself: key "Jefe", no domain separation.
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").expect("any length");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            crate::hex_encode(&m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
