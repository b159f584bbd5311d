"""Adds password hashes to rabbitmq/definitions.json for one run of the broker.

The committed definitions name every broker user but hold no secret. This prints the same
document with each user's `password_hash`, computed the way RabbitMQ does
(rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt).

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


def render(definitions: dict, variables: dict) -> str | None:
    """Adds each user's password hash, the password read from the environment variable that
    `variables` names for the user; returns what is missing, or None."""
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
