//! What locker-app and record-service read about accounts: a user's password hash, role,
//! locker and deletion state, by name.

use deadpool_postgres::Pool;

/// What an account may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Acts on their own account only.
    #[default]
    Member,
    /// Adds and retires lockers, sees every user and locker, acts on any user, promotes members.
    Operator,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Member, Role::Operator];

    /// The role as the `users.role` column stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Operator => "operator",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "member" => Ok(Self::Member),
            "operator" => Ok(Self::Operator),
            other => Err(format!("no role is stored as {other:?}")),
        }
    }
}

/// A user's row as sign-in and permission checks need it.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// The Argon2id PHC string; None for a user from before accounts, who cannot sign in.
    pub password_hash: Option<String>,
    pub role: Role,
    pub locker: Option<String>,
    /// Deletion was asked; it waits for the release of the user's locker.
    pub deleting: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("role", &self.role)
            .field("locker", &self.locker)
            .field("deleting", &self.deleting)
            .finish()
    }
}

/// The account called `name`, if there is one. Takes the pool, as the crate's other reads do.
pub async fn account(pool: &Pool, name: &str) -> anyhow::Result<Option<Account>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT name, password_hash, role, locker, deleting FROM users WHERE name = $1",
            &[&name],
        )
        .await?;
    row.map(|row| {
        Ok(Account {
            name: row.get(0),
            password_hash: row.get(1),
            role: Role::parse(row.get(2)).map_err(anyhow::Error::msg)?,
            locker: row.get(3),
            deleting: row.get(4),
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_stored_as_text_and_debug_hides_the_hash() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(*role));
        }
        assert!(Role::parse("admin").is_err());
        let account = Account {
            name: "ada".into(),
            password_hash: Some("$argon2id$v=19$secret".into()),
            role: Role::Operator,
            locker: None,
            deleting: false,
        };
        let debug = format!("{account:?}");
        assert!(
            !debug.contains("argon2id") && debug.contains("[redacted]"),
            "{debug}"
        );
    }
}
