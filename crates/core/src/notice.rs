//! Privacy notices: what a person is shown before consenting to a purpose.
//!
//! Each purpose has numbered versions (`v1`, `v2`, ...), published and never changed: the body
//! is canonical JSON and its SHA-256 is kept, so a consent that names a version names exactly
//! one text. A *material* version asks everyone who consented earlier to consent again (at
//! once, or within its grace period); the rules that follow from that live with consent in
//! the service.

use crate::{Timestamp, ValidationError};

/// What an admin writes in a notice; the service adds the purpose's facts when publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    /// The notice text shown to the person.
    pub text: String,
    /// Its language (a BCP 47 tag such as `en` or `de-CH`).
    pub language: String,
    /// Who is responsible for the processing.
    pub controller: String,
    /// The law that applies.
    pub jurisdiction: String,
    /// Who else receives the data (empty: nobody).
    pub recipients: Vec<String>,
    /// How the person withdraws.
    pub withdrawal_method: String,
    /// Whether existing consents must be given again under this version.
    pub material: bool,
    /// Days templates under earlier consents stay usable for verification (`None`: until
    /// re-consent).
    pub reconsent_days: Option<u32>,
}

impl NoticeDraft {
    /// The notice a purpose gets when its creator gives none: its description, in English.
    pub fn from_purpose(description: &str) -> Self {
        Self {
            text: description.to_owned(),
            language: "en".into(),
            controller: "the operator of this bioguard service".into(),
            jurisdiction: "as stated by the operator".into(),
            recipients: Vec::new(),
            withdrawal_method:
                "ask the service you enrolled with; withdrawal takes effect at once \
                                and destroys the template"
                    .into(),
            material: true,
            reconsent_days: None,
        }
    }

    /// Checks lengths and characters.
    pub fn check(&self) -> Result<(), ValidationError> {
        let text = |field: &'static str, v: &str, max: usize| {
            if v.trim().is_empty()
                || v.len() > max
                || v.chars().any(|c| c.is_control() && c != '\n')
            {
                Err(ValidationError::new(
                    field,
                    format!("must be 1 to {max} bytes of text without control characters"),
                ))
            } else {
                Ok(())
            }
        };
        text("notice.text", &self.text, 20_000)?;
        text("notice.controller", &self.controller, 300)?;
        text("notice.jurisdiction", &self.jurisdiction, 300)?;
        text("notice.withdrawal_method", &self.withdrawal_method, 1000)?;
        let lang_ok = (2..=35).contains(&self.language.len())
            && self.language.split('-').all(|p| {
                !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !lang_ok {
            return Err(ValidationError::new(
                "notice.language",
                "must be a BCP 47 language tag such as en or de-CH",
            ));
        }
        if self.recipients.len() > 50 {
            return Err(ValidationError::new(
                "notice.recipients",
                "at most 50 recipients",
            ));
        }
        for r in &self.recipients {
            text("notice.recipients", r, 300)?;
        }
        if self
            .reconsent_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return Err(ValidationError::new(
                "notice.reconsent_days",
                "must be 1 to 3650 days",
            ));
        }
        Ok(())
    }
}

/// A published version of a purpose's notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its version number (1 for the notice published with the purpose).
    pub version: u32,
    /// The notice as canonical JSON.
    pub body: String,
    /// SHA-256 of `body`, hex.
    pub hash: String,
    /// Whether existing consents must be given again under this version.
    pub material: bool,
    /// Days templates under an earlier consent stay usable for verification after this
    /// version is published (`None`: until re-consent).
    pub reconsent_days: Option<u32>,
    /// When it was published.
    pub published_at: Timestamp,
}

impl Notice {
    /// Its name: `v1`, `v2`, ...
    pub fn name(&self) -> String {
        format!("v{}", self.version)
    }
}

/// The latest material version of a purpose's notice: consents given under an older version
/// must be given again (at once, or within its grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeFloor {
    /// Its version number.
    pub version: u32,
    /// When it was published.
    pub published_at: Timestamp,
    /// How long older consents still allow use, if at all.
    pub reconsent_days: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_are_checked() {
        let ok = NoticeDraft::from_purpose("Pay at the till");
        assert!(ok.check().is_ok());
        for bad in [
            NoticeDraft {
                language: "e".into(),
                ..ok.clone()
            },
            NoticeDraft {
                controller: " ".into(),
                ..ok.clone()
            },
            NoticeDraft {
                reconsent_days: Some(0),
                ..ok.clone()
            },
            NoticeDraft {
                recipients: vec!["x\u{7}".into()],
                ..ok.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
