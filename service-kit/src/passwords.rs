//! Password hashing: Argon2id with OWASP's parameters (19,456 KiB of memory, two passes, one
//! lane), stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so a hash
//! carries its own parameters and a later, stronger setting still verifies the older hashes.
//!
//! Hashing is deliberately slow (tens of milliseconds): the async versions run it on tokio's
//! blocking pool so that a sign-up or sign-in never stalls the runtime's workers. A password is
//! never logged, published or stored: only [`hash`]'s output leaves this module, and nothing
//! here puts a password into an error.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// The shortest password accepted, in characters (NIST SP 800-63B's minimum).
pub const MIN_CHARS: usize = 8;
/// The longest password accepted, in characters: a bound on the work one sign-in may ask for.
pub const MAX_CHARS: usize = 128;

/// OWASP's Argon2id recommendation: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// A password that breaks the length rule; the message is shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_CHARS} characters")]
    TooLong,
    /// Hashing itself failed (it does not with these parameters); the text names no password.
    #[error("the password could not be hashed: {0}")]
    Hashing(String),
}

/// Checks the length rule: 8 to 128 characters (not bytes: "pässwort" is eight).
pub fn check(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        Err(PasswordError::TooShort)
    } else if chars > MAX_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds, so this cannot fail.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` with a fresh random salt, once it passes [`check`].
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check(password)?;
    let mut salt = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|error| PasswordError::Hashing(error.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hashing(error.to_string()))
}

/// Whether `password` is the one `phc` was made from. A malformed `phc` verifies nothing. The
/// parameters are the stored hash's own (an Argon2id hash made with other parameters still
/// verifies), but only Argon2id hashes are accepted.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether `phc` is an Argon2id PHC string (a hash this module could have made), so that a
/// store can refuse to keep anything else in a password's place.
pub fn is_argon2id(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        parsed.algorithm == Algorithm::Argon2id.ident() && parsed.hash.is_some()
    })
}

/// Spends the time of one [`verify`] against a hash that matches nothing, for a sign-in whose
/// name is unknown: answering such a sign-in faster would tell whether the name exists.
pub fn verify_dummy(password: &str) {
    // Made once; any hash with the current parameters costs the same to check.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY
        .get_or_init(|| hash("warren-dummy-password-that-matches-nothing").unwrap_or_default());
    let _ = verify(password, phc);
}

/// [`hash`] on the blocking pool.
pub async fn hash_async(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|error| PasswordError::Hashing(error.to_string()))?
}

/// [`verify`] on the blocking pool; a panicked task verifies nothing.
pub async fn verify_async(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// [`verify_dummy`] on the blocking pool.
pub async fn verify_dummy_async(password: String) {
    let _ = tokio::task::spawn_blocking(move || verify_dummy(&password)).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use super::*;

    #[test]
    fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let phc = hash("correct horse battery").unwrap();
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("", &phc));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(!verify("correct horse battery", ""));
    }

    #[test]
    fn a_hash_is_argon2id_with_owasps_parameters_and_never_holds_the_password() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse battery"));
        // A fresh salt every time: two users with one password have different hashes.
        let again = hash("correct horse battery").unwrap();
        assert_ne!(phc, again);
        assert!(verify("correct horse battery", &again));
    }

    #[test]
    fn a_hash_of_another_algorithm_verifies_nothing() {
        let phc = hash("correct horse battery").unwrap();
        let argon2i = phc.replacen("$argon2id$", "$argon2i$", 1);
        assert!(!verify("correct horse battery", &argon2i));
        assert!(is_argon2id(&phc));
        assert!(!is_argon2id(&argon2i));
        assert!(!is_argon2id("correct horse battery"));
        assert!(!is_argon2id("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ"));
    }

    #[test]
    fn the_length_rule_refuses_short_and_overlong_passwords_by_characters() {
        assert_eq!(hash("seven77"), Err(PasswordError::TooShort));
        assert_eq!(hash(""), Err(PasswordError::TooShort));
        assert_eq!(check("eight888"), Ok(()));
        // Eight characters, more bytes.
        assert_eq!(check("pässwört"), Ok(()));
        assert_eq!(check(&"x".repeat(MAX_CHARS)), Ok(()));
        assert_eq!(
            hash(&"x".repeat(MAX_CHARS + 1)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            PasswordError::TooShort.to_string(),
            "a password needs at least 8 characters"
        );
    }

    #[test]
    fn an_unknown_name_costs_as_much_as_a_known_one() {
        let phc = hash("correct horse battery").unwrap();
        verify_dummy("warm up");
        // The fastest of several runs: other work on the machine only ever adds time.
        let time = |f: &dyn Fn()| {
            (0..7)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed()
                })
                .min()
                .unwrap()
        };
        let known = time(&|| {
            let _ = verify("wrong password", &phc);
        });
        let unknown = time(&|| verify_dummy("wrong password"));
        // Within a factor of three either way (other tests hash at the same time): the dummy
        // does real Argon2id work, where a shortcut would answer a thousand times faster.
        assert!(
            unknown * 3 > known && known * 3 > unknown,
            "known {known:?}, unknown {unknown:?}"
        );
    }

    #[tokio::test]
    async fn the_async_versions_agree() {
        let phc = hash_async("correct horse battery".to_owned())
            .await
            .unwrap();
        assert!(verify_async("correct horse battery".to_owned(), phc.clone()).await);
        assert!(!verify_async("wrong horse battery".to_owned(), phc).await);
        assert_eq!(
            hash_async("short".to_owned()).await,
            Err(PasswordError::TooShort)
        );
    }
}
