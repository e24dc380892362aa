//! Records of the audit ledger and of the keys that protect everything else, as they are
//! read back: ledger entries, kept checkpoints, the reserve's balances, key usage.

/// One leaf of the audit ledger with its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Its index.
    pub index: u64,
    /// The leaf, exactly as hashed.
    pub leaf: Vec<u8>,
}

/// A signed checkpoint the service kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCheckpoint {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// How many wrapped keys one key-encryption key wraps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekUsage {
    /// The key-encryption key's reference.
    pub kek: String,
    /// Keys wrapped under it.
    pub keys: u64,
}

/// The balance of one account of the compensation reserve in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// `funding`, `reserve` or `payouts`.
    pub account: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units.
    pub minor_units: i64,
}
