//! The SQL implementation of [`Store`], shared by SQLite and PostgreSQL through sqlx's `Any`
//! driver. Statements are written once, in the SQL both databases accept; the only dialect
//! differences are the column types in the migrations, `FOR UPDATE` (PostgreSQL) and
//! `BEGIN IMMEDIATE` (SQLite), which each serialise a write transaction against concurrent
//! consent changes.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bioguard_core::{
    ClientId, ClientName, CodeBits, ConsentId, ConsentMethod, DataKeyId, Description, Dimension,
    GalleryName, Grant, NoticeVersion, Operation, Pseudonym, Purpose, PurposeId, Retention,
    TemplateId, Threshold, Timestamp,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
// `AssertSqlSafe` marks statements assembled from compile-time constants only (column lists,
// table names, `FOR UPDATE`); every value from a request is a bound parameter.
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};

use crate::columns::Columns;
use crate::writer::{Batch, Writer};
use crate::{
    CandidateMaterial, ClientRecord, ConsentChange, ConsentRecord, EndReason, EnrolOutcome,
    EraseOutcome, ExpiredTemplate, ExpiryReason, IndexRecord, LeafDraft, NewClient, NewConsent,
    NewNotice, NewTemplate, SealedKey, Store, StoreError, StoredDataKey, StoredNotice,
    StoredPurpose, StoredTemplate, SubjectSummary, TemplateInfo, VerifyMaterial, WithdrawOutcome,
};
use crate::{StoredClaim, StoredIncident, StoredProposal, WrappedRow};

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A [`Store`] over SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<Writer>,
    /// Runs verification reads on the caller's thread (SQLite in a file).
    lite: Option<Arc<crate::lite::LiteReader>>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Percent-encodes a file path for a `sqlite://` URL.
fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let s = path.to_str().ok_or_else(|| {
        StoreError::Url(format!(
            "the database path {} is not valid UTF-8",
            path.display()
        ))
    })?;
    let mut out = String::from("sqlite://");
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("?mode=rwc");
    Ok(out)
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        // Create the file ourselves with mode 0600; SQLite gives its WAL and shared-memory
        // files the same mode as the database file.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", path.display())))?;
        }
        Self::connect(&sqlite_url(path)?).await
    }

    /// Connects to a database by URL (`sqlite://...` or `postgres://...`) and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(
                "expected a URL starting with postgres:// (or sqlite://)".into(),
            ));
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(url).await?;
        crate::migrate::run(&pool, backend).await?;
        let file = match backend {
            Backend::Sqlite => sqlite_file(url),
            Backend::Postgres => None,
        };
        let writer = Writer::new(
            pool.clone(),
            backend,
            file.clone(),
            crate::writer::MAX_BATCH,
        );
        // On SQLite in a file, verification reads and batches of rows alone skip sqlx's
        // per-statement hand-off (see `lite`).
        let lite = file.map(|p| Arc::new(crate::lite::LiteReader::new(p)));
        Ok(Self {
            pool,
            backend,
            writer,
            lite,
        })
    }

    /// A plain pool without migrations, for test set-up against a server.
    pub async fn raw_pool(url: &str) -> Result<AnyPool, StoreError> {
        sqlx::any::install_default_drivers();
        Ok(AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?)
    }

    /// The connection pool, for tests that inspect or alter rows directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The same store with at most `max_batch` changes per transaction (1: every change in a
    /// transaction of its own), for benchmarks that compare batch sizes. It has its own
    /// writer; both stay correct side by side (every batch reads the log's head under the
    /// write lock), they only take turns.
    pub fn with_max_batch(&self, max_batch: usize) -> Self {
        Self {
            pool: self.pool.clone(),
            backend: self.backend,
            writer: Writer::new(
                self.pool.clone(),
                self.backend,
                self.writer.file(),
                max_batch,
            ),
            lite: self.lite.clone(),
        }
    }

    /// What the group-commit writer has done so far.
    pub fn write_stats(&self) -> crate::WriteStats {
        self.writer.stats()
    }

    /// Closes every connection; waits for those in use to be returned.
    pub async fn close(&self) {
        // The writer lets its connection go when its queue is done.
        self.writer.stop();
        self.pool.close().await;
    }
}

/// Set on every SQLite connection (sqlx's and the store's own, see `lite`). WAL with
/// synchronous=FULL: a commit is on disk before it is acknowledged. secure_delete: deleted
/// rows (withdrawn templates, destroyed keys) are overwritten in the file, not left in free
/// pages. temp_store: savepoint journals stay in memory, never in temp files. cache_size: the
/// default 2 MiB of pages per connection (a larger cache costs every commit a longer sweep of
/// it, measured slower).
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; \
     PRAGMA temp_store = MEMORY; PRAGMA cache_size = -2000; PRAGMA wal_autocheckpoint = 16000;";

/// The database file a `sqlite:` URL names; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let name = path.to_str().unwrap_or_default();
    (name != ":memory:" && !name.starts_with("file:")).then(|| path.to_path_buf())
}

/// Runs a `SELECT COUNT(*) ...` statement, for demonstrations and tests that show what the
/// database holds.
pub async fn count_rows(store: &SqlStore, sql: &'static str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sql).fetch_one(&store.pool).await?)
}

fn sealed_key_from_row(r: &AnyRow) -> Result<SealedKey, StoreError> {
    Ok(SealedKey {
        kek: r.try_get("kek")?,
        wrapped: r.try_get("wrapped")?,
    })
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn purpose_from_row(row: &impl Columns) -> Result<StoredPurpose, StoreError> {
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
            None => bioguard_core::RiskPolicy::default(),
            Some(t) => bioguard_core::RiskPolicy::from_text(&t)
                .map_err(|_| corrupt("purpose risk policy"))?,
        },
        fairness: match row.col::<Option<String>>("fairness")? {
            None => bioguard_core::FairnessPolicy::default(),
            Some(t) => bioguard_core::FairnessPolicy::from_text(&t)
                .map_err(|_| corrupt("purpose fairness policy"))?,
        },
    };
    Ok(StoredPurpose {
        purpose,
        protection_version: u32::try_from(version).map_err(|_| corrupt("protection version"))?,
        fairness: crate::FairnessState {
            status: row.col("fairness_status")?,
            report_sha256: row.col("fairness_report")?,
            at: row
                .col::<Option<i64>>("fairness_at")?
                .map(Timestamp::from_unix),
        },
    })
}

/// The query behind the gallery index: templates of purpose `$1` under version `$2` that are
/// in a gallery and whose subject's consent is live, narrowed by `filter`, with their
/// gallery rows.
fn index_sql(filter: &str) -> String {
    format!(
        "SELECT t.subject AS subject, g.gallery AS gallery, {TEMPLATE_COLUMNS} \
         FROM (SELECT id FROM templates WHERE purpose_id = $1 AND protection_version = $2 \
               AND EXISTS (SELECT 1 FROM template_galleries tg \
                           WHERE tg.template_id = templates.id) \
               AND EXISTS (SELECT 1 FROM consents c WHERE c.subject = templates.subject \
                           AND c.purpose_id = templates.purpose_id AND c.ended_at IS NULL) \
               {filter}) page \
         JOIN templates t ON t.id = page.id \
         JOIN data_keys k ON k.id = t.data_key_id \
         JOIN template_galleries g ON g.template_id = t.id \
         ORDER BY t.id, g.gallery"
    )
}

/// Rows of [`index_sql`] grouped into records, one per template.
fn index_records(rows: &[AnyRow]) -> Result<Vec<IndexRecord>, StoreError> {
    let mut out: Vec<IndexRecord> = Vec::new();
    for r in rows {
        let id: String = r.try_get("t_id")?;
        let gallery = GalleryName::parse(&r.try_get::<String, _>("gallery")?)
            .map_err(|_| corrupt("gallery name"))?;
        match out.last_mut() {
            Some(last) if last.template.id.as_str() == id => last.galleries.push(gallery),
            _ => out.push(IndexRecord {
                subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("template subject"))?,
                template: template_from_row(r)?,
                galleries: vec![gallery],
            }),
        }
    }
    Ok(out)
}

