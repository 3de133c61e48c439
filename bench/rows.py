"""The rows measured on every daemon: start / memory / status / stop of many
instances on one daemon per repetition, memory with printing children, restart
after kill -9, idle wake-ups, reload (log throughput: logs_rows.py). Repetitions alternate the
daemons (taskmaster, supervisord, pm2, circus, Horust, taskmaster, ...).

Results are kept per row and per daemon key; a daemon that cannot do a row says so
(Daemon.unsupported) and the row is skipped for it, never faked."""

import os
import random
import signal
import statistics
import tempfile
import time

from common import (ROW_ERRORS, private_kib, sum_over, PROG, RUN_DIRS, WORK, BenchError, Timeout,
                    cpu_secs, ctx_delta, ctx_switches, log, nfds, now, nthreads,
                    p95, pid_alive, rss_kib, run_cli, wait_until)
from daemons import Program, Taskmaster


def resident_kib(d):
    """The daemon's resident memory: its main process's RSS, plus what its other
    processes (taskmaster's spawn helper) hold of their own — their private pages;
    the pages they share with the main process (the same binary, libc) are already
    in its RSS and are not counted twice."""
    pids = d.own_pids()
    return rss_kib(pids[0]) + sum_over(pids[1:], private_kib)


def own_switches(d):
    """{tid: voluntary switches} over every thread of the daemon's own processes."""
    out = {}
    for pid in d.own_pids():
        out.update(ctx_switches(pid))
    return out


from logs_rows import logs_directory


