"""Adds password hashes to rabbitmq/definitions.json for one run of the broker.

The committed definitions name every broker user but hold no secret. This prints the same
document with each user's `password_hash`, computed the way RabbitMQ does
(rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt).

It also applies the operator's queue bounds: each variable of BOUNDS that is set replaces the
`max-length` of the policy that messages::topology names (README, "Queue bounds"). A policy
changes on the running broker when imported, without redeclaring a queue.

usage: render_definitions.py DEFINITIONS USER:PASSWORD_VARIABLE...
"""

import base64
import hashlib
import json
import os
import secrets
import sys


def rabbit_hash(password: str) -> str:
    salt = secrets.token_bytes(4)
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


# Policy name (messages::topology::bounds) -> the variable holding the operator's bound.
BOUNDS = {
    "warren-queue-bound": "WARREN_QUEUE_MAX_LENGTH",
    "warren-dead-letter-bound": "WARREN_DEAD_QUEUE_MAX_LENGTH",
}


def apply_bounds(definitions: dict) -> str | None:
    """Sets each bounding policy's max-length from its variable, when set; returns what is
    wrong, or None."""
    policies = {policy["name"]: policy for policy in definitions.get("policies", [])}
    for name, variable in BOUNDS.items():
        if name not in policies:
            return f"rabbitmq/definitions.json has no policy {name} for {variable}"
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        if not value.isdigit() or int(value) < 1:
            return f"{variable} must be a whole number of messages, at least 1 (it is {value!r})"
        policies[name]["definition"]["max-length"] = int(value)
    return None


def render(definitions: dict, variables: dict) -> str | None:
    """Adds each user's password hash, the password read from the environment variable that
    `variables` names for the user, and applies the queue bounds; returns what is missing or
    wrong, or None."""
    wrong = apply_bounds(definitions)
    if wrong:
        return wrong
    for user in definitions["users"]:
        variable = variables.get(user["name"])
        if variable is None:
            return f"no password variable is known for broker user {user['name']}"
        password = os.environ.get(variable)
        if not password:
            return f"{variable} is not set (password of broker user {user['name']})"
        user["password_hash"] = rabbit_hash(password)
        user["hashing_algorithm"] = "rabbit_password_hashing_sha256"
    return None


def main() -> int:
    path, *pairs = sys.argv[1:]
    with open(path, encoding="utf-8") as f:
        definitions = json.load(f)
    missing = render(definitions, dict(pair.split(":", 1) for pair in pairs))
    if missing:
        print(missing, file=sys.stderr)
        return 1
    json.dump(definitions, sys.stdout, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
