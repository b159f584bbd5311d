use vote_service::configuration::Settings;
use vote_service::startup::{SERVICE, build};
use warren_service_kit::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(SERVICE, &settings.telemetry);
    let application = build(settings).await?;
    application.run_until_stopped(shutdown::signal()).await
}
