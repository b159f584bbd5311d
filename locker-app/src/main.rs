//! The locker-app binary: its settings, then `startup::build`, served until SIGTERM.

fn main() -> anyhow::Result<()> {
    use locker_app::{configuration::DEFAULTS, startup};
    warren_service_kit::run(startup::SERVICE, DEFAULTS, startup::build)
}
