//! The little of CBOR (RFC 8949) that WebAuthn needs: definite-length items, integers, byte
//! and text strings, arrays, maps and the simple values. Authenticators write CTAP2's
//! canonical form, which uses nothing else; anything else (indefinite lengths, tags, floats)
//! is refused rather than skipped, so a record is read one way only.
//!
//! The reader never panics and never allocates more than the input's length: lengths are
//! checked against the bytes that remain before anything is read.

/// A CBOR item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An integer (major types 0 and 1), within i128.
    Int(i128),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A text string.
    Text(String),
    /// An array.
    Array(Vec<Value>),
    /// A map, its pairs in the order written.
    Map(Vec<(Value, Value)>),
    /// `false` or `true`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Value {
    /// The value of the pair whose key is the integer `key`.
    pub(crate) fn int_key(&self, key: i128) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| *k == Value::Int(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of the pair whose key is the text `key`.
    pub(crate) fn text_key(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why bytes are not the CBOR expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CborError(pub(crate) &'static str);

/// Deeper nesting than any WebAuthn structure has.
const MAX_DEPTH: usize = 8;

/// Reads one item from the start of `bytes`; returns it and the bytes after it.
pub(crate) fn read(bytes: &[u8]) -> Result<(Value, &[u8]), CborError> {
    item(bytes, 0)
}

/// Reads exactly one item: nothing may follow it.
pub(crate) fn read_all(bytes: &[u8]) -> Result<Value, CborError> {
    let (v, rest) = read(bytes)?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(CborError("bytes after the item"))
    }
}

fn item(bytes: &[u8], depth: usize) -> Result<(Value, &[u8]), CborError> {
    if depth > MAX_DEPTH {
        return Err(CborError("nested too deeply"));
    }
    let (&first, rest) = bytes.split_first().ok_or(CborError("truncated"))?;
    let major = first >> 5;
    let info = first & 0x1f;
    if major == 7 {
        return match info {
            20 => Ok((Value::Bool(false), rest)),
            21 => Ok((Value::Bool(true), rest)),
            22 => Ok((Value::Null, rest)),
            _ => Err(CborError("unsupported simple value or float")),
        };
    }
    if major == 6 {
        return Err(CborError("tags are not used here"));
    }
    let (arg, mut rest) = argument(info, rest)?;
    match major {
        0 => Ok((Value::Int(i128::from(arg)), rest)),
        1 => Ok((Value::Int(-1 - i128::from(arg)), rest)),
        2 | 3 => {
            let n = usize::try_from(arg).map_err(|_| CborError("too long"))?;
            if n > rest.len() {
                return Err(CborError("truncated"));
            }
            let (s, after) = rest.split_at(n);
            let v = if major == 2 {
                Value::Bytes(s.to_vec())
            } else {
                Value::Text(
                    String::from_utf8(s.to_vec()).map_err(|_| CborError("text is not UTF-8"))?,
                )
            };
            Ok((v, after))
        }
        4 => {
            // Every item takes at least one byte: a count above what remains is a lie.
            let n = usize::try_from(arg).map_err(|_| CborError("too long"))?;
            if n > rest.len() {
                return Err(CborError("truncated"));
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let (v, after) = item(rest, depth + 1)?;
                items.push(v);
                rest = after;
            }
            Ok((Value::Array(items), rest))
        }
        5 => {
            let n = usize::try_from(arg).map_err(|_| CborError("too long"))?;
            if n.saturating_mul(2) > rest.len() {
                return Err(CborError("truncated"));
            }
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let (k, after) = item(rest, depth + 1)?;
                let (v, after) = item(after, depth + 1)?;
                if pairs.iter().any(|(seen, _)| *seen == k) {
                    return Err(CborError("a map repeats a key"));
                }
                pairs.push((k, v));
                rest = after;
            }
            Ok((Value::Map(pairs), rest))
        }
        _ => Err(CborError("unknown major type")),
    }
}

/// The argument of an item's first byte (RFC 8949 section 3): in the byte itself below 24,
/// else in the next 1, 2, 4 or 8 bytes. Indefinite lengths (31) are refused.
fn argument(info: u8, rest: &[u8]) -> Result<(u64, &[u8]), CborError> {
    let n = match info {
        0..=23 => return Ok((u64::from(info), rest)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 => return Err(CborError("indefinite lengths are not used here")),
        _ => return Err(CborError("reserved additional information")),
    };
    if rest.len() < n {
        return Err(CborError("truncated"));
    }
    let (head, after) = rest.split_at(n);
    let v = head.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok((v, after))
}

/// Writes `v` in CTAP2's canonical form (shortest arguments; map keys as given). Used to
/// build test vectors and to write keys the way authenticators do.
pub(crate) fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) if *i >= 0 => head(0, *i as u64, out),
        Value::Int(i) => head(1, (-1 - *i) as u64, out),
        Value::Bytes(b) => {
            head(2, b.len() as u64, out);
            out.extend_from_slice(b);
        }
        Value::Text(t) => {
            head(3, t.len() as u64, out);
            out.extend_from_slice(t.as_bytes());
        }
        Value::Array(items) => {
            head(4, items.len() as u64, out);
            for i in items {
                write(i, out);
            }
        }
        Value::Map(pairs) => {
            head(5, pairs.len() as u64, out);
            for (k, v) in pairs {
                write(k, out);
                write(v, out);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
    }
}

fn head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_examples_of_rfc_8949_appendix_a() {
        let cases: &[(&[u8], Value)] = &[
            (&[0x00], Value::Int(0)),
            (&[0x17], Value::Int(23)),
            (&[0x18, 0x18], Value::Int(24)),
            (&[0x19, 0x03, 0xe8], Value::Int(1000)),
            (&[0x1a, 0x00, 0x0f, 0x42, 0x40], Value::Int(1_000_000)),
            (
                &[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                Value::Int(18_446_744_073_709_551_615),
            ),
            (&[0x20], Value::Int(-1)),
            (&[0x38, 0x63], Value::Int(-100)),
            (&[0x44, 1, 2, 3, 4], Value::Bytes(vec![1, 2, 3, 4])),
            (&[0x62, 0x22, 0x5c], Value::Text("\"\\".into())),
            (
                &[0x83, 0x01, 0x82, 0x02, 0x03, 0x82, 0x04, 0x05],
                Value::Array(vec![
                    Value::Int(1),
                    Value::Array(vec![Value::Int(2), Value::Int(3)]),
                    Value::Array(vec![Value::Int(4), Value::Int(5)]),
                ]),
            ),
            (
                &[0xa2, 0x01, 0x02, 0x03, 0x04],
                Value::Map(vec![
                    (Value::Int(1), Value::Int(2)),
                    (Value::Int(3), Value::Int(4)),
                ]),
            ),
            (&[0xf4], Value::Bool(false)),
            (&[0xf6], Value::Null),
        ];
        for (bytes, want) in cases {
            assert_eq!(&read_all(bytes).expect("reads"), want, "{bytes:02x?}");
            let mut back = Vec::new();
            write(want, &mut back);
            assert_eq!(&back, bytes, "written back");
        }
    }

    #[test]
    fn fail_what_webauthn_never_writes_or_what_lies_about_its_length() {
        let bad: &[&[u8]] = &[
            &[],
            &[0x5f, 0x41, 0x00, 0xff], // indefinite byte string
            &[0xc1, 0x00],             // a tag
            &[0xf9, 0x3c, 0x00],       // a half float
            &[0x45, 1, 2],             // five bytes promised, two given
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // a huge array
            &[0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // a huge map
            &[0x62, 0xff, 0xfe],       // text that is not UTF-8
            &[0xa2, 0x01, 0x02, 0x01, 0x03], // a repeated key
            &[0x1c],                   // reserved
            &[0x00, 0x00],             // trailing bytes
        ];
        for b in bad {
            assert!(read_all(b).is_err(), "{b:02x?}");
        }
        // Nesting past the limit.
        let deep = [0x81u8; 64];
        assert!(read_all(&deep).is_err());
    }
}
