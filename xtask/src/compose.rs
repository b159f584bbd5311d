//! `docker-compose.yml` from `xtask/templates/docker-compose.yml` (the servers, the one-shot
//! initialisers, Traefik, the seed) with every Warren service's block rendered from the
//! manifest: its environment, healthcheck, start order and Traefik routes, and the MongoDB
//! passwords mongo-init sets; and `scripts/lib/generated/postgres.sql`, PostgreSQL's roles and
//! databases, which both the local server and Compose's run.

use std::fmt::Write;

use warren_manifest::postgres;
use warren_manifest::{
    Access, BROKER_ADMIN, BROKER_ADMIN_PASSWORD, DATABASES, MONGO_ADMIN, MONGO_ADMIN_PASSWORD,
    OPERATOR_PASSWORD, POSTGRES_PASSWORD, POSTGRES_USER, READINESS_PATH, Role, SERVICES, Service,
    USER_SERVICE, Value, mongo_users,
};
use warren_messages::topology::DEFAULT_VHOST;

const TEMPLATE: &str = include_str!("../templates/docker-compose.yml");

/// The broker nodes' host names in Compose, and the AMQP port each listens on.
pub(crate) const BROKER_HOSTS: [&str; 3] = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"];
const AMQP_PORT: u16 = 5672;
const POSTGRES_HOST: &str = "postgres:5432";
const MONGO_URI: &str = "mongodb://mongo:27017/?replicaSet=rs0";
/// Where a service's admin listener (`/healthz`, `/readyz`, `/metrics`) binds in its container:
/// every address, so that Prometheus reaches it (service-kit's default is loopback).
const ADMIN_HOST_VARIABLE: &str = "WARREN_ADMIN__HOST";
const ADMIN_HOST: &str = "0.0.0.0";
/// The front network (Traefik and the frontends) and Traefik's fixed address on it.
const FRONT_SUBNET: &str = "172.30.80.0/24";
const TRAEFIK_ADDRESS: &str = "172.30.80.2";

/// A secret read from .env, which Compose refuses to start without.
fn required(variable: &str) -> String {
    format!("${{{variable}:?set {variable} in .env}}")
}

/// A value as Compose spells it in a container.
fn compose_value(service: &Service, value: &Value) -> String {
    match value {
        Value::Port => format!("\"{}\"", service.port),
        Value::AdminPort => format!("\"{}\"", service.admin_port),
        Value::LogFormat => "json".to_owned(),
        Value::BrokerNodes => BROKER_HOSTS
            .iter()
            .map(|host| format!("amqp://{host}:{AMQP_PORT}"))
            .collect::<Vec<_>>()
            .join(","),
        Value::BrokerVhost => DEFAULT_VHOST.to_owned(),
        Value::PostgresUrl { database, user } => {
            format!("postgres://{user}@{POSTGRES_HOST}/{database}")
        }
        Value::MongoUri => MONGO_URI.to_owned(),
        Value::MongoDatabase { database } => (*database).to_owned(),
        Value::MongoUser { user } => (*user).to_owned(),
        Value::Secret { variable } => required(variable),
        Value::TrustedProxies => TRAEFIK_ADDRESS.to_owned(),
    }
}

/// What a service waits for: the broker's definitions, the servers of its stores, and the
/// owner of every store it only reads (the owner creates the schema).
fn depends_on(service: &Service) -> Vec<(String, &'static str, Option<String>)> {
    let healthy = "service_healthy";
    let completed = "service_completed_successfully";
    let mut waits = vec![("broker-init".to_owned(), completed, None)];
    if !service.postgres.is_empty() {
        waits.push(("postgres".to_owned(), healthy, None));
    }
    for postgres in service.postgres {
        if let Access::Reads(_) = postgres.access {
            let owner = postgres.database.owner;
            let why = format!("it migrates {}", postgres.database.name);
            waits.push((owner.to_owned(), healthy, Some(why)));
        }
    }
    if let Some(mongo) = service.mongo {
        waits.push(("mongo-init".to_owned(), completed, None));
        if let Access::Reads(_) = mongo.access {
            let owner = mongo.database.owner;
            let why = format!("it owns {}", mongo.database.name);
            waits.push((owner.to_owned(), healthy, Some(why)));
        }
    }
    waits
}

/// Traefik's labels for a frontend: a router per host, all to one load-balanced service named
/// after the first host; a host whose `/` is another path gets a rewrite of `/` to it.
fn traefik_labels(service: &Service) -> Vec<(String, String)> {
    let Role::Frontend { hosts } = service.role else {
        return Vec::new();
    };
    let label = |host: &str| host.split('.').next().unwrap_or(host).to_owned();
    let Some(first) = hosts.first() else {
        return Vec::new();
    };
    let balanced = label(first.name);
    let mut labels = vec![
        ("traefik.enable".to_owned(), "\"true\"".to_owned()),
        (
            format!("traefik.http.services.{balanced}.loadbalancer.server.port"),
            format!("\"{}\"", service.port),
        ),
    ];
    for host in hosts {
        let router = label(host.name);
        labels.push((
            format!("traefik.http.routers.{router}.rule"),
            format!("Host(`{}`)", host.name),
        ));
        labels.push((
            format!("traefik.http.routers.{router}.service"),
            balanced.clone(),
        ));
        if host.root != "/" {
            let middleware = format!("{router}-page");
            labels.push((
                format!("traefik.http.routers.{router}.middlewares"),
                middleware.clone(),
            ));
            labels.push((
                format!("traefik.http.middlewares.{middleware}.replacepathregex.regex"),
                "^/$$".to_owned(),
            ));
            labels.push((
                format!("traefik.http.middlewares.{middleware}.replacepathregex.replacement"),
                host.root.to_owned(),
            ));
        }
    }
    labels
}

