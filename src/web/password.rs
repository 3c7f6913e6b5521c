//! Password hashes and user names for the web inbox, apart from the sign-in code so that
//! reading `[web.users]` in the config does not depend on the server that takes the whole
//! config.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// True for names that fit a cookie, a log line and a history entry without escaping.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Checks that `hash` is an argon2 PHC string (`$argon2id$v=19$...`).
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a password hash ({e})"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!(
            "hash algorithm {} is not argon2",
            parsed.algorithm.as_str()
        ));
    }
    Ok(())
}

/// Whether `password` matches the argon2 `hash`. Slow on purpose (tens of milliseconds): call
/// it off the async threads.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashes `password` with argon2id and a fresh random salt, as `webcare user add` prints it.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| HashError("no random numbers".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(check_hash(&h).is_ok());
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(check_hash("plain").is_err());
    }
}
