//! Console password hashing: PBKDF2-HMAC-SHA256 (RFC 8018), 16-byte salt.

use vigil_config::PasswordHash;

/// Iterations for new hashes: slow enough to make guessing a stolen blob
/// expensive, fast enough to log in on a small CPU (~0.1 s).
pub const ITERATIONS: u32 = 20_000;

pub fn hash(password: &str, salt: [u8; 16], iterations: u32) -> PasswordHash {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, iterations, &mut out);
    PasswordHash { iterations, salt, hash: out }
}

/// Constant-time comparison of the derived key.
pub fn verify(password: &str, h: &PasswordHash) -> bool {
    let candidate = hash(password, h.salt, h.iterations);
    candidate.hash.iter().zip(h.hash.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7914_pbkdf2_sha256_vector() {
        // RFC 7914 section 11: P="passwd", S="salt", c=1, dkLen=64 (first 32 bytes here).
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"passwd", b"salt", 1, &mut out);
        assert_eq!(out[..8], [0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f]);
    }

    #[test]
    fn verify_accepts_only_the_password() {
        let h = hash("s3cret", [7; 16], 1000);
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cret ", &h));
        assert!(!verify("", &h));
    }
}
