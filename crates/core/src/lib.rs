//! Domain types for bioguard: purposes, subjects, clients, consents, embeddings.
//!
//! This crate does no I/O and holds no async code. Every value that comes from outside the
//! service (a request body, a path segment, a configuration file) is parsed into one of these
//! types before anything else happens, so the layers above only ever handle checked values
//! ("parse, don't validate"). A parse failure is a [`ValidationError`] that names the field and
//! says what is allowed.

mod client;
mod consent;
mod embedding;
mod error;
mod ids;
mod purpose;
mod time;

pub use client::{ClientName, Grant};
pub use consent::{ConsentMethod, NoticeVersion};
pub use embedding::{Embedding, MAX_DIMENSION, MIN_DIMENSION};
pub use error::ValidationError;
pub use ids::{
    ClientId, ConsentId, DataKeyId, DecisionId, GalleryName, Pseudonym, PurposeId, SubjectRef,
    TemplateId,
};
pub use purpose::{
    CodeBits, DEFAULT_THRESHOLD, Description, Dimension, FairnessPolicy, MAX_GALLERY_SIZE,
    Operation, Purpose, Retention, RiskPolicy, Threshold,
};
pub use time::{Timestamp, rfc3339};
