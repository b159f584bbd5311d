//! scripts/up's supervisor keeps Warren running. The test runs the real scripts/up (on this
//! build's debug binaries, its own data directory, node names and ports, beside the test
//! cluster and any scripts/up of the developer's) and, without anyone starting anything again:
//! - a service killed with SIGKILL is started again, answers `/readyz`, is reported in
//!   scripts/up's output and counted as one restart by scripts/status;
//! - a RabbitMQ node killed with SIGKILL (`scripts/node kill 2`) is started again, runs in the
//!   cluster, and every quorum queue has its three members online again (the management API);
//! - PostgreSQL and the MongoDB-compatible server killed with SIGKILL are started again and
//!   answer (scripts/status);
//! - a service that keeps exiting after it had started is stopped, and one that cannot start
//!   (its port taken) is retried, then left FATAL; scripts/up's output reports each crash loop
//!   with the last lines of its log;
//! - scripts/down stops the supervisor and everything under it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use warren_testkit::eventually;

/// Ports and names of no other Warren: a developer's scripts/up (5672..., 8080...), the test
/// cluster of scripts/test (5782...) and a dev cluster (6782...).
const SETTINGS: &[(&str, &str)] = &[
    ("WARREN_RABBIT_PREFIX", "warren-sv"),
    ("WARREN_AMQP_BASE_PORT", "5882"),
    ("WARREN_MGMT_BASE_PORT", "15882"),
    ("WARREN_PROMETHEUS_BASE_PORT", "15892"),
    ("WARREN_DIST_BASE_PORT", "25882"),
    ("WARREN_PG_PORT", "5452"),
    ("WARREN_MONGO_PORT", "27037"),
    ("WARREN_SERVICE_PORT_OFFSET", "200"),
    ("WARREN_IGNORE_DOTENV", "1"),
];
const MGMT_PORT: u16 = 15882;
/// tally-worker's admin port (9081) and record-service's public port (8085), moved by 200.
const TALLY_WORKER_ADMIN_PORT: u16 = 9281;
const RECORD_SERVICE_PORT: u16 = 8285;
const PORTS: &[u16] = &[
    5882, 5883, 5884, 15882, 15883, 15884, 5452, 27037, 8280, 8281, 8282, 8283, 8284, 8285, 9280,
    9281, 9282, 9283, 9284, 9285,
];

/// A scripts/up running in the background, stopped with scripts/down when dropped.
struct Up {
    root: PathBuf,
    dir: PathBuf,
    /// scripts/up's exit, from a thread that waits for it (and so reaps it at once: scripts/down
    /// waits for it to be gone, and a zombie is not).
    exited: mpsc::Receiver<std::io::Result<ExitStatus>>,
    down: bool,
}

impl Up {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn output_path(&self) -> PathBuf {
        self.dir.join("up.out")
    }

