//! The `WARREN_*` variables each binary is started with, as values that each way of running
//! Warren (scripts/up, the tests, docker-compose) renders in its own terms: the broker nodes are
//! `127.0.0.1:5672…` locally and `rabbitmq-1:5672…` in Compose, but the list of variables is one.
//!
//! Every variable is `WARREN_<SECTION>__<KEY>` for a key of the service's settings; what is not
//! here comes from the service's committed defaults.

use crate::{Access, Service};

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The service's HTTP port ([`Service::port`]).
    Port,
    /// The service's admin port ([`Service::admin_port`]).
    AdminPort,
    /// `json`: every run but a developer's terminal logs JSON lines.
    LogFormat,
    /// The broker's AMQP URLs, comma-separated, one per node.
    BrokerNodes,
    /// The virtual host Warren lives in.
    BrokerVhost,
    /// The URL of a PostgreSQL database for a role (without password).
    PostgresUrl {
        database: &'static str,
        user: String,
    },
    /// The MongoDB connection string.
    MongoUri,
    /// A MongoDB database's name.
    MongoDatabase { database: &'static str },
    /// The MongoDB user a service logs in as (defined in its database).
    MongoUser { user: &'static str },
    /// A secret, read from the named variable.
    Secret { variable: String },
    /// The reverse proxies whose `X-Forwarded-For` names a frontend's client (Compose's
    /// Traefik); none where clients reach the frontend directly (scripts/up, the tests).
    TrustedProxies,
}

/// One variable of a binary's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    pub value: Value,
}

impl Service {
    /// The environment this service is started with, in a stable order.
    pub fn environment(&self) -> Vec<Variable> {
        let mut variables = vec![
            Variable {
                name: "WARREN_HTTP__PORT",
                value: Value::Port,
            },
            Variable {
                name: "WARREN_ADMIN__PORT",
                value: Value::AdminPort,
            },
            Variable {
                name: "WARREN_TELEMETRY__FORMAT",
                value: Value::LogFormat,
            },
            Variable {
                name: "WARREN_BROKER__NODES",
                value: Value::BrokerNodes,
            },
            Variable {
                name: "WARREN_BROKER__VHOST",
                value: Value::BrokerVhost,
            },
            Variable {
                name: "WARREN_BROKER__PASSWORD",
                value: Value::Secret {
                    variable: self.broker_password_variable(),
                },
            },
        ];
        if let (Some(user), Some(password)) =
            (self.postgres_role(), self.postgres_password_variable())
        {
            // Its own role, never the administrator, in every database it uses.
            for postgres in self.postgres {
                variables.push(Variable {
                    name: postgres.section.url_variable,
                    value: Value::PostgresUrl {
                        database: postgres.database.name,
                        user: user.clone(),
                    },
                });
                variables.push(Variable {
                    name: postgres.section.password_variable,
                    value: Value::Secret {
                        variable: password.clone(),
                    },
                });
            }
        }
        if let Some(user) = self.mongo_user() {
            variables.push(Variable {
                name: "WARREN_MONGO__URI",
                value: Value::MongoUri,
            });
            variables.push(Variable {
                name: "WARREN_MONGO__DATABASE",
                value: Value::MongoDatabase {
                    database: user.database,
                },
            });
            variables.push(Variable {
                name: "WARREN_MONGO__USERNAME",
                value: Value::MongoUser { user: user.name },
            });
            variables.push(Variable {
                name: "WARREN_MONGO__PASSWORD",
                value: Value::Secret {
                    variable: user.password_variable,
                },
            });
        }
        if let Some(variable) = self.csrf_secret_variable() {
            variables.push(Variable {
                name: "WARREN_WEB__CSRF_SECRET",
                value: Value::Secret { variable },
            });
            // A frontend counts its rate limits and sign-in failures per client address: behind
            // a proxy, the address the proxy saw.
            variables.push(Variable {
                name: "WARREN_HTTP__TRUSTED_PROXIES",
                value: Value::TrustedProxies,
            });
        }
        variables
    }

    /// Whether this service owns (migrates and writes) a store, as opposed to only reading.
    pub fn owns_a_store(&self) -> bool {
        self.postgres.iter().any(|p| p.access == Access::Owner)
            || self.mongo.is_some_and(|m| m.access == Access::Owner)
    }
}

#[cfg(test)]
mod tests {
    use crate::{LOCKER_APP, SERVICES, TALLY_WORKER};

    #[test]
    fn every_variable_is_a_settings_key() {
        for service in SERVICES {
            for variable in service.environment() {
                let (section, key) = variable
                    .name
                    .strip_prefix("WARREN_")
                    .and_then(|rest| rest.split_once("__"))
                    .unwrap_or_else(|| panic!("{} is not WARREN_<SECTION>__<KEY>", variable.name));
                assert!(!section.is_empty() && !key.is_empty());
            }
        }
    }

    #[test]
    fn a_postgres_user_logs_in_as_its_own_role_never_as_the_administrator() {
        for service in SERVICES {
            for variable in service.environment() {
                assert_ne!(
                    variable.value,
                    crate::Value::Secret {
                        variable: crate::POSTGRES_PASSWORD.into()
                    },
                    "{}",
                    service.name
                );
                if let crate::Value::PostgresUrl { user, .. } = variable.value {
                    assert_eq!(Some(&user), service.postgres_role().as_ref());
                    assert_ne!(user, crate::POSTGRES_USER);
                }
            }
        }
    }

    #[test]
    fn only_frontends_get_a_csrf_secret_and_only_store_users_a_database() {
        let names = |service: &crate::Service| -> Vec<_> {
            service.environment().into_iter().map(|v| v.name).collect()
        };
        assert!(names(&LOCKER_APP).contains(&"WARREN_WEB__CSRF_SECRET"));
        assert!(names(&LOCKER_APP).contains(&"WARREN_MONGO__URI"));
        assert!(!names(&TALLY_WORKER).contains(&"WARREN_WEB__CSRF_SECRET"));
        assert!(!names(&TALLY_WORKER).contains(&"WARREN_MONGO__URI"));
    }
}
