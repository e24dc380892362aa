//! Risk controls on every use: captures signed by registered devices over one-time
//! challenges with a liveness score, and a lockout after repeated failed verifications.
//!
//! A capture is the device's Ed25519 signature over
//! `bioguard-capture/v2\n<challenge>\n<purpose>\n<subject>\n<liveness>\n<hex SHA-256 of the
//! embedding>` where the subject is the identifier the verification names (empty for an
//! identification), the embedding's hash is over its values as little-endian f32 bytes and
//! `liveness` is written as the request carries it. Binding the subject means a capture taken
//! to verify one person cannot be spent on another. The challenge is issued by the service to the client
//! for that purpose, lives 60 seconds and can be spent once, so a captured request cannot be
//! replayed and a signature cannot be moved to another embedding.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_core::{
    ChallengeId, CodeBits, DeviceId, Pseudonym, PurposeId, PurposeName, Risk, RiskPolicy,
    SubjectRef, Timestamp, ValidationError,
};
use sha2::Digest;

use crate::abuse::auth::AuthenticatedClient;
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;

/// How long a challenge lives.
pub const CHALLENGE_SECS: i64 = 60;

/// How long an expired challenge's row is kept (so that its use is refused as expired rather
/// than unknown) before issuing a new challenge purges it.
const CHALLENGE_KEPT_EXPIRED_SECS: i64 = 300;

/// A capture as a device signed it.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The registered device's id.
    pub device: String,
    /// The challenge the service issued.
    pub challenge: String,
    /// The device's presentation-attack (liveness) score, 0 to 1.
    pub liveness: f64,
    /// The device's Ed25519 signature, base64.
    pub signature: String,
}

/// The bytes a device signs for a capture: of `subject` (as the request names it; empty for
/// an identification) for `purpose` (as the client names it).
pub fn capture_message(
    challenge: &str,
    purpose: &str,
    subject: &str,
    liveness: f64,
    embedding: &[f32],
) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    for v in embedding {
        h.update(v.to_le_bytes());
    }
    format!(
        "bioguard-capture/v2\n{challenge}\n{purpose}\n{subject}\n{liveness}\n{}",
        bioguard_crypto::hex_encode(&h.finalize())
    )
    .into_bytes()
}

/// Whether the device with `public_key` signed this capture of `embedding` of `subject` (as
/// the request names it; empty for an identification) for `purpose`.
pub(crate) fn signed_by(
    public_key: &[u8; 32],
    c: &Capture,
    purpose: &PurposeId,
    subject: &str,
    embedding: &[f32],
) -> bool {
    let sig = B64
        .decode(c.signature.as_bytes())
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s).ok());
    sig.is_some_and(|s| {
        bioguard_ledger::strong_key(public_key).is_some_and(|k| {
            bioguard_ledger::verifies(
                &k,
                // The purpose as the client names it (without its tenant).
                &capture_message(&c.challenge, purpose.name(), subject, c.liveness, embedding),
                &s,
            )
        })
    })
}

/// Whether a capture's liveness score meets the policy (a score that is not a number is not
/// live either).
pub(crate) fn live_enough(liveness: f64, policy: &RiskPolicy) -> bool {
    !liveness.is_nan() && liveness >= policy.min_liveness
}

/// Scores a verification from its signals: no capture 40, or (1 - liveness) x 60 with one;
/// 15 for each of the subject's recent failures (at most 45); 15 when the probe matched in
/// the closest fifth before the threshold (barely).
pub(crate) fn risk_score(
    liveness: Option<f64>,
    recent_failures: u32,
    distance: u32,
    max_distance: u32,
) -> Risk {
    let mut score = match liveness {
        None => 40.0,
        Some(l) => (1.0 - l.clamp(0.0, 1.0)) * 60.0,
    };
    score += f64::from(recent_failures.min(3) * 15);
    if distance <= max_distance && u64::from(distance) * 5 > u64::from(max_distance) * 4 {
        score += 15.0;
    }
    Risk {
        score: (score.round() as u32).min(100),
    }
}

