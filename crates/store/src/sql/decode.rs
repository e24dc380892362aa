//! Row decoders shared by more than one concern, and the column lists they read. Each turns
//! a row back into domain types and reports a value that does not parse as
//! [`StoreError::Corrupt`].

use std::collections::BTreeSet;
use std::str::FromStr;

use bioguard_core::{
    Centre, ClientId, CodeBits, ConsentId, ConsentMethod, ConsentRecord, ConsentState, DataKeyId,
    Description, Dimension, EndReason, FairnessPolicy, FairnessState, FairnessStatus, Matcher,
    MatcherSummary, NoticeFloor, NoticeVersion, Operation, Purpose, PurposeId, PurposeRecord,
    Retention, RiskPolicy, TemplateId, Threshold, Timestamp, Transform,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::records::{ProtectionKey, SealedKey, StoredDataKey, StoredTemplate};
use crate::sql::columns::Columns;
use crate::sql::conn::corrupt;

/// The template columns [`template_from_row`] reads, for a `templates t JOIN data_keys k`.
pub(crate) const TEMPLATE_COLUMNS: &str = "t.id AS t_id, t.format AS t_format, t.sealed AS t_sealed, \
    t.protection_version AS t_protection_version, t.enrolled_at AS t_enrolled_at, \
    t.last_used_at AS t_last_used_at, k.id AS k_id, k.kek AS k_kek, k.wrapped AS k_wrapped";

/// The columns of a purpose's notice floor, from a join on `notices f` (see [`floor_join`]).
pub(crate) const FLOOR_COLUMNS: &str = "f.version AS floor_version, f.published_at AS floor_published_at, \
    f.reconsent_days AS floor_reconsent_days";

/// The columns [`consent_from_row`] reads.
pub(crate) const CONSENT_COLUMNS: &str =
    "id, purpose_id, notice_version, method, client_id, granted_at, ended_at, end_reason";

/// Joins `notices f`: the latest material notice of the purpose named by `purpose_column`.
pub(crate) fn floor_join(purpose_column: &str) -> String {
    format!(
        "LEFT JOIN notices f ON f.purpose_id = {purpose_column} AND f.version = \
         (SELECT MAX(n.version) FROM notices n \
          WHERE n.purpose_id = {purpose_column} AND n.material <> 0)"
    )
}

/// A purpose row (`SELECT * FROM purposes`, or a join that keeps its column names).
pub(crate) fn purpose_from_row(row: &impl Columns) -> Result<PurposeRecord, StoreError> {
    let id: String = row.col("id")?;
    let ops: String = row.col("operations")?;
    let operations = ops
        .split(',')
        .filter(|s| !s.is_empty())
        .map(Operation::from_str)
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|_| corrupt("purpose operations"))?;
    let dimension: i64 = row.col("dimension")?;
    let threshold: f64 = row.col("threshold")?;
    let r1: i64 = row.col("retention_days_since_enrolment")?;
    let r2: Option<i64> = row.col("retention_days_since_last_use")?;
    let bits: i64 = row.col("code_bits")?;
    let max_gallery: Option<i64> = row.col("max_gallery_size")?;
    let version: i64 = row.col("protection_version")?;
    let purpose = Purpose {
        id: PurposeId::parse(&id).map_err(|_| corrupt("purpose id"))?,
        description: Description::parse(&row.col::<String>("description")?)
            .map_err(|_| corrupt("purpose description"))?,
        operations,
        dimension: Dimension::new(dimension as u64).map_err(|_| corrupt("purpose dimension"))?,
        threshold: Threshold::new(threshold).map_err(|_| corrupt("purpose threshold"))?,
        retention: Retention::new(r1 as u64, r2.map(|d| d as u64))
            .map_err(|_| corrupt("purpose retention"))?,
        code_bits: CodeBits::new(bits as u64).ok_or_else(|| corrupt("purpose code bits"))?,
        max_gallery_size: max_gallery
            .map(|n| u32::try_from(n).map_err(|_| corrupt("purpose gallery size")))
            .transpose()?,
        calibration: row.col("calibration")?,
        risk: match row.col::<Option<String>>("risk")? {
            None => RiskPolicy::default(),
            Some(t) => RiskPolicy::from_text(&t).map_err(|_| corrupt("purpose risk policy"))?,
        },
        fairness: match row.col::<Option<String>>("fairness")? {
            None => FairnessPolicy::default(),
            Some(t) => {
                FairnessPolicy::from_text(&t).map_err(|_| corrupt("purpose fairness policy"))?
            }
        },
    };
    Ok(PurposeRecord {
        purpose,
        protection_version: u32::try_from(version).map_err(|_| corrupt("protection version"))?,
        fairness: FairnessState {
            status: FairnessStatus::parse(&row.col::<String>("fairness_status")?)
                .ok_or_else(|| corrupt("fairness status"))?,
            report_sha256: row.col("fairness_report")?,
            at: row
                .col::<Option<i64>>("fairness_at")?
                .map(Timestamp::from_unix),
        },
        matcher: None,
        retired_at: row
            .col::<Option<i64>>("retired_at")?
            .map(Timestamp::from_unix),
    })
}

