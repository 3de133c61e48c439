"""The health-check row (taskmaster alone): the daemon's CPU with 100 instances
each checked over HTTP every second, against a small server this harness runs
(its own CPU is not counted). Goal: below 1 % of one core, 0.6 s of CPU a
minute. The idle row, beside it, must still read 0 wake-ups: instances without
a check are never woken for one."""

import subprocess
import sys
import time

from common import PROG, log, median, wait_until
from daemons import Program, Taskmaster
from rows import ROW_ERRORS, own_switches
from common import cpu_secs, ctx_delta

GOAL_CPU_PER_MIN = 0.6  # seconds: 1 % of one core

# A threaded HTTP server answering 200 to every GET, quiet, on a free port it
# prints first. A check reads the status line and closes, so the body's write may
# meet a closed connection: not an error worth a traceback.
SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    def handle_error(self, request, address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, address)
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


class HealthRows:
    def row_health(self):
        n = 100
        window = self.reps(10, 30)
        reps = self.reps(1, 2)
        self.sizes["health"] = n
        log(f"health: {n} instances, an http check each every 1 s, {window}s window, {reps} reps")
        server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                                  text=True)
        try:
            port = int(server.stdout.readline())
            for r in range(reps):
                try:
                    cpu, switches = self.health_once(n, port, window)
                except ROW_ERRORS as e:
                    self.fail(("health",), Taskmaster, e)
                    continue
                self.extra.setdefault("health_cpu", []).append(cpu)
                self.extra.setdefault("health_switches", []).append(switches)
                log(f"  rep {r + 1}: {cpu:.3f} s CPU/min ({cpu / 60 * 100:.2f} % of a core), "
                    f"{switches:.0f} wake-ups/min")
        finally:
            server.kill()
            server.wait()

    def health_once(self, n, port, window):
        prog = Program("h", [PROG, "sleep"], numprocs=n, autostart=True)
        prog.healthcheck = (f'{{http: "http://127.0.0.1:{port}/health", interval: 1, '
                            'timeout: 2, on_failure: none}')
        d = Taskmaster(self.rundir, [prog], self.label(Taskmaster))
        try:
            d.launch(timeout=60)
            d.wait_running(n, 60)

            def healthy():
                data = d.request("status", ["--json"])["data"]
                return sum(1 for i in data if i.get("health") == "healthy") == n
            wait_until(healthy, 60, interval=0.2, what=f"{n} healthy instances")
            time.sleep(2.0)  # let start-up work finish
            pids = d.own_pids()
            cpu0 = sum(cpu_secs(p) for p in pids)
            sw0 = own_switches(d)
            time.sleep(window)
            cpu1 = sum(cpu_secs(p) for p in pids)
            sw1 = own_switches(d)
            return (cpu1 - cpu0) * 60.0 / window, ctx_delta(sw0, sw1) * 60.0 / window
        finally:
            d.shutdown()


def health_section(b):
    """The report's lines for the health row, if it ran."""
    cpu = median(b.extra.get("health_cpu", []))
    if cpu is None:
        return []
    switches = median(b.extra.get("health_switches", []))
    met = "met" if cpu < GOAL_CPU_PER_MIN else "not met"
    return ["### taskmaster alone: health checks", "",
            f"* {b.sizes.get('health', 0)} instances, each with an http check every 1 s "
            f"(a small threaded Python server answering 200): the daemon's CPU "
            f"{cpu:.3f} s a minute ({cpu / 60 * 100:.2f} % of one core; goal < 1 %, "
            f"{GOAL_CPU_PER_MIN} s a minute: {met}), {switches:.0f} thread wake-ups a minute "
            "(checks due together start in one wake-up of the daemon's health-net thread, and "
            "their answers are read together; a healthy instance's watcher is not woken).", ""]
