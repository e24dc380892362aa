/// Associated data for an AEAD operation: a domain label and a list of fields, each length
/// prefixed, so that no two different field lists share an encoding.
///
/// The label keeps keys wrapped for one use from being accepted for another (a wrapped data
/// key is never a valid template ciphertext, and the reverse).
pub struct Aad(Vec<u8>);

impl Aad {
    /// Starts associated data for the use named by `label` (for example `bioguard/template/v1`).
    pub fn new(label: &str) -> Self {
        let mut a = Self(Vec::with_capacity(128));
        a.push_field(label.as_bytes());
        a
    }

    /// Appends one field.
    pub fn field(mut self, value: &[u8]) -> Self {
        self.push_field(value);
        self
    }

    fn push_field(&mut self, value: &[u8]) {
        // A u32 length prefix: fields are identifiers and counters, far below 4 GiB.
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(value);
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = Aad::new("t").field(b"ab").field(b"c");
        let b = Aad::new("t").field(b"a").field(b"bc");
        assert_ne!(a.as_bytes(), b.as_bytes());
    }
}
