use std::path::PathBuf;

/// A failure to seal or open a ciphertext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ciphertext did not authenticate under this key and context: it was altered, moved
    /// to another row, subject or purpose, or sealed under another key. Never a non-match.
    #[error("ciphertext failed authentication (altered, moved, or sealed under another key)")]
    Integrity,
    /// The ciphertext is too short to hold a nonce and a tag.
    #[error("ciphertext is truncated")]
    Truncated,
    /// The operating system's random source failed.
    #[error("the system random number generator failed")]
    Random,
}

/// A failure of a key provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key manager cannot be reached or refused to work; retry later.
    #[error("the key manager is unavailable: {0}")]
    Unavailable(String),
    /// The wrapped key names a key-encryption key this provider does not hold.
    #[error(
        "data was wrapped with key-encryption key {wanted}, which this node does not hold \
         (it holds {held}); give every node the same key file or key manager"
    )]
    UnknownKek {
        /// The key reference found on the wrapped key.
        wanted: String,
        /// The key references this provider holds.
        held: String,
    },
    /// The wrapped key did not authenticate.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The local key file could not be read or written.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What went wrong and what to do.
        reason: String,
    },
}
