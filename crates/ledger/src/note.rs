//! Checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).
//!
//! A checkpoint's text is the log's origin, the tree size in decimal and the root hash in
//! base64, one per line. The signed note is that text, a blank line, and one signature line
//! per signer: an em dash, the key name, and base64 of the 4-byte key id followed by the
//! Ed25519 signature of the text. The key id is the first four bytes of
//! SHA-256(name || 0x0A || 0x01 || public key); a verifier key is written
//! `name+<key id hex>+<base64(0x01 || public key)>`. Go's `sumdb/note` reads the same format.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Hash;

/// The Ed25519 algorithm byte of signed-note keys.
const ALG_ED25519: u8 = 0x01;

/// Why a note or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text is not a signed note or checkpoint of the expected form.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// No signature by the expected key was found.
    #[error("the note carries no signature by key {0}")]
    NoSignature(String),
    /// A signature by the expected key does not verify.
    #[error("the signature by key {0} does not verify")]
    BadSignature(String),
    /// The key text or name is invalid.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
}

/// A checkpoint: the log's identity, size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (a name unique to this log).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The root hash of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text (body) of the checkpoint.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    fn parse_body(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::Malformed("no origin"))?;
        let size = lines
            .next()
            .and_then(|l| {
                (!l.is_empty()
                    && (l == "0" || !l.starts_with('0'))
                    && l.bytes().all(|b| b.is_ascii_digit()))
                .then(|| l.parse().ok())
                .flatten()
            })
            .ok_or(NoteError::Malformed("size is not a decimal number"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::Malformed("root is not a base64 SHA-256 hash"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name.contains('+')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(NoteError::BadKey(
            "names are non-empty, without spaces or '+'",
        ));
    }
    Ok(())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The log's signing key. No `Debug`, no `Clone`; the secret is zeroed on drop.
pub struct LogKey {
    name: String,
    key: SigningKey,
}

impl LogKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The public verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs arbitrary note text (which must end with a newline) and returns the signed note.
    pub fn sign_text(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = key_id(&self.name, self.key.verifying_key().as_bytes()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }

    /// The signed note of a checkpoint.
    pub fn sign(&self, c: &Checkpoint) -> String {
        self.sign_text(&c.body())
    }
}

/// A log's public key, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key: VerifyingKey,
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let public = self.key.as_bytes();
        let id = key_id(&self.name, public);
        let mut blob = vec![ALG_ED25519];
        blob.extend_from_slice(public);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            B64.encode(blob)
        )
    }
}

impl VerifierKey {
    /// Parses `name+keyid+base64key`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        // The key's base64 may itself contain '+': only the first two separate fields.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected name+keyid+key"));
        };
        check_name(name)?;
        let blob = B64
            .decode(key)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        if blob.len() != 33 || blob[0] != ALG_ED25519 {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        }
        let public: [u8; 32] = blob[1..]
            .try_into()
            .map_err(|_| NoteError::BadKey("length"))?;
        let expect: String = key_id(name, &public)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if id != expect {
            return Err(NoteError::BadKey("key id does not match the key"));
        }
        Ok(Self {
            name: name.to_owned(),
            key: crate::keys::strong_key(&public)
                .ok_or(NoteError::BadKey("invalid or small-order point"))?,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies a signed note and returns its text.
    pub fn open_text<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before signatures"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if !note.ends_with('\n') {
            return Err(NoteError::Malformed("does not end with a newline"));
        }
        let id = key_id(&self.name, self.key.as_bytes());
        for line in sigs.lines() {
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
                "signature line does not start with an em dash",
            ))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("signature line"))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if name != self.name || blob.len() != 68 || blob[..4] != id {
                continue;
            }
            let sig: [u8; 64] = blob[4..]
                .try_into()
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            if !crate::keys::verifies(&self.key, text.as_bytes(), &sig) {
                return Err(NoteError::BadSignature(self.name.clone()));
            }
            return Ok(text);
        }
        Err(NoteError::NoSignature(self.name.clone()))
    }

    /// Verifies a signed checkpoint and returns it.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse_body(self.open_text(note)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LogKey {
        LogKey::from_seed("bioguard.example/log", &[7; 32]).expect("valid")
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "bioguard.example/log".into(),
            size: 12345,
            root: [0xab; 32],
        }
    }

    #[test]
    fn sign_and_open() {
        let k = key();
        let note = k.sign(&checkpoint());
        assert!(
            note.starts_with("bioguard.example/log\n12345\nq6ur"),
            "{note}"
        );
        assert!(note.contains("\n\n\u{2014} bioguard.example/log "));
        let v = VerifierKey::parse(&k.verifier().to_string()).expect("round trip");
        assert_eq!(v.open(&note).expect("valid"), checkpoint());
    }

    #[test]
    fn tampering_is_refused() {
        let k = key();
        let note = k.sign(&checkpoint());
        let v = k.verifier();
        let forged = note.replace("12345", "12346");
        assert!(matches!(v.open(&forged), Err(NoteError::BadSignature(_))));
        let other = LogKey::from_seed("bioguard.example/log", &[8; 32]).expect("valid");
        assert!(matches!(
            other.verifier().open(&note),
            Err(NoteError::NoSignature(_))
        ));
        assert!(v.open("no signature\n").is_err());
        let mut bytes = note.into_bytes();
        let n = bytes.len();
        bytes[n - 5] ^= 1;
        assert!(v.open(&String::from_utf8_lossy(&bytes)).is_err());
    }

    #[test]
    fn keys_whose_base64_holds_a_plus_round_trip() {
        // Find a seed whose public key's base64 contains '+'.
        let k = (0u8..=255)
            .map(|b| LogKey::from_seed("log", &[b; 32]).expect("key"))
            .find(|k| {
                k.verifier()
                    .to_string()
                    .split_once('+')
                    .is_some_and(|(_, r)| r[9..].contains('+'))
            })
            .expect("some seed gives a '+'");
        let v = VerifierKey::parse(&k.verifier().to_string()).expect("round trip");
        assert_eq!(v, k.verifier());
    }

    #[test]
    fn bad_keys_and_bodies() {
        assert!(LogKey::from_seed("has space", &[1; 32]).is_err());
        assert!(LogKey::from_seed("a+b", &[1; 32]).is_err());
        let vk = key().verifier().to_string();
        let mut parts: Vec<&str> = vk.split('+').collect();
        parts[1] = "00000000";
        assert!(VerifierKey::parse(&parts.join("+")).is_err());
        let k = key();
        for body in [
            "log\n01\nAAAA\n",
            "log\nx\nAAAA\n",
            "log\n1\nnot-base64\n",
            "\n1\nAAAA\n",
        ] {
            assert!(k.verifier().open(&k.sign_text(body)).is_err(), "{body:?}");
        }
    }
}
