//! Data security (the guideline's second principle): envelope encryption under a real key
//! manager, templates protected so a stolen database can be neither inverted nor linked, and
//! a risk group whose quorum gates every sensitive change.
//!
//! - `secrets`: the service's own keys (pseudonyms, token digests, the log and document
//!   signing keys), wrapped by the key provider.
//! - `protection`: each purpose's protection key and the sign-projection transform built
//!   from it; turning an embedding into a protected code.
//! - `templates`: sealing and opening templates under per-subject data keys.
//! - `rotation`: rewrapping every key under a new key-encryption key; destroying old ones.
//! - `governance`: the risk group, proposals, approvals, and applying them.
//! - `evidence`: checking a proposal's approvals again from its public record.

pub(crate) mod evidence;
pub(crate) mod governance;
pub(crate) mod protection;
pub(crate) mod rotation;
pub(crate) mod secrets;
pub(crate) mod templates;
