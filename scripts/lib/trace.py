"""One event's journey through Warren, from the services' JSON logs (scripts/trace).

Given an id (a correlation id, a message id or a request id), finds every log line that
belongs to it in every service's log and prints them in time order: the request that published
it, the publish and its confirm, each consumer's receipt and commit, the events it caused
(their publish and confirm, then their consumers), and the read that showed the outcome.

What links the lines (messages/src/journey.rs, service-kit/src/request_id.rs): a line's own
fields (`message_id`, `correlation_id`, `causation_id`) and those of the spans it was written
in (`request{request_id}`, `message{message_id, correlation_id, causation_id}`, and
`batch{message_ids, ...}` for a batch handled in one transaction). The search grows from the id
given: a line that matches adds its request, message and correlation ids, until nothing new is
found. A line matched only through a batch's list is shown, never followed.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import sys

SINGLE = ("request_id", "message_id", "correlation_id", "causation_id")
# The ids a matching line adds to the search (a causation id is a message id already found).
FOLLOWED = ("request_id", "message_id", "correlation_id")
LISTS = ("message_ids", "correlation_ids", "causation_ids")
STEPS = {
    "request": "request",
    "publish": "publish",
    "confirm": "confirm",
    "consume": "consume",
    "commit": "commit",
    "read": "read model",
    "retry": "retry",
    "dead-letter": "dead letter",
}
SHOWN = ("exchange", "routing_key", "queue", "type", "outcome", "status", "redelivered",
         "confirm_ms", "reason", "error")


class Line:
    def __init__(self, service, number, record):
        self.service = service
        self.number = number
        self.record = record
        self.spans = record.get("spans") or []
        self.time = parse_time(record.get("timestamp", ""))
        # A request is placed at its start: its line is written when it is answered.
        elapsed = record.get("elapsed_ms")
        if record.get("stage") == "request" and isinstance(elapsed, (int, float)) and self.time:
            self.time -= datetime.timedelta(milliseconds=elapsed)
        self.keys = set()
        for name in SINGLE:
            value = record.get(name)
            if isinstance(value, str) and value:
                self.keys.add(value)
        for span in self.spans:
            for name in SINGLE:
                value = span.get(name)
                if isinstance(value, str) and value:
                    # The span of the message being handled, unless the line names its own
                    # message (an event published while handling another).
                    if name == "request_id" or "message_id" not in record:
                        self.keys.add(value)
        self.listed = set()
        for span in self.spans:
            for name in LISTS:
                value = span.get(name)
                if isinstance(value, str) and value:
                    self.listed.update(part for part in value.split(",") if part)

    def followed(self):
        values = set()
        for name in FOLLOWED:
            value = self.record.get(name)
            if isinstance(value, str) and value:
                values.add(value)
        for span in self.spans:
            value = span.get("request_id")
            if isinstance(value, str) and value:
                values.add(value)
            if "message_id" not in self.record:
                for name in ("message_id", "correlation_id"):
                    value = span.get(name)
                    if isinstance(value, str) and value:
                        values.add(value)
        return values

    def step(self):
        stage = self.record.get("stage")
        step = STEPS.get(stage, "log")
        causation = self.record.get("causation_id")
        if stage in ("publish", "confirm") and causation:
            step = f"{step} (outcome event)"
        return step

    def describe(self):
        record = self.record
        parts = []
        if record.get("stage") == "request":
            request = next((s for s in self.spans if s.get("name") == "request"), {})
            parts.append(f"{request.get('method', '?')} {request.get('route', '?')}")
        parts.append(str(record.get("message", "")))
        details = [f"{name}={record[name]}" for name in SHOWN if name in record]
        for name in ("message_id", "correlation_id", "causation_id"):
            if name in record:
                details.append(f"{name}={record[name]}")
        for span in self.spans:
            if span.get("name") == "request":
                details.append(f"request_id={span.get('request_id')}")
            if span.get("name") == "message" and "message_id" not in record:
                details.append(f"message_id={span.get('message_id')}")
        text = " ".join(part for part in parts if part)
        if details:
            text += "  [" + " ".join(details) + "]"
        return text


def parse_time(text):
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", text)
    if not match:
        return None
    seconds, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    zone = "+00:00" if zone in (None, "Z") else zone
    moment = datetime.datetime.fromisoformat(seconds + zone)
    return moment + datetime.timedelta(microseconds=micros)


def read_logs(paths):
    lines = []
    for path in paths:
        service = path.stem
        with open(path, encoding="utf-8", errors="replace") as file:
            for number, text in enumerate(file, 1):
                text = text.strip()
                if not text.startswith("{"):
                    continue
                try:
                    record = json.loads(text)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    lines.append(Line(service, number, record))
    return lines


def journey(lines, wanted):
    """The lines of `wanted`'s journey, and the ids it was found by."""
    ids = {wanted}
    matched = {}
    while True:
        grown = False
        for index, line in enumerate(lines):
            if index in matched:
                continue
            if line.keys & ids:
                matched[index] = line
                new = line.followed() - ids
                if new:
                    ids |= new
                    grown = True
            elif not line.keys and line.listed & ids:
                matched[index] = line
        if not grown:
            break
    found = sorted(matched.values(), key=lambda line: (
        line.time or datetime.datetime.max.replace(tzinfo=datetime.timezone.utc),
        line.service, line.number))
    return found, ids


def default_logs():
    data = os.environ.get("WARREN_DATA_DIR")
    if data:
        return pathlib.Path(data) / "logs"
    return pathlib.Path(__file__).resolve().parents[2] / ".warren" / "data" / "logs"


def main(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/trace",
        description="Prints the journey of one event, in time order, from every service's JSON "
                    "log: give a correlation id, a message id or a request id (X-Request-Id).")
    parser.add_argument("id", help="a correlation id, message id or request id")
    parser.add_argument("--logs", type=pathlib.Path, default=None,
                        help="the directory of the services' logs (default: $WARREN_DATA_DIR/logs, "
                             "else .warren/data/logs)")
    parser.add_argument("--json", action="store_true",
                        help="print the journey's log lines as they are, one JSON object a line, "
                             "each with the service it came from")
    args = parser.parse_args(argv)
    logs = args.logs or default_logs()
    if not logs.is_dir():
        print(f"scripts/trace: no logs in {logs} (is Warren running? --logs DIR)", file=sys.stderr)
        return 2
    paths = sorted(logs.glob("*.log"))
    found, _ = journey(read_logs(paths), args.id.strip())
    if not found:
        print(f"scripts/trace: {args.id} appears in none of the {len(paths)} logs in {logs}",
              file=sys.stderr)
        return 1
    if args.json:
        for line in found:
            print(json.dumps({"service": line.service, **line.record}))
        return 0
    services = sorted({line.service for line in found})
    print(f"journey of {args.id}: {len(found)} lines from {', '.join(services)}")
    start = found[0].time
    for line in found:
        offset = "?"
        if line.time and start:
            offset = f"+{(line.time - start).total_seconds() * 1000:.1f} ms"
        clock = line.time.strftime("%H:%M:%S.%f") if line.time else "?"
        print(f"{clock}  {offset:>12}  {line.service:<15} {line.step():<26} {line.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
