//! Every string the pages show, by key, so that a language can be added by adding a table.
//! English is the only language so far; a key missing from a table falls back to English.

/// A language the pages can be shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
}

impl Lang {
    /// The best language for an `Accept-Language` header (English when none fits).
    pub fn from_accept(_header: Option<&str>) -> Self {
        Lang::En
    }

    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
        }
    }

    /// The text for `key`.
    pub fn t(self, key: &str) -> &'static str {
        let table = match self {
            Lang::En => EN,
        };
        table
            .iter()
            .chain(EN)
            .find(|(k, _)| *k == key)
            .map_or("?", |(_, v)| v)
    }
}

const EN: &[(&str, &str)] = &[
    ("site", "bioguard"),
    ("skip", "Skip to the content"),
    ("nav", "Public information"),
    ("nav.home", "Home"),
    ("nav.purposes", "Purposes and notices"),
    ("nav.retention", "Retention schedule"),
    ("nav.transparency", "Transparency report"),
    ("nav.ledger", "Audit ledger"),
    ("nav.fairness", "Fairness"),
    ("home.title", "What this service does with biometrics"),
    (
        "home.lead",
        "This service checks faces, voices or fingerprints for the organisations that use it. It keeps only protected templates (never images or recordings), each only with the person's consent for one declared purpose, and records every use in a public, verifiable ledger.",
    ),
    (
        "home.portal",
        "To see what is held about you, and to withdraw, lock or erase it, ask the organisation you deal with for a link to your privacy portal. Links last a few minutes and open your own data only.",
    ),
    ("purposes.title", "Purposes and their notices"),
    ("purposes.none", "No purpose is declared yet."),
    ("purposes.tenant", "Responsible organisation"),
    (
        "purposes.retired",
        "Retired: no new enrolments since this date. Templates already held are used only until their retention limit, then deleted.",
    ),
    ("purposes.operations", "Uses allowed"),
    ("purposes.retention", "Kept for at most"),
    ("purposes.notice", "Current notice"),
    ("purposes.controller", "Controller"),
    ("purposes.jurisdiction", "Jurisdiction"),
    ("purposes.recipients", "Recipients"),
    ("purposes.withdrawal", "How to withdraw"),
    ("purposes.version", "Version and fingerprint"),
    ("days", "days"),
    ("days.enrolment", "days after enrolment"),
    ("days.use", "days after last use"),
    ("retention.title", "Retention schedule"),
    (
        "retention.lead",
        "Every template past its purpose's limit is deleted with its key at the next sweep, and each deletion is recorded in the audit ledger.",
    ),
    ("retention.purpose", "Purpose"),
    (
        "retention.enrolment",
        "Deleted after enrolment at the latest",
    ),
    ("retention.use", "Deleted after last use"),
    ("retention.unlimited", "no separate limit"),
    ("transparency.title", "Transparency report"),
    (
        "transparency.lead",
        "Counts only, derived from the audit ledger, so anyone can recompute them. No individual's data.",
    ),
    ("transparency.measure", "Measure"),
    ("transparency.count", "Count"),
    ("ledger.title", "Audit ledger"),
    (
        "ledger.lead",
        "Every change and every use is a leaf of an append-only log. This is its latest signed checkpoint; keep it, and later checkpoints must be consistent with it.",
    ),
    ("ledger.checkpoint", "Latest signed checkpoint"),
    ("ledger.key", "Verifier key"),
    (
        "ledger.how",
        "To check the whole log yourself: bioguard audit verify --server URL --log DIR --key KEY",
    ),
    ("fairness.title", "Fairness of the matchers in use"),
    (
        "fairness.lead",
        "A purpose's match threshold goes live only with a recent fairness evaluation that meets its policy, or by an override of the risk group, which is shown here and recorded in the ledger.",
    ),
    ("fairness.status", "Status"),
    ("fairness.threshold", "Threshold"),
    ("fairness.report", "Report (SHA-256)"),
    ("fairness.policy", "Policy"),
    ("fairness.none", "no fairness report"),
    ("fairness.passed", "passed the fairness gate"),
    ("fairness.override", "activated by risk-group override"),
    ("portal.title", "Your biometric data"),
    (
        "portal.lead",
        "This page shows everything this service holds about you and every use of it. The link stops working at",
    ),
    (
        "portal.locked",
        "Your biometrics are locked: no organisation can use them until you unlock them. Locked since",
    ),
    ("portal.unlocked", "Your biometrics are not locked."),
    ("portal.lock", "Lock every use of my biometrics"),
    ("portal.unlock", "Unlock my biometrics"),
    ("portal.choices", "Your choices"),
    ("portal.report", "Download everything as a file (JSON)"),
    ("portal.erase", "Erase everything held about me…"),
    ("portal.purposes", "Purposes you consented to"),
    ("portal.nothing", "Nothing is held about you."),
    ("portal.consent", "Consent"),
    ("portal.given", "given"),
    ("portal.ended", "ended"),
    ("portal.live", "in force"),
    ("portal.notice", "The notice you agreed to"),
    ("portal.receipt", "Download the signed consent receipt"),
    (
        "portal.withdraw",
        "Withdraw consent and destroy the template for",
    ),
    ("portal.template", "Template"),
    ("portal.enrolled", "Enrolled"),
    ("portal.last_used", "Last used"),
    ("portal.never", "never"),
    ("portal.deleted_by", "Deleted by"),
    ("portal.held", "What is held"),
    (
        "portal.no_template",
        "No template is held for this purpose.",
    ),
    ("portal.history", "Every use and change"),
    ("portal.time", "Time"),
    ("portal.operation", "What happened"),
    ("portal.purpose", "Purpose"),
    ("portal.decision", "Outcome"),
    ("portal.by", "By"),
    ("portal.index", "Ledger entry"),
    ("portal.proof", "Proof"),
    ("portal.proved", "proved in the signed log"),
    ("portal.unproved", "not proved"),
    (
        "portal.history.more",
        "These are your 1,000 most recent entries. The service you use can give you the older ones.",
    ),
    (
        "portal.history.caption",
        "Each entry is a leaf of the audit ledger, checked against a freshly signed checkpoint of size",
    ),
    (
        "done.withdrawn",
        "Consent withdrawn. The template and its key were destroyed.",
    ),
    ("done.locked", "Your biometrics are now locked."),
    ("done.unlocked", "Your biometrics are unlocked."),
    (
        "done.erased",
        "Everything held about you was erased. Keep this signed deletion certificate as proof.",
    ),
    ("done.receipt", "Signed receipt"),
    ("done.certificate", "Signed deletion certificate"),
    ("done.back", "Back to your data"),
    ("erase.title", "Erase everything"),
    (
        "erase.warning",
        "This destroys every template, key and consent record held about you, for every purpose, at once. It cannot be undone. The organisations you deal with must then offer you their non-biometric alternative.",
    ),
    ("erase.confirm", "I understand that this cannot be undone"),
    ("erase.button", "Erase everything now"),
    ("erase.cancel", "Cancel"),
    ("error.title", "This did not work"),
    (
        "error.link",
        "This portal link is not valid. It may have expired (links last a few minutes) or been copied incompletely. Ask the organisation you deal with for a new one.",
    ),
    (
        "error.csrf",
        "This form has expired or did not come from this page. Go back, reload the page and try again.",
    ),
    (
        "error.confirm",
        "Tick the box to confirm, then press the button again.",
    ),
    (
        "error.rate",
        "Too many requests in a short time. Wait a few seconds and try again.",
    ),
    (
        "error.lock",
        "This lock was set by the organisation you deal with, not by you, so only they can lift it. Nothing was changed. Ask them, or withdraw or erase from this page.",
    ),
    (
        "error.other",
        "Something went wrong. Nothing was changed. Try again later.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_non_empty() {
        let mut keys: Vec<&str> = EN.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate keys");
        assert!(EN.iter().all(|(_, v)| !v.is_empty()));
        assert_eq!(Lang::En.t("no.such.key"), "?");
    }
}
