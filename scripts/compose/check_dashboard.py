"""Checks grafana/dashboards/*.json, the dashboards docker-compose.yml's Grafana provisions,
without a Grafana (none is installable here: not in Debian, not on PyPI).

- each dashboard holds to scripts/compose/dashboard.schema.json: the fields of Grafana's
  dashboard model that a provisioned dashboard needs and that Warren's panels use, with their
  types (uid, title, schemaVersion, time, templating, annotations; panels and rows with an id,
  a type, a title and a gridPos; each target a refId and a PromQL expression); nothing else;
- panel ids are unique, each panel fits in the 24 columns and none overlaps another, and a
  panel's targets have distinct refIds;
- every panel and target names the provisioned data source (grafana/provisioning/datasources)
  by uid and type, and uses no variable but Grafana's own ($__rate_interval, $__interval,
  $__range);
- every expression is PromQL that Prometheus parses: they are written as recording rules into
  a temporary rule file that `promtool check rules` reads;
- every metric an expression names, in the dashboards and in prometheus/alerts.yml, is one that
  is exported: a Warren metric that the Rust sources register (`counter!`, `gauge!`,
  `histogram!`, with a histogram's _bucket, _sum and _count), a rabbitmq_prometheus metric of
  RABBITMQ_METRICS, or one of Prometheus's own (`up`, `ALERTS`); a misspelt name fails here
  rather than drawing an empty panel or an alert that never fires;
- the dashboards show what README's "Dashboards" promises (REQUIRED_METRICS).

usage: check_dashboard.py [--self-test]   (--self-test: breaks a copy in known ways; each must be
caught)
"""

import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources"
SCHEMA = Path(__file__).resolve().parent / "dashboard.schema.json"
ALERTS = ROOT / "prometheus" / "alerts.yml"
RUST_CRATES = ROOT

# What rabbitmq_prometheus serves (RabbitMQ 3.10 to 3.13) that the dashboards and alerts may use:
# node totals at /metrics (aggregated: no queue label), and the queue_coarse_metrics family at
# /metrics/detailed (per queue: prometheus/prometheus.yml's job rabbitmq-queues). To use another,
# check that a node serves it (`curl -s http://127.0.0.1:15692/metrics`) and add it here.
RABBITMQ_METRICS = {
    "rabbitmq_build_info",
    "rabbitmq_identity_info",
    "rabbitmq_alarms_memory_used_watermark",
    "rabbitmq_alarms_free_disk_space_watermark",
    "rabbitmq_alarms_file_descriptor_limit",
    "rabbitmq_disk_space_available_bytes",
    "rabbitmq_disk_space_available_limit_bytes",
    "rabbitmq_process_resident_memory_bytes",
    "rabbitmq_resident_memory_limit_bytes",
    "rabbitmq_process_open_fds",
    "rabbitmq_process_max_fds",
    "rabbitmq_connections",
    "rabbitmq_connections_opened_total",
    "rabbitmq_connections_closed_total",
    "rabbitmq_channels",
    "rabbitmq_channels_opened_total",
    "rabbitmq_channels_closed_total",
    "rabbitmq_consumers",
    "rabbitmq_queues",
    "rabbitmq_queue_messages",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_global_messages_received_total",
    "rabbitmq_global_messages_received_confirm_total",
    "rabbitmq_global_messages_confirmed_total",
    "rabbitmq_global_messages_routed_total",
    "rabbitmq_global_messages_unroutable_returned_total",
    "rabbitmq_global_messages_unroutable_dropped_total",
    "rabbitmq_global_messages_delivered_total",
    "rabbitmq_global_messages_acknowledged_total",
    "rabbitmq_global_messages_redelivered_total",
    "rabbitmq_global_messages_dead_lettered_rejected_total",
    "rabbitmq_global_messages_dead_lettered_maxlen_total",
    "rabbitmq_raft_term_total",
    "rabbitmq_raft_entry_commit_latency_seconds",
    "rabbitmq_detailed_queue_messages",
    "rabbitmq_detailed_queue_messages_ready",
    "rabbitmq_detailed_queue_messages_unacked",
}
# Series Prometheus makes itself: each target's scrape (`up`) and the alerts' state (`ALERTS`).
PROMETHEUS_METRICS = {"up", "ALERTS", "ALERTS_FOR_STATE"}

