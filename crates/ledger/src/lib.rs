//! The tamper-evident audit ledger: RFC 6962 / RFC 9162 Merkle trees, inclusion and
//! consistency proofs, and checkpoints as C2SP signed notes with an Ed25519 log key.
//!
//! This crate is pure: it hashes, proves, signs and verifies, and leaves storage to the store.
//! The same code serves the service (which produces proofs and checkpoints) and the offline
//! verifier (which checks them), and its output is cross-checked against Go's
//! `golang.org/x/mod/sumdb/tlog` and `sumdb/note` in CI (`ledger-crosscheck/`).

mod cbor;
mod jws;
mod keys;
mod leaf;
mod note;
mod tree;
mod verify;
pub mod webauthn;

pub use jws::{
    CERTIFICATE_TYPE, DocumentKey, DocumentVerifier, Jwk, JwsError, RECEIPT_TYPE, Verified,
};
pub use keys::{strong_key, verifies};
pub use leaf::{LEAF_VERSION, Leaf};
pub use note::{Checkpoint, LogKey, NoteError, VerifierKey};
pub use tree::{
    Hash, HashSource, MemoryTree, ProofError, consistency_proof, inclusion_proof, leaf_hash,
    node_hash, root, verify_consistency, verify_inclusion,
};
pub use verify::{Report, verify_log};
