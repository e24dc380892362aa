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
    /// The notice a purpose gets when its creator gives none: its description, in English,
    /// naming the controller and the law that apply (the operator's, from its configuration).
    pub fn from_purpose(description: &str, controller: &str, jurisdiction: &str) -> Self {
        Self {
            text: description.to_owned(),
            language: "en".into(),
            controller: controller.to_owned(),
            jurisdiction: jurisdiction.to_owned(),
            recipients: Vec::new(),
            withdrawal_method:
                "ask the service you enrolled with; withdrawal takes effect at once \
                                and destroys the template"
                    .into(),
            material: true,
            reconsent_days: None,
        }
    }

    /// Checks a notice ready to publish: [`NoticeDraft::check_written`], and a jurisdiction
    /// is named.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.jurisdiction.trim().is_empty() {
            return Err(ValidationError::new(
                "notice.jurisdiction",
                "must name the law that applies, for example `EU: GDPR` or `Singapore: PDPA`",
            ));
        }
        self.check_written()
    }

    /// Checks what was written: lengths, characters, and no stand-in for the controller or
    /// the jurisdiction. A jurisdiction left out (empty) passes: the service fills in the
    /// operator's where it applies, then [`NoticeDraft::check`] decides.
    pub fn check_written(&self) -> Result<(), ValidationError> {
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
        if !self.jurisdiction.is_empty() {
            text("notice.jurisdiction", &self.jurisdiction, 300)?;
        }
        if is_placeholder(&self.controller) {
            return Err(ValidationError::new(
                "notice.controller",
                "must name the organisation responsible for the processing (its legal name), \
                 not a placeholder",
            ));
        }
        if !self.jurisdiction.is_empty() && is_placeholder(&self.jurisdiction) {
            return Err(ValidationError::new(
                "notice.jurisdiction",
                "must name the law that applies (for example `EU: GDPR`), not a placeholder",
            ));
        }
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

/// Who runs this service: named, with a contact, on every public page and in the notices of
/// the default tenant's purposes created without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The organisation's legal name.
    pub name: String,
    /// How people reach it about their data (an address, a URL, a telephone number).
    pub contact: String,
    /// The law that applies to its processing, if it states one for its own purposes.
    pub jurisdiction: Option<String>,
}

impl Operator {
    /// Checks each part as a notice's parts are checked: text of at most 300 bytes, and no
    /// stand-in.
    pub fn new(
        name: &str,
        contact: &str,
        jurisdiction: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let part = |field: &'static str, v: &str| {
            if v.trim().is_empty()
                || v.len() > 300
                || v.chars().any(char::is_control)
                || is_placeholder(v)
            {
                Err(ValidationError::new(
                    field,
                    "must be a real name or address of at most 300 bytes, not a placeholder",
                ))
            } else {
                Ok(v.trim().to_owned())
            }
        };
        Ok(Self {
            name: part("operator_name", name)?,
            contact: part("operator_contact", contact)?,
            jurisdiction: jurisdiction
                .map(|j| part("operator_jurisdiction", j))
                .transpose()?,
        })
    }
}

/// Whether a controller or jurisdiction is a stand-in rather than a name: people must be told
/// who is responsible and under which law, so these are refused.
pub fn is_placeholder(s: &str) -> bool {
    const STAND_INS: &[&str] = &[
        "tbd",
        "tbc",
        "todo",
        "n/a",
        "na",
        "none",
        "nobody",
        "unknown",
        "placeholder",
        "test",
        "example",
        "operator",
        "the operator",
        "controller",
        "the controller",
        "company",
        "the company",
        "to be confirmed",
        "to be decided",
        "as stated by the operator",
        "as stated in the notice",
        "the operator of this bioguard service",
        "the operator of this service",
    ];
    let folded: String = s
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    folded.chars().filter(|c| c.is_alphanumeric()).count() < 2
        || STAND_INS.contains(&folded.as_str())
        || folded
            .chars()
            .all(|c| matches!(c, 'x' | '-' | '?' | '.' | ' ' | '_'))
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
        let ok = NoticeDraft::from_purpose("Pay at the till", "Canteen Services GmbH", "EU: GDPR");
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

    #[test]
    fn a_notice_names_a_real_controller_and_law() {
        let ok = NoticeDraft::from_purpose("Pay at the till", "Canteen Services GmbH", "EU: GDPR");
        for stand_in in [
            "the operator of this bioguard service",
            "The Operator.",
            "TBD",
            "n/a",
            "xxx",
            "?",
            "  example ",
        ] {
            let c = NoticeDraft {
                controller: stand_in.into(),
                ..ok.clone()
            };
            let e = c.check().expect_err(stand_in);
            assert_eq!(e.field(), "notice.controller", "{stand_in}");
            let j = NoticeDraft {
                jurisdiction: stand_in.into(),
                ..ok.clone()
            };
            assert_eq!(
                j.check().expect_err(stand_in).field(),
                "notice.jurisdiction"
            );
        }
        let empty = NoticeDraft {
            jurisdiction: String::new(),
            ..ok.clone()
        };
        assert_eq!(
            empty.check().expect_err("empty").field(),
            "notice.jurisdiction"
        );
        // Real names that merely contain such words are names.
        for name in [
            "Example Pay Ltd",
            "Operator Holdings AG",
            "NA Foods Inc",
            "ACME",
        ] {
            assert!(!is_placeholder(name), "{name}");
        }
    }

    #[test]
    fn an_operator_is_named_with_a_contact() {
        let op = Operator::new(
            " Canteen Services GmbH ",
            "privacy@canteen.example",
            Some("EU: GDPR"),
        )
        .expect("valid");
        assert_eq!(op.name, "Canteen Services GmbH");
        for (name, contact, field) in [
            ("TBD", "privacy@x.example", "operator_name"),
            ("Canteen", "", "operator_contact"),
            ("Canteen", "n/a", "operator_contact"),
        ] {
            let e = Operator::new(name, contact, None).expect_err(name);
            assert_eq!(e.field(), field);
        }
        assert_eq!(
            Operator::new("Canteen", "a@b.example", Some("unknown"))
                .expect_err("stand-in")
                .field(),
            "operator_jurisdiction"
        );
    }
}
