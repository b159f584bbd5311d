//! Warren's system facts, stated once: which services exist, the port each listens on, the
//! databases and who owns or reads which tables, the secrets, and the `WARREN_*` environment each
//! binary is started with.
//!
//! The broker's half of the facts (exchanges, queues, broker users and their permissions) is
//! `warren_messages::topology`; every service here has the broker user of the same name there
//! (a test in xtask holds the two together). `cargo xtask generate` renders from both what the
//! scripts, docker-compose.yml and `rabbitmq/definitions.json` need, and a test fails when a
//! generated file is stale, so nothing outside Rust repeats a list of services.
//!
//! This crate is data and nothing else: no I/O, no dependencies.

pub mod environment;
pub mod postgres;

pub use environment::{Value, Variable};

/// A PostgreSQL database and the service whose migrations own its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Database {
    pub name: &'static str,
    /// The only service that writes it (through its migrations and projections).
    pub owner: &'static str,
    /// Every table its owner's migrations create, `applied_messages` (the exactly-once claims)
    /// included.
    pub tables: &'static [&'static str],
}

pub const VOTES_DB: Database = Database {
    name: "warren_votes",
    owner: "tally-worker",
    tables: &["applied_messages", "votes"],
};
pub const USERS_DB: Database = Database {
    name: "warren_users",
    owner: "user-service",
    tables: &[
        "applied_messages",
        "users",
        "requests",
        "outbox",
        "outbox_dead",
    ],
};
pub const RECORDS_DB: Database = Database {
    name: "warren_records",
    owner: "record-service",
    tables: &["applied_messages", "records", "deleted_records"],
};
/// Who is signed in: the sessions and API tokens that locker-app issues (and record-service
/// checks), and the recent failed sign-ins that slow down guessing. Not a read model of events:
/// it is the frontends' own state, written by locker-app alone.
pub const ACCOUNTS_DB: Database = Database {
    name: "warren_accounts",
    owner: "locker-app",
    tables: &[
        "sessions",
        "api_tokens",
        "sign_in_failures",
        "idempotency_keys",
    ],
};

/// PostgreSQL's administrator: the infrastructure scripts and the tests' scaffolding make the
/// services' roles and databases as it (`postgres::setup_script`); no service logs in as it.
pub const POSTGRES_USER: &str = "warren";
/// The variable holding [`POSTGRES_USER`]'s password.
pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";

/// Every PostgreSQL database, in the order they are created.
pub const DATABASES: &[Database] = &[VOTES_DB, USERS_DB, RECORDS_DB, ACCOUNTS_DB];

/// The MongoDB database of the lockers read model and its collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MongoDatabase {
    pub name: &'static str,
    pub owner: &'static str,
    pub collections: &'static [&'static str],
}

pub const LOCKERS_DB: MongoDatabase = MongoDatabase {
    name: "warren_lockers",
    owner: "locker-service",
    collections: &["lockers", "requests", "claims", "applied_messages"],
};

/// The MongoDB administrator (role `root`): it creates the service users below, and the tests'
/// databases and users. No service logs in as it.
pub const MONGO_ADMIN: &str = "warren-admin";
/// The variable holding [`MONGO_ADMIN`]'s password.
pub const MONGO_ADMIN_PASSWORD: &str = "MONGO_ADMIN_PASSWORD";

/// A MongoDB built-in role, bound to one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MongoRole {
    /// Reads and writes every collection of the database, and creates its indexes.
    ReadWrite,
    /// Reads every collection of the database and writes nothing.
    Read,
}

impl MongoRole {
    /// The role's name as MongoDB spells it.
    pub fn name(self) -> &'static str {
        match self {
            MongoRole::ReadWrite => "readWrite",
            MongoRole::Read => "read",
        }
    }
}

/// The MongoDB user a service logs in as: named after the service, defined in (and
/// authenticated against) the database it uses, with one role on that database alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoUser {
    pub name: &'static str,
    pub database: &'static str,
    pub role: MongoRole,
    /// The variable holding its password.
    pub password_variable: String,
}

/// Every service's MongoDB user: the owner of a database writes it, a reader only reads it.
pub fn mongo_users() -> Vec<MongoUser> {
    SERVICES.iter().filter_map(Service::mongo_user).collect()
}

/// How a service may use a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Owns the schema: creates it through migrations, writes it.
    Owner,
    /// Reads exactly these tables (or collections) and writes nothing.
    Reads(&'static [&'static str]),
}

/// The settings section through which a service connects to one of its PostgreSQL databases,
/// with the variables that set it (a unit test holds them to `WARREN_<SECTION>__<KEY>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresSection {
    pub name: &'static str,
    pub url_variable: &'static str,
    pub password_variable: &'static str,
}

