//! Authentication. Both checks compare keyed digests (never the tokens themselves) and fail
//! with the same [`ServiceError::Unauthenticated`] whatever went wrong, so a caller learns
//! nothing from the failure.

use bioguard_core::{
    ClientId, ClientRecord, Grant, Operation, PurposeId, PurposeName, SubjectRight, TenantId,
};

use zeroize::Zeroizing;

use crate::abuse::auth_failures::{AUTH_BURST, AUTH_WINDOW};
use crate::error::ServiceError;
use crate::facade::Service;

/// Proof that the caller presented the admin token. Only [`Service::authenticate_admin`]
/// constructs it.
#[derive(Debug)]
pub struct Admin(());

/// A client that presented a valid API key. Only [`Service::authenticate_client`]
/// constructs it.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient(ClientRecord);

/// Proof that a client holds the grant for one operation on one purpose. Only
/// [`AuthenticatedClient::authorize`] constructs it; turning an embedding into a code
/// (enrolment, verification, identification) requires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeAuthorized {
    client: ClientId,
    purpose: PurposeId,
    operation: Operation,
}

impl PurposeAuthorized {
    /// The client.
    pub fn client(&self) -> &ClientId {
        &self.client
    }

    /// The purpose.
    pub fn purpose(&self) -> &PurposeId {
        &self.purpose
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }
}

impl AuthenticatedClient {
    /// The client's record.
    pub fn record(&self) -> &ClientRecord {
        &self.0
    }

    /// The actor name recorded in audit leaves.
    pub(crate) fn actor(&self) -> String {
        format!("client:{}", self.0.id)
    }

    /// The client's tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.0.tenant
    }

    /// The purpose `name` of the client's own tenant: the only purposes it can name.
    pub fn purpose(&self, name: &PurposeName) -> PurposeId {
        PurposeId::in_tenant(&self.0.tenant, name)
    }

    /// Fails unless the client holds `right` over its tenant's subjects.
    pub(crate) fn require_right(&self, right: SubjectRight) -> Result<(), ServiceError> {
        if self.0.rights.contains(&right) {
            Ok(())
        } else {
            Err(ServiceError::NoRight(right))
        }
    }

    /// The proof that the client may do `operation` on `purpose`, or
    /// [`ServiceError::NoGrant`].
    pub(crate) fn authorize(
        &self,
        purpose: &PurposeId,
        operation: Operation,
    ) -> Result<PurposeAuthorized, ServiceError> {
        let grant = Grant {
            purpose: purpose.clone(),
            operation,
        };
        if self.0.grants.contains(&grant) {
            Ok(PurposeAuthorized {
                client: self.0.id.clone(),
                purpose: purpose.clone(),
                operation,
            })
        } else {
            Err(ServiceError::NoGrant(operation))
        }
    }

    /// Fails unless the client holds some grant on `purpose`.
    pub(crate) fn require_any(&self, purpose: &PurposeId) -> Result<(), ServiceError> {
        if self.0.grants.iter().any(|g| &g.purpose == purpose) {
            Ok(())
        } else {
            Err(ServiceError::NoGrantForPurpose)
        }
    }
}

/// The prefix of every client API key.
pub(crate) const CLIENT_KEY_PREFIX: &str = "bgc_";

