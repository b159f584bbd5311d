//! The operator's queue bounds reach the broker: `scripts/lib/render_definitions.py` (which
//! scripts/up and compose's broker-init run before importing the definitions) sets each bounding
//! policy of `messages::topology` from its variable, keeps the default without one, and refuses
//! a value that is not a count.

use std::process::{Command, Output};

use serde_json::Value;
use warren_messages::topology::{DEAD_LETTER_BOUND_POLICY, QUEUE_BOUND_POLICY, QueueBounds};

/// Renders the committed definitions with `bounds` as environment variables.
fn render(bounds: &[(&str, &str)]) -> Output {
    let root = xtask::workspace_root();
    let definitions = root.join("rabbitmq/definitions.json");
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(&definitions).expect("rabbitmq/definitions.json"),
    )
    .expect("definitions.json is JSON");
    // Every user gets the same throwaway password variable.
    let users: Vec<String> = document["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| {
            format!(
                "{}:BOUNDS_TEST_PASSWORD",
                user["name"].as_str().expect("a name")
            )
        })
        .collect();
    let mut command = Command::new("python3");
    command
        .arg(root.join("scripts/lib/render_definitions.py"))
        .arg(&definitions)
        .args(&users)
        .env("BOUNDS_TEST_PASSWORD", "secret")
        .env_remove("WARREN_QUEUE_MAX_LENGTH")
        .env_remove("WARREN_DEAD_QUEUE_MAX_LENGTH");
    for (name, value) in bounds {
        command.env(name, value);
    }
    command.output().expect("python3 runs")
}

fn max_length(output: &Output, policy: &str) -> u64 {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered: Value = serde_json::from_slice(&output.stdout).expect("rendered JSON");
    rendered["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|candidate| candidate["name"] == policy)
        .unwrap_or_else(|| panic!("no policy {policy}"))["definition"]["max-length"]
        .as_u64()
        .expect("a max-length")
}

#[test]
fn the_operators_bounds_replace_the_defaults_and_nonsense_is_refused() {
    let defaults = render(&[]);
    assert_eq!(
        max_length(&defaults, QUEUE_BOUND_POLICY),
        u64::from(QueueBounds::DEFAULT.consumer_queue)
    );
    assert_eq!(
        max_length(&defaults, DEAD_LETTER_BOUND_POLICY),
        u64::from(QueueBounds::DEFAULT.dead_letter_queue)
    );

    let chosen = render(&[
        ("WARREN_QUEUE_MAX_LENGTH", "2500"),
        ("WARREN_DEAD_QUEUE_MAX_LENGTH", "40"),
    ]);
    assert_eq!(max_length(&chosen, QUEUE_BOUND_POLICY), 2500);
    assert_eq!(max_length(&chosen, DEAD_LETTER_BOUND_POLICY), 40);

    for nonsense in ["0", "-3", "many", "1e5"] {
        let refused = render(&[("WARREN_QUEUE_MAX_LENGTH", nonsense)]);
        assert!(!refused.status.success(), "{nonsense} was taken");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(message.contains("WARREN_QUEUE_MAX_LENGTH"), "{message}");
    }
}