impl PostgresSection {
    /// `[postgres]`: the database a service owns, or the one it reads.
    pub const POSTGRES: Self = Self {
        name: "postgres",
        url_variable: "WARREN_POSTGRES__URL",
        password_variable: "WARREN_POSTGRES__PASSWORD",
    };
    /// `[users]`: user-service's users, read by a service that owns another database.
    pub const USERS: Self = Self {
        name: "users",
        url_variable: "WARREN_USERS__URL",
        password_variable: "WARREN_USERS__PASSWORD",
    };
    /// `[accounts]`: the sessions and API tokens.
    pub const ACCOUNTS: Self = Self {
        name: "accounts",
        url_variable: "WARREN_ACCOUNTS__URL",
        password_variable: "WARREN_ACCOUNTS__PASSWORD",
    };
}

/// One PostgreSQL database a service uses, and the settings section that configures the
/// connection. A service logs in to each of its databases as its one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresUse {
    pub database: Database,
    pub access: Access,
    pub section: PostgresSection,
}

impl PostgresUse {
    /// The database's owner, through `section`.
    pub const fn owner(database: Database, section: PostgresSection) -> Self {
        Self {
            database,
            access: Access::Owner,
            section,
        }
    }

    /// A reader of `tables`, through `section`.
    pub const fn reader(
        database: Database,
        tables: &'static [&'static str],
        section: PostgresSection,
    ) -> Self {
        Self {
            database,
            access: Access::Reads(tables),
            section,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MongoUse {
    pub database: MongoDatabase,
    pub access: Access,
}

/// What a service is to its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Consumes events and serves only its operational endpoints.
    Worker,
    /// Serves web forms to people, signed with a CSRF secret, at these host names behind the
    /// reverse proxy (docker-compose's Traefik).
    Frontend { hosts: &'static [Host] },
}

/// A host name a frontend is reached at behind the reverse proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub name: &'static str,
    /// The frontend's path that the host's `/` shows (`/results` for results.localhost).
    pub root: &'static str,
}

impl Host {
    /// A host whose `/` is the frontend's `/`.
    pub const fn at_root(name: &'static str) -> Host {
        Host { name, root: "/" }
    }
}

/// The path at which every service answers, on its admin port, whether it is ready
/// (healthchecks ask it).
pub const READINESS_PATH: &str = "/readyz";

/// One Warren binary: its name is its package, its binary, its broker user and its log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    /// The HTTP port it listens on in a local run (scripts/up) and in its container: its own
    /// routes, what the reverse proxy reaches.
    pub port: u16,
    /// Its admin listener's port (`/healthz`, `/readyz`, `/metrics`) in a local run and in its
    /// container: on loopback locally, open to Compose's Prometheus in a container; never
    /// published nor routed to.
    pub admin_port: u16,
    pub role: Role,
    /// The PostgreSQL databases it uses (at most one per database), each through its own
    /// settings section.
    pub postgres: &'static [PostgresUse],
    pub mongo: Option<MongoUse>,
}

pub const TALLY_WORKER: Service = Service {
    name: "tally-worker",
    port: 8081,
    admin_port: 9081,
    role: Role::Worker,
    postgres: &[PostgresUse::owner(VOTES_DB, PostgresSection::POSTGRES)],
    mongo: None,
};
pub const USER_SERVICE: Service = Service {
    name: "user-service",
    port: 8082,
    admin_port: 9082,
    role: Role::Worker,
    postgres: &[PostgresUse::owner(USERS_DB, PostgresSection::POSTGRES)],
    mongo: None,
};
pub const RECORD_SERVICE: Service = Service {
    name: "record-service",
    port: 8085,
    admin_port: 9085,
    role: Role::Frontend {
        hosts: &[Host::at_root("records.localhost")],
    },
    // Its own records, and who is asking: deleting a record needs an operator, signed in
    // through locker-app's sessions or an API token.
    postgres: &[
        PostgresUse::owner(RECORDS_DB, PostgresSection::POSTGRES),
        PostgresUse::reader(USERS_DB, &["users"], PostgresSection::USERS),
        PostgresUse::reader(
            ACCOUNTS_DB,
            &["sessions", "api_tokens"],
            PostgresSection::ACCOUNTS,
        ),
    ],
    mongo: None,
};
pub const LOCKER_SERVICE: Service = Service {
    name: "locker-service",
    port: 8083,
    admin_port: 9083,
    role: Role::Worker,
    postgres: &[],
    mongo: Some(MongoUse {
        database: LOCKERS_DB,
        access: Access::Owner,
    }),
};
pub const VOTE_SERVICE: Service = Service {
    name: "vote-service",
    port: 8080,
    admin_port: 9080,
    role: Role::Frontend {
        hosts: &[
            Host::at_root("vote.localhost"),
            Host {
                name: "results.localhost",
                root: "/results",
            },
        ],
    },
    postgres: &[PostgresUse::reader(
        VOTES_DB,
        &["votes"],
        PostgresSection::POSTGRES,
    )],
    mongo: None,
};
pub const LOCKER_APP: Service = Service {
    name: "locker-app",
    port: 8084,
    admin_port: 9084,
    role: Role::Frontend {
        hosts: &[Host::at_root("lockers.localhost")],
    },
    postgres: &[
        PostgresUse::reader(USERS_DB, &["users", "requests"], PostgresSection::POSTGRES),
        PostgresUse::owner(ACCOUNTS_DB, PostgresSection::ACCOUNTS),
    ],
    mongo: Some(MongoUse {
        database: LOCKERS_DB,
        access: Access::Reads(&["lockers", "requests"]),
    }),
};

