//! Nothing Warren runs listens beyond this machine: every listening socket of the test
//! infrastructure's servers (each RabbitMQ node's AMQP, management, Prometheus and Erlang
//! distribution listeners, epmd, PostgreSQL, the MongoDB-compatible server) and of every service
//! (its public and its admin listener) is on a loopback address, or, where the nodes run in network namespaces of their own, on the
//! node's own private address.
//!
//! The sockets are read from the kernel (`/proc/<pid>/net/tcp{,6}` and each process's socket
//! descriptors), as `ss -ltnp` reads them. Every process that listens on a port the tests were
//! given counts as the infrastructure's, and all of its listeners are checked, not only that
//! port: a node's distribution listener is found through its AMQP port.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use warren_manifest::SERVICES;
use warren_testkit::env;
use warren_testkit::services::Wiring;

/// epmd's well-known port: every Erlang VM here registers with it.
const EPMD_PORT: u16 = 4369;

#[derive(Debug, Clone)]
struct Listener {
    pid: u32,
    command: String,
    address: SocketAddr,
}

#[tokio::test]
async fn every_server_and_service_listens_on_loopback_only() {
    let wiring = Wiring::fresh(SERVICES).await;
    let mut processes = Vec::new();
    for service in SERVICES {
        processes.push(wiring.start(*service).await);
    }

    let mut ports = BTreeMap::new();
    for node in env("WARREN_AMQP_NODES").split(',') {
        ports.insert(port_of(node), format!("AMQP {node}"));
    }
    for console in env("WARREN_MANAGEMENT_URLS").split(',') {
        ports.insert(port_of(console), format!("management {console}"));
    }
    ports.insert(
        port_of(&env("WARREN_POSTGRES_URL_BASE")),
        "PostgreSQL".into(),
    );
    ports.insert(
        port_of(&env("WARREN_MONGO_URI")),
        "the MongoDB-compatible server".into(),
    );
    ports.insert(EPMD_PORT, "epmd".into());
    // The TLS endpoints, where the infrastructure has them (WARREN_TLS=1).
    for variable in ["WARREN_AMQPS_NODE", "WARREN_MONGO_TLS_URI"] {
        if let Ok(url) = std::env::var(variable) {
            ports.insert(port_of(&url), variable.into());
        }
    }
    for process in &processes {
        ports.insert(process.port(), process.name().into());
        ports.insert(
            process.admin_port(),
            format!("{}'s admin listener", process.name()),
        );
    }

    let listeners = all_listeners();
    let owners: BTreeSet<u32> = listeners
        .iter()
        .filter(|listener| ports.contains_key(&listener.address.port()))
        .map(|listener| listener.pid)
        .collect();
    // Not vacuous: each port the tests were given was found listening.
    for (port, what) in &ports {
        assert!(
            listeners.iter().any(|l| l.address.port() == *port),
            "nothing found listening on port {port} ({what}): the check reads no sockets"
        );
    }
    // The nodes' other listeners (distribution, Prometheus) are found through their AMQP port.
    for node in env("WARREN_AMQP_NODES").split(',') {
        let node_pid = listeners
            .iter()
            .find(|l| l.address.port() == port_of(node))
            .unwrap()
            .pid;
        let count = listeners.iter().filter(|l| l.pid == node_pid).count();
        assert!(
            count >= 4,
            "node {node} shows {count} listeners; AMQP, management, Prometheus and distribution expected"
        );
    }

    let allowed = allowed_addresses();
    let exposed: Vec<_> = listeners
        .iter()
        .filter(|l| owners.contains(&l.pid) && !allowed(l.address.ip()))
        .map(|l| format!("{} (pid {}) on {}", l.command, l.pid, l.address))
        .collect();
    assert!(
        exposed.is_empty(),
        "listening beyond loopback: {}",
        exposed.join("; ")
    );
}

/// Loopback, and the nodes' own addresses where they run in network namespaces (a private
/// bridge that nothing outside this machine reaches).
fn allowed_addresses() -> impl Fn(IpAddr) -> bool {
    let nodes: BTreeSet<IpAddr> = env("WARREN_AMQP_NODES")
        .split(',')
        .filter_map(|node| host_of(node).parse().ok())
        .collect();
    move |ip| permitted(ip, &nodes)
}

fn permitted(ip: IpAddr, nodes: &BTreeSet<IpAddr>) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    ip.is_loopback() || nodes.contains(&ip)
}

/// `scheme://[user@]host:port[/…]` → host.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
}

/// `scheme://[user@]host:port[/…]` → port.
fn port_of(url: &str) -> u16 {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap();
    let (_, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url} names no port"));
    port.parse()
        .unwrap_or_else(|_| panic!("{url}: bad port {port}"))
}

/// Every listening TCP socket of every process this user can see, with its owner.
fn all_listeners() -> Vec<Listener> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let inodes = socket_inodes(pid);
        if inodes.is_empty() {
            continue;
        }
        let command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        // The process's own network namespace's table: a node in a namespace has its own.
        for table in ["tcp", "tcp6"] {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
                continue;
            };
            for (address, inode) in listening(&text) {
                if inodes.contains(&inode) {
                    found.push(Listener {
                        pid,
                        command: command.clone(),
                        address,
                    });
                }
            }
        }
    }
    found
}

/// The inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    descriptors
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The listening sockets of a `/proc/net/tcp` or `tcp6` table: local address and inode.
fn listening(table: &str) -> Vec<(SocketAddr, u64)> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&LISTEN) {
                return None;
            }
            let (ip, port) = fields.get(1)?.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            Some((
                SocketAddr::new(kernel_ip(ip)?, port),
                fields.get(9)?.parse().ok()?,
            ))
        })
        .collect()
}

/// An address as the kernel prints it: 32-bit words in hex, each in the machine's byte order.
fn kernel_ip(hex: &str) -> Option<IpAddr> {
    let words: Vec<[u8; 4]> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map(u32::to_ne_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    match words.as_slice() {
        [word] => Some(IpAddr::V4(Ipv4Addr::from(*word))),
        [a, b, c, d] => {
            let mut bytes = [0_u8; 16];
            for (i, word) in [a, b, c, d].into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(word);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[test]
fn kernel_addresses_decode() {
    let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 678 1 0000000000000000 100 0 0 10 0\n   2: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0\n";
    assert_eq!(
        listening(table),
        [
            ("127.0.0.1:8080".parse().unwrap(), 12345),
            ("0.0.0.0:5432".parse().unwrap(), 678)
        ]
    );
    let v6 = "  sl  local_address\n   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42 1\n";
    assert_eq!(listening(v6), [("[::1]:22".parse().unwrap(), 42)]);
    let nodes = BTreeSet::from(["10.57.0.2".parse().unwrap()]);
    let allowed = |ip: &str| permitted(ip.parse().unwrap(), &nodes);
    assert!(allowed("127.0.0.1"));
    assert!(allowed("::1"));
    assert!(allowed("::ffff:127.0.0.1"));
    assert!(allowed("10.57.0.2"));
    assert!(!allowed("10.57.0.3"));
    assert!(!allowed("0.0.0.0"));
    assert!(!allowed("::"));
    assert_eq!(host_of("amqp://10.57.0.2:5672"), "10.57.0.2");
    assert_eq!(host_of("mongodb://u:p@127.0.0.1:27017/?x=1"), "127.0.0.1");
    assert_eq!(port_of("mongodb://u:p@127.0.0.1:27017/?x=1"), 27017);
    assert_eq!(port_of("postgres://warren@127.0.0.1:5442"), 5442);
}
