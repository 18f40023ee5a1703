//! User passwords: Argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! PHC strings for storage, and a check that costs the same whether or not the user exists.

use argon2::password_hash::{PasswordHash, SaltString};
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
    use argon2::password_hash::{Output, ParamsString};
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness is available");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes is a valid salt");
    let argon = argon2();
    let params = argon.params().clone();
    let mut out = [0u8; 32];
    with_memory(params.block_count(), |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), &bytes, &mut out, memory)
    })
    .expect("hashing with valid parameters succeeds");
    PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).expect("32 bytes is a valid output")),
    }
    .to_string()
}

std::thread_local! {
    /// Argon2's working memory (19 MiB at our parameters), kept by each thread that checks
    /// passwords: allocated once instead of on every login, so the heap does not grow with
    /// freed 19 MiB blocks that the allocator keeps for later.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        f(&mut memory[..blocks])
    })
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = vec![0u8; expected.len()];
    let computed = with_memory(blocks, |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
    });
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
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
