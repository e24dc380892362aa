//! One conformance suite for every [`KeyProvider`]: the same checks run against the local key
//! file, a PKCS#11 token and any other backend (`bioguard keys check` runs them against the
//! configured one).

use crate::{Aad, CryptoError, Key256, KeyError, KeyProvider, WrappedKey};

/// What the suite found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The checks that passed, by name.
    pub passed: Vec<&'static str>,
    /// Wraps per second over the timed run.
    pub wraps_per_second: f64,
    /// Unwraps per second over the timed run.
    pub unwraps_per_second: f64,
}

fn fail(check: &str, why: impl std::fmt::Display) -> String {
    format!("{check}: {why}")
}

fn is_integrity(e: &KeyError) -> bool {
    matches!(
        e,
        KeyError::Crypto(CryptoError::Integrity | CryptoError::Truncated)
    )
}

/// Runs every check against `p`, then times `timed` wraps and unwraps. The first failed check
/// is returned as an error naming it.
pub async fn check(p: &dyn KeyProvider, timed: usize) -> Result<Report, String> {
    let mut passed = Vec::new();
    let aad = Aad::new("bioguard/conformance")
        .field(b"subject")
        .field(b"purpose");
    let key = Key256::random().map_err(|e| fail("random", e))?;

    let w = p.wrap(&key, &aad).await.map_err(|e| fail("wrap", e))?;
    if w.kek.provider != p.kind() {
        return Err(fail(
            "kind",
            format!("wrapped under {}, provider is {}", w.kek, p.kind()),
        ));
    }
    passed.push("wrapped keys name this provider");

    let back = p
        .unwrap(&w, &aad)
        .await
        .map_err(|e| fail("round trip", e))?;
    if back.expose() != key.expose() {
        return Err(fail("round trip", "unwrapped a different key"));
    }
    passed.push("round trip returns the same key");

    if w.ciphertext.windows(32).any(|win| win == key.expose()) {
        return Err(fail("opacity", "the wrapped form contains the key"));
    }
    passed.push("the wrapped form does not contain the key");

    let again = p.wrap(&key, &aad).await.map_err(|e| fail("wrap", e))?;
    if again.ciphertext == w.ciphertext {
        return Err(fail("randomised", "two wraps of one key are identical"));
    }
    passed.push("two wraps of one key differ");

    let other = Aad::new("bioguard/conformance")
        .field(b"subject")
        .field(b"other purpose");
    match p.unwrap(&w, &other).await {
        Err(e) if is_integrity(&e) => passed.push("another context does not unwrap"),
        Err(e) => return Err(fail("context binding", format!("wrong error: {e}"))),
        Ok(_) => return Err(fail("context binding", "unwrapped under another context")),
    }

    let n = w.ciphertext.len();
    for i in [0, n / 2, n - 1] {
        let mut bad = w.clone();
        bad.ciphertext[i] ^= 0x01;
        match p.unwrap(&bad, &aad).await {
            Err(e) if is_integrity(&e) => {}
            Err(e) => return Err(fail("tamper", format!("byte {i}: wrong error: {e}"))),
            Ok(_) => {
                return Err(fail(
                    "tamper",
                    format!("byte {i} flipped and still unwrapped"),
                ));
            }
        }
    }
    passed.push("a flipped bit anywhere is an integrity error");

    for len in [0, 1, n / 2] {
        let short = WrappedKey {
            kek: w.kek.clone(),
            ciphertext: w.ciphertext[..len].to_vec(),
        };
        match p.unwrap(&short, &aad).await {
            Err(e) if is_integrity(&e) => {}
            Err(e) => return Err(fail("truncation", format!("{len} bytes: wrong error: {e}"))),
            Ok(_) => return Err(fail("truncation", format!("{len} bytes unwrapped"))),
        }
    }
    passed.push("a truncated wrapped key is an integrity error");

    let mut foreign = w.clone();
    foreign.kek.version = u32::MAX;
    match p.unwrap(&foreign, &aad).await {
        Err(KeyError::UnknownKek { .. }) => passed.push("an unknown key version is named"),
        Err(e) => return Err(fail("unknown key", format!("wrong error: {e}"))),
        Ok(_) => {
            return Err(fail(
                "unknown key",
                "unwrapped under a key it does not hold",
            ));
        }
    }

    let timed = timed.max(1);
    let started = std::time::Instant::now();
    let mut wrapped = Vec::with_capacity(timed);
    for _ in 0..timed {
        wrapped.push(
            p.wrap(&key, &aad)
                .await
                .map_err(|e| fail("timed wrap", e))?,
        );
    }
    let wraps = timed as f64 / started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    for w in &wrapped {
        p.unwrap(w, &aad)
            .await
            .map_err(|e| fail("timed unwrap", e))?;
    }
    let unwraps = timed as f64 / started.elapsed().as_secs_f64();
    Ok(Report {
        passed,
        wraps_per_second: wraps,
        unwraps_per_second: unwraps,
    })
}

/// Rotation checks: a new version becomes current, keys wrapped before still unwrap, the
/// current version cannot be destroyed, and after the old version is destroyed what it
/// wrapped can never be unwrapped. **Destroys the version that was current**: for test key
/// managers only.
pub async fn check_rotation(p: &dyn KeyProvider) -> Result<Vec<&'static str>, String> {
    let mut passed = Vec::new();
    let aad = Aad::new("bioguard/conformance/rotation");
    let key = Key256::random().map_err(|e| fail("random", e))?;
    let before = p.current();
    let old = p.wrap(&key, &aad).await.map_err(|e| fail("wrap", e))?;
    let now = p.rotate().await.map_err(|e| fail("rotate", e))?;
    if now.version <= before.version || p.current() != now {
        return Err(fail("rotate", format!("{before} -> {now}")));
    }
    passed.push("rotation makes a newer version current");
    let new = p.wrap(&key, &aad).await.map_err(|e| fail("wrap", e))?;
    if new.kek != now {
        return Err(fail(
            "rotate",
            format!("new keys wrapped under {}", new.kek),
        ));
    }
    passed.push("new keys are wrapped under the new version");
    match p.unwrap(&old, &aad).await {
        Ok(k) if k.expose() == key.expose() => passed.push("keys wrapped before still unwrap"),
        other => return Err(fail("old version", format!("{:?}", other.err()))),
    }
    if p.destroy(now.version).await.is_ok() {
        return Err(fail("destroy", "the current version was destroyed"));
    }
    passed.push("the current version cannot be destroyed");
    p.destroy(before.version)
        .await
        .map_err(|e| fail("destroy", e))?;
    match p.unwrap(&old, &aad).await {
        Err(KeyError::UnknownKek { .. }) => {
            passed.push("after destruction, what the old version wrapped never unwraps");
        }
        Err(e) => return Err(fail("destroyed version", format!("wrong error: {e}"))),
        Ok(_) => return Err(fail("destroyed version", "still unwraps")),
    }
    if p.versions().contains(&before) {
        return Err(fail("destroyed version", "still listed"));
    }
    match p.unwrap(&new, &aad).await {
        Ok(k) if k.expose() == key.expose() => passed.push("the new version still unwraps"),
        other => return Err(fail("new version", format!("{:?}", other.err()))),
    }
    Ok(passed)
}
