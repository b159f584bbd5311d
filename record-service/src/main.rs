//! The record-service binary: its settings, then `startup::build`, served until SIGTERM.

fn main() -> anyhow::Result<()> {
    use record_service::{configuration::DEFAULTS, startup};
    warren_service_kit::run(startup::SERVICE, DEFAULTS, startup::build)
}