class Bench:
    def __init__(self, args, kinds):
        self.args = args
        self.quick = args.quick
        self.kinds = kinds  # Taskmaster first, then the peers chosen
        self.rundir = tempfile.mkdtemp(prefix="run-", dir=WORK)
        RUN_DIRS.append(self.rundir)
        self.seq = 0
        self.results = {}  # row -> {key: [values...]}
        self.errors = {}  # (row, key) -> (word, message)
        self.notes = []
        self.scale = []
        self.ceilings = {}
        self.extra = {}
        self.sizes = {}  # row -> what was measured (instances, bytes...)
        self.logs_dir, self.logs_fs = logs_directory(self.rundir)


    def label(self, kind):
        self.seq += 1
        return f"{kind.key}{self.seq}"

    def record(self, row, kind, value):
        self.results.setdefault(row, {}).setdefault(kind.key, []).append(value)

    def fail(self, rows, kind, exc):
        word = "timeout" if isinstance(exc, Timeout) else getattr(exc, "word", "error")
        detail = getattr(exc, "detail", None)
        for row in rows:
            self.errors.setdefault((row, kind.key), (word, str(exc), detail))
        log(f"  {kind.kind}: {word}: {str(exc)[:2000]}")

    def reps(self, quick, full):
        return quick if self.quick else full

    def able(self, row, kinds=None):
        """The daemons that can do `row` (the others are shown as not supported)."""
        return [k for k in (kinds or self.kinds) if row not in k.unsupported]

    # -- start / memory / status / stop, on one daemon per repetition --

    def cycle(self, kind, n, status_runs, timeout_scale=1.0):
        """Returns dict(start=s, memory=KiB, status=s or None, stop=s, fds=...)."""
        prog = Program("w", [PROG, "sleep"], numprocs=n, autostart=False)
        d = kind(self.rundir, [prog], self.label(kind))
        res = {}
        try:
            d.launch(timeout=60)
            launched = d.proc is not None  # Horust's start is its launch
            res["fds_idle"] = nfds(d.pid) if launched else None
            cpu0 = sum_over(d.own_pids(), cpu_secs) if launched else 0.0
            t0 = now()
            d.start_all(timeout=120 * timeout_scale)
            t_end = d.wait_running(n, timeout=120 * timeout_scale, interval=0.01)
            res["start"] = t_end - t0
            res["start_cpu"] = sum_over(d.own_pids(), cpu_secs) - cpu0
            d.confirm_running(n)
            time.sleep(self.reps(0.5, 1.0))  # memory, once things settle
            res["memory"] = resident_kib(d)
            res["fds"] = nfds(d.pid)
            res["threads"] = sum_over(d.own_pids(), lambda p: nthreads(p) or 0)
            if "status" in kind.unsupported:
                res["status"] = None
            else:
                res["status"] = statistics.median(d.status_once(n) for _ in range(status_runs))
            pids = d.running_pids()
            if len(pids) != n:
                raise BenchError(f"{len(pids)} pids before stop, expected {n}")
            cpu0 = sum_over(d.own_pids(), cpu_secs)
            t0 = now()
            cli = d.stop_all_async()
            try:
                # Each pass drops the pids already gone from the front of the list and
                # stops at the first one still alive, so polling costs little CPU.
                alive = list(pids)
                deadline = t0 + 300 * timeout_scale  # pm2 needs ~0.1 s per instance
                progress = [len(alive), now()]  # children left, when that last changed
                checked = now()
                while alive:
                    while alive and not pid_alive(alive[0]):
                        alive.pop(0)
                    if not alive:
                        break
                    if now() - checked > 5:
                        checked = now()
                        left = sum(1 for p in alive if pid_alive(p))
                        if left != progress[0]:
                            progress[:] = [left, now()]
                    if now() > deadline or now() - progress[1] > 30:
                        alive = [p for p in alive if pid_alive(p)]
                        state = ("still running" if d.proc.poll() is None
                                 else "exited, leaving them")
                        stuck = ", none stopped in the last 30 s" if now() <= deadline else ""
                        raise Timeout(f"{len(alive)} of {n} children still alive "
                                      f"{now() - t0:.0f} s after stop all{stuck} (the "
                                      f"daemon {state})")
                    time.sleep(0.002)
                res["stop"] = now() - t0
                if cli is not None:
                    cli.wait(timeout=300)
                try:
                    res["stop_cpu"] = sum_over(d.own_pids(), cpu_secs) - cpu0
                except OSError:  # the daemon exits on stop (Horust)
                    res["stop_cpu"] = None
            finally:
                if cli is not None and cli.poll() is None:
                    cli.kill()
                    cli.wait()
        finally:
            d.shutdown()
        return res

    def row_cycle(self):
        n = self.reps(50, 1000)
        reps = self.reps(1, 2)
        status_runs = self.reps(3, 5)
        self.sizes["cycle"] = n
        self.extra["status_runs"] = status_runs
        log(f"start/memory/status/stop: {n} instances, {reps} reps, status x{status_runs}")
        for r in range(reps):
            for kind in self.kinds:
                try:
                    res = self.cycle(kind, n, status_runs)
                    for row in ("start", "memory", "status", "stop", "start_cpu", "stop_cpu",
                                "fds", "threads"):
                        if res.get(row) is not None:
                            self.record(row, kind, res[row])
                    if kind is Taskmaster:
                        self.record("scale_base", kind, res)
                    status = (f"{res['status'] * 1000:.1f}ms" if res["status"] is not None
                              else "n/a")
                    log(f"  rep {r + 1} {kind.kind}: start {res['start']:.3f}s  "
                        f"rss {res['memory'] / 1024:.1f}MiB  status {status}  "
                        f"stop {res['stop']:.3f}s  fds {res.get('fds')} "
                        f"threads {res.get('threads')}")
                except ROW_ERRORS as e:
                    self.fail(("start", "memory", "status", "stop"), kind, e)

    # -- memory again, with children that print a line (so taskmaster runs a pump
    #    thread per instance; the memory row's children are silent) --

    def row_memory_printing(self):
        n = self.reps(50, 1000)
        self.sizes["memprint"] = n
        log(f"memory with printing children: {n} instances, 1 rep")
        for kind in self.kinds:
            prog = Program("w", [PROG, "print", "hello"], numprocs=n, autostart=False)
            d = kind(self.rundir, [prog], self.label(kind))
            try:
                d.launch(timeout=60)
                d.start_all(timeout=120)
                d.wait_running(n, timeout=120)
                time.sleep(self.reps(0.5, 1.0))
                rss = resident_kib(d)
                self.record("memprint", kind, rss)
                log(f"  {kind.kind}: rss {rss / 1024:.1f}MiB")
            except ROW_ERRORS as e:
                self.fail(("memprint",), kind, e)
            finally:
                d.shutdown()

    # -- restart after kill -9, with 100 and 1 000 instances running --

    def row_restart(self):
        sizes = self.reps([50], [100, 1000])
        kills = self.reps(6, 30)
        reps = self.reps(1, 2)
        gap = self.reps(0.05, 0.2)
        self.extra["kills"] = kills
        self.extra["kill_gap"] = gap
        for n in sizes:
            row = f"restart{max(n, 100)}"  # quick: 50 stands in for the 100 row
            self.sizes[row] = n
            log(f"restart: {n} instances, {kills} kills {gap * 1000:.0f} ms apart x {reps} reps")
            for r in range(reps):
                for kind in self.kinds:
                    try:
                        lat = self.restart_once(kind, n, kills, gap)
                        self.record(row, kind, p95(lat))
                        self.record(row + "_p50", kind, statistics.median(lat))
                        log(f"  rep {r + 1} {kind.kind}: p50 {statistics.median(lat) * 1000:.2f}ms "
                            f"p95 {p95(lat) * 1000:.2f}ms max {max(lat) * 1000:.2f}ms")
                    except ROW_ERRORS as e:
                        self.fail((row,), kind, e)

    def restart_once(self, kind, n, kills, gap):
        """Every instance stamps `time pid` into one file when it starts. Once all n
        run and have been up for over a second (taskmaster's restart throttle counts
        quicker deaths as a crash loop), `kills` distinct instances are SIGKILLed
        `gap` apart; the i-th new stamp is the i-th kill's replacement."""
        label = self.label(kind)
        stampfile = os.path.join(self.rundir, label + ".stamps")
        prog = Program("r", [PROG, "stamp", stampfile, "then", "sleep"], numprocs=n,
                       autostart=True)
        d = kind(self.rundir, [prog], label)

        def stamps():
            try:
                with open(stampfile) as f:
                    return [(float(t), int(p)) for t, p in
                            (l.split() for l in f.read().splitlines() if l.strip())]
            except FileNotFoundError:
                return []

        try:
            d.launch(timeout=60)
            d.wait_running(n, timeout=120)
            wait_until(lambda: len(stamps()) >= n, 30, 0.01, f"{n} stamps")
            time.sleep(1.1)
            before = stamps()
            running = set(d.running_pids())
            victims = random.sample([p for _, p in before if p in running], kills)
            kill_times = []
            for pid in victims:
                kill_times.append(time.time())
                os.kill(pid, signal.SIGKILL)
                time.sleep(gap)
            wait_until(lambda: len(stamps()) >= len(before) + kills, 60, 0.005,
                       f"{kills} replacement stamps")
            new = sorted(stamps()[len(before):])[:kills]
            return [t - k for (t, _), k in zip(new, kill_times)]
        finally:
            d.shutdown()

    # -- idle wake-ups --

    def row_idle(self):
        n = self.reps(20, 100)
        window = self.reps(3, 20)
        reps = self.reps(1, 2)
        self.sizes["idle"] = n
        log(f"idle: {n} instances, {window}s window, {reps} reps (every daemon measured "
            f"over the same window)")
        prog = Program("i", [PROG, "sleep"], numprocs=n, autostart=True)
        for r in range(reps):
            ds = []
            try:
                for kind in self.kinds:
                    try:
                        d = kind(self.rundir, [prog], self.label(kind))
                        ds.append(d)
                        d.launch(timeout=60)
                        d.wait_running(n, 60)
                    except ROW_ERRORS as e:
                        ds.remove(d)
                        d.shutdown()
                        self.fail(("idle",), kind, e)
                time.sleep(self.reps(0.5, 2.0))  # let start-up work finish
                before = {d.key: own_switches(d) for d in ds}
                time.sleep(window)
                for d in ds:
                    delta = ctx_delta(before[d.key], own_switches(d))
                    per_min = delta * 60.0 / window
                    self.record("idle", type(d), per_min)
                    log(f"  rep {r + 1} {d.kind}: {delta} voluntary switches in {window}s "
                        f"({per_min:.1f}/min, {nthreads(d.pid)} threads)")
            finally:
                for d in ds:
                    d.shutdown()

    # -- reload --

    def row_reload(self):
        n = self.reps(20, 500)
        reps = self.reps(1, 2)
        self.sizes["reload"] = n
        log(f"reload: {n} programs, one cmd changed, {reps} reps")
        for r in range(reps):
            for kind in self.able("reload"):
                try:
                    secs = self.reload_once(kind, n)
                    self.record("reload", kind, secs)
                    log(f"  rep {r + 1} {kind.kind}: {secs * 1000:.1f}ms")
                except ROW_ERRORS as e:
                    self.fail(("reload",), kind, e)

    def reload_once(self, kind, n):
        label = self.label(kind)
        old = os.path.join(self.rundir, label + ".v0")
        new = os.path.join(self.rundir, label + ".v1")
        progs = [Program("p0", [PROG, "stamp", old, "then", "sleep"], autostart=True)]
        progs += [Program(f"p{i}", [PROG, "sleep"], autostart=True) for i in range(1, n)]
        d = kind(self.rundir, progs, label)
        try:
            d.launch(timeout=120)
            d.wait_running(n, 120)
            wait_until(lambda: os.path.exists(old), 30, 0.01, "p0's first stamp")
            time.sleep(0.5)
            others = set(d.running_pids())
            with open(old) as f:
                old_pid = int(f.read().split()[1])
            others.discard(old_pid)
            progs[0] = Program("p0", [PROG, "stamp", new, "then", "sleep"], autostart=True)
            d.write_config(progs)
            t0_wall = time.time()
            dt = d.reload()
            wait_until(lambda: os.path.exists(new) and not pid_alive(old_pid), 60, 0.005,
                       "p0 running its new cmd")
            # Done when both the reload command has returned and the new child has
            # stamped its own start (polling would add up to one interval to a ~10 ms
            # measurement).
            with open(new) as f:
                stamped = float(f.read().split()[0])
            d.wait_running(n, 60)
            kept = len(others & set(d.running_pids()))
            if kept != n - 1:
                self.notes.append(f"reload ({kind.kind}): {n - 1 - kept} of the {n - 1} "
                                  f"unchanged programs were restarted too")
            return max(dt, stamped - t0_wall)
        finally:
            d.shutdown()

    # -- CLI round trip (context for the CLI-driven rows) --

    def row_cli(self):
        for kind in self.kinds:
            argv_of = getattr(kind, "version_argv", None)
            if argv_of is None:
                continue
            d = kind(self.rundir, [Program("x", [PROG, "sleep"])], self.label(kind))
            try:
                d.launch()
                times = [run_cli(d.version_argv(), 30, env=d.env())[0]
                         for _ in range(self.reps(3, 10))]
                self.extra[f"cli_{kind.key}"] = statistics.median(times)
            except ROW_ERRORS as e:
                self.notes.append(f"cli round trip ({kind.kind}): {e}")
            finally:
                d.shutdown()