fn template_from_row(row: &impl Columns) -> Result<StoredTemplate, StoreError> {
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

/// The template columns `template_from_row` reads, for a `templates t JOIN data_keys k`.
const TEMPLATE_COLUMNS: &str = "t.id AS t_id, t.format AS t_format, t.sealed AS t_sealed, \
    t.protection_version AS t_protection_version, t.enrolled_at AS t_enrolled_at, \
    t.last_used_at AS t_last_used_at, k.id AS k_id, k.kek AS k_kek, k.wrapped AS k_wrapped";

/// The columns of a purpose's notice floor, from a join on `notices f` (see [`floor_join`]).
const FLOOR_COLUMNS: &str = "f.version AS floor_version, f.published_at AS floor_published_at, \
    f.reconsent_days AS floor_reconsent_days";

/// Joins `notices f`: the latest material notice of the purpose named by `purpose_column`.
fn floor_join(purpose_column: &str) -> String {
    format!(
        "LEFT JOIN notices f ON f.purpose_id = {purpose_column} AND f.version = \
         (SELECT MAX(n.version) FROM notices n \
          WHERE n.purpose_id = {purpose_column} AND n.material <> 0)"
    )
}

fn notice_floor_from_row(row: &impl Columns) -> Result<Option<crate::NoticeFloor>, StoreError> {
    let Some(v) = row.col::<Option<i64>>("floor_version")? else {
        return Ok(None);
    };
    Ok(Some(crate::NoticeFloor {
        version: u32::try_from(v).map_err(|_| corrupt("notice version"))?,
        published_at: Timestamp::from_unix(row.col("floor_published_at")?),
        reconsent_days: row
            .col::<Option<i64>>("floor_reconsent_days")?
            .map(|d| u32::try_from(d).map_err(|_| corrupt("notice reconsent days")))
            .transpose()?,
    }))
}

fn consent_from_row(row: &AnyRow) -> Result<ConsentRecord, StoreError> {
    let end_reason: Option<String> = row.try_get("end_reason")?;
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
        ended_at: row
            .try_get::<Option<i64>, _>("ended_at")?
            .map(Timestamp::from_unix),
        end_reason: match end_reason.as_deref() {
            None => None,
            Some("withdrawn") => Some(EndReason::Withdrawn),
            Some("superseded") => Some(EndReason::Superseded),
            Some(_) => return Err(corrupt("consent end reason")),
        },
    })
}

/// Templates past a retention limit at `$1`: the columns and the condition.
const EXPIRED_SELECT: &str = "SELECT t.id, t.subject, t.purpose_id, t.enrolled_at, t.last_used_at, \
     p.retention_days_since_enrolment AS r1, p.retention_days_since_last_use AS r2 \
     FROM templates t JOIN purposes p ON p.id = t.purpose_id";
const EXPIRED_WHERE: &str = "(t.enrolled_at + p.retention_days_since_enrolment * 86400 <= $1 \
     OR (p.retention_days_since_last_use IS NOT NULL \
         AND COALESCE(t.last_used_at, t.enrolled_at) + p.retention_days_since_last_use * 86400 <= $1))";

fn expired_from_row(r: &AnyRow) -> Result<ExpiredTemplate, StoreError> {
    let enrolled: i64 = r.try_get("enrolled_at")?;
    let used: Option<i64> = r.try_get("last_used_at")?;
    let r1: i64 = r.try_get("r1")?;
    let r2: Option<i64> = r.try_get("r2")?;
    let by_age = enrolled + r1 * 86_400;
    let by_use = r2.map(|d| used.unwrap_or(enrolled) + d * 86_400);
    let (reason, deadline) = match by_use {
        Some(u) if u < by_age => (ExpiryReason::SinceLastUse, u),
        _ => (ExpiryReason::SinceEnrolment, by_age),
    };
    Ok(ExpiredTemplate {
        template: TemplateId::parse(&r.try_get::<String, _>("id")?)
            .map_err(|_| corrupt("template id"))?,
        subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
            .map_err(|_| corrupt("template subject"))?,
        purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
            .map_err(|_| corrupt("template purpose"))?,
        reason,
        deadline: Timestamp::from_unix(deadline),
    })
}

/// Inserts a notice version; a taken version is [`StoreError::Conflict`].
async fn insert_notice(
    b: &mut Batch<'_>,
    purpose: &PurposeId,
    n: &NewNotice,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "INSERT INTO notices (purpose_id, version, body, hash, material, reconsent_days, \
         published_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(purpose.as_str())
    .bind(i64::from(n.version))
    .bind(n.body.as_str())
    .bind(n.hash.as_str())
    .bind(i64::from(n.material))
    .bind(n.reconsent_days.map(i64::from))
    .bind(n.at.unix())
    .execute(b.conn())
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Conflict("this notice version"))
        }
        Err(e) => Err(e.into()),
    }
}

const CONSENT_COLUMNS: &str =
    "id, purpose_id, notice_version, method, client_id, granted_at, ended_at, end_reason";

async fn live_consent(
    b: &mut Batch<'_>,
    subject: &Pseudonym,
    purpose: &PurposeId,
) -> Result<Option<ConsentRecord>, StoreError> {
    let for_update = b.for_update();
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CONSENT_COLUMNS} FROM consents \
         WHERE subject = $1 AND purpose_id = $2 AND ended_at IS NULL{for_update}"
    )))
    .bind(subject.as_str())
    .bind(purpose.as_str())
    .fetch_optional(b.conn())
    .await?;
    row.as_ref().map(consent_from_row).transpose()
}

/// Deletes a subject's templates (for one purpose, or all) with their gallery memberships,
/// inside the open transaction; returns what was deleted.
async fn delete_templates(
    conn: &mut AnyConnection,
    subject: &Pseudonym,
    purpose: Option<&PurposeId>,
) -> Result<Vec<(PurposeId, TemplateId)>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, purpose_id FROM templates WHERE subject = $1 AND ($2 IS NULL OR purpose_id = $2)",
    )
    .bind(subject.as_str())
    .bind(purpose.map(|p| p.as_str().to_owned()))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("id")?;
        sqlx::query("DELETE FROM template_galleries WHERE template_id = $1")
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        out.push((
            PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                .map_err(|_| corrupt("template purpose"))?,
            TemplateId::parse(&id).map_err(|_| corrupt("template id"))?,
        ));
    }
    Ok(out)
}

