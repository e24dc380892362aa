//! Bodies of the tenant endpoints.

use bioguard_core::TenantRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// Identifier: lowercase ASCII letters, digits and `-`, starting with a letter, 1 to 32
    /// characters.
    #[schema(example = "acme")]
    pub id: String,
    /// The organisation's name, as public pages name the controller.
    #[schema(example = "ACME Payments")]
    pub name: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantBody {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl From<&TenantRecord> for TenantBody {
    fn from(t: &TenantRecord) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.as_str().to_owned(),
            created_at: crate::dto::rfc3339(t.created_at),
        }
    }
}
