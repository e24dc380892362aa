//! Purposes and clients: every use names a declared purpose, and a client may do only what
//! its grants allow. Declaring a purpose that allows 1:N search, or a client that may search,
//! widens what the deployment can do to people: with a risk group registered, both need its
//! quorum.

use std::collections::BTreeSet;

use bioguard_core::{
    ClientDefinition, ClientId, ClientRecord, FairnessState, Grant, MatcherSummary, Operation,
    PurposeDefinition, PurposeId, PurposeRecord, SubjectRight, TenantId, TenantName, TenantRecord,
    ValidationError,
};
use bioguard_store::{NewClient, StoreError};
use zeroize::Zeroizing;

use crate::abuse::auth::{Admin, AuthenticatedClient, new_client_key};
use crate::clock::random16;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::notices::publish;
use crate::security::protection::new_protection_key;

/// A new client and its API key, which is shown once and never stored.
pub struct ClientCreated {
    /// The client's id.
    pub id: ClientId,
    api_key: Zeroizing<String>,
}

impl ClientCreated {
    /// The API key, to hand to the client's operator.
    pub fn expose_api_key(&self) -> &str {
        &self.api_key
    }
}

/// The result of rotating a purpose's protection key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The new key version.
    pub version: u32,
}

/// Whether a change widens 1:N search, and so needs the risk group's quorum when there is one.
pub(crate) fn widens_search(grants_or_operations: impl IntoIterator<Item = Operation>) -> bool {
    grants_or_operations
        .into_iter()
        .any(|o| o == Operation::Identify)
}

/// Checks every grant names an existing purpose that allows its operation.
pub(crate) fn check_grants(
    grants: &BTreeSet<Grant>,
    purposes: &[PurposeRecord],
) -> Result<(), ValidationError> {
    for g in grants {
        let purpose = purposes
            .iter()
            .find(|p| p.purpose.id == g.purpose)
            .ok_or_else(|| {
                ValidationError::new("grants", "every grant must name an existing purpose")
            })?;
        if !purpose.purpose.allows(g.operation) {
            return Err(ValidationError::new(
                "grants",
                format!("purpose `{}` does not allow `{}`", g.purpose, g.operation),
            ));
        }
    }
    Ok(())
}

impl Service {
    /// The purpose, or [`ServiceError::PurposeNotFound`].
    pub(crate) async fn require_purpose(
        &self,
        id: &PurposeId,
    ) -> Result<PurposeRecord, ServiceError> {
        self.db
            .purposes
            .purpose(id)
            .await?
            .ok_or(ServiceError::PurposeNotFound)
    }

    /// Fails unless `tenant` exists.
    pub(crate) async fn require_tenant(&self, tenant: &TenantId) -> Result<(), ServiceError> {
        if tenant.is_default() || self.db.tenants.tenant(tenant).await?.is_some() {
            Ok(())
        } else {
            Err(ServiceError::TenantNotFound)
        }
    }

    /// Creates a tenant: a relying-party organisation whose clients, purposes and subjects
    /// are its own.
    pub async fn create_tenant(
        &self,
        _admin: &Admin,
        id: TenantId,
        name: TenantName,
    ) -> Result<TenantRecord, ServiceError> {
        let tenant = TenantRecord {
            id,
            name,
            created_at: self.now(),
        };
        let mut leaf = self.leaf("tenant.create", "admin");
        leaf.detail = vec![("tenant".into(), tenant.id.to_string())];
        self.db.tenants.create_tenant(&tenant, &leaf).await?;
        tracing::info!(tenant = %tenant.id, "tenant created");
        Ok(tenant)
    }

    /// Every tenant.
    pub async fn tenants(&self, _admin: &Admin) -> Result<Vec<TenantRecord>, ServiceError> {
        Ok(self.db.tenants.tenants().await?)
    }

    /// Every tenant's name by id, for public pages (they name each purpose's controller).
    pub async fn controllers(
        &self,
    ) -> Result<std::collections::BTreeMap<TenantId, String>, ServiceError> {
        self.tenant_names().await
    }

    /// Every tenant's name by id.
    pub(crate) async fn tenant_names(
        &self,
    ) -> Result<std::collections::BTreeMap<TenantId, String>, ServiceError> {
        Ok(self
            .db
            .tenants
            .tenants()
            .await?
            .into_iter()
            .map(|t| (t.id, t.name.as_str().to_owned()))
            .collect())
    }