fn data_key_from_row(row: &impl Columns, prefix: &str) -> Result<StoredDataKey, StoreError> {
    Ok(StoredDataKey {
        id: DataKeyId::parse(&row.col::<String>(format!("{prefix}id").as_str())?)
            .map_err(|_| corrupt("data key id"))?,
        sealed: SealedKey {
            kek: row.col(format!("{prefix}kek").as_str())?,
            wrapped: row.col(format!("{prefix}wrapped").as_str())?,
        },
    })
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_purpose(
        &self,
        p: &Purpose,
        protection_key: &SealedKey,
        notice: &NewNotice,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (p, protection_key, notice, leaf) = (
            p.clone(),
            protection_key.clone(),
            notice.clone(),
            leaf.clone(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let ops: Vec<&str> = p.operations.iter().map(|o| o.as_str()).collect();
                    let result = sqlx::query(
                        "INSERT INTO purposes (id, description, operations, dimension, threshold, \
             retention_days_since_enrolment, retention_days_since_last_use, created_at, \
             code_bits, max_gallery_size, calibration, protection_version, risk, fairness) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13)",
                    )
                    .bind(p.id.as_str())
                    .bind(p.description.as_str())
                    .bind(ops.join(","))
                    .bind(p.dimension.get() as i64)
                    .bind(p.threshold.get())
                    .bind(i64::from(p.retention.max_days_since_enrolment()))
                    .bind(p.retention.max_days_since_last_use().map(i64::from))
                    .bind(at.unix())
                    .bind(p.code_bits.bits() as i64)
                    .bind(p.max_gallery_size.map(i64::from))
                    .bind(p.calibration.clone())
                    .bind(p.risk.to_text())
                    .bind(p.fairness.to_text())
                    .execute(b.conn())
                    .await;
                    match result {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            return Err(StoreError::Conflict("a purpose with this id"));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    sqlx::query(
            "INSERT INTO protection_keys (purpose_id, version, kek, wrapped, created_at) \
             VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(p.id.as_str())
        .bind(&protection_key.kek)
        .bind(protection_key.wrapped.clone())
        .bind(at.unix())
        .execute(b.conn())
        .await?;
                    insert_notice(b, &p.id, &notice).await?;
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn publish_notice(
        &self,
        purpose: &PurposeId,
        notice: &NewNotice,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (purpose, notice, leaf) = (purpose.clone(), notice.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    insert_notice(b, &purpose, &notice).await?;
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn notices(&self, purpose: &PurposeId) -> Result<Vec<StoredNotice>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, body, hash, material, reconsent_days, published_at FROM notices \
             WHERE purpose_id = $1 ORDER BY version",
        )
        .bind(purpose.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredNotice {
                    version: u32::try_from(r.try_get::<i64, _>("version")?)
                        .map_err(|_| corrupt("notice version"))?,
                    body: r.try_get("body")?,
                    hash: r.try_get("hash")?,
                    material: r.try_get::<i64, _>("material")? != 0,
                    reconsent_days: r
                        .try_get::<Option<i64>, _>("reconsent_days")?
                        .map(|d| u32::try_from(d).map_err(|_| corrupt("notice reconsent days")))
                        .transpose()?,
                    published_at: Timestamp::from_unix(r.try_get("published_at")?),
                })
            })
            .collect()
    }

    async fn purpose(&self, id: &PurposeId) -> Result<Option<StoredPurpose>, StoreError> {
        let row = sqlx::query("SELECT * FROM purposes WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(purpose_from_row).transpose()
    }

    async fn purposes(&self) -> Result<Vec<StoredPurpose>, StoreError> {
        sqlx::query("SELECT * FROM purposes ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(purpose_from_row)
            .collect()
    }

    async fn protection_key(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Option<SealedKey>, StoreError> {
        let row = sqlx::query(
            "SELECT kek, wrapped FROM protection_keys WHERE purpose_id = $1 AND version = $2",
        )
        .bind(purpose.as_str())
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sealed_key_from_row).transpose()
    }

    async fn rotate_protection_key(
        &self,
        purpose: &PurposeId,
        from: u32,
        key: &SealedKey,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError> {
        let (purpose, key, leaf) = (purpose.clone(), key.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let next = i64::from(from) + 1;
                    let updated = sqlx::query(
            "UPDATE purposes SET protection_version = $1 WHERE id = $2 AND protection_version = $3",
        )
        .bind(next)
        .bind(purpose.as_str())
        .bind(i64::from(from))
        .execute(b.conn())
        .await?
        .rows_affected();
                    if updated != 1 {
                        return Err(StoreError::ProtectionKeyChanged);
                    }
                    sqlx::query(
            "INSERT INTO protection_keys (purpose_id, version, kek, wrapped, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(purpose.as_str())
        .bind(next)
        .bind(&key.kek)
        .bind(key.wrapped.clone())
        .bind(at.unix())
        .execute(b.conn())
        .await?;
                    sqlx::query(
                        "DELETE FROM protection_keys WHERE purpose_id = $1 AND version < $2",
                    )
                    .bind(purpose.as_str())
                    .bind(next)
                    .execute(b.conn())
                    .await?;
                    b.append_leaf(&leaf)?;
                    Ok(next as u32)
                })
            })
            .await
    }

    async fn create_client(&self, c: &NewClient, leaf: &LeafDraft) -> Result<(), StoreError> {
        let (c, leaf) = (c.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let inserted = sqlx::query(
            "INSERT INTO clients (id, name, key_digest, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.key_digest.to_vec())
        .bind(c.created_at.unix())
        .execute(b.conn())
        .await;
                    match inserted {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            return Err(StoreError::Conflict("a client with this id or key"));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    for g in &c.grants {
                        sqlx::query(
                "INSERT INTO grants (client_id, purpose_id, operation) VALUES ($1, $2, $3)",
            )
            .bind(c.id.as_str())
            .bind(g.purpose.as_str())
            .bind(g.operation.as_str())
            .execute(b.conn())
            .await?;
                    }
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn replace_client_key(
        &self,
        client: &ClientId,
        digest: &[u8; 32],
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (client, digest, leaf) = (client.clone(), *digest, leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let n = sqlx::query("UPDATE clients SET key_digest = $1 WHERE id = $2")
                        .bind(digest.to_vec())
                        .bind(client.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected();
                    if n == 1 {
                        b.append_leaf(&leaf)?;
                    }
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn register_device(
        &self,
        id: &str,
        client: &ClientId,
        name: &str,
        public_key: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (id, client, name, key, leaf) = (
            id.to_owned(),
            client.clone(),
            name.to_owned(),
            *public_key,
            leaf.clone(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let r = sqlx::query(
                        "INSERT INTO devices (id, client_id, name, public_key, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(id.as_str())
                    .bind(client.as_str())
                    .bind(name.as_str())
                    .bind(key.to_vec())
                    .bind(at.unix())
                    .execute(b.conn())
                    .await;
                    match r {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            return Err(StoreError::Conflict("a device with this key"));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn revoke_device(
        &self,
        id: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (id, leaf) = (id.to_owned(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let n = sqlx::query(
                        "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(at.unix())
                    .bind(id.as_str())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                    if n == 1 {
                        b.append_leaf(&leaf)?;
                    }
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn device(
        &self,
        id: &str,
    ) -> Result<Option<(ClientId, [u8; 32], Option<Timestamp>)>, StoreError> {
        let row =
            sqlx::query("SELECT client_id, public_key, revoked_at FROM devices WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                ClientId::parse(&r.try_get::<String, _>("client_id")?)
                    .map_err(|_| corrupt("device client"))?,
                r.try_get::<Vec<u8>, _>("public_key")?
                    .try_into()
                    .map_err(|_| corrupt("device key"))?,
                r.try_get::<Option<i64>, _>("revoked_at")?
                    .map(Timestamp::from_unix),
            ))
        })
        .transpose()
    }

    async fn issue_challenge(
        &self,
        id: &str,
        client: &ClientId,
        purpose: &PurposeId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO challenges (id, client_id, purpose_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(client.as_str())
        .bind(purpose.as_str())
        .bind(expires_at.unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_challenge(
        &self,
        id: &str,
        client: &ClientId,
        purpose: &PurposeId,
        at: Timestamp,
    ) -> Result<Result<(), &'static str>, StoreError> {
        let spent = sqlx::query(
            "UPDATE challenges SET used_at = $1 WHERE id = $2 AND client_id = $3 \
             AND purpose_id = $4 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(at.unix())
        .bind(id)
        .bind(client.as_str())
        .bind(purpose.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if spent == 1 {
            return Ok(Ok(()));
        }
        let row = sqlx::query(
            "SELECT used_at, expires_at FROM challenges WHERE id = $1 AND client_id = $2 \
             AND purpose_id = $3",
        )
        .bind(id)
        .bind(client.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(Err(match row {
            None => "challenge_unknown",
            Some(r) if r.try_get::<Option<i64>, _>("used_at")?.is_some() => "challenge_reused",
            Some(_) => "challenge_expired",
        }))
    }

    async fn set_client_suspended(
        &self,
        client: &ClientId,
        at: Option<Timestamp>,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (client, leaf) = (client.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let n = sqlx::query("UPDATE clients SET suspended_at = $1 WHERE id = $2")
                        .bind(at.map(|t| t.unix()))
                        .bind(client.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected();
                    if n == 1 {
                        b.append_leaf(&leaf)?;
                    }
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn open_incident(&self, i: &StoredIncident, leaf: &LeafDraft) -> Result<(), StoreError> {
        let (i, leaf) = (i.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO incidents (id, kind, summary, opened_by, opened_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(i.id.as_str())
                    .bind(i.kind.as_str())
                    .bind(i.summary.as_str())
                    .bind(i.opened_by.as_str())
                    .bind(i.opened_at.unix())
                    .execute(b.conn())
                    .await?;
                    for (n, (at, action, detail)) in i.events.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO incident_events (incident_id, seq, at, action, detail) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(i.id.as_str())
                        .bind(n as i64)
                        .bind(at.unix())
                        .bind(action.as_str())
                        .bind(detail.as_str())
                        .execute(b.conn())
                        .await?;
                    }
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn add_incident_event(
        &self,
        id: &str,
        at: Timestamp,
        action: &str,
        detail: &str,
        close: bool,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (id, action, detail, leaf) = (
            id.to_owned(),
            action.to_owned(),
            detail.to_owned(),
            leaf.clone(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let open: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM incidents WHERE id = $1 AND closed_at IS NULL",
                    )
                    .bind(id.as_str())
                    .fetch_one(b.conn())
                    .await?;
                    if open == 0 {
                        return Ok(false);
                    }
                    let seq: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM incident_events WHERE incident_id = $1",
                    )
                    .bind(id.as_str())
                    .fetch_one(b.conn())
                    .await?;
                    sqlx::query(
                        "INSERT INTO incident_events (incident_id, seq, at, action, detail) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(id.as_str())
                    .bind(seq)
                    .bind(at.unix())
                    .bind(action.as_str())
                    .bind(detail.as_str())
                    .execute(b.conn())
                    .await?;
                    if close {
                        sqlx::query("UPDATE incidents SET closed_at = $1 WHERE id = $2")
                            .bind(at.unix())
                            .bind(id.as_str())
                            .execute(b.conn())
                            .await?;
                    }
                    b.append_leaf(&leaf)?;
                    Ok(true)
                })
            })
            .await
    }

    async fn subjects_with_templates(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Vec<Pseudonym>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT subject FROM templates WHERE purpose_id = $1 \
             AND protection_version = $2 ORDER BY subject",
        )
        .bind(purpose.as_str())
        .bind(i64::from(version))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|s| Pseudonym::parse(s).map_err(|_| corrupt("template subject")))
            .collect()
    }

    async fn create_notifications(
        &self,
        incident: &str,
        purpose: &PurposeId,
        subjects: &[Pseudonym],
        at: Timestamp,
        deadline: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (incident, purpose, subjects, leaf) = (
            incident.to_owned(),
            purpose.clone(),
            subjects.to_vec(),
            leaf.clone(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    for s in &subjects {
                        sqlx::query(
                            "INSERT INTO notifications (incident_id, subject, purpose_id, \
                             created_at, deadline) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(incident.as_str())
                        .bind(s.as_str())
                        .bind(purpose.as_str())
                        .bind(at.unix())
                        .bind(deadline.unix())
                        .execute(b.conn())
                        .await?;
                    }
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn mark_notifications_sent(
        &self,
        incident: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError> {
        let (incident, leaf) = (incident.to_owned(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let n = sqlx::query(
                        "UPDATE notifications SET sent_at = $1 WHERE incident_id = $2 \
                         AND sent_at IS NULL",
                    )
                    .bind(at.unix())
                    .bind(incident.as_str())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                    b.append_leaf(&leaf)?;
                    Ok(n)
                })
            })
            .await
    }

    async fn notifications(
        &self,
        incident: &str,
    ) -> Result<Vec<(Pseudonym, PurposeId, Timestamp, Option<Timestamp>)>, StoreError> {
        sqlx::query(
            "SELECT subject, purpose_id, deadline, sent_at FROM notifications \
             WHERE incident_id = $1 ORDER BY subject, purpose_id",
        )
        .bind(incident)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("notification subject"))?,
                PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("notification purpose"))?,
                Timestamp::from_unix(r.try_get("deadline")?),
                r.try_get::<Option<i64>, _>("sent_at")?
                    .map(Timestamp::from_unix),
            ))
        })
        .collect()
    }

    async fn notification_counts(&self, now: Timestamp) -> Result<(u64, u64, u64), StoreError> {
        let r = sqlx::query(
            "SELECT \
             COALESCE(SUM(CASE WHEN sent_at IS NOT NULL AND sent_at <= deadline THEN 1 ELSE 0 END), 0) AS on_time, \
             COALESCE(SUM(CASE WHEN (sent_at IS NOT NULL AND sent_at > deadline) \
                 OR (sent_at IS NULL AND deadline < $1) THEN 1 ELSE 0 END), 0) AS late, \
             COALESCE(SUM(CASE WHEN sent_at IS NULL AND deadline >= $1 THEN 1 ELSE 0 END), 0) AS pending \
             FROM notifications",
        )
        .bind(now.unix())
        .fetch_one(&self.pool)
        .await?;
        Ok((
            r.try_get::<i64, _>("on_time")? as u64,
            r.try_get::<i64, _>("late")? as u64,
            r.try_get::<i64, _>("pending")? as u64,
        ))
    }

    async fn decision_leaf(&self, decision: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        // Canonical leaves write the detail pair exactly so.
        let pattern = format!("%[\"decision\",\"{decision}\"]%");
        let rows =
            sqlx::query("SELECT idx, leaf FROM audit_leaves WHERE leaf LIKE $1 ORDER BY idx")
                .bind(pattern.into_bytes())
                .fetch_all(&self.pool)
                .await?;
        for r in rows {
            let leaf: Vec<u8> = r.try_get("leaf")?;
            if let Some(l) = bioguard_ledger::Leaf::decode(&leaf)
                && (l.op == "verify" || l.op == "identify")
                && l.detail
                    .iter()
                    .any(|(k, v)| k == "decision" && v == decision)
            {
                return Ok(Some((r.try_get::<i64, _>("idx")? as u64, leaf)));
            }
        }
        Ok(None)
    }

    async fn add_reviewer(
        &self,
        id: &str,
        name: &str,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (id, name, digest, leaf) = (id.to_owned(), name.to_owned(), *digest, leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO reviewers (id, name, digest, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(id.as_str())
                    .bind(name.as_str())
                    .bind(digest.to_vec())
                    .bind(at.unix())
                    .execute(b.conn())
                    .await?;
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn reviewer_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM reviewers WHERE digest = $1")
            .bind(digest.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .transpose()
    }

    async fn claim_decision_times(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT decided_at - filed_at FROM claims WHERE decided_at IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn file_claim(&self, c: &StoredClaim, leaf: &LeafDraft) -> Result<(), StoreError> {
        let (c, leaf) = (c.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO claims (id, decision_id, leaf_index, client_id, currency, \
                         amount, reason, filed_at, deadline, status) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'filed')",
                    )
                    .bind(c.id.as_str())
                    .bind(c.decision_id.as_str())
                    .bind(c.leaf_index as i64)
                    .bind(c.client.as_str())
                    .bind(c.currency.as_str())
                    .bind(c.amount)
                    .bind(c.reason.as_str())
                    .bind(c.filed_at.unix())
                    .bind(c.deadline.unix())
                    .execute(b.conn())
                    .await?;
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn claim(&self, id: &str) -> Result<Option<StoredClaim>, StoreError> {
        let Some(r) = sqlx::query("SELECT * FROM claims WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(StoredClaim {
            id: r.try_get("id")?,
            decision_id: r.try_get("decision_id")?,
            leaf_index: r.try_get::<i64, _>("leaf_index")? as u64,
            client: ClientId::parse(&r.try_get::<String, _>("client_id")?)
                .map_err(|_| corrupt("claim client"))?,
            currency: r.try_get("currency")?,
            amount: r.try_get("amount")?,
            reason: r.try_get("reason")?,
            filed_at: Timestamp::from_unix(r.try_get("filed_at")?),
            deadline: Timestamp::from_unix(r.try_get("deadline")?),
            status: r.try_get("status")?,
            decided_at: r
                .try_get::<Option<i64>, _>("decided_at")?
                .map(Timestamp::from_unix),
            decision_reason: r.try_get("decision_reason")?,
        }))
    }

    async fn decide_claim(
        &self,
        id: &str,
        approve: bool,
        reason: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Result<(), &'static str>, StoreError> {
        let (id, reason, leaf) = (id.to_owned(), reason.to_owned(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let Some(r) = sqlx::query(
                        "SELECT currency, amount FROM claims WHERE id = $1 AND status = 'filed'",
                    )
                    .bind(id.as_str())
                    .fetch_optional(b.conn())
                    .await?
                    else {
                        return Ok(Err("claim_decided"));
                    };
                    let currency: String = r.try_get("currency")?;
                    let amount: i64 = r.try_get("amount")?;
                    if approve {
                        let balance: i64 = sqlx::query_scalar(
                            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM reserve_entries \
                             WHERE account = 'reserve' AND currency = $1",
                        )
                        .bind(currency.as_str())
                        .fetch_one(b.conn())
                        .await?;
                        if balance < amount {
                            return Ok(Err("reserve_insufficient"));
                        }
                        for (line, account, value) in
                            [(0_i64, "reserve", -amount), (1, "payouts", amount)]
                        {
                            sqlx::query(
                                "INSERT INTO reserve_entries (txn, line, at, account, currency, \
                                 amount, memo) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            )
                            .bind(format!("payout:{id}"))
                            .bind(line)
                            .bind(at.unix())
                            .bind(account)
                            .bind(currency.as_str())
                            .bind(value)
                            .bind(format!("claim {id}"))
                            .execute(b.conn())
                            .await?;
                        }
                    }
                    sqlx::query(
                        "UPDATE claims SET status = $1, decided_at = $2, decision_reason = $3 \
                         WHERE id = $4",
                    )
                    .bind(if approve { "paid" } else { "denied" })
                    .bind(at.unix())
                    .bind(reason.as_str())
                    .bind(id.as_str())
                    .execute(b.conn())
                    .await?;
                    b.append_leaf(&leaf)?;
                    Ok(Ok(()))
                })
            })
            .await
    }

    async fn reserve_topup(
        &self,
        currency: &str,
        amount: i64,
        memo: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (currency, memo, leaf) = (currency.to_owned(), memo.to_owned(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    // Unique: writes are serialised (and the log head is locked) here.
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reserve_entries")
                        .fetch_one(b.conn())
                        .await?;
                    let txn = format!("topup:{}:{n}", at.unix());
                    for (line, account, value) in
                        [(0_i64, "funding", -amount), (1, "reserve", amount)]
                    {
                        sqlx::query(
                            "INSERT INTO reserve_entries (txn, line, at, account, currency, \
                             amount, memo) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(txn.as_str())
                        .bind(line)
                        .bind(at.unix())
                        .bind(account)
                        .bind(currency.as_str())
                        .bind(value)
                        .bind(memo.as_str())
                        .execute(b.conn())
                        .await?;
                    }
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn reserve_balances(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        sqlx::query(
            "SELECT account, currency, CAST(SUM(amount) AS BIGINT) AS total FROM reserve_entries \
             GROUP BY account, currency ORDER BY account, currency",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("account")?,
                r.try_get("currency")?,
                r.try_get("total")?,
            ))
        })
        .collect()
    }

    async fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT id, kind, summary, opened_by, opened_at, closed_at FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let events = sqlx::query(
            "SELECT at, action, detail FROM incident_events WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|e| {
            Ok((
                Timestamp::from_unix(e.try_get("at")?),
                e.try_get("action")?,
                e.try_get("detail")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(StoredIncident {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            summary: r.try_get("summary")?,
            opened_by: r.try_get("opened_by")?,
            opened_at: Timestamp::from_unix(r.try_get("opened_at")?),
            closed_at: r
                .try_get::<Option<i64>, _>("closed_at")?
                .map(Timestamp::from_unix),
            events,
        }))
    }

    async fn client_by_key_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ClientRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.name, c.suspended_at, g.purpose_id, g.operation FROM clients c \
             LEFT JOIN grants g ON g.client_id = c.id WHERE c.key_digest = $1",
        )
        .bind(digest.to_vec())
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut grants = BTreeSet::new();
        for row in &rows {
            let purpose: Option<String> = row.try_get("purpose_id")?;
            let op: Option<String> = row.try_get("operation")?;
            if let (Some(p), Some(o)) = (purpose, op) {
                grants.insert(Grant {
                    purpose: PurposeId::parse(&p).map_err(|_| corrupt("grant purpose"))?,
                    operation: o.parse().map_err(|_| corrupt("grant operation"))?,
                });
            }
        }
        Ok(Some(ClientRecord {
            id: ClientId::parse(&first.try_get::<String, _>("id")?)
                .map_err(|_| corrupt("client id"))?,
            name: ClientName::parse(&first.try_get::<String, _>("name")?)
                .map_err(|_| corrupt("client name"))?,
            grants,
            suspended_at: first
                .try_get::<Option<i64>, _>("suspended_at")?
                .map(Timestamp::from_unix),
        }))
    }

    async fn has_admin_token(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM admin_tokens")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    async fn insert_admin_token(
        &self,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (digest, leaf) = (*digest, leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let r = sqlx::query(
            "INSERT INTO admin_tokens (id, digest, created_at) VALUES ('initial', $1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(digest.to_vec())
        .bind(at.unix())
        .execute(b.conn())
        .await?;
                    let inserted = r.rows_affected() == 1;
                    if inserted {
                        b.append_leaf(&leaf)?;
                    }
                    Ok(inserted)
                })
            })
            .await
    }

    async fn is_admin_token(&self, digest: &[u8; 32]) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM admin_tokens WHERE digest = $1")
            .bind(digest.to_vec())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    async fn system_secret(&self, name: &str) -> Result<Option<SealedKey>, StoreError> {
        let row = sqlx::query("SELECT kek, wrapped FROM system_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(sealed_key_from_row).transpose()
    }

    async fn insert_system_secret(
        &self,
        name: &str,
        key: &SealedKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO system_secrets (name, kek, wrapped, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&key.kek)
        .bind(key.wrapped.clone())
        .bind(at.unix())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn grant_consent(
        &self,
        subject: &Pseudonym,
        c: &NewConsent,
        leaf: &LeafDraft,
    ) -> Result<ConsentChange, StoreError> {
        let (subject, c, leaf) = (subject.clone(), c.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
            "INSERT INTO subjects (pseudonym, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(subject.as_str())
        .bind(c.at.unix())
        .execute(b.conn())
        .await?;
                    if let Some(live) = live_consent(b, &subject, &c.purpose).await? {
                        if live.notice_version == c.notice_version && live.method == c.method {
                            return Ok(ConsentChange {
                                record: live,
                                created: false,
                            });
                        }
                        sqlx::query(
                "UPDATE consents SET ended_at = $1, end_reason = 'superseded' WHERE id = $2",
            )
            .bind(c.at.unix())
            .bind(live.id.as_str())
            .execute(b.conn())
            .await?;
                    }
                    sqlx::query(
            "INSERT INTO consents (id, subject, purpose_id, notice_version, method, client_id, \
             granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id.as_str())
        .bind(subject.as_str())
        .bind(c.purpose.as_str())
        .bind(c.notice_version.as_str())
        .bind(c.method.as_str())
        .bind(c.client.as_str())
        .bind(c.at.unix())
        .execute(b.conn())
        .await?;
                    b.append_leaf(&leaf)?;
                    Ok(ConsentChange {
                        record: ConsentRecord {
                            id: c.id.clone(),
                            purpose: c.purpose.clone(),
                            notice_version: c.notice_version.clone(),
                            method: c.method.clone(),
                            client: c.client.clone(),
                            granted_at: c.at,
                            ended_at: None,
                            end_reason: None,
                        },
                        created: true,
                    })
                })
            })
            .await
    }

    async fn withdraw_consent(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<WithdrawOutcome>, StoreError> {
        let (subject, purpose, leaf) = (subject.clone(), purpose.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let Some(mut live) = live_consent(b, &subject, &purpose).await? else {
                        return Ok(None);
                    };
                    sqlx::query(
                        "UPDATE consents SET ended_at = $1, end_reason = 'withdrawn' WHERE id = $2",
                    )
                    .bind(at.unix())
                    .bind(live.id.as_str())
                    .execute(b.conn())
                    .await?;
                    let templates = delete_templates(b.conn(), &subject, Some(&purpose)).await?;
                    let keys =
                        sqlx::query("DELETE FROM data_keys WHERE subject = $1 AND purpose_id = $2")
                            .bind(subject.as_str())
                            .bind(purpose.as_str())
                            .execute(b.conn())
                            .await?
                            .rows_affected();
                    b.append_leaf(&leaf)?;
                    live.ended_at = Some(at);
                    live.end_reason = Some(EndReason::Withdrawn);
                    Ok(Some(WithdrawOutcome {
                        consent: live,
                        template_destroyed: !templates.is_empty(),
                        template_id: templates.into_iter().next().map(|(_, id)| id),
                        data_key_destroyed: keys > 0,
                    }))
                })
            })
            .await
    }

    async fn data_key(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
    ) -> Result<Option<StoredDataKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kek, wrapped FROM data_keys WHERE subject = $1 AND purpose_id = $2",
        )
        .bind(subject.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| data_key_from_row(r, "")).transpose()
    }

    async fn put_template(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        key: &StoredDataKey,
        key_is_new: bool,
        t: &NewTemplate,
        leaf: &LeafDraft,
    ) -> Result<EnrolOutcome, StoreError> {
        let (subject, purpose, key, t, leaf) = (
            subject.clone(),
            purpose.clone(),
            key.clone(),
            t.clone(),
            leaf.clone(),
        );
        self.writer.write(move |b| Box::pin(async move {
        let locked: Option<i64> =
            sqlx::query_scalar("SELECT locked_at FROM subject_locks WHERE subject = $1")
                .bind(subject.as_str())
                .fetch_optional(b.conn())
                .await?;
        if locked.is_some() {
            return Err(StoreError::Locked);
        }
        // The consent row is locked until commit, so a withdrawal either happens before this
        // check (and enrolment is refused) or waits and then deletes what is stored here.
        if live_consent(b, &subject, &purpose)
            .await?
            .is_none()
        {
            return Err(StoreError::NoConsent);
        }
        let existing: Option<String> =
            sqlx::query("SELECT id FROM data_keys WHERE subject = $1 AND purpose_id = $2")
                .bind(subject.as_str())
                .bind(purpose.as_str())
                .fetch_optional(b.conn())
                .await?
                .map(|r| r.try_get("id"))
                .transpose()?;
        match (key_is_new, existing) {
            (true, None) => {
                sqlx::query(
                    "INSERT INTO data_keys (id, subject, purpose_id, kek, wrapped, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key.id.as_str())
                .bind(subject.as_str())
                .bind(purpose.as_str())
                .bind(&key.sealed.kek)
                .bind(key.sealed.wrapped.clone())
                .bind(t.at.unix())
                .execute(b.conn())
                .await?;
            }
            (false, Some(id)) if id == key.id.as_str() => {}
            _ => return Err(StoreError::KeyChanged),
        }
        let replaced = delete_templates(b.conn(), &subject, Some(&purpose))
            .await?
            .into_iter()
            .next()
            .map(|(_, id)| id);
        sqlx::query(
            "INSERT INTO templates (id, subject, purpose_id, data_key_id, format, sealed, \
             enrolled_at, protection_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id.as_str())
        .bind(subject.as_str())
        .bind(purpose.as_str())
        .bind(key.id.as_str())
        .bind(t.format)
        .bind(t.sealed.clone())
        .bind(t.at.unix())
        .bind(i64::from(t.protection_version))
        .execute(b.conn())
        .await?;
        let mut galleries: Vec<&GalleryName> = t.galleries.iter().collect();
        galleries.sort();
        galleries.dedup();
        for g in galleries {
            if b.backend() == Backend::Postgres {
                // Serialise enrolments into one gallery so two cannot both see room for one.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1)::bigint)")
                    .bind(format!("bioguard-gallery/{purpose}/{g}"))
                    .execute(b.conn())
                    .await?;
            }
            if let Some(max) = t.max_gallery_size {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM template_galleries WHERE purpose_id = $1 AND gallery = $2",
                )
                .bind(purpose.as_str())
                .bind(g.as_str())
                .fetch_one(b.conn())
                .await?;
                if n >= i64::from(max) {
                    return Err(StoreError::GalleryFull(g.clone()));
                }
            }
            sqlx::query(
                "INSERT INTO template_galleries (template_id, purpose_id, gallery) VALUES ($1, $2, $3)",
            )
            .bind(t.id.as_str())
            .bind(purpose.as_str())
            .bind(g.as_str())
            .execute(b.conn())
            .await?;
        }
        b.append_leaf(&leaf)?;
        Ok(EnrolOutcome { replaced })
        })).await
    }

    async fn verify_material_for(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        client: Option<(&[u8; 32], Operation)>,
    ) -> Result<VerifyMaterial, StoreError> {
        let ask = VerifyKey {
            subject: subject.clone(),
            purpose: purpose.clone(),
            client: client.map(|(d, op)| (*d, op)),
        };
        if let Some(lite) = &self.lite {
            return lite.verify_material(&ask);
        }
        read_verify_material(&self.pool, &ask).await
    }

    async fn gallery_size(
        &self,
        purpose: &PurposeId,
        gallery: &GalleryName,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM template_galleries WHERE purpose_id = $1 AND gallery = $2",
        )
        .bind(purpose.as_str())
        .bind(gallery.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn candidate(
        &self,
        purpose: &PurposeId,
        template: &TemplateId,
    ) -> Result<Option<CandidateMaterial>, StoreError> {
        // One row per gallery of the template; consent and template are read together.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT t.subject AS subject, c.id AS consent_id, g.gallery AS gallery, \
             c.notice_version AS consent_notice, \
             l.locked_at AS locked_at, {FLOOR_COLUMNS}, {TEMPLATE_COLUMNS} \
             FROM templates t JOIN data_keys k ON k.id = t.data_key_id \
             LEFT JOIN consents c ON c.subject = t.subject AND c.purpose_id = t.purpose_id \
                 AND c.ended_at IS NULL \
             LEFT JOIN template_galleries g ON g.template_id = t.id \
             LEFT JOIN subject_locks l ON l.subject = t.subject {} \
             WHERE t.id = $1 AND t.purpose_id = $2",
            floor_join("t.purpose_id")
        )))
        .bind(template.as_str())
        .bind(purpose.as_str())
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut galleries = Vec::new();
        for r in &rows {
            if let Some(g) = r.try_get::<Option<String>, _>("gallery")? {
                galleries.push(GalleryName::parse(&g).map_err(|_| corrupt("gallery name"))?);
            }
        }
        Ok(Some(CandidateMaterial {
            subject: Pseudonym::parse(&first.try_get::<String, _>("subject")?)
                .map_err(|_| corrupt("template subject"))?,
            consent_live: first.try_get::<Option<String>, _>("consent_id")?.is_some(),
            locked: first.try_get::<Option<i64>, _>("locked_at")?.is_some(),
            consent_notice: first.try_get("consent_notice")?,
            notice_floor: notice_floor_from_row(first)?,
            template: template_from_row(first)?,
            galleries,
        }))
    }

    async fn index_page(
        &self,
        purpose: &PurposeId,
        version: u32,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<IndexRecord>, StoreError> {
        // Page over templates first, then fetch their gallery rows, so a page never splits
        // one template's galleries.
        let rows = sqlx::query(AssertSqlSafe(index_sql("AND id > $3 ORDER BY id LIMIT $4")))
            .bind(purpose.as_str())
            .bind(i64::from(version))
            .bind(after.map_or("", |a| a.as_str()).to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        index_records(&rows)
    }

    async fn index_records_of(
        &self,
        purpose: &PurposeId,
        version: u32,
        subject: &Pseudonym,
    ) -> Result<Vec<IndexRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(index_sql("AND subject = $3")))
            .bind(purpose.as_str())
            .bind(i64::from(version))
            .bind(subject.as_str())
            .fetch_all(&self.pool)
            .await?;
        index_records(&rows)
    }

    async fn template_exists(&self, template: &TemplateId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM templates WHERE id = $1")
            .bind(template.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn record_identification(
        &self,
        templates: &[TemplateId],
        at: Timestamp,
        leaves: &[LeafDraft],
    ) -> Result<Vec<u64>, StoreError> {
        let (templates, leaves) = (templates.to_vec(), leaves.to_vec());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    for t in &templates {
                        sqlx::query("UPDATE templates SET last_used_at = $1 WHERE id = $2")
                            .bind(at.unix())
                            .bind(t.as_str())
                            .execute(b.conn())
                            .await?;
                    }
                    let mut indexes = Vec::with_capacity(leaves.len());
                    for leaf in &leaves {
                        indexes.push(b.append_leaf(leaf)?);
                    }
                    Ok(indexes)
                })
            })
            .await
    }

    async fn record_verification(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError> {
        let (template, leaf) = (template.clone(), leaf.clone());
        // No statement of its own: the use time and the leaf go out with the batch's others.
        self.writer
            .write_rows(move |b| {
                b.touch_template(template.as_str(), at.unix());
                b.append_leaf(&leaf)
            })
            .await
    }

    async fn append_audit(&self, leaf: &LeafDraft) -> Result<u64, StoreError> {
        let leaf = leaf.clone();
        self.writer.write_rows(move |b| b.append_leaf(&leaf)).await
    }

    async fn save_checkpoint(
        &self,
        size: u64,
        note: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(size as i64)
        .bind(note)
        .bind(at.unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn checkpoints(&self, from: u64, limit: u32) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT size, note FROM audit_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2",
        )
        .bind(from as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("size")? as u64, r.try_get("note")?)))
            .collect()
    }

    async fn audit_size(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows =
            sqlx::query("SELECT leaf FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(start as i64)
                .bind(end as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("leaf")?)).collect()
    }

    async fn audit_leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows =
            sqlx::query("SELECT hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(start as i64)
                .bind(end as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                r.try_get::<Vec<u8>, _>("hash")?
                    .try_into()
                    .map_err(|_| corrupt("leaf hash"))
            })
            .collect()
    }

    async fn subject_history(
        &self,
        subject: &Pseudonym,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT idx, leaf FROM audit_leaves WHERE subject = $1 \
                 UNION ALL SELECT l.idx, l.leaf FROM audit_mentions m \
                 JOIN audit_leaves l ON l.idx = m.idx WHERE m.subject = $1 ORDER BY idx",
        )
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("idx")? as u64, r.try_get("leaf")?)))
            .collect()
    }

    async fn subject_summary(&self, subject: &Pseudonym) -> Result<SubjectSummary, StoreError> {
        let consents = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE subject = $1 ORDER BY seq"
        )))
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(consent_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let templates = sqlx::query(
            "SELECT purpose_id, enrolled_at, last_used_at FROM templates WHERE subject = $1 \
             ORDER BY purpose_id",
        )
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TemplateInfo {
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("template purpose"))?,
                enrolled_at: Timestamp::from_unix(r.try_get("enrolled_at")?),
                last_used_at: r
                    .try_get::<Option<i64>, _>("last_used_at")?
                    .map(Timestamp::from_unix),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let locked_at = self.locked_at(subject).await?;
        Ok(SubjectSummary {
            consents,
            templates,
            locked_at,
        })
    }

    async fn expired_templates(
        &self,
        at: Timestamp,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<ExpiredTemplate>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{EXPIRED_SELECT} WHERE {EXPIRED_WHERE} AND ($2 IS NULL OR t.id > $2) \
             ORDER BY t.id LIMIT $3"
        )))
        .bind(at.unix())
        .bind(after.map(|t| t.as_str().to_owned()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(expired_from_row).collect()
    }

    async fn expired_count(&self, at: Timestamp) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM templates t JOIN purposes p ON p.id = t.purpose_id \
             WHERE {EXPIRED_WHERE}"
        )))
        .bind(at.unix())
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    async fn delete_expired(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<ExpiredTemplate>, StoreError> {
        let (template, mut leaf) = (template.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let row = sqlx::query(AssertSqlSafe(format!(
                        "{EXPIRED_SELECT} WHERE {EXPIRED_WHERE} AND t.id = $2"
                    )))
                    .bind(at.unix())
                    .bind(template.as_str())
                    .fetch_optional(b.conn())
                    .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let expired = expired_from_row(&row)?;
                    sqlx::query("DELETE FROM template_galleries WHERE template_id = $1")
                        .bind(template.as_str())
                        .execute(b.conn())
                        .await?;
                    sqlx::query("DELETE FROM templates WHERE id = $1")
                        .bind(template.as_str())
                        .execute(b.conn())
                        .await?;
                    sqlx::query("DELETE FROM data_keys WHERE subject = $1 AND purpose_id = $2")
                        .bind(expired.subject.as_str())
                        .bind(expired.purpose.as_str())
                        .execute(b.conn())
                        .await?;
                    leaf.subject = Some(expired.subject.clone());
                    leaf.purpose = Some(expired.purpose.clone());
                    leaf.decision = Some("deleted".into());
                    leaf.detail
                        .push(("reason".into(), expired.reason.as_str().into()));
                    leaf.detail
                        .push(("deadline".into(), expired.deadline.unix().to_string()));
                    b.append_leaf(&leaf)?;
                    Ok(Some(expired))
                })
            })
            .await
    }

    async fn set_lock(
        &self,
        subject: &Pseudonym,
        lock: bool,
        client: &ClientId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (subject, client, leaf) = (subject.clone(), client.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let changed = if lock {
                        sqlx::query(
                            "INSERT INTO subject_locks (subject, locked_at, client_id) \
                             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        )
                        .bind(subject.as_str())
                        .bind(at.unix())
                        .bind(client.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected()
                    } else {
                        sqlx::query("DELETE FROM subject_locks WHERE subject = $1")
                            .bind(subject.as_str())
                            .execute(b.conn())
                            .await?
                            .rows_affected()
                    } == 1;
                    if changed {
                        b.append_leaf(&leaf)?;
                    }
                    Ok(changed)
                })
            })
            .await
    }

    async fn locked_at(&self, subject: &Pseudonym) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT locked_at FROM subject_locks WHERE subject = $1")
                .bind(subject.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(at.map(Timestamp::from_unix))
    }

    async fn kek_usage(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kek, COUNT(*) AS n FROM (SELECT kek FROM data_keys \
             UNION ALL SELECT kek FROM protection_keys UNION ALL SELECT kek FROM system_secrets) k \
             GROUP BY kek ORDER BY kek",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("kek")?, r.try_get::<i64, _>("n")? as u64)))
            .collect()
    }

    async fn wrapped_not_on(
        &self,
        current: &str,
        limit: u32,
    ) -> Result<Vec<WrappedRow>, StoreError> {
        let mut out = Vec::new();
        for r in sqlx::query(
            "SELECT name, kek, wrapped FROM system_secrets WHERE kek <> $1 ORDER BY name LIMIT $2",
        )
        .bind(current)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        {
            out.push(WrappedRow::SystemSecret {
                name: r.try_get("name")?,
                sealed: sealed_key_from_row(&r)?,
            });
        }
        let left = (i64::from(limit) - out.len() as i64).max(0);
        for r in sqlx::query(
            "SELECT purpose_id, version, kek, wrapped FROM protection_keys WHERE kek <> $1 \
             ORDER BY purpose_id, version LIMIT $2",
        )
        .bind(current)
        .bind(left)
        .fetch_all(&self.pool)
        .await?
        {
            out.push(WrappedRow::ProtectionKey {
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("protection key purpose"))?,
                version: u32::try_from(r.try_get::<i64, _>("version")?)
                    .map_err(|_| corrupt("protection key version"))?,
                sealed: sealed_key_from_row(&r)?,
            });
        }
        let left = (i64::from(limit) - out.len() as i64).max(0);
        for r in sqlx::query(
            "SELECT id, subject, purpose_id, kek, wrapped FROM data_keys WHERE kek <> $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(current)
        .bind(left)
        .fetch_all(&self.pool)
        .await?
        {
            out.push(WrappedRow::DataKey {
                subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("data key subject"))?,
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("data key purpose"))?,
                id: DataKeyId::parse(&r.try_get::<String, _>("id")?)
                    .map_err(|_| corrupt("data key id"))?,
                sealed: sealed_key_from_row(&r)?,
            });
        }
        Ok(out)
    }

    async fn replace_wrap(&self, row: &WrappedRow, new: &SealedKey) -> Result<bool, StoreError> {
        let old = row.sealed();
        let (sql, key, version): (&str, String, i64) = match row {
            WrappedRow::DataKey { id, .. } => (
                "UPDATE data_keys SET kek = $1, wrapped = $2 \
                 WHERE id = $3 AND kek = $4 AND wrapped = $5 AND $6 = 0",
                id.as_str().to_owned(),
                0,
            ),
            WrappedRow::ProtectionKey {
                purpose, version, ..
            } => (
                "UPDATE protection_keys SET kek = $1, wrapped = $2 \
                 WHERE purpose_id = $3 AND kek = $4 AND wrapped = $5 AND version = $6",
                purpose.as_str().to_owned(),
                i64::from(*version),
            ),
            WrappedRow::SystemSecret { name, .. } => (
                "UPDATE system_secrets SET kek = $1, wrapped = $2 \
                 WHERE name = $3 AND kek = $4 AND wrapped = $5 AND $6 = 0",
                name.clone(),
                0,
            ),
        };
        let n = sqlx::query(sql)
            .bind(&new.kek)
            .bind(new.wrapped.clone())
            .bind(key)
            .bind(&old.kek)
            .bind(old.wrapped.clone())
            .bind(version)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn risk_group(&self) -> Result<Option<(u32, String)>, StoreError> {
        let row = sqlx::query("SELECT quorum, members FROM risk_group WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                u32::try_from(r.try_get::<i64, _>("quorum")?).map_err(|_| corrupt("quorum"))?,
                r.try_get("members")?,
            ))
        })
        .transpose()
    }

    async fn create_portal_link(
        &self,
        digest: &str,
        subject: &Pseudonym,
        client: &ClientId,
        now: Timestamp,
        expires_at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (digest, subject, client, leaf) = (
            digest.to_owned(),
            subject.clone(),
            client.clone(),
            leaf.clone(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM portal_links WHERE expires_at < $1")
                        .bind(now.unix())
                        .execute(b.conn())
                        .await?;
                    sqlx::query(
                        "INSERT INTO portal_links (digest, subject, client_id, issued_at, \
                         expires_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(digest.as_str())
                    .bind(subject.as_str())
                    .bind(client.as_str())
                    .bind(now.unix())
                    .bind(expires_at.unix())
                    .execute(b.conn())
                    .await?;
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn portal_link(
        &self,
        digest: &str,
    ) -> Result<Option<(Pseudonym, ClientId, Timestamp)>, StoreError> {
        let row = sqlx::query(
            "SELECT subject, client_id, expires_at FROM portal_links WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("portal link subject"))?,
                ClientId::parse(&r.try_get::<String, _>("client_id")?)
                    .map_err(|_| corrupt("portal link client"))?,
                Timestamp::from_unix(r.try_get("expires_at")?),
            ))
        })
        .transpose()
    }

    async fn save_fairness_report(
        &self,
        sha256: &str,
        purpose: &PurposeId,
        body: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (sha256, purpose, body) = (sha256.to_owned(), purpose.clone(), body.to_owned());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO fairness_reports (sha256, purpose_id, body, received_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(sha256.as_str())
                    .bind(purpose.as_str())
                    .bind(body.as_str())
                    .bind(at.unix())
                    .execute(b.conn())
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn fairness_report(
        &self,
        sha256: &str,
    ) -> Result<Option<(PurposeId, String)>, StoreError> {
        let row = sqlx::query("SELECT purpose_id, body FROM fairness_reports WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let id: String = r.try_get("purpose_id")?;
            Ok((
                PurposeId::parse(&id).map_err(|_| corrupt("fairness report purpose"))?,
                r.try_get("body")?,
            ))
        })
        .transpose()
    }

    async fn activate_matcher(
        &self,
        purpose: &PurposeId,
        threshold: f64,
        state: &crate::FairnessState,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (purpose, state, leaf) = (purpose.clone(), state.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let n = sqlx::query(
                        "UPDATE purposes SET threshold = $1, fairness_status = $2, \
                         fairness_report = $3, fairness_at = $4 WHERE id = $5",
                    )
                    .bind(threshold)
                    .bind(state.status.as_str())
                    .bind(state.report_sha256.clone())
                    .bind(state.at.map(Timestamp::unix))
                    .bind(purpose.as_str())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                    if n != 1 {
                        return Ok(false);
                    }
                    b.append_leaf(&leaf)?;
                    Ok(true)
                })
            })
            .await
    }

    async fn set_risk_group(
        &self,
        quorum: u32,
        members: &str,
        expect_none: bool,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (members, leaf) = (members.to_owned(), leaf.clone());
        self.writer
            .write(move |b| {
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
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn create_proposal(
        &self,
        p: &StoredProposal,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (p, leaf) = (p.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO proposals (id, payload, created_at, expires_at, status) \
                         VALUES ($1, $2, $3, $4, 'open')",
                    )
                    .bind(p.id.as_str())
                    .bind(p.payload.as_str())
                    .bind(p.created_at.unix())
                    .bind(p.expires_at.unix())
                    .execute(b.conn())
                    .await?;
                    b.append_leaf(&leaf)?;
                    Ok(())
                })
            })
            .await
    }

    async fn proposal(&self, id: &str) -> Result<Option<StoredProposal>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT id, payload, created_at, expires_at, status, result FROM proposals WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let approvals: Vec<String> = sqlx::query_scalar(
            "SELECT member FROM approvals WHERE proposal_id = $1 ORDER BY approved_at, member",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(StoredProposal {
            id: r.try_get("id")?,
            payload: r.try_get("payload")?,
            created_at: Timestamp::from_unix(r.try_get("created_at")?),
            expires_at: Timestamp::from_unix(r.try_get("expires_at")?),
            status: r.try_get("status")?,
            result: r.try_get("result")?,
            approvals,
        }))
    }

    async fn add_approval(
        &self,
        id: &str,
        member: &str,
        signature: &[u8],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError> {
        let (id, member, signature, leaf) = (
            id.to_owned(),
            member.to_owned(),
            signature.to_vec(),
            leaf.clone(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let r = sqlx::query(
                        "INSERT INTO approvals (proposal_id, member, signature, approved_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(id.as_str())
                    .bind(member.as_str())
                    .bind(signature)
                    .bind(at.unix())
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
                    b.append_leaf(&leaf)?;
                    Ok(n as u32)
                })
            })
            .await
    }

    async fn set_proposal_status(
        &self,
        id: &str,
        from: &str,
        to: &str,
        result: Option<&str>,
        leaf: Option<&LeafDraft>,
    ) -> Result<bool, StoreError> {
        let (id, from, to, result, leaf) = (
            id.to_owned(),
            from.to_owned(),
            to.to_owned(),
            result.map(str::to_owned),
            leaf.cloned(),
        );
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let n = sqlx::query(
                        "UPDATE proposals SET status = $1, result = $2 WHERE id = $3 AND status = $4",
                    )
                    .bind(to.as_str())
                    .bind(result)
                    .bind(id.as_str())
                    .bind(from.as_str())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                    if n == 1
                        && let Some(leaf) = &leaf
                    {
                        b.append_leaf(leaf)?;
                    }
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn erase_subject(
        &self,
        subject: &Pseudonym,
        leaf: &LeafDraft,
    ) -> Result<EraseOutcome, StoreError> {
        let (subject, leaf) = (subject.clone(), leaf.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let mut out = EraseOutcome::default();
                    out.template_ids = delete_templates(b.conn(), &subject, None).await?;
                    out.templates = out.template_ids.len() as u64;
                    for (table, slot) in [
                        ("data_keys", &mut out.data_keys),
                        ("consents", &mut out.consents),
                    ] {
                        *slot = sqlx::query(AssertSqlSafe(format!(
                            "DELETE FROM {table} WHERE subject = $1"
                        )))
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected();
                    }
                    sqlx::query("DELETE FROM subject_locks WHERE subject = $1")
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    sqlx::query("DELETE FROM portal_links WHERE subject = $1")
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    sqlx::query("DELETE FROM subjects WHERE pseudonym = $1")
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    out.leaf_index = b.append_leaf(&leaf)?;
                    Ok(out)
                })
            })
            .await
    }
}