/// A purpose with its current key's matcher: `k_transform` and `k_centred` beside
/// `purposes.*`, from a `LEFT JOIN protection_keys k` on the current version.
pub(crate) fn purpose_with_matcher_from_row(row: &AnyRow) -> Result<PurposeRecord, StoreError> {
    let mut p = purpose_from_row(row)?;
    let transform: Option<String> = row.try_get("k_transform")?;
    let centred: i64 = row.try_get("k_centred")?;
    p.matcher = transform
        .map(|t| {
            Ok::<_, StoreError>(MatcherSummary {
                transform: Transform::parse(&t).map_err(|_| corrupt("key transform"))?,
                centred: centred != 0,
            })
        })
        .transpose()?;
    Ok(p)
}

/// The notice floor of [`FLOOR_COLUMNS`], if the purpose has a material notice.
pub(crate) fn notice_floor_from_row(row: &impl Columns) -> Result<Option<NoticeFloor>, StoreError> {
    let Some(v) = row.col::<Option<i64>>("floor_version")? else {
        return Ok(None);
    };
    Ok(Some(NoticeFloor {
        version: u32::try_from(v).map_err(|_| corrupt("notice version"))?,
        published_at: Timestamp::from_unix(row.col("floor_published_at")?),
        reconsent_days: row
            .col::<Option<i64>>("floor_reconsent_days")?
            .map(|d| u32::try_from(d).map_err(|_| corrupt("notice reconsent days")))
            .transpose()?,
    }))
}

/// A template of [`TEMPLATE_COLUMNS`].
pub(crate) fn template_from_row(row: &impl Columns) -> Result<StoredTemplate, StoreError> {
    let version: i64 = row.col("t_protection_version")?;
    Ok(StoredTemplate {
        id: TemplateId::parse(&row.col::<String>("t_id")?).map_err(|_| corrupt("template id"))?,
        data_key: data_key_from_row(row, "k_")?,
        format: row.col("t_format")?,
        sealed: row.col("t_sealed")?,
        protection_version: u32::try_from(version).map_err(|_| corrupt("protection version"))?,
        enrolled_at: Timestamp::from_unix(row.col("t_enrolled_at")?),
        last_used_at: row
            .col::<Option<i64>>("t_last_used_at")?
            .map(Timestamp::from_unix),
    })
}

/// A data key from the columns `{prefix}id`, `{prefix}kek`, `{prefix}wrapped`.
pub(crate) fn data_key_from_row(
    row: &impl Columns,
    prefix: &str,
) -> Result<StoredDataKey, StoreError> {
    Ok(StoredDataKey {
        id: DataKeyId::parse(&row.col::<String>(format!("{prefix}id").as_str())?)
            .map_err(|_| corrupt("data key id"))?,
        sealed: SealedKey {
            kek: row.col(format!("{prefix}kek").as_str())?,
            wrapped: row.col(format!("{prefix}wrapped").as_str())?,
        },
    })
}

/// A wrapped key from the columns `kek` and `wrapped`.
pub(crate) fn sealed_key_from_row(r: &AnyRow) -> Result<SealedKey, StoreError> {
    Ok(SealedKey {
        kek: r.try_get("kek")?,
        wrapped: r.try_get("wrapped")?,
    })
}

/// A protection key with its matcher (`kek`, `wrapped`, `transform`, `centre`).
pub(crate) fn protection_key_from_row(r: &AnyRow) -> Result<ProtectionKey, StoreError> {
    let transform: String = r.try_get("transform")?;
    let centre: Option<Vec<u8>> = r.try_get("centre")?;
    Ok(ProtectionKey {
        sealed: sealed_key_from_row(r)?,
        matcher: Matcher {
            transform: Transform::parse(&transform).map_err(|_| corrupt("key transform"))?,
            centre: centre
                .map(|c| Centre::from_bytes(&c).ok_or_else(|| corrupt("key centre")))
                .transpose()?,
        },
    })
}

/// A consent record of [`CONSENT_COLUMNS`].
pub(crate) fn consent_from_row(row: &AnyRow) -> Result<ConsentRecord, StoreError> {
    let ended_at: Option<i64> = row.try_get("ended_at")?;
    let end_reason: Option<String> = row.try_get("end_reason")?;
    let state = match (ended_at, end_reason.as_deref()) {
        (None, None) => ConsentState::Live,
        (Some(at), Some(r)) => ConsentState::Ended {
            at: Timestamp::from_unix(at),
            reason: EndReason::parse(r).ok_or_else(|| corrupt("consent end reason"))?,
        },
        _ => return Err(corrupt("consent end")),
    };
    Ok(ConsentRecord {
        id: ConsentId::parse(&row.try_get::<String, _>("id")?)
            .map_err(|_| corrupt("consent id"))?,
        purpose: PurposeId::parse(&row.try_get::<String, _>("purpose_id")?)
            .map_err(|_| corrupt("consent purpose"))?,
        notice_version: NoticeVersion::parse(&row.try_get::<String, _>("notice_version")?)
            .map_err(|_| corrupt("consent notice version"))?,
        method: ConsentMethod::parse(&row.try_get::<String, _>("method")?)
            .map_err(|_| corrupt("consent method"))?,
        client: ClientId::parse(&row.try_get::<String, _>("client_id")?)
            .map_err(|_| corrupt("consent client"))?,
        granted_at: Timestamp::from_unix(row.try_get("granted_at")?),
        state,
    })
}
