//! PostgreSQL's least privilege, stated once: every service that uses PostgreSQL logs in as a
//! role of its own (its name with `_`, e.g. `tally_worker`), none of them superuser; each
//! database is owned by its owner's role, which creates the tables through its migrations; a
//! reader may connect to the database it reads and `SELECT` exactly the tables it reads; nobody
//! else may connect at all. The administrator ([`crate::POSTGRES_USER`]) is for the infrastructure
//! scripts and the tests' scaffolding only.
//!
//! Everything here renders SQL text: [`setup_script`] is the psql script that scripts/up and the
//! throwaway test infrastructure run as the administrator and that docker-compose's PostgreSQL
//! runs at its first start (xtask writes it out); [`database_setup`] is the same for one
//! database, which the tests run for each fresh database; [`reader_grants`] is what an owner
//! runs after its migrations, when the tables exist. The names in it are Warren's own
//! identifiers, never input.

use std::fmt::Write;

use crate::{Access, DATABASES, Database, SERVICES, Secret, Service};

/// The attributes of every service's role: it can log in and do nothing beyond its grants.
const ROLE_ATTRIBUTES: &str =
    "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS";

/// The advisory lock an owner holds while it grants its readers, so that two instances starting
/// at once do not update one table's privileges together (PostgreSQL refuses that with "tuple
/// concurrently updated").
pub const GRANTS_LOCK: i64 = 0x5741_5252_454e_4701;

impl Service {
    /// The PostgreSQL role this service logs in as, if it uses PostgreSQL.
    pub fn postgres_role(&self) -> Option<String> {
        (!self.postgres.is_empty()).then(|| role_of(self.name))
    }

    /// The variable holding the password of this service's PostgreSQL role, e.g.
    /// `TALLY_WORKER_POSTGRES_PASSWORD`.
    pub fn postgres_password_variable(&self) -> Option<String> {
        (!self.postgres.is_empty()).then(|| self.secret_variable("POSTGRES_PASSWORD"))
    }
}

/// The role of the service named `service`.
fn role_of(service: &str) -> String {
    service.replace('-', "_")
}

/// The role that owns `database`: its owner's.
pub fn owner_role(database: &Database) -> String {
    role_of(database.owner)
}

/// Every service with a PostgreSQL role, in the manifest's order.
pub fn services_with_roles() -> impl Iterator<Item = &'static Service> {
    SERVICES
        .iter()
        .filter(|service| !service.postgres.is_empty())
}

/// The password of every service's role.
pub fn role_secrets() -> Vec<Secret> {
    services_with_roles()
        .filter_map(|service| {
            Some(Secret {
                variable: service.postgres_password_variable()?,
                purpose: format!("PostgreSQL's role {}", service.postgres_role()?),
            })
        })
        .collect()
}

/// The services that read `database` without owning it, each with the tables it reads.
pub fn readers(database: &Database) -> Vec<(&'static Service, &'static [&'static str])> {
    SERVICES
        .iter()
        .filter_map(|service| match service.postgres_use(database)?.access {
            Access::Reads(tables) => Some((service, tables)),
            Access::Owner => None,
        })
        .collect()
}

/// Whether `name` is a plain lower-case SQL identifier, safe to write into a statement as is.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// How one database is made: `create` on a server that lacks it, then `on_server` (from any
/// database) and `inside` (connected to it), each idempotent, so that running them on an
/// existing database (one an earlier Warren made, owned by the administrator) brings it to the
/// same state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSetup {
    pub create: String,
    pub on_server: Vec<String>,
    pub inside: Vec<String>,
}