/// Announcements of ledger growth from PostgreSQL (`LISTEN bioguard_ledger`).
pub struct LedgerListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for LedgerListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerListener")
    }
}

impl LedgerListener {
    /// Listens on the database at `url`; `None` for SQLite, which has no notifications (one
    /// process owns the file; other nodes poll).
    pub async fn connect(url: &str) -> Result<Option<Self>, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Ok(None);
        }
        let mut l = sqlx::postgres::PgListener::connect(url).await?;
        l.listen(crate::LEDGER_CHANNEL).await?;
        Ok(Some(Self(l)))
    }

    /// Waits for the next commit that grew the ledger (a lost connection is re-established
    /// by the next call; notifications sent meanwhile are covered by the caller's polling).
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

/// The statement that reads what one verification needs, all at one instant: client (by key
/// digest) with its one grant asked about, purpose, notice floor, consent, lock and template.
/// The LEFT JOINs keep the answer when something is missing. Parameters: subject, purpose, key
/// digest, operation.
pub(crate) static VERIFY_MATERIAL_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        // VALUES columns are named column1, column2, ... on both databases.
        format!(
            "SELECT p.*, c.id AS consent_id, c.notice_version AS consent_notice, \
             l.locked_at AS locked_at, {FLOOR_COLUMNS}, {TEMPLATE_COLUMNS}, \
             cl.id AS cl_id, cl.name AS cl_name, cl.suspended_at AS cl_suspended_at, \
             (SELECT COUNT(*) FROM grants g WHERE g.client_id = cl.id \
                 AND g.purpose_id = q.column2 AND g.operation = q.column4) AS cl_granted \
             FROM (VALUES ($1, $2, $3, $4)) q \
             LEFT JOIN purposes p ON p.id = q.column2 \
             LEFT JOIN clients cl ON cl.key_digest = q.column3 \
             LEFT JOIN consents c ON c.subject = q.column1 AND c.purpose_id = q.column2 \
                 AND c.ended_at IS NULL \
             LEFT JOIN templates t ON t.subject = q.column1 AND t.purpose_id = q.column2 \
             LEFT JOIN data_keys k ON k.id = t.data_key_id \
             LEFT JOIN subject_locks l ON l.subject = q.column1 {}",
            floor_join("q.column2")
        )
    });

