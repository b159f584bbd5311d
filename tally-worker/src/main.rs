//! The tally-worker binary: its settings, then `startup::build`, served until SIGTERM.

fn main() -> anyhow::Result<()> {
    use tally_worker::{configuration::DEFAULTS, startup};
    warren_service_kit::run(startup::SERVICE, DEFAULTS, startup::build)
}
