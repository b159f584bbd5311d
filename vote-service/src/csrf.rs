//! CSRF tokens bound to the voter: HMAC-SHA256 of the voter id under the service's secret.
//! A token taken from one voter's page is worthless with another voter's cookie.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

#[derive(Clone)]
pub struct Csrf {
    key: Vec<u8>,
}

impl Csrf {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, voter: Uuid) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(b"warren-vote:");
        mac.update(voter.as_bytes());
        mac
    }

    pub fn token(&self, voter: Uuid) -> String {
        hex::encode(self.mac(voter).finalize().into_bytes())
    }

    /// Constant-time check of `token` for `voter`.
    pub fn verify(&self, voter: Uuid, token: &str) -> bool {
        match hex::decode(token) {
            Ok(bytes) => self.mac(voter).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_voter_and_secret() {
        let csrf = Csrf::new(b"secret");
        let voter = Uuid::new_v4();
        let token = csrf.token(voter);
        assert!(csrf.verify(voter, &token));
        assert!(!csrf.verify(Uuid::new_v4(), &token));
        assert!(!Csrf::new(b"other").verify(voter, &token));
        assert!(!csrf.verify(voter, "not-hex"));
        assert!(!csrf.verify(voter, ""));
    }
}
