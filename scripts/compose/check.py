"""Checks the hand-written structure of docker-compose.yml, without a Docker engine.

`cargo xtask generate` renders docker-compose.yml from xtask/templates/docker-compose.yml and
warren-manifest, so what the manifest states holds by construction and is not checked here:
every service binary has a service running it, with the environment the manifest gives it
(whose variables xtask's tests hold to the binaries' settings), a healthcheck on its port, its
own broker user's password, its start order and its Traefik routes; broker-init gets every
broker user's password variable. What the template states by hand is checked here:

- the servers and one-shot initialisers exist, and none of them is on the front tier;
- every long-running service has a healthcheck, and every depends_on waits on a condition;
- every volume is a named volume or a path, and no service has a fixed container name;
- broker-init imports rabbitmq/definitions.json rendered by scripts/lib/render_definitions.py,
  as scripts/up does, and the RabbitMQ nodes use the shared rabbitmq.conf and enabled_plugins;
- MongoDB requires a login (--keyFile and --auth); the image's administrator and the users
  mongo-init creates are those of mongo/users.json (generated from the manifest, as the local
  server's), mongo-init gets every one of their passwords, and every service that uses MongoDB
  logs in as its own user of that file, on that user's database, with that user's password;
- every variable compose reads from .env (without a default) is in .env.example;
- every published port is bound to the host's loopback, but Traefik's public entry point; no
  Warren service publishes a port or routes its admin port through Traefik;
- Prometheus runs prometheus/prometheus.yml with alerts.yml beside it, and scrapes every Warren
  service on its admin port, which listens beyond the container's loopback, and every RabbitMQ
  node's rabbitmq_prometheus port;
- Grafana reads its provisioning from grafana/provisioning, mounts grafana/dashboards where its
  dashboard provider reads (its home dashboard among them), asks its data sources of Compose's
  Prometheus, and takes its administrator's password from .env.

usage: check.py [--self-test]   (--self-test: breaks a copy in known ways; each must be caught)
"""

import copy
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRASTRUCTURE = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "broker-init", "postgres", "mongo", "mongo-init", "prometheus", "grafana"]
BROKER_NODES = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]
MONGO_USERS = json.loads((ROOT / "mongo" / "users.json").read_text())
PROMETHEUS_CONFIG = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
GRAFANA_PROVIDERS = [
    provider
    for path in sorted((ROOT / "grafana" / "provisioning" / "dashboards").glob("*.y*ml"))
    for provider in (yaml.safe_load(path.read_text()) or {}).get("providers") or []
]
GRAFANA_DATASOURCES = [
    source
    for path in sorted((ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml"))
    for source in (yaml.safe_load(path.read_text()) or {}).get("datasources") or []
]
# The one port published beyond the host's loopback: Traefik's entry point for the web frontends.
PUBLIC_PORTS = {("traefik", "80:80")}
RABBITMQ_PROMETHEUS_PORT = 15692
# Compose's Prometheus as the other containers reach it (the image listens on 9090).
PROMETHEUS_URL = "http://prometheus:9090"


def referenced_variables(text: str) -> set:
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}", text))


def problems(compose: dict, text: str, example: str) -> list:
    found = []
    services = compose.get("services", {})

    for name in INFRASTRUCTURE:
        if name not in services:
            found.append(f"{name}: missing")
        elif "front" in (services[name].get("networks") or []):
            found.append(f"{name}: on the front tier")
    for name, service in services.items():
        one_shot = service.get("restart") == "no" or "profiles" in service
        if not one_shot and "healthcheck" not in service:
            found.append(f"{name}: no healthcheck")
        depends = service.get("depends_on") or {}
        if isinstance(depends, list) or any("condition" not in v for v in depends.values()):
            found.append(f"{name}: depends_on without a condition")
        for other in depends:
            if other not in services:
                found.append(f"{name}: depends on {other}, which is no service")
        if "container_name" in service:
            found.append(f"{name}: a fixed container name stops it from scaling")
        for volume in service.get("volumes") or []:
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")) and source not in (compose.get("volumes") or {}):
                found.append(f"{name}: volume {source} is not a named volume")
            elif source.startswith("./") and not (ROOT / source).exists():
                found.append(f"{name}: mounts {source}, which does not exist")

    init = services.get("broker-init", {})
    mounts = [str(volume) for volume in init.get("volumes") or []]
    if not any(m.startswith("./rabbitmq/definitions.json:") for m in mounts):
        found.append("broker-init: does not import rabbitmq/definitions.json")
    if not any(m.startswith("./scripts/lib/render_definitions.py:") for m in mounts):
        found.append("broker-init: does not render the definitions as scripts/up does")
    for name in ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]:
        mounts = [str(volume) for volume in services.get(name, {}).get("volumes") or []]
        for shared in ["./rabbitmq/rabbitmq.conf:", "./rabbitmq/enabled_plugins:"]:
            if not any(m.startswith(shared) for m in mounts):
                found.append(f"{name}: does not use {shared[:-1]}")

    found += mongo_problems(services)
    found += exposure_problems(services)
    found += monitoring_problems(services, PROMETHEUS_CONFIG, GRAFANA_PROVIDERS)

    declared = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
    for variable in sorted(referenced_variables(text) - declared):
        if not re.search(r"\$\{" + variable + r":-", text):
            found.append(f"{variable}: read from .env but not in .env.example")
    return found


