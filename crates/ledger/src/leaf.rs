//! Leaves: one canonical, versioned record per change or use.
//!
//! A leaf is JSON with a fixed key order and no white space, so that its bytes (which are what
//! the tree hashes) are a function of its content: `decode` accepts only the exact encoding
//! `encode` produces. Every leaf names its own index and the hash of the leaf before it, so a
//! deleted, inserted, reordered or altered leaf is found at the first position where the
//! chain breaks, even between two checkpoints. Leaves hold pseudonyms, identifiers and
//! decisions, never biometric data, keys or tokens.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::Hash;

/// The leaf format version.
pub const LEAF_VERSION: u64 = 1;

/// One record of the audit ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The leaf's position in the log.
    pub index: u64,
    /// The leaf hash of the leaf before it (all zeros for the first leaf).
    pub prev: Hash,
    /// When, in Unix seconds.
    pub time: i64,
    /// What happened, e.g. `consent.grant`, `verify`, `identify`, `subject.erase`.
    pub op: String,
    /// Who did it: `client:<id>`, `admin`, `system`.
    pub actor: String,
    /// The subject pseudonym concerned, if any.
    pub subject: Option<String>,
    /// The purpose concerned, if any.
    pub purpose: Option<String>,
    /// The outcome, e.g. `match`, `no_match`, `granted`.
    pub decision: Option<String>,
    /// The request id (the `x-request-id` of the call), if any.
    pub request: Option<String>,
    /// Further facts as (name, value) pairs in a fixed order; values are text or numbers
    /// rendered by the caller, never biometric data.
    pub detail: Vec<(String, String)>,
}

fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_opt(out: &mut String, key: &str, v: &Option<String>) {
    out.push_str(&format!(",\"{key}\":"));
    match v {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

impl Leaf {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{{\"v\":{LEAF_VERSION},\"i\":{},\"prev\":\"{}\",\"t\":{}",
            self.index,
            B64.encode(self.prev),
            self.time
        );
        s.push_str(",\"op\":");
        push_str(&mut s, &self.op);
        s.push_str(",\"actor\":");
        push_str(&mut s, &self.actor);
        push_opt(&mut s, "subject", &self.subject);
        push_opt(&mut s, "purpose", &self.purpose);
        push_opt(&mut s, "decision", &self.decision);
        push_opt(&mut s, "request", &self.request);
        s.push_str(",\"detail\":[");
        for (n, (k, v)) in self.detail.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            s.push('[');
            push_str(&mut s, k);
            s.push(',');
            push_str(&mut s, v);
            s.push(']');
        }
        s.push_str("]}");
        s.into_bytes()
    }

    /// Reads a leaf; `None` unless the bytes are exactly the canonical encoding of a leaf.
    pub fn decode(bytes: &[u8]) -> Option<Leaf> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let o = v.as_object()?;
        if o.get("v")?.as_u64()? != LEAF_VERSION {
            return None;
        }
        let opt = |k: &str| -> Option<Option<String>> {
            match o.get(k)? {
                serde_json::Value::Null => Some(None),
                serde_json::Value::String(s) => Some(Some(s.clone())),
                _ => None,
            }
        };
        let prev: Hash = B64.decode(o.get("prev")?.as_str()?).ok()?.try_into().ok()?;
        let detail = o
            .get("detail")?
            .as_array()?
            .iter()
            .map(|p| {
                let p = p.as_array()?;
                Some((
                    p.first()?.as_str()?.to_owned(),
                    p.get(1)?.as_str()?.to_owned(),
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        let leaf = Leaf {
            index: o.get("i")?.as_u64()?,
            prev,
            time: o.get("t")?.as_i64()?,
            op: o.get("op")?.as_str()?.to_owned(),
            actor: o.get("actor")?.as_str()?.to_owned(),
            subject: opt("subject")?,
            purpose: opt("purpose")?,
            decision: opt("decision")?,
            request: opt("request")?,
            detail,
        };
        (leaf.encode() == bytes).then_some(leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(index: u64, prev: Hash) -> Leaf {
        Leaf {
            index,
            prev,
            time: 1_800_000_000 + index as i64,
            op: "verify".into(),
            actor: "client:cl_00".into(),
            subject: Some("ab".repeat(32)),
            purpose: Some("payment".into()),
            decision: Some("match".into()),
            request: Some("0011223344556677".into()),
            detail: vec![("note".into(), "quote \" backslash \\ tab \t".into())],
        }
    }

    #[test]
    fn round_trip_and_canonical_only() {
        let l = sample(3, [9; 32]);
        let bytes = l.encode();
        assert_eq!(Leaf::decode(&bytes), Some(l.clone()));
        // The same content with other spacing or key order is not a leaf.
        let spaced = String::from_utf8(bytes.clone())
            .expect("utf-8")
            .replace(",\"t\"", ", \"t\"");
        assert_eq!(Leaf::decode(spaced.as_bytes()), None);
        assert_eq!(Leaf::decode(b"{}"), None);
        assert_eq!(Leaf::decode(b"not json"), None);
        let none = Leaf {
            subject: None,
            detail: vec![],
            ..l
        };
        assert_eq!(Leaf::decode(&none.encode()), Some(none));
    }
}
