//! Responsibility and supervision (the guideline's fourth principle): a tamper-evident audit
//! ledger anyone can verify, incident response with its notifications, a compensation
//! (claims) process, abuse detection, and a public transparency report.
//!
//! - `audit`: signed checkpoints, inclusion and consistency proofs, leaves, a subject's
//!   history.
//! - `incidents`: incidents, their actions and notifications; `detector`: the abuse
//!   detector that opens them.
//! - `ledger_cache`: this node's copy of the leaf hashes; `tags`: how a leaf names its
//!   subject without saying who (per-subject ledger keys).
//! - `claims`: claims, reviewers, the reserve.
//! - `transparency`: the public counts; `report`: their shape and the short-lived copy.
//! - `webhooks`: events to relying parties, from a durable outbox.

pub(crate) mod audit;
pub(crate) mod claims;
pub(crate) mod detector;
pub(crate) mod incidents;
pub(crate) mod ledger_cache;
pub(crate) mod report;
pub(crate) mod tags;
pub(crate) mod transparency;
pub(crate) mod webhooks;