# What the dashboards must show (README, "Operating Warren", "Dashboards"), by the metric that
# shows it.
REQUIRED_METRICS = {
    "warren_messages_published_total": "events published",
    "warren_messages_publish_outcomes_total": "events confirmed and returned",
    "warren_publish_confirm_seconds_bucket": "publish confirm latency",
    "warren_consumer_lag": "consumer lag per queue",
    "rabbitmq_detailed_queue_messages_ready": "queue depth per queue",
    "warren_dead_letter_queue_depth": "dead letters",
    "warren_http_requests_total": "HTTP requests by route and status",
    "warren_http_request_duration_seconds_bucket": "HTTP latency by route",
    "up": "broker nodes up",
    "rabbitmq_process_resident_memory_bytes": "broker memory",
    "rabbitmq_connections": "broker connections",
    "rabbitmq_channels": "broker channels",
    "rabbitmq_queue_messages_ready": "messages ready",
    "rabbitmq_queue_messages_unacked": "messages unacknowledged",
    "rabbitmq_global_messages_received_total": "broker publish rate",
    "rabbitmq_global_messages_delivered_total": "broker deliver rate",
}

# Grafana's own variables, and a duration of the same kind for promtool to parse.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "1h",
    "${__range}": "1h",
}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}


def warren_metrics() -> set:
    """The metric names the Rust sources register, histograms with their series' suffixes."""
    constants = {}
    sources = []
    for path in sorted(RUST_CRATES.glob("*/src/**/*.rs")):
        if path.parts[len(RUST_CRATES.parts)] == "target":
            continue
        text = path.read_text()
        sources.append(text)
        for name, value in re.findall(r'const ([A-Z][A-Z0-9_]*): &str = "([a-zA-Z_:][a-zA-Z0-9_:]*)"', text):
            constants[name] = value
    names = set()
    registration = re.compile(
        r'\b(?:describe_)?(counter|gauge|histogram)!\(\s*(?:"([a-zA-Z_:][a-zA-Z0-9_:]*)"|([A-Z][A-Z0-9_]*)\b)'
    )
    for text in sources:
        for kind, literal, constant in registration.findall(text):
            name = literal or constants.get(constant)
            if name is None:
                continue
            names.add(name)
            if kind == "histogram":
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def metric_names(expr: str) -> set:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![0-9.a-zA-Z_:])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name = match.group(0)
        if re.match(r"\s*\(", text[match.end():]) or name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def provisioned_datasources() -> dict:
    """uid -> type of every data source Grafana is provisioned with."""
    sources = {}
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        for source in (yaml.safe_load(path.read_text()) or {}).get("datasources") or []:
            sources[source.get("uid")] = source.get("type")
    return sources


def layout_problems(name: str, panels: list) -> list:
    found = []
    ids = [panel.get("id") for panel in panels]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        found.append(f"{name}: panel id {duplicate} is used more than once")
    taken = {}
    for panel in panels:
        grid = panel.get("gridPos") or {}
        title = panel.get("title")
        try:
            x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        except KeyError:
            continue
        if x + w > 24:
            found.append(f"{name}: panel {title!r} reaches column {x + w}, beyond the 24")
        if panel.get("type") == "row" and (x, w, h) != (0, 24, 1):
            found.append(f"{name}: row {title!r} does not span the width in one line")
        for column in range(x, min(x + w, 24)):
            for line in range(y, y + h):
                other = taken.setdefault((column, line), title)
                if other != title:
                    found.append(f"{name}: panel {title!r} overlaps {other!r}")
                    break
            else:
                continue
            break
    return found


def expressions(dashboard: dict) -> list:
    """(where, expression) of every target of every panel."""
    found = []
    for panel in dashboard.get("panels") or []:
        for target in panel.get("targets") or []:
            where = f"panel {panel.get('title')!r} target {target.get('refId')}"
            found.append((where, target.get("expr") or ""))
    return found


