//! `cargo xtask generate` writes every generated file; `cargo xtask check` fails naming each
//! stale one. See the library's documentation.

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    let root = xtask::workspace_root();
    match std::env::args().nth(1).as_deref() {
        Some("generate") => {
            let written = xtask::generate(&root)?;
            for path in &written {
                println!("wrote {path}");
            }
            if written.is_empty() {
                println!("every generated file is up to date");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("check") => {
            let stale = xtask::stale_files(&root);
            if stale.is_empty() {
                println!("every generated file is up to date");
                return Ok(ExitCode::SUCCESS);
            }
            eprint!("{}", xtask::stale_report(&stale));
            Ok(ExitCode::FAILURE)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask generate   writes every generated file\n       \
                 cargo xtask check      fails naming each stale generated file"
            );
            Ok(ExitCode::from(2))
        }
    }
}
