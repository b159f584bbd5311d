//! `scripts/lib/generated/manifest.sh`: the manifest as bash arrays for scripts/lib/infra.sh and
//! services.sh, and each service's environment for a local run, in terms of the endpoints that
//! `infra_export_endpoints` exports and the secrets `infra_load_secrets` loads.

use std::fmt::Write;

use warren_manifest::{
    BROKER_ADMIN, BROKER_ADMIN_PASSWORD, DATABASES, POSTGRES_USER, READINESS_PATH, SERVICES, Value,
    secrets,
};

/// A value as bash spells it inside double quotes in a local run.
fn local_value(service: &warren_manifest::Service, value: &Value) -> String {
    match value {
        Value::Port => service.port.to_string(),
        Value::AdminPort => service.admin_port.to_string(),
        Value::LogFormat => "json".to_owned(),
        Value::BrokerNodes => "$WARREN_AMQP_NODES".to_owned(),
        Value::BrokerVhost => "$WARREN_AMQP_VHOST".to_owned(),
        Value::PostgresUrl { database, user } => {
            format!("postgres://{user}@$WARREN_POSTGRES_ADDRESS/{database}")
        }
        Value::MongoUri => "$WARREN_MONGO_URI".to_owned(),
        Value::MongoDatabase { database } => (*database).to_owned(),
        Value::MongoUser { user } => (*user).to_owned(),
        Value::Secret { variable } => format!("${{{variable}}}"),
        // The frontends are reached directly: no proxy's X-Forwarded-For is believed.
        Value::TrustedProxies => String::new(),
    }
}

/// `NAME=(word...)`; NAME may start with `declare -gA` for an associative array.
fn array(name: &str, words: impl IntoIterator<Item = String>) -> String {
    let words: Vec<String> = words.into_iter().collect();
    format!("{name}=({})\n", words.join(" "))
}

pub fn manifest() -> String {
    let mut out = String::from("# shellcheck shell=bash disable=SC2034\n");
    out.push_str(&super::header(
        "#",
        "warren-manifest (manifest/src) for scripts/lib/infra.sh and services.sh",
    ));
    out.push_str("\n# Every service, in the order scripts/up starts them.\n");
    out.push_str(&array(
        "WARREN_SERVICES",
        SERVICES.iter().map(|s| s.name.to_owned()),
    ));
    out.push_str("# Each service's HTTP port.\n");
    out.push_str(&array(
        "declare -gA WARREN_SERVICE_PORT",
        SERVICES.iter().map(|s| format!("[{}]={}", s.name, s.port)),
    ));
    out.push_str("# Each service's admin port (/healthz, /readyz, /metrics), on loopback.\n");
    out.push_str(&array(
        "declare -gA WARREN_SERVICE_ADMIN_PORT",
        SERVICES
            .iter()
            .map(|s| format!("[{}]={}", s.name, s.admin_port)),
    ));
    out.push_str("# Whether each service uses MongoDB (0/1).\n");
    out.push_str(&array(
        "declare -gA WARREN_SERVICE_MONGO",
        SERVICES
            .iter()
            .map(|s| format!("[{}]={}", s.name, u8::from(s.mongo.is_some()))),
    ));
    out.push_str(
        "# The path at which every service answers, on its admin port, whether it is ready.\n",
    );
    out.push_str(&format!("WARREN_READINESS_PATH={READINESS_PATH}\n"));
    out.push_str(
        "# The broker's administrator, and every broker user with the variable holding its \
         password.\n",
    );
    out.push_str(&format!("WARREN_BROKER_ADMIN={BROKER_ADMIN}\n"));
    out.push_str(&array(
        "WARREN_BROKER_USERS",
        std::iter::once(format!("{BROKER_ADMIN}:{BROKER_ADMIN_PASSWORD}")).chain(
            SERVICES
                .iter()
                .map(|s| format!("{}:{}", s.name, s.broker_password_variable())),
        ),
    ));
    out.push_str("# The PostgreSQL user and every database, in the order they are created.\n");
    out.push_str(&format!("WARREN_POSTGRES_USER={POSTGRES_USER}\n"));
    out.push_str(&array(
        "WARREN_DATABASES",
        DATABASES.iter().map(|d| d.name.to_owned()),
    ));
    out.push_str("# Every secret's variable; scripts/up generates those left unset.\n");
    out.push_str(&array(
        "WARREN_SECRETS",
        secrets().into_iter().map(|s| s.variable),
    ));

    out.push_str(
        "\n# service_environment NAME: sets WARREN_SERVICE_ENVIRONMENT to the service's \
         environment\n\
         # (NAME=VALUE words) for a local run: the endpoints infra_export_endpoints exported and \
         the\n\
         # secrets infra_load_secrets loaded.\n\
         service_environment() {\n  case $1 in\n",
    );
    for service in SERVICES {
        let _ = writeln!(
            out,
            "    {})\n      WARREN_SERVICE_ENVIRONMENT=(",
            service.name
        );
        for variable in service.environment() {
            let _ = writeln!(
                out,
                "        \"{}={}\"",
                variable.name,
                local_value(service, &variable.value)
            );
        }
        out.push_str("      )\n      ;;\n");
    }
    out.push_str("    *) return 1 ;;\n  esac\n}\n");
    out
}
