//! Prints the broker definitions (RabbitMQ's import format, without passwords) that
//! `rabbitmq/definitions.json` must hold.

fn main() -> anyhow::Result<()> {
    let vhost = std::env::args()
        .nth(1)
        .unwrap_or_else(|| warren_messages::topology::DEFAULT_VHOST.to_owned());
    let definitions = warren_messages::topology::definitions(&vhost);
    println!("{}", serde_json::to_string_pretty(&definitions)?);
    Ok(())
}
