//! `prometheus/prometheus.yml`: the configuration of docker-compose.yml's Prometheus, which
//! scrapes every service of the manifest on its admin port and each RabbitMQ node's
//! `rabbitmq_prometheus` plugin, and evaluates `prometheus/alerts.yml`.

use std::fmt::Write;

use warren_manifest::SERVICES;
use warren_messages::topology::DEFAULT_VHOST;

use crate::compose::BROKER_HOSTS;

/// The port of the `rabbitmq_prometheus` plugin in each broker container.
const RABBITMQ_PROMETHEUS_PORT: u16 = 15692;

pub fn config() -> String {
    let mut out = super::header(
        "#",
        "warren-manifest (manifest/src) by xtask/src/prometheus.rs",
    );
    out.push_str(
        "#\n\
         # docker-compose.yml's Prometheus (mounted at /etc/prometheus/prometheus.yml, beside\n\
         # alerts.yml). scripts/test checks it with `promtool check config`.\n\
         \n\
         global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n\
         \n\
         rule_files:\n  - alerts.yml\n\
         \n\
         scrape_configs:\n\
         \x20 # Every Warren service's admin listener (/metrics), one job per service. Docker's DNS\n\
         \x20 # answers a service's name with the address of each of its containers, so every instance\n\
         \x20 # of a scaled service (docker compose up --scale tally-worker=3) is scraped.\n",
    );
    for service in SERVICES {
        let _ = write!(
            out,
            "  - job_name: {name}\n    dns_sd_configs:\n      - names: [{name}]\n        \
             type: A\n        port: {port}\n",
            name = service.name,
            port = service.admin_port,
        );
    }
    let targets = BROKER_HOSTS
        .iter()
        .map(|host| format!("{host}:{RABBITMQ_PROMETHEUS_PORT}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        out,
        "  # Each RabbitMQ node's totals (rabbitmq_prometheus's /metrics, aggregated): nodes up,\n\
         \x20 # memory, connections, channels, message rates. alerts.yml's WarrenBrokerNodeDown\n\
         \x20 # watches this job's `up`.\n\
         \x20 - job_name: rabbitmq\n    static_configs:\n      - targets: [{targets}]\n\
         \x20 # Messages ready and unacknowledged per queue of the {DEFAULT_VHOST} vhost: the detailed\n\
         \x20 # endpoint's queue_coarse_metrics family (rabbitmq_detailed_queue_*{{queue=...}}), leaving\n\
         \x20 # /metrics aggregated rather than turning on per-object metrics for every family.\n\
         \x20 - job_name: rabbitmq-queues\n    metrics_path: /metrics/detailed\n    params:\n      \
         vhost: [{DEFAULT_VHOST}]\n      family: [queue_coarse_metrics]\n    static_configs:\n      \
         - targets: [{targets}]\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_scraped_on_its_admin_port() {
        let config = config();
        for service in SERVICES {
            assert!(
                config.contains(&format!(
                    "  - job_name: {name}\n    dns_sd_configs:\n      - names: [{name}]\n        \
                     type: A\n        port: {admin}\n",
                    name = service.name,
                    admin = service.admin_port
                )),
                "{} is not scraped on its admin port:\n{config}",
                service.name
            );
        }
        assert!(config.contains("  - job_name: rabbitmq\n"));
        assert!(config.contains("rule_files:\n  - alerts.yml\n"));
    }
}
