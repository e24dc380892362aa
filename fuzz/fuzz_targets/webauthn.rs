//! WebAuthn responses as a browser (or an attacker) posts them: COSE keys, authenticator data,
//! attestation objects and assertions, through the relying party's checks. Nothing may panic,
//! and nothing but a real signature may verify.
#![no_main]

use bioguard_ledger::webauthn::{
    Assertion, AuthenticatorData, CredentialKey, RelyingParty, verify_assertion,
    verify_registration,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rp = RelyingParty::from_origin("https://bioguard.test").expect("origin");
    let _ = CredentialKey::from_cose(data);
    let _ = AuthenticatorData::parse(data);
    // Split the input into client data and attestation object at its first byte's offset.
    let cut = data.first().map_or(0, |&b| usize::from(b).min(data.len()));
    let (client, rest) = data.split_at(cut);
    let _ = verify_registration(&rp, &[7; 32], client, rest);
    if let Ok(key) = CredentialKey::from_cose(rest) {
        let a = Assertion {
            credential_id: b"id",
            authenticator_data: rest,
            client_data_json: client,
            signature: data,
        };
        assert!(verify_assertion(&rp, &[7; 32], &key, &a).is_err());
    }
});
