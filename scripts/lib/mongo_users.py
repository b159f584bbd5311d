"""MongoDB's users for the local server (SecantusDB), from mongo/users.json, the definition
`cargo xtask generate` renders from warren-manifest and docker-compose's mongo-init reads too.

Every password comes from the environment variable the definition names, never from the
command line.

usage: mongo_users.py URI DEFINITION --first-start
           On a server running without authentication (SecantusDB has no localhost exception,
           so its first users are made this way): creates the administrator and every user.
       mongo_users.py URI DEFINITION
           On a server requiring authentication: logs in as the administrator and creates every
           user that is missing, and sets every user's password and roles to the definition's.
       mongo_users.py URI DEFINITION --ping
           Succeeds once the administrator can log in and run a command.
"""

import json
import os
import sys

from pymongo import MongoClient
from pymongo.errors import OperationFailure


def password(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        sys.exit(f"mongo_users.py: {variable} is not set")
    return value


def client(uri: str, admin: dict | None) -> MongoClient:
    credentials = {}
    if admin is not None:
        credentials = {
            "username": admin["user"],
            "password": password(admin["password_variable"]),
            "authSource": admin["db"],
            "authMechanism": "SCRAM-SHA-256",
        }
    return MongoClient(uri, serverSelectionTimeoutMS=3000, **credentials)


def ensure(mongo: MongoClient, user: dict) -> None:
    """Creates `user`, or sets its password and roles if it exists."""
    database = mongo[user["db"]]
    fields = {
        "pwd": password(user["password_variable"]),
        "roles": user["roles"],
        "mechanisms": ["SCRAM-SHA-256"],
    }
    exists = database.command("usersInfo", user["user"])["users"]
    if exists:
        database.command("updateUser", user["user"], **fields)
    else:
        database.command("createUser", user["user"], **fields)


def main() -> int:
    uri, path, *flags = sys.argv[1:]
    with open(path, encoding="utf-8") as file:
        definition = json.load(file)
    admin = definition["admin"]
    if flags == ["--ping"]:
        with client(uri, admin) as mongo:
            status = mongo[admin["db"]].command("connectionStatus")
            users = status["authInfo"]["authenticatedUsers"]
            if not any(u["user"] == admin["user"] for u in users):
                return 1
        return 0
    first_start = flags == ["--first-start"]
    if flags and not first_start:
        sys.exit(__doc__)
    try:
        with client(uri, None if first_start else admin) as mongo:
            if first_start:
                ensure(mongo, admin)
            for user in definition["users"]:
                ensure(mongo, user)
    except OperationFailure as error:
        sys.exit(f"mongo_users.py: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
