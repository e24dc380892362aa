//! The fairness gate. A purpose's threshold goes live only with a fairness report (from
//! `bioguard fairness evaluate`) that was made for this purpose's matcher and that threshold,
//! is recent enough, and meets the purpose's fairness policy; otherwise only a risk-group
//! quorum can activate it (`fairness.override`), and the override is in the audit ledger and
//! on the transparency report. The runtime API never sees demographic attributes: only the
//! report's aggregate figures reach the service.

use bioguard_core::{FairnessPolicy, Purpose, PurposeId, Threshold, Timestamp};
use bioguard_store::FairnessState;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Service, ServiceError};

/// The report format the gate reads.
pub const REPORT_FORMAT: &str = "bioguard-fairness-report/1";

/// The largest report accepted, in bytes of JSON.
pub const MAX_REPORT_BYTES: usize = 4 << 20;

/// Tolerance when comparing a report's threshold with the one to activate.
const THRESHOLD_TOLERANCE: f64 = 1e-9;

/// What the gate found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the report meets the policy for this configuration.
    pub passed: bool,
    /// Every reason it does not (empty when it passed).
    pub reasons: Vec<String>,
    /// The report's SHA-256 (hex), when a report was given.
    pub report_sha256: Option<String>,
}

/// The result of an activation.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The purpose.
    pub purpose: PurposeId,
    /// The threshold now live.
    pub threshold: f64,
    /// How it passed the gate.
    pub state: FairnessState,
    /// The gate's findings (for an override: what was set aside).
    pub verdict: Verdict,
}

/// The SHA-256 of a report's canonical JSON text.
fn sha256_hex(text: &str) -> String {
    bioguard_crypto::hex_encode(&Sha256::digest(text.as_bytes()))
}