/// A new API key for a client of `tenant`: `bgc_` and 64 hex digits, with the tenant between
/// them (`bgc_acme.…`) for clients of any tenant but the default one. The key names its
/// tenant so that verification can find the subject (whose pseudonym is keyed by the
/// tenant) in the same single read that checks the key; the tenant part is covered by the
/// key's digest, so it cannot be changed.
pub(crate) fn new_client_key(tenant: &TenantId) -> Result<String, ServiceError> {
    let prefix = if tenant.is_default() {
        CLIENT_KEY_PREFIX.to_owned()
    } else {
        format!("{CLIENT_KEY_PREFIX}{tenant}.")
    };
    bioguard_crypto::random_token(&prefix).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The tenant an API key names (see [`new_client_key`]); `None` for text that names none
/// well-formed (it cannot be a key).
pub(crate) fn key_tenant(token: &str) -> Option<TenantId> {
    let rest = token.strip_prefix(CLIENT_KEY_PREFIX)?;
    match rest.split_once('.') {
        None => Some(TenantId::default_tenant()),
        Some((tenant, _)) => TenantId::parse(tenant).ok().filter(|t| !t.is_default()),
    }
}

/// Bearer tokens are ASCII of bounded length; anything else cannot be one of ours, and is
/// refused before it is hashed.
fn plausible(token: &str) -> bool {
    (16..=256).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

impl Service {
    /// Counts a failed authentication and records a burst of them in the ledger, once per
    /// window. The failure itself is answered whatever happens here.
    pub(crate) async fn failed(&self) -> ServiceError {
        if self.auth_failures.count() {
            let mut leaf = self.leaf("auth.failure_burst", "unknown");
            leaf.decision = Some(format!("{AUTH_BURST} failures"));
            leaf.detail = vec![("window_seconds".into(), AUTH_WINDOW.as_secs().to_string())];
            tracing::warn!(failures = AUTH_BURST, "burst of failed authentications");
            if let Err(e) = self.db.ledger.append_audit(&leaf).await {
                tracing::error!(error = %e, "could not record a burst of failed authentications");
            }
        }
        ServiceError::Unauthenticated
    }

    /// Checks an API key.
    pub async fn authenticate_client(
        &self,
        token: &str,
    ) -> Result<AuthenticatedClient, ServiceError> {
        let Some(digest) = self.key_digest(token) else {
            return Err(self.failed().await);
        };
        let record = self.db.clients.client_by_key_digest(&digest).await?;
        self.admit(record).await
    }

    /// The digest an API key is stored under; `None` for what cannot be a key.
    pub(crate) fn key_digest(&self, token: &str) -> Option<[u8; 32]> {
        plausible(token).then(|| self.secrets.token_digest(token))
    }

    /// Admits the client a key belongs to: refuses an unknown key (counted), a suspended
    /// client, and one over its rate.
    pub(crate) async fn admit(
        &self,
        record: Option<ClientRecord>,
    ) -> Result<AuthenticatedClient, ServiceError> {
        match record {
            Some(record) if record.suspended_at.is_some() => Err(ServiceError::ClientSuspended),
            Some(record) => {
                self.take_rate(&record.id).await?;
                Ok(AuthenticatedClient(record))
            }
            None => Err(self.failed().await),
        }
    }

    /// Checks the admin token.
    pub async fn authenticate_admin(&self, token: &str) -> Result<Admin, ServiceError> {
        if !plausible(token) {
            return Err(self.failed().await);
        }
        let digest = self.secrets.token_digest(token);
        if self.db.clients.is_admin_token(&digest).await? {
            Ok(Admin(()))
        } else {
            Err(self.failed().await)
        }
    }

    /// Whether an admin token has been registered.
    pub async fn has_admin_token(&self) -> Result<bool, ServiceError> {
        Ok(self.db.clients.has_admin_token().await?)
    }

    /// Registers `token` as the admin token unless one exists; returns whether it was stored.
    pub async fn register_admin_token(&self, token: &str) -> Result<bool, ServiceError> {
        if !plausible(token) {
            return Err(ServiceError::Internal(
                "admin token has an invalid form".into(),
            ));
        }
        let digest = self.secrets.token_digest(token);
        let leaf = self.leaf("admin_token.register", "system");
        Ok(self
            .db
            .clients
            .insert_admin_token(&digest, self.now(), &leaf)
            .await?)
    }

    /// Replaces the admin token with a new one, returned once (the operator's recovery: it
    /// needs the database and the key provider, not the old token). Every earlier token is
    /// refused from the moment this returns, on every node; the change is in the ledger.
    pub async fn rotate_admin_token(&self) -> Result<Zeroizing<String>, ServiceError> {
        let token = Zeroizing::new(bioguard_crypto::random_token("bga_")?);
        let digest = self.secrets.token_digest(&token);
        let leaf = self.leaf("admin_token.rotate", "operator");
        self.db
            .clients
            .replace_admin_token(&digest, self.now(), &leaf)
            .await?;
        Ok(token)
    }

    /// Whether `token` is the registered admin token (used at start-up to check the file).
    pub async fn is_admin_token(&self, token: &str) -> Result<bool, ServiceError> {
        Ok(self.authenticate_admin(token).await.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use bioguard_core::ClientName;

    use super::*;

    fn client(grants: &[(&str, Operation)]) -> AuthenticatedClient {
        AuthenticatedClient(ClientRecord {
            id: ClientId::from_random([1; 16]),
            name: ClientName::parse("shop").expect("valid"),
            tenant: TenantId::default(),
            rights: [SubjectRight::Read].into(),
            grants: grants
                .iter()
                .map(|(p, o)| Grant {
                    purpose: PurposeId::parse(p).expect("valid"),
                    operation: *o,
                })
                .collect(),
            suspended_at: None,
        })
    }

    #[test]
    fn a_grant_authorises_its_operation_on_its_purpose_only() {
        let c = client(&[("pay", Operation::Verify)]);
        let pay = PurposeId::parse("pay").expect("valid");
        let door = PurposeId::parse("door").expect("valid");
        let proof = c.authorize(&pay, Operation::Verify).expect("granted");
        assert_eq!(
            (proof.client(), proof.purpose(), proof.operation()),
            (&c.record().id, &pay, Operation::Verify)
        );
        assert!(matches!(
            c.authorize(&pay, Operation::Enroll),
            Err(ServiceError::NoGrant(Operation::Enroll))
        ));
        assert!(c.authorize(&door, Operation::Verify).is_err());
        assert!(c.require_any(&pay).is_ok());
        assert!(matches!(
            c.require_any(&door),
            Err(ServiceError::NoGrantForPurpose)
        ));
    }

    #[test]
    fn a_client_names_purposes_of_its_tenant_and_holds_only_its_rights() {
        let c = client(&[]);
        let login = PurposeName::parse("login").expect("valid");
        assert_eq!(c.purpose(&login).as_str(), "login");
        let acme = AuthenticatedClient(ClientRecord {
            tenant: TenantId::parse("acme").expect("valid"),
            ..c.record().clone()
        });
        assert_eq!(acme.purpose(&login).as_str(), "acme:login");
        assert!(c.require_right(SubjectRight::Read).is_ok());
        assert!(matches!(
            c.require_right(SubjectRight::Erase),
            Err(ServiceError::NoRight(SubjectRight::Erase))
        ));
    }

    #[test]
    fn a_key_names_its_tenant() {
        let acme = TenantId::parse("acme").expect("valid");
        let key = new_client_key(&acme).expect("random");
        assert!(key.starts_with("bgc_acme.") && plausible(&key));
        assert_eq!(key_tenant(&key), Some(acme));
        let plain = new_client_key(&TenantId::default()).expect("random");
        assert_eq!(key_tenant(&plain), Some(TenantId::default()));
        for bad in ["bgc_Acme.x", "bgc_default.x", "xyz_abc", "bgc_a:b.x"] {
            assert_eq!(key_tenant(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_token_shaped_text_is_hashed() {
        assert!(plausible("bgc_0123456789abcdef"));
        for bad in [
            "short",
            "bgc_0123456789 abcdef",
            &"x".repeat(257),
            "bgc_é0123456789abcd",
        ] {
            assert!(!plausible(bad), "{bad}");
        }
    }
}
