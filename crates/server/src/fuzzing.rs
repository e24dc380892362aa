//! Entry points for the fuzz targets in `fuzz/` (not an API): each runs, on arbitrary bytes,
//! the decoding and checking that a request body meets before anything is stored. They must
//! never panic, whatever the bytes.

use bioguard_core::{Dimension, Embedding, PurposeId, SubjectRef, Threshold};
use serde::de::DeserializeOwned;

use crate::dto;

fn json<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(data) {
        Ok(v) => Some(v),
        Err(e) => {
            // The error answer is built from the serde error without its values.
            let _ = crate::extract::json_error(&e);
            None
        }
    }
}

fn embedding(values: Vec<f32>) {
    if let Ok(d) = Dimension::new(values.len() as u64) {
        let _ = Embedding::parse(values, d);
    }
}

/// Every JSON request body of the API, decoded and checked as the handlers do.
pub fn request_body(data: &[u8]) {
    if let Some(r) = json::<dto::PurposeRequest>(data) {
        let _ = r.parse();
    }
    if let Some(r) = json::<dto::ClientRequest>(data) {
        let _ = r.parse();
    }
    if let Some(r) = json::<dto::ConsentRequest>(data) {
        let _ = r.parse();
    }
    if let Some(r) = json::<dto::NoticeRequest>(data) {
        let _ = r.into_spec().draft().check();
    }
    if let Some(r) = json::<dto::TemplateRequest>(data) {
        let _ = dto::galleries(&r.galleries);
        embedding(r.embedding);
    }
    if let Some(r) = json::<dto::VerifyRequest>(data) {
        let _ = SubjectRef::parse(&r.subject);
        let _ = PurposeId::parse(&r.purpose);
        if let Some(c) = r.capture {
            let c = c.into_capture();
            let _ = bioguard_service::capture_message(
                &c.challenge,
                &r.purpose,
                &r.subject,
                c.liveness,
                &r.embedding,
            );
        }
        embedding(r.embedding);
    }
    if let Some(r) = json::<dto::IdentifyRequestBody>(data) {
        let _ = bioguard_core::GalleryName::parse(&r.gallery);
        embedding(r.embedding);
    }
    if let Some(r) = json::<dto::IdentifyBatchRequestBody>(data) {
        let _ = PurposeId::parse(&r.purpose);
    }
    if let Some(r) = json::<dto::GroupBody>(data) {
        let _ = r.parse();
    }
    if let Some(r) = json::<dto::MatcherRequest>(data) {
        let _ = Threshold::new(r.threshold);
    }
    let _ = json::<dto::PortalLinkRequest>(data);
    if let Some(r) = json::<dto::ProposalRequest>(data) {
        let _ = r.action.parse();
    }
    let _ = json::<dto::ApprovalRequest>(data);
    let _ = json::<dto::DeviceRequest>(data);
    let _ = json::<dto::ChallengeRequest>(data);
    let _ = json::<dto::IncidentRequest>(data);
    let _ = json::<dto::IncidentActionRequest>(data);
    let _ = json::<dto::ClaimRequest>(data);
    let _ = json::<dto::ClaimDecisionRequest>(data);
    let _ = json::<dto::TopupRequest>(data);
    let _ = json::<dto::ReviewerRequest>(data);
    // The portal's forms.
    let _ = serde_urlencoded::from_bytes::<std::collections::HashMap<String, String>>(data);
}
