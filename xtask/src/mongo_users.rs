//! `mongo/users.json`: MongoDB's administrator and every service's user, each with its
//! database, roles and the variable holding its password, from `warren_manifest::mongo_users()`.
//! The local server gets them from `scripts/lib/mongo_users.py`, docker-compose's replica set
//! from `scripts/compose/mongo-init.js`: one definition for both. JSON has no comments, so this
//! file carries no header; README and ARCHITECTURE say it is generated.

use serde_json::{Value, json};
use warren_manifest::{MONGO_ADMIN, MONGO_ADMIN_PASSWORD, mongo_users};

/// The database MongoDB keeps its administrators in.
const ADMIN_DATABASE: &str = "admin";

fn user(name: &str, database: &str, role: &str, password_variable: &str) -> Value {
    json!({
        "user": name,
        "db": database,
        "roles": [{ "role": role, "db": database }],
        "password_variable": password_variable,
    })
}

pub fn users() -> String {
    let mut document = json!({
        "admin": user(MONGO_ADMIN, ADMIN_DATABASE, "root", MONGO_ADMIN_PASSWORD),
        "users": mongo_users()
            .iter()
            .map(|u| user(u.name, u.database, u.role.name(), &u.password_variable))
            .collect::<Vec<_>>(),
    });
    // Keys in alphabetical order whichever map serde_json was built with (see definitions.rs).
    document.sort_all_objects();
    let mut text =
        serde_json::to_string_pretty(&document).expect("a serde_json::Value always serialises");
    text.push('\n');
    text
}
