//! Fairness (the guideline's fifth principle): a matcher threshold goes live only with a
//! fairness report that meets the purpose's policy, or by a risk-group quorum's override,
//! and both are public.
//!
//! - `gate`: the rule, a pure function of the purpose, the threshold and the report.
//! - `activation`: making a threshold live, keeping reports, overrides.

pub(crate) mod activation;
pub(crate) mod gate;
