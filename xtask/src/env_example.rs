//! `.env.example`: every secret of `warren_manifest::secrets()`, each once, for an operator to
//! fill in, and the optional settings of scripts/up and docker-compose.

use warren_manifest::secrets;

const INTRODUCTION: &str = "\
# Copy to .env to choose Warren's passwords yourself. For scripts/up anything left unset is
# generated on the first run and kept in .warren/data/secrets.env, so later runs reuse it;
# docker compose needs every one of them set here.
# scripts/test ignores this file and makes throwaway passwords of its own.
";

const COMPOSE_AND_ENDPOINTS: &str = "
# docker-compose.yml only: the Erlang cookie the three RabbitMQ containers share to cluster.
RABBITMQ_ERLANG_COOKIE=
# docker-compose.yml only: the password of Grafana's administrator, warren-admin
# (http://127.0.0.1:3000/, the Warren dashboard).
GRAFANA_ADMIN_PASSWORD=

# Point scripts/up at servers of your own instead of starting local ones (optional).
# WARREN_AMQP_NODES=amqp://rabbit-1:5672,amqp://rabbit-2:5672,amqp://rabbit-3:5672
# WARREN_POSTGRES_URL_BASE=postgres://warren@db.example:5432
# WARREN_MONGO_URI=mongodb://mongo-1:27017,mongo-2:27017,mongo-3:27017/?replicaSet=rs0
";

pub fn env_example() -> String {
    let mut text = super::header("#", "warren-manifest (secrets() in manifest/src/lib.rs)");
    text.push_str(INTRODUCTION);
    text.push('\n');
    for secret in secrets() {
        let mut purpose = secret.purpose.clone();
        if let Some(first) = purpose.get(..1) {
            purpose.replace_range(..1, &first.to_uppercase());
        }
        text.push_str(&format!("# {purpose}.\n{}=\n", secret.variable));
    }
    text.push_str(COMPOSE_AND_ENDPOINTS);
    text
}