/// Seconds since the epoch of an RFC 3339 UTC time as the CLI writes it.
fn parse_time(s: &str) -> Option<i64> {
    humantime::parse_rfc3339(s)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// Checks `report` for activating `threshold` on `purpose` at `now`.
pub fn check_report(
    purpose: &Purpose,
    threshold: f64,
    report: Option<&Value>,
    now: Timestamp,
) -> Verdict {
    let Some(r) = report else {
        return Verdict {
            passed: false,
            reasons: vec!["no fairness report was given".into()],
            report_sha256: None,
        };
    };
    let mut reasons = Vec::new();
    let policy: &FairnessPolicy = &purpose.fairness;
    if r["format"] != REPORT_FORMAT {
        reasons.push(format!("the report is not a {REPORT_FORMAT} document"));
    }
    if r["synthetic"] != Value::Bool(false) {
        reasons.push("the report is on synthetic data (or does not say it is not)".into());
    }
    // The matcher: the purpose's protected codes of its length.
    let m = &r["matcher"];
    if m["form"] != "protected" || m["code_bits"].as_u64() != Some(purpose.code_bits.bits() as u64)
    {
        reasons.push(format!(
            "the report is for the matcher {m}, not this purpose's protected {}-bit codes",
            purpose.code_bits.bits()
        ));
    }
    if let Some(d) = m["dimension"].as_u64()
        && d != purpose.dimension.get() as u64
    {
        reasons.push(format!(
            "the report's embeddings have dimension {d}, the purpose's {}",
            purpose.dimension.get()
        ));
    }
    match r["threshold"].as_f64() {
        Some(t) if (t - threshold).abs() <= THRESHOLD_TOLERANCE => {}
        Some(t) => reasons.push(format!(
            "the report was made at threshold {t}, not {threshold}: evaluate at the threshold \
             to activate (bioguard fairness evaluate --threshold {threshold})"
        )),
        None => reasons.push("the report names no threshold".into()),
    }
    match r["generated_at"].as_str().and_then(parse_time) {
        None => reasons.push("the report has no readable generated_at time".into()),
        Some(at) => {
            let age = now.unix() - at;
            let max = i64::from(policy.max_report_age_days) * 86_400;
            if age > max {
                reasons.push(format!(
                    "the report is {} days old; the policy accepts at most {}",
                    age / 86_400,
                    policy.max_report_age_days
                ));
            } else if age < -300 {
                reasons.push("the report is dated in the future".into());
            }
        }
    }
    let d = &r["differentials"];
    if d.is_null() {
        reasons.push(
            "the report has no differentials (fewer than two groups large enough to compare)"
                .into(),
        );
    } else {
        let limit =
            |name: &str, what: &str, max: f64, reasons: &mut Vec<String>| match d[name].as_f64() {
                Some(v) if v <= max => {}
                Some(v) => reasons.push(format!("{what} {v:.4} exceeds the policy's {max}")),
                None => reasons.push(format!(
                    "{what} is infinite or missing (a group with no errors of that kind \
                     beside one with some); the policy allows at most {max}"
                )),
            };
        limit(
            "fmr_ratio",
            "the FMR max/min ratio",
            policy.max_fmr_ratio,
            &mut reasons,
        );
        limit(
            "fnmr_ratio",
            "the FNMR max/min ratio",
            policy.max_fnmr_ratio,
            &mut reasons,
        );
        limit("garbe", "GARBE", policy.max_garbe, &mut reasons);
    }
    Verdict {
        passed: reasons.is_empty(),
        reasons,
        report_sha256: Some(sha256_hex(&r.to_string())),
    }
}

impl Service {
    /// Activates `threshold` for a purpose if `report` passes the gate. A refusal is recorded
    /// in the ledger (`fairness.refuse`) and the report kept, so that the risk group can
    /// override it by its SHA-256.
    pub async fn activate_matcher(
        &self,
        _admin: &crate::Admin,
        purpose: &PurposeId,
        threshold: f64,
        report: Option<Value>,
    ) -> Result<Activation, ServiceError> {
        let threshold = Threshold::new(threshold)?.get();
        let stored = self
            .store
            .purpose(purpose)
            .await?
            .ok_or(ServiceError::PurposeNotFound)?;
        if let Some(r) = &report {
            self.keep_report(purpose, r).await?;
        }
        let verdict = check_report(&stored.purpose, threshold, report.as_ref(), self.now());
        if !verdict.passed {
            let mut leaf = self.leaf("fairness.refuse", "admin");
            leaf.purpose = Some(purpose.clone());
            leaf.decision = Some("refused".into());
            leaf.detail = gate_detail(threshold, &verdict);
            self.store.append_audit(&leaf).await?;
            tracing::warn!(purpose = %purpose, reasons = verdict.reasons.len(), "fairness gate refused a threshold");
            return Err(ServiceError::FairnessGate {
                reasons: verdict.reasons.join("; "),
                report: verdict.report_sha256,
            });
        }
        self.activate_now(purpose, threshold, "passed", verdict, None)
            .await
    }

    /// Creates a purpose whose first threshold rests on a fairness report: refused (and
    /// nothing created) unless the report passes the gate.
    pub async fn create_purpose_with_report(
        &self,
        admin: &crate::Admin,
        purpose: Purpose,
        notice: Option<crate::NoticeDraft>,
        report: Value,
    ) -> Result<(Purpose, FairnessState), ServiceError> {
        purpose.check()?;
        let verdict = check_report(&purpose, purpose.threshold.get(), Some(&report), self.now());
        if !verdict.passed {
            return Err(ServiceError::FairnessGate {
                reasons: verdict.reasons.join("; "),
                report: verdict.report_sha256,
            });
        }
        let created = self.create_purpose(admin, purpose, notice).await?;
        self.keep_report(&created.id, &report).await?;
        let a = self
            .activate_now(
                &created.id,
                created.threshold.get(),
                "passed",
                verdict,
                None,
            )
            .await?;
        Ok((created, a.state))
    }

    /// Keeps a report by its SHA-256 (bounded in size).
    pub(crate) async fn keep_report(
        &self,
        purpose: &PurposeId,
        report: &Value,
    ) -> Result<String, ServiceError> {
        let text = report.to_string();
        if text.len() > MAX_REPORT_BYTES {
            return Err(bioguard_core::ValidationError::new(
                "fairness_report",
                format!("at most {MAX_REPORT_BYTES} bytes of JSON"),
            )
            .into());
        }
        let sha = sha256_hex(&text);
        self.store
            .save_fairness_report(&sha, purpose, &text, self.now())
            .await?;
        Ok(sha)
    }

    /// Makes the threshold live with its fairness state, in one change with its leaf.
    pub(crate) async fn activate_now(
        &self,
        purpose: &PurposeId,
        threshold: f64,
        status: &str,
        verdict: Verdict,
        proposal: Option<&str>,
    ) -> Result<Activation, ServiceError> {
        let state = FairnessState {
            status: status.to_owned(),
            report_sha256: verdict.report_sha256.clone(),
            at: Some(self.now()),
        };
        let mut leaf = self.leaf(
            "purpose.matcher.activate",
            if proposal.is_some() {
                "quorum"
            } else {
                "admin"
            },
        );
        leaf.purpose = Some(purpose.clone());
        leaf.decision = Some(status.to_owned());
        leaf.detail = gate_detail(threshold, &verdict);
        if let Some(p) = proposal {
            leaf.detail.push(("proposal".into(), p.to_owned()));
        }
        if !self
            .store
            .activate_matcher(purpose, threshold, &state, &leaf)
            .await?
        {
            return Err(ServiceError::PurposeNotFound);
        }
        tracing::info!(purpose = %purpose, threshold, status, "matcher threshold activated");
        Ok(Activation {
            purpose: purpose.clone(),
            threshold,
            state,
            verdict,
        })
    }

    /// Applies an approved `fairness.override`: activates the threshold whatever the gate
    /// says, recording what it set aside.
    pub(crate) async fn override_fairness(
        &self,
        proposal: &str,
        action: &Value,
    ) -> Result<String, ServiceError> {
        let (purpose, threshold, sha) = override_fields(action)?;
        let stored = self
            .store
            .purpose(&purpose)
            .await?
            .ok_or(ServiceError::PurposeNotFound)?;
        let report = match &sha {
            None => None,
            Some(sha) => match self.store.fairness_report(sha).await? {
                Some((p, body)) if p == purpose => Some(
                    serde_json::from_str::<Value>(&body)
                        .map_err(|_| ServiceError::Internal("a kept report is corrupt".into()))?,
                ),
                _ => {
                    return Err(bioguard_core::ValidationError::new(
                        "action.report_sha256",
                        "no report with this SHA-256 was submitted for this purpose",
                    )
                    .into());
                }
            },
        };
        let verdict = check_report(&stored.purpose, threshold, report.as_ref(), self.now());
        let set_aside = verdict.reasons.len();
        self.activate_now(&purpose, threshold, "override", verdict, Some(proposal))
            .await?;
        Ok(format!(
            "threshold {threshold} activated for purpose {purpose} by override ({set_aside} gate findings set aside)"
        ))
    }
}

/// The fields of a `fairness.override` action.
pub(crate) fn override_fields(
    action: &Value,
) -> Result<(PurposeId, f64, Option<String>), bioguard_core::ValidationError> {
    use bioguard_core::ValidationError;
    let purpose = action["purpose"]
        .as_str()
        .and_then(|p| PurposeId::parse(p).ok())
        .ok_or_else(|| ValidationError::new("action.purpose", "a purpose id"))?;
    let threshold = action["threshold"]
        .as_f64()
        .ok_or_else(|| ValidationError::new("action.threshold", "a number in (0, 1]"))
        .and_then(|t| Threshold::new(t).map(Threshold::get))?;
    let sha = match &action["report_sha256"] {
        Value::Null => None,
        Value::String(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(s.to_ascii_lowercase())
        }
        _ => {
            return Err(ValidationError::new(
                "action.report_sha256",
                "the 64 hex digits of a submitted report's SHA-256, or absent",
            ));
        }
    };
    let reason = action["reason"].as_str().unwrap_or("").trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(ValidationError::new(
            "action.reason",
            "why the risk group sets the fairness gate aside (1 to 2000 characters)",
        ));
    }
    Ok((purpose, threshold, sha))
}

fn gate_detail(threshold: f64, verdict: &Verdict) -> Vec<(String, String)> {
    let mut d = vec![("threshold".into(), threshold.to_string())];
    if let Some(sha) = &verdict.report_sha256 {
        d.push(("report_sha256".into(), sha.clone()));
    }
    for (i, r) in verdict.reasons.iter().enumerate() {
        d.push((format!("finding_{}", i + 1), r.chars().take(300).collect()));
    }
    d
}
