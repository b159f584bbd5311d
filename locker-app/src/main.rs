use locker_app::configuration::Settings;
use locker_app::startup::{Application, SERVICE};
use warren_service_kit::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(SERVICE, &settings.telemetry);
    let application = Application::build(settings).await?;
    application.run_until_stopped(shutdown::signal()).await
}
