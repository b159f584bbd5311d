//! `warren-operator [--name NAME]`: makes the first operator of the locker app (see
//! `user_service::operator`). Configured like user-service (its settings and its database role),
//! it runs user-service's migrations first. The password comes from `WARREN_OPERATOR_PASSWORD`,
//! else the first line of standard input; never from an argument, which any user of the
//! machine could read.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use secrecy::SecretString;
use user_service::configuration::{DEFAULTS, Settings};
use user_service::domain::UserName;
use user_service::operator::{self, DEFAULT_NAME, PASSWORD_VARIABLE};
use warren_service_kit::telemetry;

const USAGE: &str = "usage: warren-operator [--name NAME]   (default name: operator)
The password is read from WARREN_OPERATOR_PASSWORD, else from the first line of standard input.
The database settings are user-service's (WARREN_POSTGRES__URL, WARREN_POSTGRES__PASSWORD, ...).";

fn main() -> anyhow::Result<()> {
    let Some(name) = name(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let name = UserName::parse(name).map_err(|error| anyhow::anyhow!("--name: {error}"))?;
    let password = password(&name)?;
    let settings = Settings::load(DEFAULTS)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(async {
            telemetry::init("warren-operator", &settings.telemetry);
            let made = operator::set_up(&settings, &name, &password).await?;
            println!("warren-operator: {}", made.describe(&name));
            Ok(())
        })
}

/// The name from the arguments; None when help was asked for.
fn name(mut arguments: impl Iterator<Item = String>) -> anyhow::Result<Option<String>> {
    let mut name = DEFAULT_NAME.to_owned();
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "-h" | "--help" => return Ok(None),
            "--name" => name = arguments.next().context("--name needs a value")?,
            other if other.starts_with("--name=") => name = other["--name=".len()..].to_owned(),
            other if other.starts_with("--password") => anyhow::bail!(
                "a password is never taken from the arguments (other users of the machine can \
                 read them): set {PASSWORD_VARIABLE} or give it on standard input"
            ),
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(name))
}

/// The password from the environment, else the first line of standard input.
fn password(name: &UserName) -> anyhow::Result<SecretString> {
    if let Ok(password) = std::env::var(PASSWORD_VARIABLE)
        && !password.is_empty()
    {
        return Ok(SecretString::from(password));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // No echo control without a terminal crate: the prompt says so.
        eprint!("Password for {name} (shown as you type; or set {PASSWORD_VARIABLE}): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password: set {PASSWORD_VARIABLE} or give it on standard input"
    );
    Ok(SecretString::from(password))
}
