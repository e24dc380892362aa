//! Preventing abuse (the guideline's third principle): every use names a declared purpose a
//! client holds a grant for; 1:N search runs only inside a bounded gallery; every use is
//! recorded; devices sign captures over one-time challenges; failures lock a subject out for
//! a while; clients are rate-limited.
//!
//! - `auth` (with `auth_failures`): who is calling (the admin, a client), and the
//!   [`PurposeAuthorized`](auth::PurposeAuthorized) proof a use needs.
//! - `purposes`: declaring purposes and clients with their grants.
//! - `verify`: 1:1 verification.
//! - `identify`: 1:N identification in a named gallery.
//! - `galleries`: the in-memory galleries; `gallery_sync`: how each node fills them and
//!   keeps them current.
//! - `risk`: signed captures, challenges and the risk score; `lockouts`: failed attempts.
//! - `ratelimit`: per-client token buckets; `limits`: where rates and lockouts are kept (this
//!   node's memory, or the database every node shares).

pub(crate) mod auth;
pub(crate) mod auth_failures;
pub(crate) mod galleries;
pub(crate) mod gallery_sync;
pub(crate) mod identify;
pub(crate) mod limits;
pub(crate) mod lockouts;
pub(crate) mod purposes;
pub(crate) mod ratelimit;
pub(crate) mod risk;
pub(crate) mod verify;