fn service_block(service: &Service) -> String {
    let mut out = String::new();
    let name = service.name;
    // The healthcheck runs in the container and reaches the admin listener on loopback;
    // Prometheus scrapes it over the back tier, so in Compose it listens on every address of
    // the container (ADMIN_HOST): a frontend's on the front tier too, where only Traefik and
    // the seed are, and Traefik routes to the public port alone. The admin port is neither
    // published nor a Traefik route.
    let admin_port = service.admin_port;
    let _ = write!(
        out,
        "  {name}:\n    <<: *warren\n    command: [\"{name}\"]\n    environment:\n"
    );
    for variable in service.environment() {
        let value = compose_value(service, &variable.value);
        let _ = writeln!(out, "      {}: {value}", variable.name);
        if variable.value == Value::AdminPort {
            let _ = writeln!(out, "      {ADMIN_HOST_VARIABLE}: {ADMIN_HOST}");
        }
    }
    let _ = write!(
        out,
        "    healthcheck:\n      test: [\"CMD\", \"warren-probe\", \"{admin_port}\", \"{READINESS_PATH}\"]\n\
         \x20     interval: 5s\n      timeout: 3s\n      retries: 30\n      start_period: 5s\n\
         \x20   depends_on:\n"
    );
    for (other, condition, why) in depends_on(service) {
        let why = why.map(|why| format!("   # {why}")).unwrap_or_default();
        let _ = writeln!(out, "      {other}: {{ condition: {condition} }}{why}");
    }
    let labels = traefik_labels(service);
    if !labels.is_empty() {
        out.push_str("    labels:\n");
        for (key, value) in labels {
            let _ = writeln!(out, "      {key}: {value}");
        }
    }
    let networks = match service.role {
        Role::Frontend { .. } => "[front, back]",
        Role::Worker => "[back]",
    };
    let _ = writeln!(out, "    networks: {networks}");
    out
}

pub fn docker_compose() -> String {
    let mut out = super::header(
        "#",
        "xtask/templates/docker-compose.yml and warren-manifest (manifest/src)",
    );
    out.push_str("#\n");
    for line in TEMPLATE.lines().filter(|line| !line.starts_with("##")) {
        out.push_str(line);
        out.push('\n');
    }

    let services: Vec<String> = SERVICES.iter().map(service_block).collect();
    let mut broker_users = format!(
        "      BROKER_ADMIN: {BROKER_ADMIN}\n      BROKER_USERS: {BROKER_ADMIN}:{BROKER_ADMIN_PASSWORD}"
    );
    for service in SERVICES {
        let _ = write!(
            broker_users,
            " {}:{}",
            service.name,
            service.broker_password_variable()
        );
    }
    broker_users.push('\n');
    let _ = writeln!(
        broker_users,
        "      {BROKER_ADMIN_PASSWORD}: {}",
        required(BROKER_ADMIN_PASSWORD)
    );
    for service in SERVICES {
        let variable = service.broker_password_variable();
        let _ = writeln!(broker_users, "      {variable}: {}", required(&variable));
    }

    let mut mongo_passwords = String::new();
    let admin_and_users = std::iter::once(MONGO_ADMIN_PASSWORD.to_owned())
        .chain(mongo_users().into_iter().map(|user| user.password_variable));
    for variable in admin_and_users {
        let _ = writeln!(mongo_passwords, "      {variable}: {}", required(&variable));
    }

    // The roles' passwords, which the init script reads from the server's environment.
    let mut postgres_roles = String::new();
    for variable in postgres::role_secrets().into_iter().map(|s| s.variable) {
        let _ = writeln!(postgres_roles, "      {variable}: {}", required(&variable));
    }

    // warren-operator runs as user-service, on its database (README, "Accounts").
    let mut operator_environment = String::new();
    for variable in USER_SERVICE.environment() {
        if ["WARREN_POSTGRES__", "WARREN_TELEMETRY__"]
            .iter()
            .any(|section| variable.name.starts_with(section))
        {
            let value = compose_value(&USER_SERVICE, &variable.value);
            let _ = writeln!(operator_environment, "      {}: {value}", variable.name);
        }
    }
    let _ = writeln!(
        operator_environment,
        "      {OPERATOR_PASSWORD}: {}",
        required(OPERATOR_PASSWORD)
    );

    let mut replacements = vec![
        (
            "{{operator-environment}}\n".to_owned(),
            operator_environment,
        ),
        ("{{mongo-users}}\n".to_owned(), mongo_passwords),
        ("{{mongo-admin}}".to_owned(), MONGO_ADMIN.to_owned()),
        (
            "{{mongo-admin-password}}".to_owned(),
            required(MONGO_ADMIN_PASSWORD),
        ),
        ("{{services}}\n".to_owned(), services.join("\n") + "\n"),
        ("{{broker-users}}\n".to_owned(), broker_users),
        ("{{broker-admin}}".to_owned(), BROKER_ADMIN.to_owned()),
        ("{{postgres-roles}}\n".to_owned(), postgres_roles),
        ("{{traefik-address}}".to_owned(), TRAEFIK_ADDRESS.to_owned()),
        ("{{front-subnet}}".to_owned(), FRONT_SUBNET.to_owned()),
        ("{{postgres-user}}".to_owned(), POSTGRES_USER.to_owned()),
        (
            "{{postgres-password}}".to_owned(),
            required(POSTGRES_PASSWORD),
        ),
        (
            "{{first-database}}".to_owned(),
            DATABASES[0].name.to_owned(),
        ),
    ];
    for service in SERVICES {
        replacements.push((
            format!("{{{{port:{}}}}}", service.name),
            service.port.to_string(),
        ));
    }
    for (marker, value) in replacements {
        out = out.replace(&marker, &value);
    }
    assert!(
        !out.contains("{{"),
        "xtask/templates/docker-compose.yml has a marker that xtask/src/compose.rs does not fill"
    );
    out
}

