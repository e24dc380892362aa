//! This node's copy of the audit ledger's leaf hashes, with their complete subtrees cached, so
//! that proofs are answered from memory (`audit` brings it up to date before each answer).

use std::sync::Mutex;

use bioguard_ledger::MemoryTree;

/// This node's copy of the leaf hashes.
#[derive(Default)]
pub(crate) struct LedgerCache {
    tree: Mutex<MemoryTree>,
}

impl LedgerCache {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, MemoryTree> {
        // The tree stays valid if a holder panicked: it only ever grows by whole leaves.
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }
}
