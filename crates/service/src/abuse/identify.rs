//! 1:N identification inside a named gallery.
//!
//! The scan runs over this node's in-memory galleries on all cores; every candidate it finds
//! is then confirmed against the database before it is returned: the template still exists,
//! is in the requested gallery, was made under the current protection key, its subject has a
//! live consent for the purpose, and its stored code (decrypted) is within the threshold of
//! the probe. A withdrawn, erased or re-keyed subject is therefore never returned, whatever
//! the state of the in-memory galleries.

use std::time::Instant;

use bioguard_core::{
    DecisionId, Embedding, GalleryName, Operation, PurposeId, PurposeName, SubjectRef, TemplateId,
    ValidationError,
};
use bioguard_engine::{Kernel, ProtectedCode};

use crate::abuse::auth::AuthenticatedClient;
use crate::abuse::risk::Capture;
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::ConsentChecked;
use crate::security::templates::open_template;
use crate::supervision::tags::RETURNED;

/// The most candidates one identification may return.
pub const MAX_CANDIDATES: usize = 100;
/// The most probes in one batch.
pub const MAX_BATCH: usize = 256;

/// What a candidate must satisfy to be returned.
#[derive(Clone, Copy)]
struct Target<'a> {
    purpose: &'a PurposeId,
    gallery: &'a GalleryName,
    version: u32,
    bits: bioguard_core::CodeBits,
    max_distance: u32,
}

/// A 1:N request: one probe, or a batch.
pub struct IdentifyRequest {
    /// The purpose, of the client's tenant.
    pub purpose: PurposeName,
    /// The gallery to search.
    pub gallery: GalleryName,
    /// The most subjects to return per probe (1 to 100).
    pub max_candidates: usize,
    /// The probe embeddings (1 to 256).
    pub probes: Vec<Vec<f32>>,
    /// The capture of a single probe, signed by a registered device (required by purposes
    /// whose risk policy requires captures, which then take one probe per request).
    pub capture: Option<Capture>,
}

/// Checks the shape of a 1:N request: candidates and probes within their limits, and one
/// probe when a signed capture is sent or required.
pub(crate) fn check_request(
    max_candidates: usize,
    probes: usize,
    capture: bool,
) -> Result<(), ValidationError> {
    if !(1..=MAX_CANDIDATES).contains(&max_candidates) {
        return Err(ValidationError::new(
            "max_candidates",
            format!("from 1 to {MAX_CANDIDATES}"),
        ));
    }
    if !(1..=MAX_BATCH).contains(&probes) {
        return Err(ValidationError::new(
            "embeddings",
            format!("from 1 to {MAX_BATCH} probes"),
        ));
    }
    if capture && probes != 1 {
        return Err(ValidationError::new(
            "embeddings",
            "a signed capture covers one probe: send one probe per request",
        ));
    }
    Ok(())
}

/// The answer for one probe: the subjects above threshold, best first.
pub struct Identification {
    /// The decision's id.
    pub decision: DecisionId,
    /// The subjects found, best first.
    pub subjects: Vec<SubjectRef>,
}

