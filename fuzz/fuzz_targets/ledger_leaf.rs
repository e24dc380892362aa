//! Audit ledger leaves, as auditors and `audit verify` read them from a server or an export.
#![no_main]

use bioguard_ledger::Leaf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(leaf) = Leaf::decode(data) {
        // Whatever decodes re-encodes to something that decodes to the same leaf.
        let again = Leaf::decode(&leaf.encode()).expect("a re-encoded leaf decodes");
        assert_eq!(again, leaf);
    }
});