/// The setup of a database called `name` standing for the manifest's `database` (`name` is the
/// manifest's own name, or a test's fresh database).
///
/// # Panics
/// If `name` is not a plain identifier.
pub fn database_setup(database: &Database, name: &str) -> DatabaseSetup {
    assert!(
        is_plain_identifier(name),
        "{name:?} is not a plain SQL identifier"
    );
    let owner = owner_role(database);
    let readers: Vec<String> = readers(database)
        .into_iter()
        .map(|(service, _)| role_of(service.name))
        .collect();
    let mut on_server = vec![
        format!("ALTER DATABASE {name} OWNER TO {owner}"),
        format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC"),
    ];
    let mut inside = vec![
        // Before PostgreSQL 15 the administrator owns `public` and everybody may create in it.
        format!("ALTER SCHEMA public OWNER TO {owner}"),
        "REVOKE ALL ON SCHEMA public FROM PUBLIC".to_owned(),
    ];
    for reader in &readers {
        on_server.push(format!("GRANT CONNECT ON DATABASE {name} TO {reader}"));
        inside.push(format!("GRANT USAGE ON SCHEMA public TO {reader}"));
    }
    // The tables an earlier Warren's services created as the administrator become the owner's.
    inside.push(format!(
        "DO $$\n\
         DECLARE relation regclass;\n\
         BEGIN\n\
         \x20 FOR relation IN\n\
         \x20   SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n\
         \x20   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')\n\
         \x20     AND c.relowner <> '{owner}'::regrole\n\
         \x20 LOOP\n\
         \x20   EXECUTE format('ALTER TABLE %s OWNER TO {owner}', relation);\n\
         \x20 END LOOP;\n\
         END $$"
    ));
    DatabaseSetup {
        create: format!("CREATE DATABASE {name} OWNER {owner}"),
        on_server,
        inside,
    }
}

/// What the owner of a database grants one reader once its migrations have made the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderGrant {
    pub role: String,
    /// Run in one transaction after taking [`GRANTS_LOCK`]: every privilege on every table and
    /// sequence revoked, then `SELECT` on the tables the reader reads, so that it ends with
    /// exactly those whatever it had before.
    pub statements: Vec<String>,
}

/// The grants the owner of `database` gives each of its readers.
pub fn reader_grants(database: &Database) -> Vec<ReaderGrant> {
    readers(database)
        .into_iter()
        .map(|(service, tables)| {
            let role = role_of(service.name);
            ReaderGrant {
                statements: vec![
                    format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"),
                    format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}"),
                    format!("GRANT SELECT ON {} TO {role}", tables.join(", ")),
                ],
                role,
            }
        })
        .collect()
}