impl Service {
    /// Searches a gallery for each probe.
    pub async fn identify(
        &self,
        client: &AuthenticatedClient,
        req: IdentifyRequest,
    ) -> Result<Vec<Identification>, ServiceError> {
        let purpose_id = client.purpose(&req.purpose);
        let purpose = self.require_purpose(&purpose_id).await?;
        let authorized = client.authorize(&purpose_id, Operation::Identify)?;
        if !purpose.purpose.allows(Operation::Identify) {
            return Err(ServiceError::OperationNotAllowed(Operation::Identify));
        }
        let risk = purpose.purpose.risk;
        check_request(
            req.max_candidates,
            req.probes.len(),
            risk.require_capture || req.capture.is_some(),
        )?;
        if let Some(probe) = req.probes.first() {
            self.check_capture(
                client,
                &purpose_id,
                &risk,
                None,
                req.capture.as_ref(),
                probe,
            )
            .await?;
        }
        let embeddings = req
            .probes
            .into_iter()
            .map(|v| Embedding::parse(v, purpose.purpose.dimension))
            .collect::<Result<Vec<_>, _>>()?;
        let max = purpose.purpose.max_gallery_size.unwrap_or(0);
        let size = self.galleries.size(&purpose_id, &req.gallery);
        if size > max as usize {
            return Err(ServiceError::GalleryTooLarge {
                gallery: req.gallery.to_string(),
                size,
                max,
            });
        }
        let mut probes: Vec<ProtectedCode> = Vec::with_capacity(embeddings.len());
        for e in embeddings {
            probes.push(self.protect(&authorized, &purpose, e).await?);
        }
        let bits = purpose.purpose.code_bits;
        let max_distance = bits.max_distance(purpose.purpose.threshold.get());
        let version = purpose.protection_version;
        // Room for candidates the database check turns away.
        let limit = req.max_candidates + 8;
        let galleries = std::sync::Arc::clone(&self.galleries);
        let (pid, gallery) = (purpose_id.clone(), req.gallery.clone());
        let started = Instant::now();
        let (probes, found) = tokio::task::spawn_blocking(move || {
            let found = galleries.search(&pid, version, &gallery, &probes, max_distance, limit);
            (probes, found)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("gallery scan failed: {e}")))?;
        let scan_ms = started.elapsed().as_secs_f64() * 1000.0;

        let target = Target {
            purpose: &purpose_id,
            gallery: &req.gallery,
            version,
            bits,
            max_distance,
        };
        let mut out = Vec::with_capacity(found.len());
        let mut used: Vec<TemplateId> = Vec::new();
        let mut leaves = Vec::with_capacity(found.len());
        for (probe, candidates) in probes.iter().zip(found) {
            let mut subjects = Vec::new();
            let mut pseudonyms = Vec::new();
            let mut tags = Vec::new();
            for c in candidates {
                if subjects.len() == req.max_candidates {
                    break;
                }
                let id = TemplateId::from_random(c.entry);
                if let Some((s, p, salt)) = self.confirm(&target, probe, &id).await? {
                    let key = match salt {
                        Some(salt) => self.key_of(&p, &salt),
                        None => self.subject_key(&p).await?,
                    };
                    tags.push(key.tag_with(random16()?));
                    subjects.push(s);
                    pseudonyms.push(p);
                    used.push(id);
                }
            }
            let decision = crate::clock::new_decision_id()?;
            // The candidates returned, each by a tag of its own (new in this leaf, recognised
            // only with that subject's ledger key); nothing about the gallery's other members.
            let mut leaf = self.leaf("identify", client.actor());
            leaf.purpose = Some(purpose_id.clone());
            leaf.decision = Some(format!("{} candidates", subjects.len()));
            leaf.detail = vec![
                ("decision".into(), decision.to_string()),
                ("gallery".into(), req.gallery.to_string()),
                (RETURNED.into(), tags.join(",")),
            ];
            // Each returned subject finds this leaf in its own history.
            leaf.mentions = pseudonyms;
            leaves.push(leaf);
            tracing::info!(
                decision = %decision,
                purpose = %purpose_id,
                client = %client.record().id,
                gallery_size = size,
                candidates = subjects.len(),
                scan_ms,
                "identification"
            );
            out.push(Identification { decision, subjects });
        }
        used.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        used.dedup();
        self.db
            .galleries
            .record_identification(&used, self.now(), &leaves)
            .await?;
        for one in &out {
            let outcome = if one.subjects.is_empty() {
                "none"
            } else {
                "found"
            };
            metrics::counter!("bioguard_decisions_total",
                "purpose" => purpose_id.to_string(), "operation" => "identify", "outcome" => outcome)
            .increment(1);
        }
        Ok(out)
    }

    /// Confirms one candidate against the database; returns its subject if every rule holds.
    async fn confirm(
        &self,
        t: &Target<'_>,
        probe: &ProtectedCode,
        template: &TemplateId,
    ) -> Result<Option<(SubjectRef, bioguard_core::Pseudonym, Option<[u8; 32]>)>, ServiceError>
    {
        let Target {
            purpose,
            gallery,
            version,
            bits,
            max_distance,
        } = *t;
        let Some(m) = self.db.galleries.candidate(purpose, template).await? else {
            return Ok(None);
        };
        if m.template.protection_version != version || !m.galleries.contains(gallery) {
            return Ok(None);
        }
        // Whatever the reason a use is refused (no consent, a lock, a consent past its
        // re-consent deadline), the candidate is simply not returned: answering 423 instead
        // would tell the caller that the probe matched someone who locked their biometrics.
        let Ok(consent) = ConsentChecked::for_use(&m.subject, purpose, &m.consent, self.now())
        else {
            return Ok(None);
        };
        let opened = match open_template(&consent, self.keys.as_ref(), bits, &m.template).await {
            Ok(o) => o,
            Err(ServiceError::Integrity) => {
                tracing::error!(
                    purpose = %purpose,
                    template = %template,
                    "stored template failed its integrity check (altered or moved); not returned"
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if Kernel::best().distance(probe.words(), opened.code.words()) > max_distance {
            return Ok(None);
        }
        Ok(opened.subject.map(|s| (s, m.subject, m.ledger_salt)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_bounded_and_a_capture_covers_one_probe() {
        assert!(check_request(5, 1, false).is_ok());
        assert!(check_request(MAX_CANDIDATES, MAX_BATCH, false).is_ok());
        let field = |r: Result<(), ValidationError>| r.map_err(|e| e.field());
        assert_eq!(field(check_request(0, 1, false)), Err("max_candidates"));
        assert_eq!(
            field(check_request(MAX_CANDIDATES + 1, 1, false)),
            Err("max_candidates")
        );
        assert_eq!(field(check_request(5, 0, false)), Err("embeddings"));
        assert_eq!(
            field(check_request(5, MAX_BATCH + 1, false)),
            Err("embeddings")
        );
        assert_eq!(field(check_request(5, 2, true)), Err("embeddings"));
        assert!(check_request(5, 1, true).is_ok());
    }
}
