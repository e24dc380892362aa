//! What is held about one subject, as shown to the relying party and the person.

use crate::{ConsentRecord, PurposeId, Timestamp};

/// Template facts shown to people: never its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// The purpose.
    pub purpose: PurposeId,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
}

/// Everything held about a subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectSummary {
    /// Consent records, live and ended, oldest first.
    pub consents: Vec<ConsentRecord>,
    /// Templates, by purpose.
    pub templates: Vec<TemplateInfo>,
    /// When the subject locked the use of their biometrics, if they did.
    pub locked_at: Option<Timestamp>,
}

impl SubjectSummary {
    /// The purposes anything is held for, in order.
    pub fn purposes(&self) -> std::collections::BTreeSet<&PurposeId> {
        self.consents
            .iter()
            .map(|c| &c.purpose)
            .chain(self.templates.iter().map(|t| &t.purpose))
            .collect()
    }
}
