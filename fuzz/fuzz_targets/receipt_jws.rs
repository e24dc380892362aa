//! Consent receipts and deletion certificates (compact JWS), as `bioguard receipt verify`
//! and the person's tools read them.
#![no_main]

use bioguard_ledger::DocumentKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let verifier = DocumentKey::from_seed(&[5; 32]).verifier();
    let _ = verifier.verify(
        text,
        &[bioguard_ledger::RECEIPT_TYPE, bioguard_ledger::CERTIFICATE_TYPE],
    );
});