/// The largest distance of a failed probe counted as near the threshold: closer than halfway
/// between it and the distance of a random code (half the bits).
pub(crate) fn near_miss_band(bits: CodeBits, max_distance: u32) -> u32 {
    max_distance + (bits.bits() as u32 / 2).saturating_sub(max_distance) / 2
}

impl Service {
    /// Scores a verification (see [`risk_score`]) with the subject's recent failures.
    pub(crate) fn score(
        &self,
        failures: u32,
        capture: Option<&Capture>,
        distance: u32,
        max_distance: u32,
    ) -> Risk {
        risk_score(
            capture.map(|c| c.liveness),
            failures,
            distance,
            max_distance,
        )
    }

    /// Registers a capture device of this client with its Ed25519 public key.
    pub async fn register_device(
        &self,
        client: &AuthenticatedClient,
        name: &str,
        public_key: &[u8; 32],
    ) -> Result<DeviceId, ServiceError> {
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(ValidationError::new("name", "1 to 64 printable characters").into());
        }
        bioguard_ledger::strong_key(public_key).ok_or_else(|| {
            ValidationError::new(
                "public_key",
                "not an Ed25519 public key of full order (small-order keys accept forgeries)",
            )
        })?;
        let id = DeviceId::from_random(random16()?);
        let mut leaf = self.leaf("device.register", client.actor());
        leaf.decision = Some("registered".into());
        leaf.detail = vec![("device".into(), id.to_string())];
        self.db
            .devices
            .register_device(
                &id,
                &client.record().id,
                name,
                public_key,
                self.now(),
                &leaf,
            )
            .await?;
        Ok(id)
    }

    /// Issues a one-time capture challenge for a purpose the client may verify or identify
    /// under.
    pub async fn issue_challenge(
        &self,
        client: &AuthenticatedClient,
        purpose: &PurposeName,
    ) -> Result<(ChallengeId, Timestamp), ServiceError> {
        let purpose = &client.purpose(purpose);
        self.require_purpose(purpose).await?;
        client.require_any(purpose)?;
        let id = ChallengeId::from_random(random16()?);
        let now = self.now();
        let expires = Timestamp::from_unix(now.unix() + CHALLENGE_SECS);
        self.db
            .devices
            .issue_challenge(
                &id,
                &client.record().id,
                purpose,
                Timestamp::from_unix(now.unix() - CHALLENGE_KEPT_EXPIRED_SECS),
                expires,
            )
            .await?;
        Ok((id, expires))
    }

    /// Checks a capture against the purpose's policy; a refusal is recorded in the ledger
    /// with its reason.
    pub(crate) async fn check_capture(
        &self,
        client: &AuthenticatedClient,
        purpose: &PurposeId,
        policy: &RiskPolicy,
        subject: Option<(&SubjectRef, &Pseudonym)>,
        capture: Option<&Capture>,
        embedding: &[f32],
    ) -> Result<(), ServiceError> {
        let named = subject.map_or("", |(r, _)| r.expose_str());
        let reason = match capture {
            None if policy.require_capture => Some("capture_required"),
            None => None,
            Some(c) => {
                self.capture_problem(client, purpose, policy, c, named, embedding)
                    .await?
            }
        };
        let subject = subject.map(|(_, p)| p);
        let Some(reason) = reason else {
            return Ok(());
        };
        let mut leaf = self.leaf("capture.refused", client.actor());
        // A subject the service holds nothing about is not named (a refusal makes no row).
        let key = match subject {
            Some(s) => self.existing_subject_key(s).await?.map(|k| (s, k)),
            None => None,
        };
        let (tagged, key) = match key {
            Some((s, k)) => (Some(self.leaf_subject(s, &k)?), Some(k)),
            None => (None, None),
        };
        if let Some(c) = capture {
            // With a subject, the device is named anew in each leaf (see `verify`).
            let device = match (&tagged, &key) {
                (Some(t), Some(k)) => k.device_digest(&t.tag, &c.device),
                _ => c.device.chars().take(40).collect(),
            };
            leaf.detail = vec![("device".into(), device)];
        }
        leaf.subject = tagged;
        leaf.purpose = Some(purpose.clone());
        leaf.decision = Some(reason.into());
        self.db.ledger.append_audit(&leaf).await?;
        tracing::warn!(client = %client.record().id, purpose = %purpose, reason, "capture refused");
        Err(ServiceError::CaptureRefused(reason))
    }

    async fn capture_problem(
        &self,
        client: &AuthenticatedClient,
        purpose: &PurposeId,
        policy: &RiskPolicy,
        c: &Capture,
        subject: &str,
        embedding: &[f32],
    ) -> Result<Option<&'static str>, ServiceError> {
        // An id that is not a device id is an unknown device like any other.
        let Ok(device_id) = DeviceId::parse(&c.device) else {
            return Ok(Some("unknown_device"));
        };
        let Some(device) = self.db.devices.device(&device_id).await? else {
            return Ok(Some("unknown_device"));
        };
        if device.client != client.record().id || device.revoked_at.is_some() {
            return Ok(Some("unknown_device"));
        }
        if !signed_by(&device.public_key, c, purpose, subject, embedding) {
            return Ok(Some("bad_capture_signature"));
        }
        let Ok(challenge) = ChallengeId::parse(&c.challenge) else {
            return Ok(Some("challenge_unknown"));
        };
        if let Err(why) = self
            .db
            .devices
            .use_challenge(&challenge, &client.record().id, purpose, self.now())
            .await?
        {
            return Ok(Some(why.code()));
        }
        if !live_enough(c.liveness, policy) {
            return Ok(Some("low_liveness"));
        }
        Ok(None)
    }

    /// Counts a verification's outcome towards the lockout (`recent`: the failures counted
    /// before it); records a lockout when it starts.
    pub(crate) async fn count_attempt(
        &self,
        client: &AuthenticatedClient,
        subject: &Pseudonym,
        purpose: &PurposeId,
        policy: &RiskPolicy,
        matched: bool,
        recent: u32,
    ) -> Result<(), ServiceError> {
        if self
            .lockout_outcome(subject, purpose, policy, matched, recent)
            .await?
        {
            let mut leaf = self.leaf("subject.lockout", client.actor());
            leaf.subject = Some(self.tagged(subject).await?);
            leaf.purpose = Some(purpose.clone());
            leaf.decision = Some(format!("{} s", policy.lockout_secs));
            leaf.detail = vec![("failures".into(), policy.lockout_failures.to_string())];
            self.db.ledger.append_audit(&leaf).await?;
            tracing::warn!(purpose = %purpose, "failed attempts: subject locked out for a while");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_weighs_liveness_failures_and_a_barely_match() {
        // No capture: 40, medium.
        assert_eq!(risk_score(None, 0, 100, 500).score, 40);
        // A live capture and a clear match: low.
        assert_eq!(risk_score(Some(1.0), 0, 100, 500).score, 0);
        assert_eq!(risk_score(Some(0.5), 0, 100, 500).score, 30);
        // Each recent failure adds 15, up to three.
        assert_eq!(risk_score(Some(1.0), 2, 100, 500).score, 30);
        assert_eq!(risk_score(Some(1.0), 9, 100, 500).score, 45);
        // A match in the closest fifth before the threshold adds 15; a non-match does not.
        assert_eq!(risk_score(Some(1.0), 0, 401, 500).score, 15);
        assert_eq!(risk_score(Some(1.0), 0, 400, 500).score, 0);
        assert_eq!(risk_score(Some(1.0), 0, 501, 500).score, 0);
        // Liveness outside [0, 1] is clamped; the score never passes 100.
        assert_eq!(risk_score(Some(-3.0), 5, 450, 500).score, 100);
    }

    #[test]
    fn a_capture_is_signed_by_its_device_over_this_embedding_and_purpose() {
        use ed25519_dalek::{Signer, SigningKey};
        let device = SigningKey::from_bytes(&[7; 32]);
        let pay = PurposeId::parse("pay").expect("valid");
        let embedding = [0.5_f32, -0.25, 1.0];
        let sign_for = |k: &SigningKey, e: &[f32], p: &str, s: &str| Capture {
            device: "dev_x".into(),
            challenge: "chl_y".into(),
            liveness: 0.9,
            signature: B64.encode(k.sign(&capture_message("chl_y", p, s, 0.9, e)).to_bytes()),
        };
        let sign = |k: &SigningKey, e: &[f32], p: &str| sign_for(k, e, p, "ann");
        let key = device.verifying_key().to_bytes();
        assert!(signed_by(
            &key,
            &sign(&device, &embedding, "pay"),
            &pay,
            "ann",
            &embedding
        ));
        // Taken for one person, it is refused for another, and for a search.
        let for_ann = sign(&device, &embedding, "pay");
        assert!(!signed_by(&key, &for_ann, &pay, "bob", &embedding));
        assert!(!signed_by(&key, &for_ann, &pay, "", &embedding));
        assert!(signed_by(
            &key,
            &sign_for(&device, &embedding, "pay", ""),
            &pay,
            "",
            &embedding
        ));
        // Another embedding, another purpose, another key, a mangled signature: refused.
        assert!(!signed_by(
            &key,
            &sign(&device, &[0.5, -0.25, 1.5], "pay"),
            &pay,
            "ann",
            &embedding
        ));
        assert!(!signed_by(
            &key,
            &sign(&device, &embedding, "door"),
            &pay,
            "ann",
            &embedding
        ));
        let forger = SigningKey::from_bytes(&[8; 32]);
        assert!(!signed_by(
            &key,
            &sign(&forger, &embedding, "pay"),
            &pay,
            "ann",
            &embedding
        ));
        let mut bad = sign(&device, &embedding, "pay");
        bad.signature = "not base64!".into();
        assert!(!signed_by(&key, &bad, &pay, "ann", &embedding));
    }

    #[test]
    fn liveness_must_meet_the_policy() {
        let p = RiskPolicy {
            min_liveness: 0.6,
            ..RiskPolicy::default()
        };
        assert!(live_enough(0.6, &p));
        assert!(!live_enough(0.59, &p));
        assert!(!live_enough(f64::NAN, &p));
    }

    #[test]
    fn the_near_miss_band_lies_between_the_threshold_and_chance() {
        let bits = CodeBits::DEFAULT;
        assert_eq!(near_miss_band(bits, 400), 400 + (1024 - 400) / 2);
        assert_eq!(near_miss_band(bits, 1024), 1024);
        assert_eq!(near_miss_band(bits, 1500), 1500);
    }

    #[test]
    fn a_capture_message_binds_challenge_purpose_subject_liveness_and_embedding() {
        let m = capture_message("chl_x", "pay", "ann", 0.9, &[1.0, 2.0]);
        let text = String::from_utf8(m.clone()).expect("text");
        assert!(text.starts_with("bioguard-capture/v2\nchl_x\npay\nann\n0.9\n"));
        assert_ne!(m, capture_message("chl_x", "pay", "ann", 0.9, &[1.0, 2.5]));
        assert_ne!(m, capture_message("chl_y", "pay", "ann", 0.9, &[1.0, 2.0]));
        assert_ne!(m, capture_message("chl_x", "pay", "bob", 0.9, &[1.0, 2.0]));
        assert_ne!(m, capture_message("chl_x", "pay", "", 0.9, &[1.0, 2.0]));
    }
}
