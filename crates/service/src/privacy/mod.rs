//! Privacy protection (the guideline's first principle): collect only the minimum, only with
//! consent per purpose, let people see what is held and how it is used, withdraw, lock and
//! erase, and keep templates no longer than the published schedule.
//!
//! - `consent`: giving and withdrawing consent; the [`ConsentChecked`](consent::ConsentChecked)
//!   proof every template opening needs.
//! - `notices`: versioned privacy notices and the re-consent rules.
//! - `enrolment`: turning an embedding into a sealed protected code, with consent.
//! - `retention`: the schedule, enforced.
//! - `rights`: summary, report, lock, erasure.
//! - `portal`: the person's own page, opened by a short-lived link.
//! - `documents`: signed consent receipts and deletion certificates.

pub(crate) mod consent;
pub(crate) mod documents;
pub(crate) mod enrolment;
pub(crate) mod notices;
pub(crate) mod portal;
pub(crate) mod retention;
pub(crate) mod rights;
