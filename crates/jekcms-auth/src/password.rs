//! User passwords: Argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! PHC strings for storage, and a check that costs the same whether or not the user exists.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 256;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether a new password is acceptable; the reason when not.
pub fn check_rules(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "password must be {MIN_PASSWORD_CHARS}–{MAX_PASSWORD_CHARS} characters"
        ))
    }
}

/// Hashes a password into a PHC string (salt and parameters included).
pub fn hash(password: &str) -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness is available");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters succeeds")
        .to_string()
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A real Argon2id hash at the same parameters as [`hash`] (of a password nobody has), so
/// that [`verify_nothing`] does exactly the work of a real check — from the first call on,
/// with nothing to compute at start-up.
const NOBODY: &str = "$argon2id$v=19$m=19456,t=2,p=1$XKkwCHBJO556ApbeubnC5w$kbu6D0BmnUlQjwVyXS2d/e+eDOOPYkl+T5i82nm8K7U";

/// Spends the same work as [`verify`] against a real hash, for a login whose user does not
/// exist (or has no password), so that "no such email" and "wrong password" take the same
/// time.
pub fn verify_nothing(password: &str) {
    let _ = verify(password, NOBODY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash("correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!verify("anything", "not a phc string"));
        assert_ne!(h, hash("correct horse battery staple"), "salted");
    }

    #[test]
    fn the_stand_in_hash_costs_what_a_real_one_does() {
        let real = hash("x");
        let params = |phc: &str| phc.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(NOBODY), params(&real), "same m, t, p as hash()");
        assert_eq!(NOBODY.len(), real.len(), "same salt and output lengths");
        assert!(verify("a password that nobody has, for timing", NOBODY));
    }

    #[test]
    fn length_rules() {
        assert!(check_rules(&"x".repeat(11)).is_err());
        assert!(check_rules(&"x".repeat(12)).is_ok());
        assert!(check_rules(&"é".repeat(256)).is_ok());
        assert!(check_rules(&"x".repeat(257)).is_err());
    }
}