def reads(value, variable: str) -> bool:
    """Whether a compose value is `${variable...}`, read from .env."""
    return re.fullmatch(r"\$\{" + variable + r"(?::?[-?][^}]*)?\}", str(value)) is not None


def mongo_problems(services: dict) -> list:
    found = []
    mongo = services.get("mongo", {})
    command = mongo.get("command") or []
    for flag in ["--keyFile", "--auth"]:
        if flag not in command:
            found.append(f"mongo: runs without {flag}")
    admin = MONGO_USERS["admin"]
    environment = mongo.get("environment") or {}
    if environment.get("MONGO_INITDB_ROOT_USERNAME") != admin["user"]:
        found.append(f"mongo: the administrator is not {admin['user']} of mongo/users.json")
    if not reads(environment.get("MONGO_INITDB_ROOT_PASSWORD"), admin["password_variable"]):
        found.append(f"mongo: the administrator's password is not {admin['password_variable']}")

    init = services.get("mongo-init", {})
    if not any(str(m).startswith("./mongo/users.json:") for m in init.get("volumes") or []):
        found.append("mongo-init: does not create the users of mongo/users.json")
    environment = init.get("environment") or {}
    for user in [admin, *MONGO_USERS["users"]]:
        variable = user["password_variable"]
        if not reads(environment.get(variable), variable):
            found.append(f"mongo-init: lacks {variable}, {user['user']}'s password")

    users = {user["user"]: user for user in MONGO_USERS["users"]}
    for name, service in services.items():
        environment = service.get("environment") or {}
        if "WARREN_MONGO__URI" not in environment:
            continue
        login = environment.get("WARREN_MONGO__USERNAME")
        user = users.get(login)
        if user is None:
            found.append(f"{name}: logs in to MongoDB as {login}, no user of mongo/users.json")
            continue
        if environment.get("WARREN_MONGO__DATABASE") != user["db"]:
            found.append(f"{name}: {login} is a user of {user['db']}, not of its database")
        if not reads(environment.get("WARREN_MONGO__PASSWORD"), user["password_variable"]):
            found.append(f"{name}: its MongoDB password is not {user['password_variable']}")
    return found


def admin_port(service: dict):
    """A Warren service's admin port (WARREN_ADMIN__PORT), or None for any other service."""
    port = (service.get("environment") or {}).get("WARREN_ADMIN__PORT")
    return None if port is None else int(port)


def exposure_problems(services: dict) -> list:
    found = []
    for name, service in services.items():
        for port in service.get("ports") or []:
            port = str(port)
            if not port.startswith("127.0.0.1:") and (name, port) not in PUBLIC_PORTS:
                found.append(f"{name}: publishes {port} beyond the host's loopback")
        admin = admin_port(service)
        if admin is None:
            continue
        if service.get("ports"):
            found.append(f"{name}: a Warren service publishes a port")
        for key, value in (service.get("labels") or {}).items():
            if key.endswith(".server.port") and str(value) == str(admin):
                found.append(f"{name}: Traefik routes to its admin port")
    return found


