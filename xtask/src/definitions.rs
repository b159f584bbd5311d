//! `rabbitmq/definitions.json`: the broker's vhost, users (without passwords), permissions,
//! exchanges, quorum queues and bindings, in RabbitMQ's import format, from
//! `warren_messages::topology`. JSON has no comments, so this file carries no header; README and
//! ARCHITECTURE say it is generated.

use warren_messages::topology::{DEFAULT_VHOST, definitions as topology_definitions};

pub fn definitions() -> String {
    let mut document = topology_definitions(DEFAULT_VHOST);
    // Keys in alphabetical order whichever map serde_json was built with: a workspace build
    // turns on its `preserve_order` (through bson), `cargo xtask` alone does not.
    document.sort_all_objects();
    let mut text =
        serde_json::to_string_pretty(&document).expect("a serde_json::Value always serialises");
    text.push('\n');
    text
}