/// Every service, in the order scripts/up starts them: writers before the readers of their stores.
pub const SERVICES: &[Service] = &[
    TALLY_WORKER,
    USER_SERVICE,
    LOCKER_SERVICE,
    VOTE_SERVICE,
    LOCKER_APP,
    RECORD_SERVICE,
];

/// The broker's administrator (the management console's login), besides the service users.
pub const BROKER_ADMIN: &str = "warren-admin";
/// The variable holding the broker administrator's password.
pub const BROKER_ADMIN_PASSWORD: &str = "WARREN_ADMIN_PASSWORD";

impl Service {
    /// How this service uses `database`, if it does.
    pub fn postgres_use(&self, database: &Database) -> Option<&'static PostgresUse> {
        self.postgres.iter().find(|p| p.database == *database)
    }

    /// The service of this name.
    pub fn named(name: &str) -> Option<&'static Service> {
        SERVICES.iter().find(|service| service.name == name)
    }

    /// The variable that holds a secret of this service, e.g. `VOTE_SERVICE_CSRF_SECRET`.
    pub fn secret_variable(&self, what: &str) -> String {
        format!("{}_{what}", self.name.to_uppercase().replace('-', "_"))
    }

    /// The variable holding this service's broker password, e.g. `TALLY_WORKER_BROKER_PASSWORD`.
    pub fn broker_password_variable(&self) -> String {
        self.secret_variable("BROKER_PASSWORD")
    }

    /// The MongoDB user this service logs in as, if it uses MongoDB.
    pub fn mongo_user(&self) -> Option<MongoUser> {
        let mongo = self.mongo?;
        Some(MongoUser {
            name: self.name,
            database: mongo.database.name,
            role: match mongo.access {
                Access::Owner => MongoRole::ReadWrite,
                Access::Reads(_) => MongoRole::Read,
            },
            password_variable: self.secret_variable("MONGO_PASSWORD"),
        })
    }

    /// The variable holding the secret that signs this frontend's forms, if it has forms.
    pub fn csrf_secret_variable(&self) -> Option<String> {
        match self.role {
            Role::Frontend { .. } => Some(self.secret_variable("CSRF_SECRET")),
            Role::Worker => None,
        }
    }
}

/// A secret the operator provides (or scripts/up generates): its variable and what it guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub variable: String,
    pub purpose: String,
}

/// The locker app's first operator, whom `warren-operator` (a binary of user-service) makes.
pub const OPERATOR: &str = "operator";
/// The variable holding the first operator's password (read by `warren-operator`).
pub const OPERATOR_PASSWORD: &str = "WARREN_OPERATOR_PASSWORD";