def promql_problems(exprs: list) -> list:
    """Each expression that promtool does not parse, with promtool's words."""
    def check(batch):
        rules = [{"record": f"dashboard:expression_{i}", "expr": expr} for i, (_, expr) in enumerate(batch)]
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as file:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, file)
            file.flush()
            run = subprocess.run(["promtool", "check", "rules", file.name], capture_output=True, text=True)
        return run.returncode == 0, (run.stdout + run.stderr).strip()

    if not exprs:
        return []
    ok, _ = check(exprs)
    if ok:
        return []
    found = []
    for where, expr in exprs:
        ok, output = check([(where, expr)])
        if not ok:
            reason = next((line.strip() for line in output.splitlines() if "expression_0" in line or "parse error" in line), output)
            found.append(f"{where}: promtool does not parse {expr!r}: {reason}")
    return found or ["promtool check rules failed on the expressions together"]


def substitute(where: str, expr: str, found: list) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    if "$" in expr:
        found.append(f"{where}: uses a variable the dashboard does not define: {expr!r}")
    return expr


def problems(dashboards: dict, alerts: dict, known: set, sources: dict) -> list:
    found = []
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    uids = {}
    to_parse = []
    used = set()
    for name, dashboard in dashboards.items():
        for error in sorted(validator.iter_errors(dashboard), key=lambda e: list(e.absolute_path)):
            path = "/".join(str(part) for part in error.absolute_path)
            found.append(f"{name}: {path or 'the dashboard'}: {error.message}")
        if not isinstance(dashboard, dict):
            continue
        uid = dashboard.get("uid")
        if uid in uids:
            found.append(f"{name}: uid {uid} is {uids[uid]}'s too")
        uids[uid] = name
        panels = [panel for panel in dashboard.get("panels") or [] if isinstance(panel, dict)]
        found += layout_problems(name, panels)
        for panel in panels:
            references = [("", panel.get("datasource"))] if panel.get("type") != "row" else []
            refs = [target.get("refId") for target in panel.get("targets") or []]
            if len(refs) != len(set(refs)):
                found.append(f"{name}: panel {panel.get('title')!r} has two targets with one refId")
            references += [(f" target {t.get('refId')}", t.get("datasource")) for t in panel.get("targets") or []]
            for what, reference in references:
                reference = reference or {}
                uid, kind = reference.get("uid"), reference.get("type")
                if uid not in sources:
                    found.append(f"{name}: panel {panel.get('title')!r}{what} uses data source {uid!r}, which is not provisioned")
                elif sources[uid] != kind:
                    found.append(f"{name}: panel {panel.get('title')!r}{what} takes {uid!r} for a {kind}, it is a {sources[uid]}")
        for where, expr in expressions(dashboard):
            expr = substitute(f"{name}: {where}", expr, found)
            to_parse.append((f"{name}: {where}", expr))
            names = metric_names(expr)
            used |= names
            for metric in sorted(names - known):
                found.append(f"{name}: {where}: {metric} is no metric Warren, RabbitMQ or Prometheus exports")
    found += promql_problems(to_parse)
    for missing in sorted(set(REQUIRED_METRICS) - used):
        found.append(f"the dashboards do not show {REQUIRED_METRICS[missing]} ({missing})")

    for group in (alerts or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            for metric in sorted(metric_names(str(rule.get("expr", ""))) - known):
                found.append(f"prometheus/alerts.yml: {name}: {metric} is no metric Warren, RabbitMQ or Prometheus exports")
    return found


def self_test(dashboards: dict, alerts: dict, known: set, sources: dict) -> list:
    """Breaks copies in known ways; returns the breakages that went unnoticed."""
    name = next(iter(dashboards))

    def panel_titled(doc, title):
        return next(p for p in doc[name]["panels"] if p.get("title") == title)

    def target(doc, title):
        return panel_titled(doc, title)["targets"][0]

    # Metrics no other rule requires, so that only the name check can catch these.
    def rename_metric(doc):
        t = target(doc, "Dead-lettered per second")
        t["expr"] = t["expr"].replace("warren_messages_dead_lettered_total", "warren_messages_deadlettered_total")

    def rename_broker_metric(doc):
        t = panel_titled(doc, "Memory per node")["targets"][1]
        t["expr"] = t["expr"].replace("rabbitmq_resident_memory_limit_bytes", "rabbitmq_memory_limit_bytes")

    def unbalance(doc):
        t = target(doc, "Events published, confirmed and returned per second")
        t["expr"] = t["expr"].rstrip(")")

    def bad_function(doc):
        t = target(doc, "Publish confirm latency")
        t["expr"] = t["expr"].replace("histogram_quantile", "histogram_quantil")

    def unknown_variable(doc):
        t = target(doc, "Dead letters")
        t["expr"] = 'max by (queue) (warren_dead_letter_queue_depth{queue=~"$queue"})'

    def duplicate_id(doc):
        doc[name]["panels"][2]["id"] = doc[name]["panels"][1]["id"]

    def too_wide(doc):
        panel_titled(doc, "Dead letters")["gridPos"]["w"] = 9

    def overlap(doc):
        panel_titled(doc, "Dead letters")["gridPos"]["x"] = 12

    def other_source(doc):
        target(doc, "Dead letters")["datasource"] = {"type": "prometheus", "uid": "prometheus"}

    def other_kind(doc):
        panel_titled(doc, "Dead letters")["datasource"] = {"type": "loki", "uid": "warren-prometheus"}

    def no_uid(doc):
        del doc[name]["uid"]

    def misspelt_field(doc):
        panel_titled(doc, "Dead letters")["gridpos"] = panel_titled(doc, "Dead letters").pop("gridPos")

    def dropped_panel(doc):
        doc[name]["panels"] = [p for p in doc[name]["panels"] if p.get("title") != "Dead letters"]

    def duplicate_ref(doc):
        targets = panel_titled(doc, "Publish confirm latency")["targets"]
        targets[1]["refId"] = targets[0]["refId"]

    def alert_typo(alerts_copy):
        rule = alerts_copy["groups"][0]["rules"][0]
        rule["expr"] = rule["expr"].replace("warren_dead_letter_queue_depth", "warren_dead_letters_queue_depth")

    breakages = {
        "a misspelt Warren metric": rename_metric,
        "a misspelt RabbitMQ metric": rename_broker_metric,
        "an expression that does not parse": unbalance,
        "a function PromQL does not have": bad_function,
        "a variable the dashboard does not define": unknown_variable,
        "two panels with one id": duplicate_id,
        "a panel beyond the 24 columns": too_wide,
        "overlapping panels": overlap,
        "a target on a data source that is not provisioned": other_source,
        "a panel taking the data source for another kind": other_kind,
        "a dashboard without a uid": no_uid,
        "a misspelt panel field": misspelt_field,
        "a required panel dropped": dropped_panel,
        "two targets with one refId": duplicate_ref,
    }
    missed = []
    for what, breaking in breakages.items():
        broken = copy.deepcopy(dashboards)
        breaking(broken)
        if not problems(broken, alerts, known, sources):
            missed.append(what)
    broken_alerts = copy.deepcopy(alerts)
    alert_typo(broken_alerts)
    if not problems(dashboards, broken_alerts, known, sources):
        missed.append("a misspelt metric in an alert rule")
    return missed


def main() -> int:
    dashboards = {
        str(path.relative_to(ROOT)): json.loads(path.read_text())
        for path in sorted(DASHBOARDS.glob("*.json"))
    }
    if not dashboards:
        print(f"no dashboard in {DASHBOARDS.relative_to(ROOT)}", file=sys.stderr)
        return 1
    alerts = yaml.safe_load(ALERTS.read_text())
    exported = warren_metrics()
    known = exported | RABBITMQ_METRICS | PROMETHEUS_METRICS
    sources = provisioned_datasources()
    if sys.argv[1:] == ["--self-test"]:
        missed = self_test(dashboards, alerts, known, sources)
        for what in missed:
            print(f"not caught: {what}", file=sys.stderr)
        print("the dashboard check catches every known breakage" if not missed else "")
        return 1 if missed else 0
    found = problems(dashboards, alerts, known, sources)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        count = sum(len(expressions(d)) for d in dashboards.values())
        print(
            f"the dashboards hold ({', '.join(dashboards)}: {count} expressions parsed by promtool, "
            f"every metric one of the {len(exported)} Warren exports, RabbitMQ's or Prometheus's)"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