    /// What scripts/up has printed so far.
    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.output_path()).unwrap_or_default()).into_owned()
    }

    /// One of the repository's scripts with this Warren's settings and nothing of the test
    /// cluster's environment (its WARREN_AMQP_NODES would be taken for a broker of one's own).
    fn command(&self, script: &str) -> tokio::process::Command {
        command(&self.root, &self.dir, script)
    }

    /// Runs a script to its end: its exit code and its output.
    async fn run(&self, script: &str, args: &[&str]) -> (Option<i32>, String) {
        let output = self
            .command(script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        (output.status.code(), text)
    }

    /// Fails with scripts/up's output if it has exited.
    fn assert_running(&self) {
        if let Ok(status) = self.exited.try_recv() {
            panic!("scripts/up exited ({status:?}):\n{}", self.output());
        }
    }

    /// scripts/status: its exit code and, by process, its columns.
    async fn status(&self) -> (Option<i32>, String) {
        self.run("status", &[]).await
    }

    /// The supervisor's pid for `program` (0 when it is not running).
    async fn pid(&self, program: &str) -> u32 {
        let (_, text) = self.run("supervisorctl", &["pid", program]).await;
        text.trim().parse().unwrap_or(0)
    }

    fn stop(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        let _ = std::process::Command::new(self.root.join("scripts/down"))
            .env_clear()
            .envs(environment(&self.dir))
            .stdin(Stdio::null())
            .status();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn environment(dir: &Path) -> Vec<(String, String)> {
    let bin_dir = std::env::current_exe().unwrap();
    let bin_dir = bin_dir.parent().unwrap();
    let bin_dir = if bin_dir.ends_with("deps") {
        bin_dir.parent().unwrap()
    } else {
        bin_dir
    };
    let mut variables: Vec<(String, String)> = ["PATH", "HOME", "LANG"]
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
        .collect();
    variables.extend(
        SETTINGS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    variables.push((
        "WARREN_DATA_DIR".into(),
        dir.join("data").display().to_string(),
    ));
    variables.push(("WARREN_BIN_DIR".into(), bin_dir.display().to_string()));
    variables
}

fn command(root: &Path, dir: &Path, script: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(root.join("scripts").join(script));
    command.env_clear().envs(environment(dir)).current_dir(root);
    command
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The broker administrator's password, from the secrets scripts/up generated.
fn admin_password(data_dir: &Path) -> String {
    let secrets = std::fs::read_to_string(data_dir.join("secrets.env")).unwrap();
    secrets
        .lines()
        .find_map(|line| line.strip_prefix("WARREN_ADMIN_PASSWORD="))
        .unwrap()
        .to_owned()
}

/// GET from node 1's management API.
async fn management(password: &str, path: &str) -> Option<Value> {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{MGMT_PORT}/api/{path}"))
        .basic_auth("warren-admin", Some(password))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Every node runs, and every quorum queue of vhost `warren` has three members online; the
/// queues and what was found, to show when it does not hold.
async fn cluster_whole(password: &str) -> (bool, String) {
    let (Some(nodes), Some(queues)) = (
        management(password, "nodes?columns=name,running").await,
        management(password, "queues/warren?columns=name,type,members,online").await,
    ) else {
        return (false, "the management API did not answer".into());
    };
    let nodes = nodes.as_array().unwrap();
    let running = nodes.iter().filter(|node| node["running"] == true).count();
    let quorum: Vec<&Value> = queues
        .as_array()
        .unwrap()
        .iter()
        .filter(|queue| queue["type"] == "quorum")
        .collect();
    let whole = running == 3
        && !quorum.is_empty()
        && quorum.iter().all(|queue| {
            queue["online"].as_array().map_or(0, Vec::len) == 3
                && queue["members"].as_array().map_or(0, Vec::len) == 3
        });
    let seen = quorum
        .iter()
        .map(|queue| format!("{}: online {}", queue["name"], queue["online"]))
        .collect::<Vec<_>>()
        .join("; ");
    (whole, format!("{running} nodes running; {seen}"))
}

/// The columns of `program`'s line in scripts/status's table.
fn status_line(status: &str, program: &str) -> Vec<String> {
    status
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|columns| columns.first().map(String::as_str) == Some(program))
        .unwrap_or_else(|| panic!("scripts/status shows no {program}:\n{status}"))
}

#[tokio::test]
async fn scripts_up_restarts_what_dies_and_gives_up_on_a_crash_loop() {
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let busy: Vec<u16> = PORTS
        .iter()
        .copied()
        .filter(|port| port_open(*port))
        .collect();
    assert!(busy.is_empty(), "ports this test needs are taken: {busy:?}");
    let dir = std::env::temp_dir().join(format!(
        "warren-supervision.{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let output = std::fs::File::create(dir.join("up.out")).unwrap();
    let mut process = std::process::Command::new(root.join("scripts/up"))
        .env_clear()
        .envs(environment(&dir))
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .unwrap();
    let (sender, exited) = mpsc::channel();
    std::thread::spawn(move || sender.send(process.wait()));
    let mut up = Up {
        root,
        dir,
        exited,
        down: false,
    };

    // Up: every process runs and is ready.
    let settled = eventually(Duration::from_secs(400), || async {
        let output = up.output();
        output.contains("Warren is running.") || output.contains("error:")
    })
    .await;
    up.assert_running();
    assert!(
        settled && up.output().contains("Warren is running."),
        "scripts/up did not start everything:\n{}",
        up.output()
    );
    let (code, status) = up.status().await;
    assert_eq!(code, Some(0), "scripts/status after start:\n{status}");
    for program in [
        "postgres",
        "mongo",
        "rabbit-1",
        "rabbit-2",
        "rabbit-3",
        "tally-worker",
        "record-service",
    ] {
        let line = status_line(&status, program);
        assert_eq!(line[1], "RUNNING", "{status}");
        assert_eq!(line[3], "0", "no restarts yet: {status}");
        assert_eq!(line.last().unwrap(), "yes", "ready: {status}");
    }
    let password = admin_password(&up.data_dir());
    let (whole, seen) = cluster_whole(&password).await;
    assert!(whole, "the cluster is whole after start: {seen}");
    let up_at = started.elapsed();

    // A service killed with SIGKILL comes back by itself.
    let killed = up.pid("tally-worker").await;
    assert!(killed > 0, "tally-worker has no pid");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &killed.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let readyz = format!("http://127.0.0.1:{TALLY_WORKER_ADMIN_PORT}/readyz");
    let back = eventually(Duration::from_secs(60), || async {
        let pid = up.pid("tally-worker").await;
        pid != 0
            && pid != killed
            && reqwest::get(&readyz)
                .await
                .is_ok_and(|response| response.status().is_success())
    })
    .await;
    assert!(
        back,
        "tally-worker did not come back after kill -9:\n{}",
        up.output()
    );
    let (_, status) = up.status().await;
    assert_eq!(
        status_line(&status, "tally-worker")[3],
        "1",
        "one restart: {status}"
    );
    assert!(
        up.output().contains(&format!(
            "tally-worker (pid {killed}) exited (terminated by SIGKILL)"
        )),
        "scripts/up reports the exit:\n{}",
        up.output()
    );
    let service_back_at = started.elapsed();

    // A broker node killed with SIGKILL comes back, rejoins, and every quorum queue has its
    // three members online again.
    let (code, text) = up.run("node", &["kill", "2"]).await;
    assert_eq!(code, Some(0), "scripts/node kill 2:\n{text}");
    let whole = eventually(Duration::from_secs(120), || async {
        cluster_whole(&password).await.0
    })
    .await;
    let (_, seen) = cluster_whole(&password).await;
    assert!(whole, "the cluster did not become whole again: {seen}");
    let (_, status) = up.status().await;
    let node = status_line(&status, "rabbit-2");
    assert_eq!(
        (node[1].as_str(), node[3].as_str()),
        ("RUNNING", "1"),
        "{status}"
    );
    let node_back_at = started.elapsed();

    // PostgreSQL and the MongoDB-compatible server killed with SIGKILL come back and are ready.
    for server in ["postgres", "mongo"] {
        let killed = up.pid(server).await;
        assert!(killed > 0, "{server} has no pid");
        let status = std::process::Command::new("kill")
            .args(["-KILL", &killed.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let back = eventually(Duration::from_secs(90), || async {
        let (_, status) = up.status().await;
        ["postgres", "mongo"].iter().all(|server| {
            let line = status_line(&status, server);
            // One restart, or more if it found its old shared memory still in use.
            line[1] == "RUNNING" && line[3] != "0" && line.last().unwrap() == "yes"
        })
    })
    .await;
    let (_, status) = up.status().await;
    assert!(back, "PostgreSQL and MongoDB did not come back:\n{status}");
    let servers_back_at = started.elapsed();

    // A service that keeps exiting after it had started (killed four more times: five exits
    // within ten minutes), which supervisord alone would restart forever, is stopped and
    // reported with the last lines of its log.
    let mut killed = Vec::new();
    for _ in 0..4 {
        let running = eventually(Duration::from_secs(60), || async {
            let (_, text) = up.run("supervisorctl", &["status", "tally-worker"]).await;
            let pid = up.pid("tally-worker").await;
            text.contains("RUNNING") && pid != 0 && !killed.contains(&pid)
        })
        .await;
        assert!(
            running,
            "tally-worker is not running again:\n{}",
            up.output()
        );
        let pid = up.pid("tally-worker").await;
        killed.push(pid);
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let stopped = eventually(Duration::from_secs(60), || async {
        up.output()
            .contains("tally-worker is in a crash loop: it exited 5 times")
            && up
                .run("supervisorctl", &["status", "tally-worker"])
                .await
                .1
                .contains("STOPPED")
    })
    .await;
    assert!(
        stopped,
        "tally-worker was not stopped as a crash loop:\n{}",
        up.output()
    );
    let output = up.output();
    let report = &output[output.find("tally-worker is in a crash loop").unwrap()..];
    assert!(
        report.contains("    | {"),
        "the report shows the last lines of its (JSON) log:\n{report}"
    );
    let restart_loop_at = started.elapsed();

    // A service that exits as it starts (its port taken) is retried, then given up on and
    // reported with the last lines of its log.
    let (code, text) = up.run("supervisorctl", &["stop", "record-service"]).await;
    assert_eq!(code, Some(0), "{text}");
    let taken = std::net::TcpListener::bind(("127.0.0.1", RECORD_SERVICE_PORT)).unwrap();
    // supervisorctl start answers as soon as the first start fails; the supervisor goes on.
    let _ = up.run("supervisorctl", &["start", "record-service"]).await;
    let fatal = eventually(Duration::from_secs(90), || async {
        up.output().contains("record-service is in a crash loop")
    })
    .await;
    assert!(fatal, "no crash loop reported:\n{}", up.output());
    let (code, status) = up.status().await;
    assert_eq!(
        code,
        Some(1),
        "scripts/status fails while one is down:\n{status}"
    );
    assert_eq!(
        status_line(&status, "record-service")[1],
        "FATAL",
        "{status}"
    );
    assert_eq!(
        up.pid("record-service").await,
        0,
        "record-service was left stopped"
    );
    let output = up.output();
    let report = &output[output.find("record-service is in a crash loop").unwrap()..];
    assert!(
        report.contains("| Error: cannot open the public listener on 127.0.0.1:8285"),
        "the report shows the last lines of its log:\n{report}"
    );
    drop(taken);
    let crash_loop_at = started.elapsed();

    // scripts/down stops the supervisor and everything under it.
    let (code, text) = up.run("down", &[]).await;
    up.down = true;
    assert_eq!(code, Some(0), "scripts/down:\n{text}");
    let exited = up.exited.recv_timeout(Duration::from_secs(60));
    assert!(
        exited.is_ok(),
        "scripts/up did not exit after scripts/down:\n{}",
        up.output()
    );
    let open: Vec<u16> = PORTS
        .iter()
        .copied()
        .filter(|port| port_open(*port))
        .collect();
    assert!(
        open.is_empty(),
        "still listening after scripts/down: {open:?}"
    );
    let data_dir = up.data_dir().display().to_string();
    let left = std::process::Command::new("pgrep")
        .args(["-f", &data_dir])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "processes of this Warren left after scripts/down: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    eprintln!(
        "up {up_at:?}, service back {service_back_at:?}, node back {node_back_at:?}, databases back {servers_back_at:?}, restart loop {restart_loop_at:?}, crash loop {crash_loop_at:?}, down {:?}",
        started.elapsed()
    );
}
