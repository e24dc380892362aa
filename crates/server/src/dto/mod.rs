//! Request and response bodies. Requests are raw shapes (`deny_unknown_fields`), parsed into
//! domain types by their `parse` methods (or the one parser in `bioguard-core` they hand
//! over to); responses are built from domain values. One file per concern, as the routes.

mod audit;
mod claims;
mod clients;
pub mod enums;
mod governance;
mod incidents;
mod purposes;
mod subjects;
mod tenants;
mod uses;
mod webhooks;

pub use audit::*;
pub use bioguard_core::rfc3339;
pub use claims::*;
pub use clients::*;
pub use governance::*;
pub use incidents::*;
pub use purposes::*;
pub use subjects::*;
pub use tenants::*;
pub use uses::*;
pub use webhooks::*;