def monitoring_problems(services: dict, config: dict, providers: list, datasources=None) -> list:
    """Prometheus scrapes every service and node and loads the alerts; Grafana is provisioned."""
    found = []
    prometheus = services.get("prometheus", {})
    mounts = [str(volume) for volume in prometheus.get("volumes") or []]
    for source, target in [("./prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml"),
                           ("./prometheus/alerts.yml", "/etc/prometheus/alerts.yml")]:
        if not any(m.startswith(f"{source}:{target}") for m in mounts):
            found.append(f"prometheus: does not mount {source} at {target}")
    if "alerts.yml" not in (config.get("rule_files") or []):
        found.append("prometheus/prometheus.yml: does not load alerts.yml")

    scraped = set()
    for job in config.get("scrape_configs") or []:
        path = job.get("metrics_path", "/metrics")
        for sd in job.get("dns_sd_configs") or []:
            scraped |= {(host, int(sd.get("port", 0)), path) for host in sd.get("names") or []}
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = str(target).rpartition(":")
                scraped.add((host, int(port), path))
    for name, service in services.items():
        admin = admin_port(service)
        if admin is None or service.get("restart") == "no":
            continue
        if (name, admin, "/metrics") not in scraped:
            found.append(f"{name}: Prometheus does not scrape its admin port {admin}")
        if (service.get("environment") or {}).get("WARREN_ADMIN__HOST") != "0.0.0.0":
            found.append(f"{name}: its admin listener is its container's loopback's, out of Prometheus's reach")
    for node in BROKER_NODES:
        if (node, RABBITMQ_PROMETHEUS_PORT, "/metrics") not in scraped:
            found.append(f"{node}: Prometheus does not scrape its rabbitmq_prometheus port")

    grafana = services.get("grafana", {})
    mounts = [str(volume) for volume in grafana.get("volumes") or []]
    if not any(m.startswith("./grafana/provisioning:/etc/grafana/provisioning") for m in mounts):
        found.append("grafana: does not read its provisioning from grafana/provisioning")
    paths = {(provider.get("options") or {}).get("path") for provider in providers}
    if not paths or not all(any(m.startswith(f"./grafana/dashboards:{p}") for m in mounts) for p in paths):
        found.append(f"grafana: does not mount grafana/dashboards where its dashboard provider reads ({', '.join(map(str, paths))})")
    environment = grafana.get("environment") or {}
    if not reads(environment.get("GF_SECURITY_ADMIN_PASSWORD"), "GRAFANA_ADMIN_PASSWORD"):
        found.append("grafana: its administrator's password is not GRAFANA_ADMIN_PASSWORD from .env")
    home = str(environment.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", ""))
    if home:
        inside = [m.split(":")[1] for m in mounts if m.startswith("./grafana/dashboards:")]
        relative = next((home[len(p) + 1:] for p in inside if home.startswith(p + "/")), None)
        if relative is None or not (ROOT / "grafana" / "dashboards" / relative).is_file():
            found.append(f"grafana: its home dashboard {home} is no file of grafana/dashboards")

    for source in GRAFANA_DATASOURCES if datasources is None else datasources:
        if source.get("type") == "prometheus" and source.get("url") != PROMETHEUS_URL:
            found.append(f"grafana: data source {source.get('name')} asks {source.get('url')}, not {PROMETHEUS_URL}")
    return found


def self_test(compose: dict, text: str, example: str) -> list:
    """Breaks copies of the file in known ways; returns the breakages that went unnoticed."""
    def without(path):
        def apply(doc):
            *parents, last = path
            target = doc
            for part in parents:
                target = target[part]
            del target[last]
        return apply

    def setting(path, value):
        def apply(doc):
            *parents, last = path
            target = doc
            for part in parents:
                target = target[part]
            target[last] = value
        return apply

    breakages = {
        "a missing server": without(["services", "mongo-init"]),
        "a database on the front tier": setting(["services", "postgres", "networks"], ["front", "back"]),
        "no healthcheck": without(["services", "mongo", "healthcheck"]),
        "depends_on without a condition": setting(["services", "seed", "depends_on"], ["vote-service"]),
        "a dependency on no service": setting(["services", "seed", "depends_on", "vote"], {"condition": "service_healthy"}),
        "a fixed container name": setting(["services", "traefik", "container_name"], "traefik"),
        "an undeclared volume": setting(["services", "postgres", "volumes"], ["pgdata:/var/lib/postgresql/data"]),
        "a mount of a file that is not there": setting(["services", "mongo-init", "volumes"], ["./scripts/compose/gone.js:/warren/mongo-init.js:ro"]),
        "broker-init without the definitions": setting(["services", "broker-init", "volumes"], ["./scripts/lib/render_definitions.py:/warren/render_definitions.py:ro"]),
        "a node without the shared configuration": setting(["services", "rabbitmq-2", "volumes"], ["rabbitmq-2-data:/var/lib/rabbitmq"]),
        "MongoDB without authentication": setting(["services", "mongo", "command"], ["mongod", "--replSet", "rs0", "--bind_ip_all"]),
        "another administrator": setting(["services", "mongo", "environment", "MONGO_INITDB_ROOT_USERNAME"], "root"),
        "mongo-init without a user's password": without(["services", "mongo-init", "environment", "LOCKER_APP_MONGO_PASSWORD"]),
        "mongo-init without the users": setting(["services", "mongo-init", "volumes"], ["./scripts/compose/mongo-init.js:/warren/mongo-init.js:ro"]),
        "a service without a MongoDB login": without(["services", "locker-app", "environment", "WARREN_MONGO__USERNAME"]),
        "a service as another's MongoDB user": setting(["services", "locker-app", "environment", "WARREN_MONGO__USERNAME"], "locker-service"),
        "Grafana on the front tier": setting(["services", "grafana", "networks"], ["front", "back"]),
        "Grafana published beyond loopback": setting(["services", "grafana", "ports"], ["3000:3000"]),
        "a published admin port": setting(["services", "tally-worker", "ports"], ["127.0.0.1:9081:9081"]),
        "Traefik routed to an admin port": setting(["services", "vote-service", "labels", "traefik.http.services.vote.loadbalancer.server.port"], "9080"),
        "an admin listener on loopback": without(["services", "record-service", "environment", "WARREN_ADMIN__HOST"]),
        "Prometheus without the alert rules": setting(["services", "prometheus", "volumes"], ["./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"]),
        "Grafana without its dashboards": setting(["services", "grafana", "volumes"], ["./grafana/provisioning:/etc/grafana/provisioning:ro"]),
        "Grafana's password not from .env": setting(["services", "grafana", "environment", "GF_SECURITY_ADMIN_PASSWORD"], "admin"),
        "a home dashboard that is not there": setting(["services", "grafana", "environment", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"], "/etc/grafana/dashboards/home.json"),
    }
    missed = []
    for what, breaking in breakages.items():
        broken = copy.deepcopy(compose)
        breaking(broken)
        if not problems(broken, text, example):
            missed.append(what)
    if not problems(compose, text + "\nx: ${NOT_IN_THE_EXAMPLE}\n", example):
        missed.append("a variable missing from .env.example")
    services = compose.get("services", {})
    unscraped = copy.deepcopy(PROMETHEUS_CONFIG)
    unscraped["scrape_configs"] = [job for job in unscraped["scrape_configs"] if job.get("job_name") != "locker-service"]
    if not monitoring_problems(services, unscraped, GRAFANA_PROVIDERS):
        missed.append("a service Prometheus does not scrape")
    unscraped = copy.deepcopy(PROMETHEUS_CONFIG)
    for job in unscraped["scrape_configs"]:
        for static in job.get("static_configs") or []:
            static["targets"] = [t for t in static["targets"] if not t.startswith("rabbitmq-3:")]
    if not monitoring_problems(services, unscraped, GRAFANA_PROVIDERS):
        missed.append("a broker node Prometheus does not scrape")
    elsewhere = [{**provider, "options": {"path": "/var/lib/grafana/dashboards"}} for provider in GRAFANA_PROVIDERS]
    if not monitoring_problems(services, PROMETHEUS_CONFIG, elsewhere):
        missed.append("a dashboard provider reading where the dashboards are not")
    other = [{**source, "url": "http://localhost:9090"} for source in GRAFANA_DATASOURCES]
    if not monitoring_problems(services, PROMETHEUS_CONFIG, GRAFANA_PROVIDERS, other):
        missed.append("a data source asking another Prometheus")
    return missed


def main() -> int:
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    compose = yaml.safe_load(text)
    if sys.argv[1:] == ["--self-test"]:
        missed = self_test(compose, text, example)
        for what in missed:
            print(f"not caught: {what}", file=sys.stderr)
        print("the compose check catches every known breakage" if not missed else "")
        return 1 if missed else 0
    found = problems(compose, text, example)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        print(f"docker-compose.yml's structure holds ({len(compose['services'])} services)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
