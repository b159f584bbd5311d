"""Checks docker-compose.yml against the code, without a Docker engine.

- Every service binary of the workspace has a compose service, built from this repository
  (Dockerfile, production target), running that binary.
- Every WARREN_* variable compose sets is a setting the binary reads (no typos), and every
  setting that has no usable default in a container is set: passwords, and anything whose
  default points at this machine (127.0.0.1) - except the listen address, which the Dockerfile
  sets.
- The port a binary listens on, its healthcheck's port and Traefik's port agree, and the
  healthcheck asks a path the binaries serve.
- Services can be scaled (no container_name, no host ports), databases and the broker stay off
  the front tier, long-running services have healthchecks, and depends_on waits on conditions.
- The broker's users and queues come from rabbitmq/definitions.json, as for scripts/up: the
  one-shot broker-init mounts that file and gets every user's password variable (named as in
  scripts/lib/infra.sh), and each service uses its own broker user's password.
- Every variable compose reads from .env is in .env.example, and Traefik routes the four hosts.

usage: check.py [--self-test]   (--self-test: breaks a copy in known ways; each must be caught)
"""

import copy
import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = re.compile(r"127\.0\.0\.1|localhost")
HOSTS = ["vote.localhost", "results.localhost", "lockers.localhost", "records.localhost"]
INFRASTRUCTURE = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "broker-init", "postgres", "mongo", "mongo-init"]


def binaries() -> dict:
    """Each service binary of the workspace and its configuration defaults."""
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    found = {}
    for member in members:
        defaults = ROOT / member / "configuration" / "default.toml"
        if defaults.exists() and (ROOT / member / "src" / "main.rs").exists():
            found[member] = tomllib.loads(defaults.read_text())
    return found


def broker_password_variables() -> dict:
    """Broker user -> the variable holding its password, from scripts/lib/infra.sh."""
    infra = (ROOT / "scripts" / "lib" / "infra.sh").read_text()
    block = re.search(r"WARREN_BROKER_USERS=\((.*?)\)", infra, re.S).group(1)
    return dict(re.findall(r'"([^":]+):([A-Z_]+)"', block))


def served_paths() -> set:
    ops = (ROOT / "service-kit" / "src" / "ops.rs").read_text()
    return {"/" + path for path in re.findall(r'warp::path!\("([a-z]+)"\)', ops)}


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def referenced_variables(text: str) -> set:
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}", text))


