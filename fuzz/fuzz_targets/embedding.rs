//! Embeddings as they arrive in request bodies (JSON numbers, so any f32 including NaN and
//! infinities once parsed), checked and then protected with the sign projection.
#![no_main]

use bioguard_core::{CodeBits, Dimension, Embedding};
use bioguard_engine::SignProjection;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let Ok(d) = Dimension::new(values.len() as u64) else {
        return;
    };
    if let Ok(e) = Embedding::parse(values, d) {
        let p = SignProjection::new(&[7; 32], CodeBits::DEFAULT, d.get());
        let code = p.protect(&e).expect("an accepted embedding of the right dimension protects");
        assert_eq!(code.words().len() * 64, CodeBits::DEFAULT.bits());
    }
});
