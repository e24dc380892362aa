//! [`GovernanceStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{
    Approval, GroupSpec, MemberSpec, PasskeyAssertion, Proof, Proposal, ProposalId, ProposalStatus,
    RiskGroup, Timestamp,
};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::LeafDraft;
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::traits::GovernanceStore;

#[async_trait]
impl GovernanceStore for SqlStore {
    async fn risk_group(&self) -> Result<Option<RiskGroup>, StoreError> {
        let row = sqlx::query("SELECT quorum, members FROM risk_group WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let members: Vec<MemberSpec> = serde_json::from_str(&r.try_get::<String, _>("members")?)
            .map_err(|_| corrupt("risk group members"))?;
        let quorum =
            u32::try_from(r.try_get::<i64, _>("quorum")?).map_err(|_| corrupt("quorum"))?;
        GroupSpec { quorum, members }
            .parse()
            .map(Some)
            .map_err(|_| corrupt("risk group"))
    }

    async fn set_risk_group(
        &self,
        group: &RiskGroup,
        expect_none: bool,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let quorum = group.quorum;
        let members = serde_json::to_string(&group.spec().members)
            .map_err(|_| corrupt("risk group members"))?;
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = if expect_none {
                    sqlx::query(
                        "INSERT INTO risk_group (id, quorum, members, updated_at) \
                         VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                } else {
                    sqlx::query(
                        "UPDATE risk_group SET quorum = $1, members = $2, updated_at = $3 \
                         WHERE id = 1",
                    )
                }
                .bind(i64::from(quorum))
                .bind(members.as_str())
                .bind(at.unix())
                .execute(b.conn())
                .await?
                .rows_affected();
                if n != 1 {
                    return Err(StoreError::Conflict("a risk group"));
                }
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn create_proposal(&self, p: &Proposal, leaf: &LeafDraft) -> Result<(), StoreError> {
        let p = p.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO proposals (id, payload, created_at, expires_at, status) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(p.id.as_str())
                .bind(p.payload.as_str())
                .bind(p.created_at.unix())
                .bind(p.expires_at.unix())
                .bind(p.status.as_str())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn proposal(&self, id: &ProposalId) -> Result<Option<Proposal>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT id, payload, created_at, expires_at, status, result FROM proposals WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let approvals = sqlx::query(
            "SELECT member, signature, assertion FROM approvals WHERE proposal_id = $1 \
             ORDER BY approved_at, member",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|a| {
            let signature: Vec<u8> = a.try_get("signature")?;
            let proof = match a.try_get::<Option<String>, _>("assertion")? {
                None => Proof::Ed25519 { signature },
                Some(text) => {
                    let parts: StoredAssertion =
                        serde_json::from_str(&text).map_err(|_| corrupt("an approval"))?;
                    Proof::Passkey(PasskeyAssertion {
                        credential_id: parts.credential_id,
                        authenticator_data: parts.authenticator_data,
                        client_data_json: parts.client_data_json,
                        signature,
                    })
                }
            };
            Ok(Approval {
                member: a.try_get("member")?,
                proof,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(Proposal {
            id: ProposalId::parse(&r.try_get::<String, _>("id")?)
                .map_err(|_| corrupt("proposal id"))?,
            payload: r.try_get("payload")?,
            created_at: Timestamp::from_unix(r.try_get("created_at")?),
            expires_at: Timestamp::from_unix(r.try_get("expires_at")?),
            status: ProposalStatus::parse(&r.try_get::<String, _>("status")?)
                .ok_or_else(|| corrupt("proposal status"))?,
            result: r.try_get("result")?,
            approvals,
        }))
    }

    async fn add_approval(
        &self,
        id: &ProposalId,
        approval: &Approval,
        sign_count: u32,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError> {
        let (id, member) = (id.clone(), approval.member.clone());
        let (signature, assertion, credential) = match &approval.proof {
            Proof::Ed25519 { signature } => (signature.clone(), None, None),
            Proof::Passkey(a) => {
                let parts = StoredAssertion {
                    credential_id: a.credential_id.clone(),
                    authenticator_data: a.authenticator_data.clone(),
                    client_data_json: a.client_data_json.clone(),
                };
                let text = serde_json::to_string(&parts).map_err(|_| corrupt("an approval"))?;
                let cred = bioguard_core::b64url_encode(&a.credential_id);
                (a.signature.clone(), Some(text), Some(cred))
            }
        };
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                if let Some(cred) = &credential {
                    // Moves only forward; both zero when the authenticator keeps no counter.
                    let moved = sqlx::query(
                        "INSERT INTO passkey_counters (credential_id, sign_count, updated_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (credential_id) DO UPDATE \
                         SET sign_count = excluded.sign_count, updated_at = excluded.updated_at \
                         WHERE passkey_counters.sign_count < excluded.sign_count \
                         OR (passkey_counters.sign_count = 0 AND excluded.sign_count = 0)",
                    )
                    .bind(cred.as_str())
                    .bind(i64::from(sign_count))
                    .bind(at.unix())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                    if moved != 1 {
                        return Err(StoreError::Conflict("a signature counter that did not advance"));
                    }
                }
                let r = sqlx::query(
                    "INSERT INTO approvals (proposal_id, member, signature, approved_at, assertion) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id.as_str())
                .bind(member.as_str())
                .bind(signature)
                .bind(at.unix())
                .bind(assertion)
                .execute(b.conn())
                .await;
                match r {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        return Err(StoreError::Conflict("an approval by this member"));
                    }
                    Err(e) => return Err(e.into()),
                }
                let n: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM approvals WHERE proposal_id = $1")
                        .bind(id.as_str())
                        .fetch_one(b.conn())
                        .await?;
                Ok(Recorded::Changed(
                    u32::try_from(n).map_err(|_| corrupt("approvals"))?,
                ))
            })
        })
        .await
    }

    async fn set_proposal_status(
        &self,
        id: &ProposalId,
        from: ProposalStatus,
        to: ProposalStatus,
        result: Option<&str>,
        leaf: Option<&LeafDraft>,
    ) -> Result<bool, StoreError> {
        let (id, result) = (id.clone(), result.map(str::to_owned));
        match leaf {
            Some(leaf) => {
                self.change(leaf, move |b, _| {
                    Box::pin(async move {
                        let moved = move_status(b.conn(), &id, from, to, result).await?;
                        Ok(Recorded::when(moved, moved))
                    })
                })
                .await
            }
            None => {
                self.writer
                    .write(move |b| {
                        Box::pin(async move { move_status(b.conn(), &id, from, to, result).await })
                    })
                    .await
            }
        }
    }
}

/// Moves a proposal from `from` to `to`; whether it was in `from`.
async fn move_status(
    conn: &mut sqlx::AnyConnection,
    id: &ProposalId,
    from: ProposalStatus,
    to: ProposalStatus,
    result: Option<String>,
) -> Result<bool, StoreError> {
    let n =
        sqlx::query("UPDATE proposals SET status = $1, result = $2 WHERE id = $3 AND status = $4")
            .bind(to.as_str())
            .bind(result)
            .bind(id.as_str())
            .bind(from.as_str())
            .execute(conn)
            .await?
            .rows_affected();
    Ok(n == 1)
}

/// The parts of a passkey assertion beside its signature, as stored.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAssertion {
    #[serde(with = "bioguard_core::b64url_serde")]
    credential_id: Vec<u8>,
    #[serde(with = "bioguard_core::b64url_serde")]
    authenticator_data: Vec<u8>,
    #[serde(with = "bioguard_core::b64url_serde")]
    client_data_json: Vec<u8>,
}
