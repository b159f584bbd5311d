//! `warren-probe PORT [PATH]`: exits 0 if `http://127.0.0.1:PORT/PATH` (default `/readyz`)
//! answers with a 2xx status within two seconds, 1 otherwise. Container healthchecks run it
//! inside the service's container, with the service's admin port (the admin listener is on the
//! container's loopback; the public port answers `/readyz` 404): the production image has no
//! shell and no curl.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

fn probe(port: u16, path: &str) -> Result<u16, String> {
    let timeout = Duration::from_secs(2);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&address, timeout).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| error.to_string())?;
    let mut head = [0_u8; 32];
    let read = stream.read(&mut head).map_err(|error| error.to_string())?;
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|port| port.parse::<u16>().ok()) else {
        eprintln!("usage: warren-probe ADMIN_PORT [PATH]");
        return ExitCode::from(2);
    };
    let path = args.next().unwrap_or_else(|| "/readyz".to_owned());
    match probe(port, &path) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{path} answered {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("{path}: {error}");
            ExitCode::FAILURE
        }
    }
}
