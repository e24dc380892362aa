//! How a purpose turns an embedding into a protected code under one protection key: which
//! keyed transform, and the population mean (the *centre*) subtracted before it.
//!
//! A matcher belongs to a protection key version, not to the purpose: codes made under one
//! version are compared only with codes of the same version, so changing the transform or the
//! centre always comes with a new key (see `docs/adr/0024-centred-protection-and-code-size.md`).
//!
//! The centre is the mean of many people's embeddings: a property of the population and the
//! model, not of a person. It is not secret. A mean over very few people would come close to
//! those people's embeddings, so a centre must say how many subjects it was computed from, and
//! fewer than [`MIN_CENTRE_SUBJECTS`] are refused.

use crate::{Dimension, ValidationError};

/// The fewest distinct subjects a centre may be computed from.
pub const MIN_CENTRE_SUBJECTS: u64 = 20;

/// The keyed transform from an embedding to signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// The signs of a secret Gaussian matrix times the embedding (purposes made before
    /// issue 20; kept so that their codes keep matching).
    GaussianSign,
    /// The signs of structured orthogonal blocks: per block, three rounds of key-drawn sign
    /// flips and a Walsh-Hadamard transform. No matrix: the key's signs are the whole state.
    HadamardSign,
}

impl Transform {
    /// The transform new protection keys get.
    pub const DEFAULT: Transform = Transform::HadamardSign;

    /// The stored and published name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::GaussianSign => "gaussian-sign",
            Transform::HadamardSign => "hadamard-sign",
        }
    }

    /// Reads a stored or published name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "gaussian-sign" => Ok(Transform::GaussianSign),
            "hadamard-sign" => Ok(Transform::HadamardSign),
            _ => Err(ValidationError::new(
                "transform",
                "one of: gaussian-sign, hadamard-sign",
            )),
        }
    }
}

/// A population mean, subtracted from every embedding before the transform.
#[derive(Debug, Clone, PartialEq)]
pub struct Centre {
    values: Vec<f32>,
    subjects: u64,
}

impl Centre {
    /// Checks a centre for embeddings of `dimension`: that many finite values, computed from
    /// at least [`MIN_CENTRE_SUBJECTS`] subjects.
    pub fn new(
        values: Vec<f32>,
        subjects: u64,
        dimension: Dimension,
    ) -> Result<Self, ValidationError> {
        if values.len() != dimension.get() {
            return Err(ValidationError::new(
                "calibration.centre.values",
                format!(
                    "the purpose's embeddings have {} values; the centre has {}",
                    dimension.get(),
                    values.len()
                ),
            ));
        }
        if !values.iter().all(|v| v.is_finite()) {
            return Err(ValidationError::new(
                "calibration.centre.values",
                "finite numbers",
            ));
        }
        if subjects < MIN_CENTRE_SUBJECTS {
            return Err(ValidationError::new(
                "calibration.centre.subjects",
                format!(
                    "a centre must be the mean of at least {MIN_CENTRE_SUBJECTS} subjects \
                     (a mean of few people comes close to their own embeddings)"
                ),
            ));
        }
        Ok(Self { values, subjects })
    }

    /// The values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// How many subjects the mean was computed from.
    pub fn subjects(&self) -> u64 {
        self.subjects
    }

    /// The stored form: the subject count (8 bytes) then the values, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.values.len());
        out.extend_from_slice(&self.subjects.to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads the stored form. `None` if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (count, rest) = bytes.split_first_chunk::<8>()?;
        if rest.is_empty() || !rest.len().is_multiple_of(4) {
            return None;
        }
        let values: Vec<f32> = rest
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let dimension = Dimension::new(values.len() as u64).ok()?;
        Self::new(values, u64::from_le_bytes(*count), dimension).ok()
    }

    /// Reads the `centre` of a calibration record (`{"subjects": n, "values": [...]}`), if
    /// the record has one.
    pub fn from_calibration(
        record: &serde_json::Value,
        dimension: Dimension,
    ) -> Result<Option<Self>, ValidationError> {
        let Some(c) = record.get("centre") else {
            return Ok(None);
        };
        let bad = |what: &str| ValidationError::new("calibration.centre", what.to_owned());
        let subjects = c
            .get("subjects")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("`subjects`: how many subjects the mean was computed from"))?;
        let values = c
            .get("values")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| bad("`values`: the mean, one number per embedding value"))?
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad("`values`: numbers only"))?;
        Self::new(values, subjects, dimension).map(Some)
    }
}

/// A protection key's matcher: the transform, and the centre if the purpose's calibration
/// gave one.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// The keyed transform.
    pub transform: Transform,
    /// The mean subtracted before it.
    pub centre: Option<Centre>,
}

impl Matcher {
    /// The matcher of keys stored before matchers were recorded.
    pub const LEGACY: Matcher = Matcher {
        transform: Transform::GaussianSign,
        centre: None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(n: u64) -> Dimension {
        Dimension::new(n).expect("valid")
    }

    #[test]
    fn transforms_read_back_their_names() {
        for t in [Transform::GaussianSign, Transform::HadamardSign] {
            assert_eq!(Transform::parse(t.as_str()).expect("valid"), t);
        }
        assert!(Transform::parse("gaussian").is_err());
    }

    #[test]
    fn a_centre_needs_enough_subjects_the_right_length_and_finite_values() {
        assert!(Centre::new(vec![0.1; 4], 20, dim(4)).is_ok());
        let few = Centre::new(vec![0.1; 4], 19, dim(4)).expect_err("invalid");
        assert_eq!(few.field(), "calibration.centre.subjects");
        assert!(Centre::new(vec![0.1; 3], 20, dim(4)).is_err());
        assert!(Centre::new(vec![0.1, f32::NAN, 0.0, 0.0], 20, dim(4)).is_err());
    }

    #[test]
    fn a_centre_round_trips_through_its_stored_form() {
        let c = Centre::new(vec![0.25, -1.5, 3.0], 42, dim(3)).expect("valid");
        assert_eq!(Centre::from_bytes(&c.to_bytes()).expect("valid"), c);
        assert!(Centre::from_bytes(&c.to_bytes()[..9]).is_none());
        assert!(Centre::from_bytes(&[0; 8]).is_none());
    }

    #[test]
    fn a_calibration_record_may_carry_a_centre() {
        let none = serde_json::json!({"threshold": 0.5});
        assert_eq!(
            Centre::from_calibration(&none, dim(2)).expect("valid"),
            None
        );
        let one = serde_json::json!({"centre": {"subjects": 21, "values": [0.5, 0.25]}});
        let c = Centre::from_calibration(&one, dim(2))
            .expect("valid")
            .expect("valid");
        assert_eq!((c.values(), c.subjects()), (&[0.5f32, 0.25][..], 21));
        let text = serde_json::json!({"centre": {"subjects": 21, "values": ["a", 1]}});
        assert!(Centre::from_calibration(&text, dim(2)).is_err());
        let missing = serde_json::json!({"centre": {"values": [0.5, 0.25]}});
        assert!(Centre::from_calibration(&missing, dim(2)).is_err());
    }
}