/// What one verification needs, read through the pool (PostgreSQL, in-memory SQLite).
pub(crate) async fn read_verify_material(
    pool: &AnyPool,
    key: &VerifyKey,
) -> Result<VerifyMaterial, StoreError> {
    let row = sqlx::query(AssertSqlSafe(VERIFY_MATERIAL_SQL.as_str()))
        .bind(key.subject.as_str())
        .bind(key.purpose.as_str())
        .bind(key.digest())
        .bind(key.operation())
        .fetch_one(pool)
        .await?;
    material_from_row(&row, &key.purpose, key.client.map(|(_, op)| op))
}

/// What one verification reads.
pub(crate) struct VerifyKey {
    pub(crate) subject: Pseudonym,
    pub(crate) purpose: PurposeId,
    /// The digest of the client's key and the operation whose grant is asked about.
    pub(crate) client: Option<([u8; 32], Operation)>,
}

impl VerifyKey {
    /// The key digest to look up; without a key, one no client has (keys are digests of 32
    /// bytes).
    pub(crate) fn digest(&self) -> Vec<u8> {
        self.client.map_or_else(Vec::new, |(d, _)| d.to_vec())
    }

    /// The operation whose grant is asked about ("" for none).
    pub(crate) fn operation(&self) -> &'static str {
        self.client.map_or("", |(_, op)| op.as_str())
    }
}

