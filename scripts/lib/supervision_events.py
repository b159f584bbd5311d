"""supervisord's event listener for scripts/up (scripts/lib/supervise.sh).

It hears every program's state changes and
- counts each program's starts in DATA_DIR/supervisor/starts/NAME, which scripts/status shows
  as restarts (supervisord itself does not count them);
- reports to DATA_DIR/logs/supervision.log, which scripts/up prints as it grows: a program that
  exited and is started again, one that exits as soon as it starts (each retry), one that is
  running again after that, and one the supervisor gave up on (FATAL, a crash loop) with the
  last lines of its log;
- stops a program that keeps exiting after it had started (EXITS exits within SECONDS, the
  arguments after DATA_DIR), which supervisord would restart forever, and reports it as a crash
  loop with the last lines of its log.

Restarting, the pauses between retries and giving up on quick exits are supervisord's
(autorestart, startsecs, startretries).
"""

import collections
import datetime
import os
import sys
import time

from supervisor import childutils

LISTENER = "warren-events"
TAIL_BYTES = 4000
TAIL_LINES = 15


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Watcher:
    def __init__(self, data_dir, loop_exits, loop_seconds):
        self.starts_dir = os.path.join(data_dir, "supervisor", "starts")
        self.report_path = os.path.join(data_dir, "logs", "supervision.log")
        self.supervisord_log = os.path.join(data_dir, "logs", "supervisord.log")
        self.rpc = childutils.getRPCInterface(os.environ)
        # Programs reported in trouble, to report when they are running again.
        self.troubled = set()
        self.loop_exits = loop_exits
        self.loop_seconds = loop_seconds
        # Each program's recent exits after it had started (monotonic times).
        self.exits = collections.defaultdict(collections.deque)
        # Programs in a crash loop that supervisord has not yet started again, to stop once it has.
        self.to_stop = set()
        os.makedirs(self.starts_dir, exist_ok=True)

    def report(self, text):
        with open(self.report_path, "a", encoding="utf-8") as report:
            report.write(f"{now()} supervisor: {text}\n")

    def count_start(self, name):
        path = os.path.join(self.starts_dir, name)
        try:
            with open(path, encoding="utf-8") as file:
                starts = int(file.read().strip() or 0)
        except (OSError, ValueError):
            starts = 0
        temporary = f"{path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(f"{starts + 1}\n")
        os.replace(temporary, path)

    def how_it_ended(self, name):
        """How supervisord saw the program's last exit ("terminated by SIGKILL", "exit status 1"),
        from its log: by the time this runs, it may have started the program again."""
        try:
            with open(self.supervisord_log, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 16384))
                lines = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "exited"
        prefix = f"exited: {name} ("
        for line in reversed(lines):
            at = line.find(prefix)
            if at >= 0:
                return "exited (" + line[at + len(prefix):].split(";")[0].rstrip(")") + ")"
        return "exited"

    def last_lines(self, process):
        try:
            text, _, _ = self.rpc.supervisor.tailProcessStdoutLog(process, 0, TAIL_BYTES)
        except Exception as error:
            return f"    (its log could not be read: {error})"
        lines = text.splitlines()[-TAIL_LINES:]
        if not lines:
            return "    (its log is empty)"
        return "\n".join(f"    | {line}" for line in lines)

    def in_a_loop(self, name):
        """Records an exit of NAME after it had started; whether it makes a crash loop."""
        exits = self.exits[name]
        moment = time.monotonic()
        exits.append(moment)
        while exits and moment - exits[0] > self.loop_seconds:
            exits.popleft()
        return len(exits) >= self.loop_exits

    def stop(self, name, process):
        """Stops NAME, which supervisord restarts after each exit; once it is starting again, as a
        program that has just exited cannot be stopped."""
        try:
            self.rpc.supervisor.stopProcess(process, False)
            self.to_stop.discard(name)
            self.exits.pop(name, None)
        except Exception:  # not running yet: stopped at its next state change
            self.to_stop.add(name)

    def handle(self, event, headers):
        name = headers.get("processname", "")
        group = headers.get("groupname", name)
        if not name or group == LISTENER:
            return
        process = f"{group}:{name}"
        if event == "PROCESS_STATE_STARTING":
            self.count_start(name)
        if name in self.to_stop and event in (
            "PROCESS_STATE_STARTING",
            "PROCESS_STATE_RUNNING",
            "PROCESS_STATE_BACKOFF",
        ):
            self.stop(name, process)
            return
        if event == "PROCESS_STATE_EXITED":
            # From RUNNING: it ran its startsecs, so autorestart starts it again at once.
            self.troubled.add(name)
            ended = f"{name} (pid {headers.get('pid')}) {self.how_it_ended(name)}"
            if self.in_a_loop(name):
                self.troubled.discard(name)
                self.report(
                    f"{ended}. {name} is in a crash loop: it exited {self.loop_exits} times within "
                    f"{self.loop_seconds} s, so the supervisor stops it (STOPPED). Fix the cause, then "
                    f"start it again with scripts/supervisorctl start {name}. The last lines of its "
                    f"log:\n{self.last_lines(process)}"
                )
                self.stop(name, process)
            else:
                self.report(f"{ended}; starting it again")
        elif event == "PROCESS_STATE_BACKOFF":
            self.troubled.add(name)
            self.report(
                f"{name} {self.how_it_ended(name)} as it started (try {headers.get('tries')}); "
                "starting it again after a pause"
            )
        elif event == "PROCESS_STATE_RUNNING" and name in self.troubled:
            self.troubled.discard(name)
            self.report(f"{name} is running again (pid {headers.get('pid')})")
        elif event == "PROCESS_STATE_FATAL":
            self.troubled.discard(name)
            self.report(
                f"{name} is in a crash loop: it exited as it started every time, so the supervisor "
                f"gave up and left it stopped (FATAL). Fix the cause, then start it again with "
                f"scripts/supervisorctl start {name}. The last lines of its log:\n{self.last_lines(process)}"
            )


def main():
    watcher = Watcher(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        try:
            watcher.handle(headers["eventname"], childutils.get_headers(payload))
        except Exception as error:  # a report lost is better than a listener that stops listening
            print(f"{now()} could not handle {headers.get('eventname')}: {error}", file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