/// PostgreSQL's roles and databases as one psql script: scripts/lib/infra.sh runs it at every
/// start of the local server, and docker-compose.yml's PostgreSQL at its first start.
pub fn postgres_script() -> String {
    let mut out = super::header("--", "warren-manifest (manifest/src/postgres.rs)");
    let _ = writeln!(
        out,
        "-- Run by scripts/lib/infra.sh's pg_start at every start of the local server, and by\n\
         -- docker-compose.yml's PostgreSQL at its first start, as the administrator\n\
         -- ({POSTGRES_USER}): one login role per service, each database owned by its owner's role\n\
         -- and closed to all but it and its readers. The readers' SELECT grants follow when the\n\
         -- owner has migrated (service-kit's Startup::owned_postgres)."
    );
    out.push_str(&postgres::setup_script());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthchecks_ask_the_admin_port_and_traefik_routes_to_the_public_port_only() {
        for service in SERVICES {
            let block = service_block(service);
            let (name, port, admin) = (service.name, service.port, service.admin_port);
            assert!(
                block.contains(&format!(
                    "test: [\"CMD\", \"warren-probe\", \"{admin}\", \"{READINESS_PATH}\"]"
                )),
                "{name}: the healthcheck does not ask the admin port:\n{block}"
            );
            assert!(
                block.contains(&format!("WARREN_ADMIN__PORT: \"{admin}\"")),
                "{name}:\n{block}"
            );
            // Prometheus, on the back tier, scrapes the admin listener.
            assert!(
                block.contains("WARREN_ADMIN__HOST: 0.0.0.0"),
                "{name}: the admin listener is loopback's, out of Prometheus's reach:\n{block}"
            );
            // The admin port is neither published nor a route: only the variable and the probe
            // name it.
            assert_eq!(
                block.matches(&admin.to_string()).count(),
                2,
                "{name}: the admin port appears beyond its variable and the probe:\n{block}"
            );
            assert!(
                !block.contains("ports:"),
                "{name} publishes a port:\n{block}"
            );
            for (key, value) in traefik_labels(service) {
                if key.ends_with("loadbalancer.server.port") {
                    assert_eq!(value, format!("\"{port}\""), "{name}");
                }
            }
        }
    }

    #[test]
    fn the_frontends_believe_traefik_alone_and_traefik_has_that_address() {
        let compose = docker_compose();
        assert!(
            compose.contains(&format!("ipv4_address: {TRAEFIK_ADDRESS}")),
            "Traefik has no fixed address"
        );
        assert!(compose.contains(&format!("subnet: {FRONT_SUBNET}")));
        let (network, bits) = FRONT_SUBNET.split_once('/').unwrap_or_default();
        assert_eq!(bits, "24");
        let prefix = |address: &str| {
            address
                .rsplit_once('.')
                .map(|(prefix, _)| prefix.to_owned())
        };
        assert_eq!(
            prefix(network),
            prefix(TRAEFIK_ADDRESS),
            "Traefik is outside the network"
        );
        for service in SERVICES {
            let block = service_block(service);
            let trusts = format!("WARREN_HTTP__TRUSTED_PROXIES: {TRAEFIK_ADDRESS}");
            match service.role {
                Role::Frontend { .. } => {
                    assert!(block.contains(&trusts), "{}:\n{block}", service.name)
                }
                Role::Worker => assert!(!block.contains("TRUSTED_PROXIES"), "{}", service.name),
            }
        }
    }
}
