//! Bodies of the audit ledger's endpoints and of health.

use serde::Serialize;
use utoipa::ToSchema;

/// Service health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    #[schema(value_type = crate::dto::enums::DatabaseKind)]
    pub database: &'static str,
}

/// The process answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveBody {
    /// `ok`.
    pub status: &'static str,
}

/// The service is ready to serve.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ready`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    #[schema(value_type = crate::dto::enums::DatabaseKind)]
    pub database: &'static str,
    /// The key provider: `local`, `pkcs11` or `openbao`.
    pub key_provider: &'static str,
}

/// The audit log's identity and public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditKeyBody {
    /// The origin line of every checkpoint.
    pub origin: String,
    /// The verifier key, `name+keyid+base64(0x01 || Ed25519 public key)`.
    pub verifier_key: String,
    /// The signature algorithm.
    pub algorithm: &'static str,
    /// The checkpoint format.
    pub checkpoint_format: &'static str,
    /// How leaves are hashed.
    pub leaf_hash: &'static str,
}

/// An inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionBody {
    /// The leaf's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The leaf's hash (base64).
    pub leaf_hash: String,
    /// The audit path (base64 hashes, RFC 6962 order).
    pub hashes: Vec<String>,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyBody {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The proof (base64 hashes, RFC 6962 order).
    pub hashes: Vec<String>,
}

/// A run of leaves.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeavesBody {
    /// The index of the first leaf.
    pub start: u64,
    /// The leaves, each the exact text that is hashed.
    pub leaves: Vec<String>,
}

/// One kept checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointEntry {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// Kept checkpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointsBody {
    /// The checkpoints.
    pub checkpoints: Vec<CheckpointEntry>,
}