/// The psql script that makes every role and database, run as the administrator (with
/// `ON_ERROR_STOP`): each role's password comes from its variable in psql's environment
/// (`\getenv`, psql 15 and later), never from an argument; a role or database that exists is
/// brought to the stated attributes, owner and privileges, so the script may run at every start.
pub fn setup_script() -> String {
    let mut out = String::from("\\set ON_ERROR_STOP on\n\n-- One login role per service.\n");
    for service in services_with_roles() {
        let role = role_of(service.name);
        let variable = service.secret_variable("POSTGRES_PASSWORD");
        let _ = write!(
            out,
            "\\unset password\n\
             \\getenv password {variable}\n\
             \\if :{{?password}}\n\
             \\else\n\
             DO $$ BEGIN RAISE EXCEPTION '{variable} is not set: it is the password of the PostgreSQL role {role}'; END $$;\n\
             \\endif\n\
             SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') AS missing \\gset\n\
             \\if :missing\n\
             CREATE ROLE {role};\n\
             \\endif\n\
             ALTER ROLE {role} WITH {ROLE_ATTRIBUTES} PASSWORD :'password';\n\n"
        );
    }
    out.push_str("\\unset password\n");
    // The server's own databases are the administrator's: no service role may connect to them.
    out.push_str(
        "\n-- The server's own databases: the administrator's alone.\n\
         REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;\n\
         REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;\n",
    );
    for database in DATABASES {
        let setup = database_setup(database, database.name);
        let name = database.name;
        let _ = write!(
            out,
            "\n-- {name}, owned by {}.\n\
             SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}') AS missing \\gset\n\
             \\if :missing\n\
             {};\n\
             \\endif\n",
            database.owner, setup.create
        );
        for statement in &setup.on_server {
            let _ = writeln!(out, "{statement};");
        }
        let _ = writeln!(out, "\\connect {name}");
        for statement in &setup.inside {
            let _ = writeln!(out, "{statement};");
        }
    }
    let _ = writeln!(out, "\\connect postgres");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ACCOUNTS_DB, LOCKER_APP, LOCKER_SERVICE, POSTGRES_USER, TALLY_WORKER, USERS_DB,
        VOTE_SERVICE, VOTES_DB,
    };

    #[test]
    fn every_postgres_user_has_a_plain_role_of_its_own() {
        let roles: Vec<String> = services_with_roles()
            .filter_map(Service::postgres_role)
            .collect();
        assert_eq!(
            roles,
            [
                "tally_worker",
                "user_service",
                "vote_service",
                "locker_app",
                "record_service"
            ]
        );
        assert!(roles.iter().all(|role| is_plain_identifier(role)));
        assert!(!roles.contains(&POSTGRES_USER.to_owned()));
        assert_eq!(LOCKER_SERVICE.postgres_role(), None);
        assert_eq!(
            TALLY_WORKER.postgres_password_variable().as_deref(),
            Some("TALLY_WORKER_POSTGRES_PASSWORD")
        );
    }

    #[test]
    fn readers_are_granted_exactly_the_tables_they_read() {
        let grants = reader_grants(&USERS_DB);
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].role, "locker_app");
        assert_eq!(
            grants[0].statements.last().map(String::as_str),
            Some("GRANT SELECT ON users, requests TO locker_app")
        );
        assert_eq!(grants[1].role, "record_service");
        assert_eq!(
            grants[1].statements.last().map(String::as_str),
            Some("GRANT SELECT ON users TO record_service")
        );
        assert_eq!(
            reader_grants(&ACCOUNTS_DB)[0]
                .statements
                .last()
                .map(String::as_str),
            Some("GRANT SELECT ON sessions, api_tokens TO record_service")
        );
        assert_eq!(
            reader_grants(&VOTES_DB)[0]
                .statements
                .last()
                .map(String::as_str),
            Some("GRANT SELECT ON votes TO vote_service")
        );
        assert_eq!(
            VOTE_SERVICE.postgres_role().as_deref(),
            Some("vote_service")
        );
        assert_eq!(LOCKER_APP.postgres_role().as_deref(), Some("locker_app"));
    }

    #[test]
    fn a_database_is_closed_to_all_but_its_owner_and_readers() {
        let setup = database_setup(&VOTES_DB, "test_0123");
        assert_eq!(setup.create, "CREATE DATABASE test_0123 OWNER tally_worker");
        assert!(
            setup
                .on_server
                .contains(&"REVOKE ALL ON DATABASE test_0123 FROM PUBLIC".to_owned())
        );
        let connects: Vec<_> = setup
            .on_server
            .iter()
            .filter(|s| s.starts_with("GRANT CONNECT"))
            .collect();
        assert_eq!(
            connects,
            ["GRANT CONNECT ON DATABASE test_0123 TO vote_service"]
        );
        assert!(
            setup
                .inside
                .contains(&"REVOKE ALL ON SCHEMA public FROM PUBLIC".to_owned())
        );
    }

    #[test]
    #[should_panic(expected = "not a plain SQL identifier")]
    fn a_database_name_must_be_a_plain_identifier() {
        database_setup(&VOTES_DB, "x; DROP DATABASE y");
    }

    #[test]
    fn the_script_takes_every_password_from_the_environment() {
        let script = setup_script();
        for service in services_with_roles() {
            let variable = service.postgres_password_variable().unwrap_or_default();
            assert!(script.contains(&format!("\\getenv password {variable}\n")));
        }
        assert_eq!(script.matches("\\unset password\n").count(), 6);
        assert!(!script.contains("SUPERUSER LOGIN"));
        assert_eq!(
            script.matches(" NOSUPERUSER ").count(),
            services_with_roles().count()
        );
    }
}
