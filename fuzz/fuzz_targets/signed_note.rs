//! Signed notes (audit checkpoints) and verifier keys, as auditors read them from a server.
#![no_main]

use bioguard_ledger::{LogKey, VerifierKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = VerifierKey::parse(text);
    let key = LogKey::from_seed("bioguard.test/fuzz", &[3; 32]).expect("log key");
    let verifier = key.verifier();
    // Nothing but a note signed by this key may open, whatever the text.
    if let Ok(checkpoint) = verifier.open(text) {
        assert!(text.contains(&checkpoint.origin));
    }
    let _ = verifier.open_text(text);
});