/// Every secret the system needs, each once: the broker administrator's password, each service's
/// broker password, PostgreSQL's password, MongoDB's administrator's and each MongoDB user's
/// password, each frontend's CSRF secret, and the first operator's password.
pub fn secrets() -> Vec<Secret> {
    let mut secrets = vec![Secret {
        variable: BROKER_ADMIN_PASSWORD.into(),
        purpose: format!("the broker user {BROKER_ADMIN} (management console)"),
    }];
    for service in SERVICES {
        secrets.push(Secret {
            variable: service.broker_password_variable(),
            purpose: format!("the broker user {}", service.name),
        });
    }
    secrets.push(Secret {
        variable: POSTGRES_PASSWORD.into(),
        purpose: format!("PostgreSQL's user {POSTGRES_USER}"),
    });
    secrets.extend(postgres::role_secrets());
    secrets.push(Secret {
        variable: MONGO_ADMIN_PASSWORD.into(),
        purpose: format!("MongoDB's administrator {MONGO_ADMIN} (creates the service users)"),
    });
    for user in mongo_users() {
        secrets.push(Secret {
            purpose: format!(
                "MongoDB's user {} ({} on {})",
                user.name,
                user.role.name(),
                user.database
            ),
            variable: user.password_variable,
        });
    }
    for service in SERVICES {
        if let Some(variable) = service.csrf_secret_variable() {
            secrets.push(Secret {
                variable,
                purpose: format!(
                    "signs {}'s forms (every instance of it needs the same one)",
                    service.name
                ),
            });
        }
    }
    secrets.push(Secret {
        variable: OPERATOR_PASSWORD.into(),
        purpose: format!(
            "the locker app's first operator, user {OPERATOR} (warren-operator sets it at every start)"
        ),
    });
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_and_ports_are_unique() {
        let names: BTreeSet<_> = SERVICES.iter().map(|s| s.name).collect();
        let ports: BTreeSet<_> = SERVICES
            .iter()
            .flat_map(|s| [s.port, s.admin_port])
            .collect();
        assert_eq!(names.len(), SERVICES.len());
        // Every public and admin port is distinct from every other.
        assert_eq!(ports.len(), 2 * SERVICES.len());
    }

    #[test]
    fn postgres_sections_are_set_by_their_variables() {
        for section in [
            PostgresSection::POSTGRES,
            PostgresSection::USERS,
            PostgresSection::ACCOUNTS,
        ] {
            let upper = section.name.to_uppercase();
            assert_eq!(section.url_variable, format!("WARREN_{upper}__URL"));
            assert_eq!(
                section.password_variable,
                format!("WARREN_{upper}__PASSWORD")
            );
        }
        for service in SERVICES {
            let sections: BTreeSet<_> = service.postgres.iter().map(|p| p.section.name).collect();
            let databases: BTreeSet<_> = service.postgres.iter().map(|p| p.database.name).collect();
            assert_eq!(sections.len(), service.postgres.len(), "{}", service.name);
            assert_eq!(databases.len(), service.postgres.len(), "{}", service.name);
        }
    }

    #[test]
    fn every_database_has_exactly_its_owner_as_owner() {
        for database in DATABASES {
            let owners: Vec<_> = SERVICES
                .iter()
                .filter(|s| {
                    s.postgres
                        .iter()
                        .any(|p| p.database == *database && p.access == Access::Owner)
                })
                .map(|s| s.name)
                .collect();
            assert_eq!(owners, [database.owner], "{}", database.name);
        }
    }

    #[test]
    fn readers_read_only_tables_that_exist() {
        for service in SERVICES {
            for PostgresUse {
                database, access, ..
            } in service.postgres
            {
                let Access::Reads(tables) = access else {
                    continue;
                };
                for table in *tables {
                    assert!(
                        database.tables.contains(table),
                        "{} reads {table}",
                        service.name
                    );
                }
            }
            if let Some(MongoUse {
                database,
                access: Access::Reads(collections),
            }) = service.mongo
            {
                for collection in collections {
                    assert!(
                        database.collections.contains(collection),
                        "{} reads {collection}",
                        service.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_owner_of_a_mongo_database_writes_it_and_its_readers_only_read() {
        let users = mongo_users();
        let role = |name: &str| {
            users
                .iter()
                .find(|user| user.name == name)
                .map(|user| (user.database, user.role))
        };
        assert_eq!(
            role("locker-service"),
            Some(("warren_lockers", MongoRole::ReadWrite))
        );
        assert_eq!(
            role("locker-app"),
            Some(("warren_lockers", MongoRole::Read))
        );
        assert_eq!(role("tally-worker"), None);
        let writers: Vec<_> = users
            .iter()
            .filter(|user| user.role == MongoRole::ReadWrite)
            .map(|user| (user.name, user.database))
            .collect();
        assert_eq!(writers, [(LOCKERS_DB.owner, LOCKERS_DB.name)]);
    }

    #[test]
    fn secrets_are_named_once() {
        let secrets = secrets();
        let names: BTreeSet<_> = secrets.iter().map(|s| s.variable.clone()).collect();
        assert_eq!(names.len(), secrets.len());
        assert!(names.contains("LOCKER_APP_CSRF_SECRET"));
        assert!(!names.contains("TALLY_WORKER_CSRF_SECRET"));
        assert!(names.contains("LOCKER_APP_MONGO_PASSWORD"));
        assert!(names.contains(MONGO_ADMIN_PASSWORD));
        assert!(names.contains(OPERATOR_PASSWORD));
    }
}
