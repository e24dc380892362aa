use super::soft::SoftAuthenticator;
use super::*;

fn rp() -> RelyingParty {
    RelyingParty::from_origin("https://console.example.org").expect("an origin")
}

#[test]
fn origins_give_their_relying_party_or_say_why_not() {
    let rp = rp();
    assert_eq!(rp.id(), "console.example.org");
    let local = RelyingParty::from_origin("http://localhost:8600").expect("localhost");
    assert_eq!(local.id(), "localhost");
    for bad in [
        "console.example.org",
        "http://console.example.org",
        "https://10.0.0.1",
        "https://[::1]:8600",
        "https://Console.example.org",
        "https://console.example.org/path",
        "https://console.example.org:port",
        "ftp://localhost",
        "https://",
    ] {
        assert!(
            matches!(
                RelyingParty::from_origin(bad),
                Err(WebauthnError::BadOrigin(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_registration_yields_the_authenticators_key() {
    let rp = rp();
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let mut key = SoftAuthenticator::new(alg, true);
        let challenge = [7u8; 32];
        let (client, att) = key.register(&rp, &challenge);
        let cred = verify_registration(&rp, &challenge, &client, &att).expect("registers");
        assert_eq!(cred.id, key.credential_id());
        assert_eq!(cred.key, key.key());
        assert_eq!(cred.key.algorithm(), alg);
        // The COSE form round-trips.
        assert_eq!(
            CredentialKey::from_cose(&cred.key.to_cose()),
            Ok(cred.key.clone())
        );
        // Another challenge, origin or ceremony is refused.
        assert_eq!(
            verify_registration(&rp, &[8u8; 32], &client, &att),
            Err(WebauthnError::WrongChallenge)
        );
        let other = RelyingParty::from_origin("https://evil.example.org").expect("origin");
        assert_eq!(
            verify_registration(&other, &challenge, &client, &att),
            Err(WebauthnError::WrongOrigin)
        );
    }
}

#[test]
fn fail_attestations_other_than_none() {
    let rp = rp();
    let mut key = SoftAuthenticator::new(Algorithm::Es256, true);
    let (client, att) = key.register(&rp, &[1; 32]);
    let mut v = cbor::read_all(&att).expect("CBOR");
    if let Value::Map(pairs) = &mut v {
        pairs[0].1 = Value::Text("packed".into());
    }
    let mut packed = Vec::new();
    cbor::write(&v, &mut packed);
    assert_eq!(
        verify_registration(&rp, &[1; 32], &client, &packed),
        Err(WebauthnError::UnsupportedAttestation)
    );
    assert!(matches!(
        verify_registration(&rp, &[1; 32], &client, &att[..att.len() - 1]),
        Err(WebauthnError::Malformed(_))
    ));
}

#[test]
fn an_assertion_verifies_only_as_made() {
    let rp = rp();
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let mut key = SoftAuthenticator::new(alg, true);
        let pk = key.key();
        let challenge =
            approval_challenge("prop_1", 1_900_000_000, "{\"type\":\"bioguard-proposal\"}");
        let a = key.assert(&rp, &challenge);
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &a.as_ref()),
            Ok(Asserted { sign_count: 1 })
        );
        // For another proposal.
        let other = approval_challenge("prop_2", 1_900_000_000, "{\"type\":\"bioguard-proposal\"}");
        assert_eq!(
            verify_assertion(&rp, &other, &pk, &a.as_ref()),
            Err(WebauthnError::WrongChallenge)
        );
        // Tampered: a flipped bit of the signature, of the authenticator data (the counter).
        let mut t = a.clone();
        let last = t.signature.len() - 1;
        t.signature[last] ^= 1;
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &t.as_ref()),
            Err(WebauthnError::BadSignature)
        );
        let mut t = a.clone();
        t.authenticator_data[36] ^= 1;
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &t.as_ref()),
            Err(WebauthnError::BadSignature)
        );
        // Another credential's key.
        let stranger = SoftAuthenticator::new(alg, true).key();
        assert_eq!(
            verify_assertion(&rp, &challenge, &stranger, &a.as_ref()),
            Err(WebauthnError::BadSignature)
        );
        // Without user verification; without presence; for another relying party id; from
        // another origin.
        let origin = rp.origin().to_owned();
        let no_uv = key.assert_as(rp.id(), &origin, &challenge, FLAG_UP);
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &no_uv.as_ref()),
            Err(WebauthnError::UserNotVerified)
        );
        let no_up = key.assert_as(rp.id(), &origin, &challenge, FLAG_UV);
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &no_up.as_ref()),
            Err(WebauthnError::UserNotPresent)
        );
        let elsewhere = key.assert_as("example.org", &origin, &challenge, FLAG_UP | FLAG_UV);
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &elsewhere.as_ref()),
            Err(WebauthnError::WrongRelyingParty)
        );
        let phished = key.assert_as(
            rp.id(),
            "https://console.example.org.evil",
            &challenge,
            FLAG_UP | FLAG_UV,
        );
        assert_eq!(
            verify_assertion(&rp, &challenge, &pk, &phished.as_ref()),
            Err(WebauthnError::WrongOrigin)
        );
    }
}

#[test]
fn counters_must_move_forward_unless_the_key_keeps_none() {
    assert!(counter_advanced(0, 0));
    assert!(counter_advanced(0, 1));
    assert!(counter_advanced(5, 6));
    assert!(!counter_advanced(5, 5));
    assert!(!counter_advanced(5, 0));
    assert!(!counter_advanced(5, 4));
}

#[test]
fn the_approval_challenge_binds_id_expiry_and_payload() {
    let base = approval_challenge("p", 10, "{}");
    assert_ne!(base, approval_challenge("q", 10, "{}"));
    assert_ne!(base, approval_challenge("p", 11, "{}"));
    assert_ne!(base, approval_challenge("p", 10, "{ }"));
    assert_eq!(base, approval_challenge("p", 10, "{}"));
}

#[test]
fn fail_keys_that_are_not_es256_or_eddsa_on_their_curves() {
    let es = SoftAuthenticator::new(Algorithm::Es256, true)
        .key()
        .to_cose();
    let mut v = cbor::read_all(&es).expect("CBOR");
    // ES384 (-35) on P-256.
    if let Value::Map(pairs) = &mut v {
        pairs[1].1 = Value::Int(-35);
    }
    let mut out = Vec::new();
    cbor::write(&v, &mut out);
    assert_eq!(
        CredentialKey::from_cose(&out),
        Err(WebauthnError::UnsupportedKey)
    );
    // An Ed25519 identity point (small order).
    let mut identity = vec![0u8; 32];
    identity[0] = 1;
    let ed = Value::Map(vec![
        (Value::Int(1), Value::Int(1)),
        (Value::Int(3), Value::Int(-8)),
        (Value::Int(-1), Value::Int(6)),
        (Value::Int(-2), Value::Bytes(identity)),
    ]);
    let mut out = Vec::new();
    cbor::write(&ed, &mut out);
    assert_eq!(
        CredentialKey::from_cose(&out),
        Err(WebauthnError::UnsupportedKey)
    );
    assert!(matches!(
        CredentialKey::from_cose(&[0xa0, 0x00]),
        Err(WebauthnError::Malformed(_))
    ));
}

#[test]
fn a_key_without_a_counter_asserts_with_zero() {
    let rp = rp();
    let mut key = SoftAuthenticator::new(Algorithm::Es256, false);
    let a = key.assert(&rp, &[3; 32]);
    assert_eq!(
        verify_assertion(&rp, &[3; 32], &key.key(), &a.as_ref()),
        Ok(Asserted { sign_count: 0 })
    );
}
