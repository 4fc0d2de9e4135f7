//! One-time consent codes: what the mission hands the person at collection
//! so they can withdraw from any client. 160 random bits, shown in groups of
//! four base32 characters; only the SHA-256 of the normalised code is
//! stored, compared in constant time, and wrong guesses are rate-limited
//! per consent.

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use super::ConsentError;
use crate::pki::sha256_hex;

/// Wrong codes allowed per consent within [`WINDOW_SECS`].
pub const MAX_FAILURES: i64 = 5;
/// The window of the rate limit, in seconds.
pub const WINDOW_SECS: i64 = 15 * 60;

/// A fresh code, e.g. `K7QM-2XWA-…` (8 groups of 4).
pub fn generate() -> Result<String, ConsentError> {
    let mut bytes = [0u8; 20];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ConsentError::Random)?;
    let plain = crate::ids::base32(&bytes).to_ascii_uppercase();
    let groups: Vec<&str> = plain
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    Ok(groups.join("-"))
}

/// What is stored: the SHA-256 (hex) of the code without separators, uppercase.
pub fn digest(code: &str) -> String {
    sha256_hex(normalise(code).as_bytes())
}

fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether `code` hashes to `stored`, compared in constant time.
pub fn matches(code: &str, stored: &str) -> bool {
    let presented = digest(code);
    bool::from(presented.as_bytes().ct_eq(stored.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_random_and_match_however_typed() {
        let code = generate().unwrap();
        assert_eq!(code.len(), 32 + 7);
        assert_ne!(code, generate().unwrap());
        let stored = digest(&code);
        assert!(matches(&code, &stored));
        assert!(matches(&code.to_lowercase().replace('-', " "), &stored));
        assert!(!matches(&generate().unwrap(), &stored));
        assert!(!matches("", &stored));
    }
}