pub(crate) fn material_from_row(
    row: &impl Columns,
    purpose: &PurposeId,
    operation: Option<Operation>,
) -> Result<VerifyMaterial, StoreError> {
    let client = match row.col::<Option<String>>("cl_id")? {
        None => None,
        Some(id) => {
            let mut grants = BTreeSet::new();
            if let Some(operation) = operation
                && row.col::<i64>("cl_granted")? > 0
            {
                grants.insert(Grant {
                    purpose: purpose.clone(),
                    operation,
                });
            }
            Some(ClientRecord {
                id: ClientId::parse(&id).map_err(|_| corrupt("client id"))?,
                name: ClientName::parse(&row.col::<String>("cl_name")?)
                    .map_err(|_| corrupt("client name"))?,
                grants,
                suspended_at: row
                    .col::<Option<i64>>("cl_suspended_at")?
                    .map(Timestamp::from_unix),
            })
        }
    };
    let purpose = match row.col::<Option<String>>("id")? {
        None => None,
        Some(_) => Some(purpose_from_row(row)?),
    };
    let notice_floor = notice_floor_from_row(row)?;
    let locked = row.col::<Option<i64>>("locked_at")?.is_some();
    let consent_live = row.col::<Option<String>>("consent_id")?.is_some();
    let template = match row.col::<Option<String>>("t_id")? {
        None => None,
        Some(_) => {
            if row.col::<Option<String>>("k_id")?.is_none() {
                return Err(corrupt("template without its data key"));
            }
            Some(template_from_row(row)?)
        }
    };
    Ok(VerifyMaterial {
        client,
        purpose,
        notice_floor,
        locked,
        consent_notice: row.col("consent_notice")?,
        consent_live,
        template,
    })
}
