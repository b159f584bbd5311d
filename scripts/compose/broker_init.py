"""docker-compose.yml: imports rabbitmq/definitions.json into the cluster once it has formed.

The same definitions file scripts/up imports (users, permissions, the vhost, exchanges, quorum
queues), with password hashes for the passwords in the environment (.env), rendered by the same
scripts/lib/render_definitions.py. It waits until all three nodes run, so that every quorum
queue gets a member on each, then posts the definitions to the management API. The broker
users and the variables holding their passwords come from docker-compose.yml's BROKER_ADMIN and
BROKER_USERS (`user:VARIABLE ...`), which `cargo xtask generate` renders from the manifest.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from render_definitions import render  # noqa: E402

MANAGEMENT = os.environ.get("MANAGEMENT_URL", "http://rabbitmq-1:15672")
NODES = int(os.environ.get("EXPECTED_NODES", "3"))
ADMIN = os.environ["BROKER_ADMIN"]
PASSWORD_VARIABLES = dict(pair.split(":", 1) for pair in os.environ["BROKER_USERS"].split())


def call(method: str, path: str, body=None):
    password = os.environ[PASSWORD_VARIABLES[ADMIN]]
    token = base64.b64encode(f"{ADMIN}:{password}".encode()).decode()
    request = urllib.request.Request(
        MANAGEMENT + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Basic {token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
        return json.loads(text) if text else None


def running_nodes() -> int:
    try:
        return sum(1 for node in call("GET", "/api/nodes") if node.get("running"))
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def main() -> int:
    deadline = time.monotonic() + 180
    while running_nodes() < NODES:
        if time.monotonic() > deadline:
            print(f"the cluster did not reach {NODES} running nodes within 180 s", file=sys.stderr)
            return 1
        time.sleep(1)
    with open(os.environ.get("DEFINITIONS", "/warren/definitions.json"), encoding="utf-8") as f:
        definitions = json.load(f)
    missing = render(definitions, PASSWORD_VARIABLES)
    if missing:
        print(missing, file=sys.stderr)
        return 1
    call("POST", "/api/definitions", definitions)
    print(f"imported {len(definitions['queues'])} queues and {len(definitions['users'])} users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