def problems(compose: dict, text: str) -> list:
    found = []
    services = compose.get("services", {})
    paths = served_paths()
    passwords = broker_password_variables()
    dockerfile = (ROOT / "Dockerfile").read_text()

    for name, config in binaries().items():
        service = services.get(name)
        if service is None:
            found.append(f"{name}: the binary has no compose service")
            continue
        build = service.get("build") or {}
        if not isinstance(build, dict) or build.get("context") != "." or build.get("target") != "production":
            found.append(f"{name}: not built from this repository's production target")
        if service.get("command") != [name]:
            found.append(f"{name}: runs {service.get('command')!r}, not its own binary")
        env = environment(service)
        for variable in env:
            if not variable.startswith("WARREN_"):
                continue
            section, _, key = variable[len("WARREN_"):].lower().partition("__")
            if key not in config.get(section, {}):
                found.append(f"{name}: sets {variable}, which the binary does not read")
        for section, settings in config.items():
            for key, default in settings.items():
                variable = f"WARREN_{section.upper()}__{key.upper()}"
                if (section, key) == ("http", "host"):
                    if "WARREN_HTTP__HOST=0.0.0.0" not in dockerfile and env.get(variable) != "0.0.0.0":
                        found.append(f"{name}: listens on {default} only inside its container")
                    continue
                needs_value = (key == "password" and default == "") or (
                    isinstance(default, (str, list)) and LOOPBACK.search(json.dumps(default))
                )
                if needs_value and variable not in env:
                    found.append(f"{name}: {variable} is not set and its default ({default!r}) cannot work here")
        port = env.get("WARREN_HTTP__PORT", str(config["http"]["port"]))
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:2] != ["CMD", "warren-probe"] or len(test) < 3:
            found.append(f"{name}: no warren-probe healthcheck")
        else:
            if test[2] != port:
                found.append(f"{name}: healthcheck asks port {test[2]}, the binary listens on {port}")
            if len(test) > 3 and test[3] not in paths:
                found.append(f"{name}: healthcheck asks {test[3]}, which the binaries do not serve")
        for label, value in (service.get("labels") or {}).items():
            if label.endswith("loadbalancer.server.port") and str(value) != port:
                found.append(f"{name}: Traefik sends to port {value}, the binary listens on {port}")
        if "container_name" in service or service.get("ports"):
            found.append(f"{name}: a fixed container name or host port stops it from scaling")
        user = config.get("broker", {}).get("username", name)
        expected = f"${{{passwords.get(user, '?')}"
        if not env.get("WARREN_BROKER__PASSWORD", "").startswith(expected):
            found.append(f"{name}: its broker password is not {passwords.get(user)} (broker user {user})")

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
        for volume in service.get("volumes") or []:
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")) and source not in (compose.get("volumes") or {}):
                found.append(f"{name}: volume {source} is not a named volume")

    init = services.get("broker-init", {})
    mounts = [str(volume) for volume in init.get("volumes") or []]
    if not any(m.startswith("./rabbitmq/definitions.json:") for m in mounts):
        found.append("broker-init: does not import rabbitmq/definitions.json")
    if not any(m.startswith("./scripts/lib/render_definitions.py:") for m in mounts):
        found.append("broker-init: does not render the definitions as scripts/up does")
    definitions = json.loads((ROOT / "rabbitmq" / "definitions.json").read_text())
    init_env = environment(init)
    for user in definitions["users"]:
        variable = passwords.get(user["name"])
        if variable is None:
            found.append(f"broker user {user['name']}: scripts/lib/infra.sh names no password variable")
        elif variable not in init_env:
            found.append(f"broker-init: the password of broker user {user['name']} ({variable}) is not passed")
    for name in ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]:
        mounts = [str(volume) for volume in services.get(name, {}).get("volumes") or []]
        for shared in ["./rabbitmq/rabbitmq.conf:", "./rabbitmq/enabled_plugins:"]:
            if not any(m.startswith(shared) for m in mounts):
                found.append(f"{name}: does not use {shared[:-1]}")

    example = (ROOT / ".env.example").read_text()
    declared = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
    for variable in sorted(referenced_variables(text) - declared):
        if not re.search(r"\$\{" + variable + r":-", text):
            found.append(f"{variable}: read from .env but not in .env.example")
    labels = json.dumps([s.get("labels") for s in services.values()])
    for host in HOSTS:
        if f"Host(`{host}`)" not in labels:
            found.append(f"Traefik does not route {host}")
    return found


def self_test(compose: dict, text: str) -> list:
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
        "a binary without a service": without(["services", "locker-service"]),
        "a misspelt setting": setting(["services", "vote-service", "environment", "WARREN_BROKER__PASWORD"], "x"),
        "a missing password": without(["services", "tally-worker", "environment", "WARREN_POSTGRES__PASSWORD"]),
        "a wrong healthcheck port": setting(["services", "record-service", "healthcheck", "test"], ["CMD", "warren-probe", "9999", "/readyz"]),
        "an unserved healthcheck path": setting(["services", "user-service", "healthcheck", "test"], ["CMD", "warren-probe", "8082", "/ready"]),
        "a fixed container name": setting(["services", "tally-worker", "container_name"], "tally"),
        "a database on the front tier": setting(["services", "postgres", "networks"], ["front", "back"]),
        "a broker password not passed": without(["services", "broker-init", "environment", "LOCKER_APP_BROKER_PASSWORD"]),
        "another broker user's password": setting(["services", "vote-service", "environment", "WARREN_BROKER__PASSWORD"], "${TALLY_WORKER_BROKER_PASSWORD}"),
        "no healthcheck": without(["services", "mongo", "healthcheck"]),
    }
    missed = []
    for what, breaking in breakages.items():
        broken = copy.deepcopy(compose)
        breaking(broken)
        if not problems(broken, text):
            missed.append(what)
    if not problems(compose, text + "\nx: ${NOT_IN_THE_EXAMPLE}\n"):
        missed.append("a variable missing from .env.example")
    return missed


def main() -> int:
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    if sys.argv[1:] == ["--self-test"]:
        missed = self_test(compose, text)
        for what in missed:
            print(f"not caught: {what}", file=sys.stderr)
        print("the compose check catches every known breakage" if not missed else "")
        return 1 if missed else 0
    found = problems(compose, text)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        print(f"docker-compose.yml agrees with the code ({len(compose['services'])} services)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
