"""Rows measured without the peers: the deadlines and the 5 000-instance run
(taskmaster alone) and the machine's own ceilings (spawn from several threads with
a small and with the daemon's descriptor table, kill-and-reap, a child writing
straight to its file)."""

import json
import os
import resource
import socket
import time

from common import (PROG, BenchError, MiB, GiB, deadline_errors, ignores_sigterm,
                    log, median, now, pct, run_cli, wait_until)
from daemons import Program, Taskmaster
from logs_rows import warm_memory
from install import CEILING_BIN, ensure_ceiling_probe
from rows import ROW_ERRORS

SPAWN_THREADS = (1, 2, 4, 8)
QUICK_SPAWN_THREADS = (2, 8)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return "/".join(f.read().split()[:3])
    except OSError:
        return "?"


class AloneRows:
    # -- deadlines: how late starttime and stoptime fire (taskmaster alone) --

    def row_deadline(self):
        """Errors of the starttime (10 s) and stoptime (30 s) deadlines, from the event
        log: `spawned` → `entered RUNNING` minus 10 s, and `stopping` → `killing` minus
        30 s, for many instances of one daemon, both deadlines running in parallel, so
        a repetition takes ~35 s whatever the number of samples. The instances are
        started and stopped 20 ms apart: each deadline is measured on its own."""
        n = self.reps(50, 100)
        reps = self.reps(1, 2)
        self.extra["deadline_n"] = n * reps
        log(f"deadline: {n} instances x 2 programs (starttime 10 s, stoptime 30 s), {reps} reps")
        for r in range(reps):
            try:
                start, stop = self.deadline_once(n)
            except ROW_ERRORS as e:
                self.fail(("deadline_start", "deadline_stop"), Taskmaster, e)
                continue
            for row, errs in (("deadline_start", start), ("deadline_stop", stop)):
                self.extra.setdefault(row, []).extend(errs)
            log(f"  rep {r + 1}: starttime error p50 {median(start):.0f} ms p99 "
                f"{pct(start, 99):.0f} ms max {max(start)} ms; stoptime error p50 "
                f"{median(stop):.0f} ms p99 {pct(stop, 99):.0f} ms max {max(stop)} ms "
                f"(load {loadavg()})")

    def deadline_once(self, n):
        st = Program("st", [PROG, "sleep"], numprocs=n, starttime=10)
        sp = Program("sp", [PROG, "ignore-term"], numprocs=n, stoptime=30)
        d = Taskmaster(self.rundir, [st, sp], self.label(Taskmaster))
        logfile = os.path.join(d.dir, "taskmaster.log")
        try:
            d.launch(timeout=60)
            run_cli(d.ctl("start", "sp"), timeout=120)

            def sp_ready():
                pids = [p for name, (_, p) in d.states().items()
                        if name.startswith("sp:") and p]
                return len(pids) == n and all(ignores_sigterm(p) for p in pids)
            wait_until(sp_ready, 60, 0.05, "sp instances ignoring SIGTERM")
            pending = []
            try:
                for i in range(n):
                    for command, name in (("start", f"st:{i}"), ("stop", f"sp:{i}")):
                        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        pending.append(c)
                        c.connect(d.sock)
                        c.sendall((json.dumps({"command": command, "args": [name]})
                                   + "\n").encode())
                    time.sleep(0.02)
                d.wait_states("STOPPED", n, timeout=90, interval=0.5)
                d.wait_states("RUNNING", n, timeout=30, interval=0.5)
            finally:
                for c in pending:
                    c.close()
            with open(logfile, errors="replace") as f:
                lines = f.read().splitlines()
        finally:
            d.shutdown()
        start = deadline_errors(lines, n, 10_000, r"spawned: '(st:\d+)' with pid",
                                r"success: (st:\d+) entered RUNNING")
        stop = deadline_errors(lines, n, 30_000, r"stopping: (sp:\d+) \(pid",
                               r"killing '(sp:\d+)' \(\d+\) with SIGKILL")
        return start, stop

    # -- taskmaster alone: 5 000 instances against the start row --

    def row_scale(self):
        n = 5000
        base = self.results.get("scale_base", {}).get("tm", [])
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        log(f"scale (taskmaster): {n} instances")
        ok, why = self.fits(n, hard, pid_max, base)
        if not ok:
            self.scale = {"n": n, "error": why}
            log(f"  {n}: not run: {why}")
            return
        runs = []
        for _ in range(self.reps(1, 2)):
            try:
                runs.append(self.cycle(Taskmaster, n, self.reps(3, 5), timeout_scale=n / 1000))
            except ROW_ERRORS as e:
                self.scale = {"n": n, "error": f"{type(e).__name__}: {str(e)[:300]}"}
                log(f"  {n}: {e}")
                return
        agg = {k: median([r.get(k) for r in runs])
               for k in ("start", "memory", "status", "stop", "fds", "fds_idle", "threads")}
        agg["n"] = n
        self.scale = agg
        log(f"  {n}: start {agg['start']:.3f}s rss {agg['memory'] / 1024:.1f}MiB "
            f"status {agg['status'] * 1000:.1f}ms stop {agg['stop']:.3f}s fds {agg['fds']}")

    def fits(self, n, hard, pid_max, base):
        fds_at = median([r.get("fds") for r in base]) if base else None
        if fds_at is None:
            return True, None  # unknown: try it
        fd_per = fds_at / self.sizes.get("cycle", 1000)
        need_fds = fd_per * n
        if hard != resource.RLIM_INFINITY and need_fds > hard * 0.95:
            return False, (f"taskmaster holds ~{fd_per:.1f} descriptors per running instance "
                           f"({fds_at:.0f} at {self.sizes.get('cycle', 1000):,}), so {n:,} "
                           f"instances need ~{need_fds:,.0f} > the hard limit of {hard:,} "
                           f"(ulimit -Hn)")
        thr_per = (median([r.get("threads") for r in base]) or 0) / self.sizes.get("cycle", 1000)
        tasks = sum(1 for _ in _tasks())
        need_pids = (thr_per + 1) * n
        if tasks + need_pids > pid_max * 0.9:
            return False, (f"{n} instances need ~{need_pids:.0f} pids (threads + children), "
                           f"{tasks} in use, pid_max {pid_max}")
        return True, None

    # -- the machine alone: ceilings --

    def row_ceilings(self):
        log("ceilings")
        err = ensure_ceiling_probe()
        if err:
            self.notes.append(f"ceilings: the spawn probe (bench/ceiling) did not build: {err}")
            log(f"  probe: {err}")
        else:
            self.spawn_ceilings()
        self.direct_write_ceiling()

    def daemon_fds_at_1000(self):
        """Descriptors taskmaster's daemon holds with 1 000 instances running, from the
        start row's daemons (scaled to 1 000 when the row ran fewer)."""
        fds = median(self.results.get("fds", {}).get("tm", []))
        n = self.sizes.get("cycle")
        if fds is None or not n:
            return None, "no start row in this run: 5 per instance assumed"
        if n == 1000:
            return int(fds), "measured in /proc/PID/fd of the start row's daemon"
        return int(fds * 1000 / n), (f"{fds:.0f} measured at {n} instances in the start row, "
                                     f"scaled to 1 000")

    def spawn_ceilings(self):
        n = 1000
        reps = self.reps(1, 3)
        held, held_how = self.daemon_fds_at_1000()
        if held is None:
            held = 5000
        self.ceilings["held_fds"] = (held, held_how)
        # The median of the repetitions for each thread count, as for the daemons'
        # rows (a best-of-N here against their medians would flatter the ceiling).
        kill_reap = []
        for table, extra in (("small", 0), ("daemon", held)):
            runs = {}
            for _ in range(reps):
                for threads in self.reps(QUICK_SPAWN_THREADS, SPAWN_THREADS):
                    try:
                        _, cp = run_cli([CEILING_BIN, PROG, str(n), str(threads), str(extra),
                                         "sleep"], timeout=120, check_exit=(0,))
                        r = json.loads(cp.stdout)
                    except (ROW_ERRORS + (ValueError,)) as e:
                        self.notes.append(f"spawn ceiling ({threads} threads, {extra} fds): {e}")
                        continue
                    runs.setdefault(threads, []).append(r["spawn_s"])
                    if table == "small":
                        kill_reap.append(r["kill_reap_s"])
            if runs:
                best = {t: median(v) for t, v in runs.items()}
                threads = min(best, key=best.get)
                self.ceilings[f"spawn_{table}"] = (best[threads], threads, dict(best))
                log(f"  spawn 1 000 ({table} table, {extra} extra fds), median of {reps}: " +
                    ", ".join(f"{t} thr {s:.3f}s" for t, s in sorted(best.items())))
        if kill_reap:
            self.ceilings["kill_reap"] = median(kill_reap)
        if "kill_reap" in self.ceilings:
            log(f"  kill-and-reap 1 000: {self.ceilings['kill_reap'] * 1000:.0f} ms")

    def direct_write_ceiling(self):
        """`taskmaster-testprog flood SIZE > file`: the child writes to its file itself."""
        beside = self.results.get("logs_direct", {}).get("tm", [])
        if beside:
            # Measured within the logs row, one run per rep beside the daemons.
            secs = median(beside)
            self.ceilings["direct_write"] = (secs, self.sizes["logs"])
            log(f"  child writing straight to its file (logs row): "
                f"{self.sizes['logs'] / MiB / secs:,.0f} MiB/s")
            return
        size = self.sizes.get("logs") or self.reps(64 * MiB, GiB)
        secs = median([self.direct_write_once(size) for _ in range(self.reps(1, 3))])
        self.ceilings["direct_write"] = (secs, size)
        log(f"  child writing straight to its file: {size / MiB / secs:,.0f} MiB/s")

    def direct_write_once(self, size):
        """`taskmaster-testprog flood SIZE` with a new file as its stdout: seconds."""
        out = os.path.join(self.logs_dir, "direct.out")
        os.sync()
        if self.logs_dir != self.rundir:  # a tmpfs: no writeback to wait for
            warm_memory(self.logs_dir, size + size // 4)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            t0 = now()
            pid = os.posix_spawn(PROG, [PROG, "flood", str(size)], dict(os.environ),
                                 file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)])
            os.waitpid(pid, 0)
            dt = now() - t0
        finally:
            os.close(fd)
        got = os.stat(out).st_size
        os.unlink(out)
        if got != size:
            raise BenchError(f"direct write: {got} bytes, expected {size}")
        return dt


def _tasks():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                yield from os.listdir(f"/proc/{p}/task")
            except OSError:
                pass
