use crate::{CryptoError, hex_encode};

/// `N` bytes from the operating system's random source.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A bearer token: `prefix` followed by 64 hex digits (256 random bits).
///
/// The prefix (such as `bgc_` for client keys) lets secret scanners recognise leaked tokens.
pub fn random_token(prefix: &str) -> Result<String, CryptoError> {
    let bytes = zeroize::Zeroizing::new(random_array::<32>()?);
    Ok(format!("{prefix}{}", hex_encode(&*bytes)))
}
