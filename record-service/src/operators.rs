//! Who may delete records: an operator of locker-app's accounts, and nobody else. Recording
//! stays open to anyone.
//!
//! record-service issues no credentials: it reads the ones locker-app issues
//! (`warren_store_accounts`, read-only). A browser is known by locker-app's session cookie
//! ([`SESSION_COOKIE`], which reaches this service when both run on one host), a program by an
//! API token (`Authorization: Bearer warren_…`); either names an account, whose role is read
//! from user-service's users read model at every request, so a promotion, a revoked token, an
//! ended session or a deleted user counts at once. This service does not push a session's idle
//! deadline on: only locker-app writes sessions, so a session kept alive here alone ends.

use deadpool_postgres::Pool;
pub use warren_store_accounts::{Identity, SESSION_COOKIE};

/// The credentials a request carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The secret of locker-app's session cookie.
    pub session: Option<&'a str>,
    /// The API token of `Authorization: Bearer`.
    pub bearer: Option<&'a str>,
}

/// Why a request may not delete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No live session or token: sign in (401).
    #[error("deleting a record needs an operator: sign in at locker-app as an operator")]
    NotSignedIn,
    /// Signed in, but not as an operator (403).
    #[error("{0} is signed in as a member; only an operator may delete records")]
    NotOperator(String),
    /// Who is asking cannot be known now (the accounts or users database is unreachable):
    /// nothing is done (503).
    #[error(
        "who is signed in cannot be checked right now, so nothing was deleted; please try again"
    )]
    Unavailable,
}

/// The accounts and users databases, read to know who is asking.
pub struct Operators {
    accounts: Pool,
    users: Pool,
}

impl Operators {
    pub fn new(accounts: Pool, users: Pool) -> Self {
        Self { accounts, users }
    }

    /// Who `credentials` name, if anyone. A token, when there is one, decides alone: a bad token
    /// beside a good cookie is nobody, so that a program never acts as whoever uses its browser.
    pub async fn identify(&self, credentials: Credentials<'_>) -> anyhow::Result<Option<Identity>> {
        if let Some(bearer) = credentials.bearer {
            return warren_store_accounts::identify_token(&self.accounts, &self.users, bearer)
                .await;
        }
        let Some(secret) = credentials.session else {
            return Ok(None);
        };
        Ok(
            warren_store_accounts::identify_session(&self.accounts, &self.users, secret)
                .await?
                .map(|(_, identity)| identity),
        )
    }

    /// The operator `credentials` name, or why there is none.
    pub async fn operator(&self, credentials: Credentials<'_>) -> Result<Identity, Denied> {
        let identity = self.identify(credentials).await.map_err(|error| {
            tracing::warn!(error = %format!("{error:#}"), "cannot check who is asking");
            Denied::Unavailable
        })?;
        permit(identity)
    }
}

/// Whether `identity` may delete records: an operator may, a member may not, nobody must sign in.
pub fn permit(identity: Option<Identity>) -> Result<Identity, Denied> {
    match identity {
        None => Err(Denied::NotSignedIn),
        Some(identity) if identity.is_operator() => Ok(identity),
        Some(identity) => Err(Denied::NotOperator(identity.name)),
    }
}

#[cfg(test)]
mod tests {
    use warren_store_accounts::Role;

    use super::*;

    fn identity(name: &str, role: Role) -> Identity {
        Identity {
            name: name.into(),
            role,
            session: None,
            token: None,
        }
    }

    #[test]
    fn only_an_operator_may_delete() {
        assert_eq!(permit(None), Err(Denied::NotSignedIn));
        assert_eq!(
            permit(Some(identity("ada", Role::Member))),
            Err(Denied::NotOperator("ada".into()))
        );
        let operator = identity("grace", Role::Operator);
        assert_eq!(permit(Some(operator.clone())), Ok(operator));
    }
}
