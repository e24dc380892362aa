//! What the writer keeps beside the leaves so that public reads cost the same at any ledger
//! size: counts of leaves by operation (and by decision, for the operations whose outcomes the
//! transparency report gives), and each verification's and identification's decision id with
//! its leaf's index. Both are written in the transaction that writes the leaves, so they are
//! exactly as durable as the ledger; migration 17 counts the leaves written before them.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::error::StoreError;
use crate::sql::conn::{corrupt, values_statement};

/// The operations whose leaves are also counted by decision.
pub const DECIDED_OPS: [&str; 4] = [
    "verify",
    "capture.refused",
    "claim.decide",
    "purpose.matcher.activate",
];

/// The operations whose `decision` detail is a decision id a claim may name.
const DECISION_OPS: [&str; 2] = ["verify", "identify"];

/// The rows one leaf adds: count keys, and its decision id if it has one.
pub(crate) fn note(
    op: &str,
    decision: Option<&str>,
    detail: &[(String, String)],
    idx: i64,
    counts: &mut Vec<(String, String)>,
    decisions: &mut Vec<(String, i64)>,
) {
    counts.push((op.to_owned(), String::new()));
    if let Some(d) = decision.filter(|_| DECIDED_OPS.contains(&op)) {
        counts.push((op.to_owned(), d.to_owned()));
    }
    if DECISION_OPS.contains(&op)
        && let Some((_, id)) = detail.iter().find(|(k, _)| k == "decision")
    {
        decisions.push((id.clone(), idx));
    }
}

/// Count keys added up: one row per key however many leaves a batch wrote.
pub(crate) fn aggregate(counts: &[(String, String)]) -> Vec<(&str, &str, i64)> {
    let mut sums: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (op, d) in counts {
        *sums.entry((op.as_str(), d.as_str())).or_default() += 1;
    }
    sums.into_iter().map(|((o, d), n)| (o, d, n)).collect()
}

/// The head of the statement that adds counts (rows of op, decision, n).
pub(crate) const COUNTS_INSERT: &str = "INSERT INTO audit_counts (op, decision, n) VALUES ";
/// Its tail: existing rows grow.
pub(crate) const COUNTS_UPSERT: &str =
    " ON CONFLICT (op, decision) DO UPDATE SET n = audit_counts.n + excluded.n";
/// The head of the statement that indexes decision ids (rows of decision_id, idx).
pub(crate) const DECISIONS_INSERT: &str = "INSERT INTO audit_decisions (decision_id, idx) VALUES ";
/// Its tail: a decision id is indexed once.
pub(crate) const DECISIONS_IGNORE: &str = " ON CONFLICT (decision_id) DO NOTHING";

/// Rows per multi-row statement.
const ROWS_PER_STATEMENT: usize = 200;

/// Writes counts and decision ids through sqlx, several rows to a statement.
pub(crate) async fn write(
    conn: &mut sqlx::AnyConnection,
    counts: &[(&str, &str, i64)],
    decisions: &[(String, i64)],
) -> Result<(), StoreError> {
    for chunk in counts.chunks(ROWS_PER_STATEMENT) {
        let sql = values_statement(COUNTS_INSERT, chunk.len(), 3, COUNTS_UPSERT);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (op, d, n) in chunk {
            q = q.bind(op.to_string()).bind(d.to_string()).bind(*n);
        }
        q.execute(&mut *conn).await?;
    }
    for chunk in decisions.chunks(ROWS_PER_STATEMENT) {
        let sql = values_statement(DECISIONS_INSERT, chunk.len(), 2, DECISIONS_IGNORE);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, idx) in chunk {
            q = q.bind(id.clone()).bind(*idx);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Leaves read per page while counting existing leaves.
const PAGE: i64 = 5_000;

/// Counts the leaves written before migration 17 and indexes their decision ids, inside that
/// migration's transaction, a page of leaves at a time.
pub(crate) async fn backfill(conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut from = 0i64;
    loop {
        let rows =
            sqlx::query("SELECT idx, leaf FROM audit_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2")
                .bind(from)
                .bind(PAGE)
                .fetch_all(&mut *conn)
                .await?;
        let Some(last) = rows.last() else { break };
        from = last.try_get::<i64, _>("idx")? + 1;
        let (mut counts, mut decisions) = (Vec::new(), Vec::new());
        for r in &rows {
            let bytes: Vec<u8> = r.try_get("leaf")?;
            let leaf = bioguard_ledger::Leaf::decode(&bytes).ok_or_else(|| corrupt("leaf"))?;
            note(
                &leaf.op,
                leaf.decision.as_deref(),
                &leaf.detail,
                r.try_get("idx")?,
                &mut counts,
                &mut decisions,
            );
        }
        for (op, d) in counts {
            *sums.entry((op, d)).or_default() += 1;
        }
        write(conn, &[], &decisions).await?;
        if from % 100_000 < PAGE {
            tracing::info!(leaves = from, "counting the audit ledger");
        }
    }
    let counts: Vec<(&str, &str, i64)> = sums
        .iter()
        .map(|((o, d), n)| (o.as_str(), d.as_str(), *n))
        .collect();
    write(conn, &counts, &[]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_counted_by_operation_and_only_reported_decisions() {
        let (mut counts, mut decisions) = (Vec::new(), Vec::new());
        let detail = |id: &str| vec![("decision".to_owned(), id.to_owned())];
        note(
            "verify",
            Some("match"),
            &detail("dec_a"),
            0,
            &mut counts,
            &mut decisions,
        );
        note(
            "verify",
            Some("no_match"),
            &detail("dec_b"),
            1,
            &mut counts,
            &mut decisions,
        );
        note(
            "verify",
            Some("match"),
            &detail("dec_c"),
            2,
            &mut counts,
            &mut decisions,
        );
        // A decision of an operation the report does not break down is not a key of its own
        // (its values can be unbounded, such as "version 7").
        note(
            "protection_key.rotate",
            Some("version 7"),
            &[],
            3,
            &mut counts,
            &mut decisions,
        );
        // A claim names the decision it disputes: not an index entry.
        note(
            "claim.file",
            None,
            &detail("dec_a"),
            4,
            &mut counts,
            &mut decisions,
        );
        assert_eq!(
            aggregate(&counts),
            [
                ("claim.file", "", 1),
                ("protection_key.rotate", "", 1),
                ("verify", "", 3),
                ("verify", "match", 2),
                ("verify", "no_match", 1),
            ]
        );
        assert_eq!(
            decisions,
            [
                ("dec_a".to_owned(), 0),
                ("dec_b".to_owned(), 1),
                ("dec_c".to_owned(), 2)
            ]
        );
    }
}