    /// Creates a purpose and its first protection key.
    pub async fn create_purpose(
        &self,
        _admin: &Admin,
        definition: PurposeDefinition,
    ) -> Result<PurposeRecord, ServiceError> {
        self.require_tenant(&definition.purpose.id.tenant()).await?;
        // A notice that cannot be published is refused before anyone is asked to approve it.
        self.complete_notice(&definition.purpose, definition.notice.clone())?;
        // 1:N search is the widest use there is: with a risk group, it needs its quorum.
        if widens_search(definition.purpose.operations.iter().copied())
            && self.db.governance.risk_group().await?.is_some()
        {
            return Err(ServiceError::QuorumRequired);
        }
        self.create_purpose_now(definition).await
    }

    /// Creates a purpose, approved or ungated.
    pub(crate) async fn create_purpose_now(
        &self,
        definition: PurposeDefinition,
    ) -> Result<PurposeRecord, ServiceError> {
        let PurposeDefinition { purpose, notice } = definition;
        purpose.check()?;
        let notice = self.complete_notice(&purpose, notice)?;
        let notice = publish(&notice, &purpose, 1, self.now());
        let key = new_protection_key(self.keys.as_ref(), &purpose, 1).await?;
        let mut leaf = self.leaf("purpose.create", "admin");
        leaf.purpose = Some(purpose.id.clone());
        leaf.detail = vec![
            (
                "operations".into(),
                purpose
                    .operations
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("threshold".into(), purpose.threshold.get().to_string()),
            ("code_bits".into(), purpose.code_bits.bits().to_string()),
            (
                "retention_days".into(),
                purpose.retention.max_days_since_enrolment().to_string(),
            ),
        ];
        if let Some(max) = purpose.max_gallery_size {
            leaf.detail
                .push(("max_gallery_size".into(), max.to_string()));
        }
        leaf.detail.push(("notice_v1".into(), notice.hash.clone()));
        leaf.detail.push((
            "transform".into(),
            key.matcher.transform.as_str().to_owned(),
        ));
        leaf.detail
            .push(("centred".into(), key.matcher.centre.is_some().to_string()));
        self.db
            .purposes
            .create_purpose(&purpose, &key, &notice, &leaf)
            .await?;
        tracing::info!(purpose = %purpose.id, code_bits = purpose.code_bits.bits(), "purpose created");
        Ok(PurposeRecord {
            purpose,
            protection_version: 1,
            fairness: FairnessState::default(),
            matcher: Some(MatcherSummary {
                transform: key.matcher.transform,
                centred: key.matcher.centre.is_some(),
            }),
            retired_at: None,
        })
    }

    /// Every purpose with its protection key version (public information).
    pub async fn purposes(&self) -> Result<Vec<PurposeRecord>, ServiceError> {
        Ok(self.db.purposes.purposes().await?)
    }

    /// One purpose with its protection key version (public information).
    pub async fn purpose(&self, id: &PurposeId) -> Result<PurposeRecord, ServiceError> {
        self.require_purpose(id).await
    }

    /// Retires a purpose (admin): it takes no new consents or enrolments from now on; the
    /// templates it holds are still used, and deleted by its retention rule. Narrows what any
    /// client may do and destroys nothing, so it needs no quorum. Returns when it was retired
    /// (the first time, if it already was: retiring again changes nothing and records
    /// nothing).
    pub async fn retire_purpose(
        &self,
        _admin: &Admin,
        id: &PurposeId,
    ) -> Result<PurposeRecord, ServiceError> {
        let mut leaf = self.leaf("purpose.retire", "admin");
        leaf.purpose = Some(id.clone());
        self.db
            .purposes
            .retire_purpose(id, self.now(), &leaf)
            .await?
            .ok_or(ServiceError::PurposeNotFound)?;
        let record = self.require_purpose(id).await?;
        tracing::info!(purpose = %id, "purpose retired");
        Ok(record)
    }

    /// Every client with its grants, rights and suspension (admin), or one tenant's: who may
    /// verify whom for what.
    pub async fn clients(
        &self,
        _admin: &Admin,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<ClientRecord>, ServiceError> {
        if let Some(t) = tenant {
            self.require_tenant(t).await?;
        }
        let mut all = self.db.clients.clients().await?;
        if let Some(t) = tenant {
            all.retain(|c| &c.tenant == t);
        }
        Ok(all)
    }

    /// One client with its grants, rights and suspension (admin).
    pub async fn client(
        &self,
        _admin: &Admin,
        id: &ClientId,
    ) -> Result<ClientRecord, ServiceError> {
        self.db
            .clients
            .client(id)
            .await?
            .ok_or(ServiceError::ClientNotFound)
    }

    /// The purposes of the client's own tenant.
    pub async fn purposes_of(
        &self,
        client: &AuthenticatedClient,
    ) -> Result<Vec<PurposeRecord>, ServiceError> {
        let mut all = self.db.purposes.purposes().await?;
        all.retain(|p| p.purpose.id.belongs_to(client.tenant()));
        Ok(all)
    }

    /// Rotates a purpose's protection key: every code made under the old key stops matching
    /// (renewability) and the old key is destroyed; subjects must enrol again. It destroys key
    /// material, so once a risk group exists it is a `protection_key.rotate` proposal.
    pub async fn rotate_protection_key(
        &self,
        _admin: &Admin,
        purpose_id: &PurposeId,
    ) -> Result<KeyRotation, ServiceError> {
        if self.db.governance.risk_group().await?.is_some() {
            return Err(ServiceError::QuorumRequired);
        }
        self.rotate_protection_key_now(purpose_id, "admin").await
    }

    /// Rotates a purpose's protection key, approved or ungated; `actor` names who decided.
    pub(crate) async fn rotate_protection_key_now(
        &self,
        purpose_id: &PurposeId,
        actor: &str,
    ) -> Result<KeyRotation, ServiceError> {
        let purpose = self.require_purpose(purpose_id).await?;
        let next = purpose.protection_version + 1;
        let key = new_protection_key(self.keys.as_ref(), &purpose.purpose, next).await?;
        let mut leaf = self.leaf("protection_key.rotate", actor);
        leaf.purpose = Some(purpose_id.clone());
        leaf.decision = Some(format!("version {next}"));
        let version = self
            .db
            .purposes
            .rotate_protection_key(
                purpose_id,
                purpose.protection_version,
                &key,
                self.now(),
                &leaf,
            )
            .await
            .map_err(|e| match e {
                StoreError::ProtectionKeyChanged => {
                    ServiceError::Conflict("a newer protection key")
                }
                e => e.into(),
            })?;
        self.protection.forget(purpose_id);
        self.galleries.drop_purpose(purpose_id);
        tracing::warn!(purpose = %purpose_id, version, "protection key rotated; earlier codes revoked");
        Ok(KeyRotation { version })
    }

    /// Creates a client of a tenant with grants on that tenant's purposes and rights over its
    /// subjects. Each grant must name an existing purpose that allows the operation.
    pub async fn create_client(
        &self,
        _admin: &Admin,
        definition: ClientDefinition,
    ) -> Result<ClientCreated, ServiceError> {
        // A client that may search galleries needs the risk group's quorum, when there is one.
        if widens_search(definition.grants.iter().map(|g| g.operation))
            && self.db.governance.risk_group().await?.is_some()
        {
            return Err(ServiceError::QuorumRequired);
        }
        self.create_client_now(definition).await
    }

    /// Creates a client, approved or ungated.
    pub(crate) async fn create_client_now(
        &self,
        definition: ClientDefinition,
    ) -> Result<ClientCreated, ServiceError> {
        let ClientDefinition {
            name,
            tenant,
            grants,
            rights,
        } = definition;
        self.require_tenant(&tenant).await?;
        if grants.iter().any(|g| !g.purpose.belongs_to(&tenant)) {
            return Err(ValidationError::new(
                "grants",
                "a grant names a purpose of the client's own tenant",
            )
            .into());
        }
        let named: BTreeSet<&PurposeId> = grants.iter().map(|g| &g.purpose).collect();
        let mut purposes = Vec::with_capacity(named.len());
        for id in named {
            if let Some(p) = self.db.purposes.purpose(id).await? {
                purposes.push(p);
            }
        }
        check_grants(&grants, &purposes)?;
        let api_key = Zeroizing::new(new_client_key(&tenant)?);
        let client = NewClient {
            id: ClientId::from_random(random16()?),
            name,
            tenant,
            key_digest: self.secrets.token_digest(&api_key),
            grants,
            rights,
            created_at: self.now(),
        };
        let mut leaf = self.leaf("client.create", "admin");
        leaf.detail = vec![
            ("client".into(), client.id.to_string()),
            ("tenant".into(), client.tenant.to_string()),
            ("subject_rights".into(), SubjectRight::list(&client.rights)),
            (
                "grants".into(),
                client
                    .grants
                    .iter()
                    .map(|g| format!("{}:{}", g.purpose, g.operation))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        self.db.clients.create_client(&client, &leaf).await?;
        tracing::info!(client = %client.id, grants = client.grants.len(), "client created");
        Ok(ClientCreated {
            id: client.id,
            api_key,
        })
    }

    /// Gives a client a new API key; the old one stops working at once. The new key is in
    /// the answer only. For a client that may search, once a risk group exists, each key
    /// issued uses up one issue the quorum approved (`client.issue_key`, or the client's
    /// `client.create`).
    pub async fn rotate_client_key(
        &self,
        _admin: &Admin,
        client: &ClientId,
    ) -> Result<ClientCreated, ServiceError> {
        let record = self
            .db
            .clients
            .client(client)
            .await?
            .ok_or(ServiceError::ClientNotFound)?;
        let gated = widens_search(record.grants.iter().map(|g| g.operation))
            && self.db.governance.risk_group().await?.is_some();
        let api_key = Zeroizing::new(new_client_key(&record.tenant)?);
        let mut leaf = self.leaf("client.key_rotate", "admin");
        leaf.decision = Some("rotated".into());
        leaf.detail = vec![("client".into(), client.to_string())];
        if gated {
            leaf.detail.push(("approved_by".into(), "quorum".into()));
        }
        if !self
            .db
            .clients
            .replace_client_key(client, &self.secrets.token_digest(&api_key), gated, &leaf)
            .await?
        {
            return Err(if gated {
                ServiceError::QuorumRequired
            } else {
                ServiceError::ClientNotFound
            });
        }
        tracing::info!(client = %client, "client API key rotated");
        Ok(ClientCreated {
            id: client.clone(),
            api_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::{PurposeSpec, RetentionSpec};

    use super::*;

    fn purpose(id: &str, ops: &[&str]) -> PurposeRecord {
        let identify = ops.contains(&"identify");
        PurposeRecord {
            purpose: PurposeSpec {
                id: id.into(),
                tenant: None,
                description: "d".into(),
                operations: ops.iter().map(|o| (*o).to_owned()).collect(),
                dimension: 4,
                threshold: None,
                retention: RetentionSpec {
                    max_days_since_enrolment: 1,
                    max_days_since_last_use: None,
                },
                code_bits: None,
                max_gallery_size: identify.then_some(10),
                calibration: None,
                risk: None,
                fairness_policy: None,
                notice: None,
            }
            .parse()
            .expect("valid")
            .purpose,
            protection_version: 1,
            fairness: FairnessState::default(),
            matcher: None,
            retired_at: None,
        }
    }

    fn grant(p: &str, o: Operation) -> Grant {
        Grant {
            purpose: PurposeId::parse(p).expect("valid"),
            operation: o,
        }
    }

    #[test]
    fn grants_name_existing_purposes_that_allow_them() {
        let purposes = [purpose("pay", &["enroll", "verify"])];
        let ok: BTreeSet<Grant> = [grant("pay", Operation::Verify)].into();
        assert!(check_grants(&ok, &purposes).is_ok());
        let not_allowed: BTreeSet<Grant> = [grant("pay", Operation::Identify)].into();
        assert!(check_grants(&not_allowed, &purposes).is_err());
        let unknown: BTreeSet<Grant> = [grant("door", Operation::Verify)].into();
        assert!(check_grants(&unknown, &purposes).is_err());
    }

    #[test]
    fn only_search_widens_what_needs_the_quorum() {
        assert!(!widens_search([Operation::Enroll, Operation::Verify]));
        assert!(widens_search([Operation::Verify, Operation::Identify]));
        assert!(!widens_search([]));
    }
}
