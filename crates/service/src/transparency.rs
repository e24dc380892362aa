//! The transparency report: counts only, drawn from the audit ledger (every change and use is
//! a leaf, so the figures are as checkable as the log itself) and from the notification
//! records. No individual's data.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{Service, ServiceError};

/// Leaves read per page while counting.
const PAGE: u64 = 10_000;

impl Service {
    /// The transparency report as JSON.
    pub async fn transparency(&self) -> Result<Value, ServiceError> {
        let size = self.store.audit_size().await?;
        let mut ops: BTreeMap<String, u64> = BTreeMap::new();
        let mut decisions: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut start = 0;
        while start < size {
            let end = (start + PAGE).min(size);
            for bytes in self.store.audit_leaves(start, end).await? {
                let leaf = bioguard_ledger::Leaf::decode(&bytes).ok_or_else(|| {
                    ServiceError::Internal("a stored leaf does not decode".into())
                })?;
                *ops.entry(leaf.op.clone()).or_default() += 1;
                if let Some(d) = leaf.decision {
                    *decisions.entry((leaf.op, d)).or_default() += 1;
                }
            }
            start = end;
        }
        let op = |name: &str| ops.get(name).copied().unwrap_or(0);
        let decided = |name: &str, d: &str| {
            decisions
                .get(&(name.to_owned(), d.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        let refused: BTreeMap<&str, u64> = decisions
            .iter()
            .filter(|((o, _), _)| o == "capture.refused")
            .map(|((_, d), n)| (d.as_str(), *n))
            .collect();
        let (on_time, late, pending) = self.store.notification_counts(self.now()).await?;
        let times = self.store.claim_decision_times().await?;
        let median_days = (!times.is_empty()).then(|| {
            let mid = times.len() / 2;
            let secs = if times.len() % 2 == 1 {
                times[mid] as f64
            } else {
                (times[mid - 1] + times[mid]) as f64 / 2.0
            };
            (secs / 86_400.0 * 10.0).round() / 10.0
        });
        let mut purposes = serde_json::Map::new();
        for p in self.store.purposes().await? {
            purposes.insert(
                p.purpose.id.to_string(),
                json!({"threshold": p.purpose.threshold.get(), "status": p.fairness.status,
                       "report_sha256": p.fairness.report_sha256,
                       "activated_at": p.fairness.at.map(bioguard_core::rfc3339)}),
            );
        }
        Ok(json!({
            "generated_at": self.now().unix(),
            "ledger": {"origin": self.secrets.origin(), "size": size},
            "enrolments": op("enrol"),
            "verifications": {"total": op("verify"), "match": decided("verify", "match"),
                              "no_match": decided("verify", "no_match")},
            "identifications": op("identify"),
            "consents": {"granted": op("consent.grant"), "withdrawn": op("consent.withdraw")},
            "deletions": {"erasure_requests": op("subject.erase"),
                          "withdrawals": op("consent.withdraw"),
                          "retention": op("retention.delete"),
                          "key_revocations": op("protection_key.rotate")},
            "subject_locks": op("subject.lock"),
            "risk": {"captures_refused": refused, "lockouts": op("subject.lockout"),
                     "clients_suspended": op("client.suspend")},
            "incidents": {"opened": op("incident.open"),
                          "notifications": {"on_time": on_time, "late": late, "pending": pending}},
            "access_requests": null,
            "claims": {"filed": op("claim.file"), "paid": decided("claim.decide", "paid"),
                       "denied": decided("claim.decide", "denied"),
                       "median_days_to_decision": median_days},
            "fairness": {"activations": {"passed": decided("purpose.matcher.activate", "passed"),
                                         "override": decided("purpose.matcher.activate", "override")},
                         "refused": op("fairness.refuse"),
                         "purposes": purposes},
            "notes": [
                "Counts are derived from the audit ledger up to the size above and can be recomputed from GET /v1/audit/leaves.",
                "access_requests: reads are not recorded in the ledger, so they are not counted.",
                "fairness: thresholds activated through the fairness gate, those a risk-group quorum activated over the gate's findings (override), refusals, and each purpose's live threshold with the report it rests on (status none: created without a report).",
            ],
        }))
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report as a self-contained HTML page.
pub fn transparency_html(report: &Value) -> String {
    fn rows(prefix: &str, v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix} / {k}")
                    };
                    rows(&name, v, out);
                }
            }
            Value::Array(_) => {}
            Value::Null => out.push_str(&format!(
                "<tr><th>{}</th><td>not available</td></tr>",
                escape_html(prefix)
            )),
            other => out.push_str(&format!(
                "<tr><th>{}</th><td id=\"{}\">{}</td></tr>",
                escape_html(prefix),
                escape_html(&prefix.replace(" / ", ".")),
                escape_html(other.to_string().trim_matches('"'))
            )),
        }
    }
    let mut table = String::new();
    if let Value::Object(m) = report {
        for (k, v) in m {
            if k != "notes" {
                rows(k, v, &mut table);
            }
        }
    }
    let notes: String = report["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(Value::as_str)
                .map(|s| format!("<li>{}</li>", escape_html(s)))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Transparency report</title>\
         <style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}th{{text-align:left;padding-right:2em}}</style>\
         </head><body><h1>Transparency report</h1><p>Counts only; no individual's data.</p>\
         <table>{table}</table><ul>{notes}</ul></body></html>"
    )
}
