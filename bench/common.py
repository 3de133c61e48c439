"""What every part of the bench shares: paths, errors, process hygiene (every pid we
start is remembered and killed at exit; the harness is a child subreaper, so even
orphans and self-daemonizing peers come back to it) and small measurements read
from /proc."""

import ctypes
import datetime
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import xmlrpc.client
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "work")
REL = os.path.join(ROOT, "target", "release")
TM_BIN = os.path.join(REL, "taskmaster")
TMCTL_BIN = os.path.join(REL, "taskmasterctl")
PROG = os.path.join(REL, "examples", "taskmaster-testprog")

MiB = 1 << 20
GiB = 1 << 30


class Timeout(Exception):
    """A wait ran out of time: the row prints `timeout` and the run goes on."""


class BenchError(Exception):
    """Something failed (a daemon did not start...): the row prints `error`."""

    word = "error"


class AlteredBytes(BenchError):
    """The log file's first bytes are not the child's (a peer that decodes the output
    as text and re-encodes it): found early, so the row does not wait for the rest."""

    word = "alters the bytes"

    def __init__(self, offset, got, want):
        self.detail = (f"byte {offset:,} of the file is {got:#04x}, the child wrote "
                       f"{want:#04x}: output re-encoded")
        super().__init__(f"{self.word}: {self.detail}")


class WrongBytes(BenchError):
    """The log file does not hold exactly the bytes the child wrote (fewer: lost;
    more: re-encoded, e.g. non-UTF-8 bytes replaced by U+FFFD)."""

    def __init__(self, got, size, secs):
        self.word = "loses bytes" if got < size else "alters the bytes"
        self.detail = (f"{got / 2**20:,.0f} MiB in the file for {size / 2**20:,.0f} MiB "
                       f"written, last byte after {secs:.2f} s")
        super().__init__(f"{self.word}: {got:,} bytes in the log file, the child wrote "
                         f"{size:,} (last byte after {secs:.2f} s)")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------
# process hygiene: remember every pid we start, kill them all at exit
# ----------------------------------------------------------------------------------

LIVE_DAEMONS = []  # Daemon objects not yet shut down
RUN_DIRS = []  # temp dirs to remove


def set_subreaper():
    """Orphans of our daemons get reparented to us, so cleanup can find them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:
        pass


def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def children_of(ppid):
    """Pids whose parent is ppid (one scan of /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[1] == ppid:
            out.append(int(name))
    return out


def descendants_of(pid):
    """All descendants of pid, with their start times (to avoid recycled pids)."""
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                kids.setdefault(st[1], []).append((int(name), st[2]))
    found, frontier = {}, [pid]
    while frontier:
        p = frontier.pop()
        for c, start in kids.get(p, ()):
            if c not in found:
                found[c] = start
                frontier.append(c)
    return found


def kill_pids(pids_with_start):
    """SIGKILL each pid (and its process group if it leads one) still the same process."""
    for pid, start in pids_with_start.items():
        st = proc_stat(pid)
        if not st or st[2] != start:
            continue
        kill_with_group(pid)


def kill_with_group(pid):
    """SIGKILL pid, and first its process group if it leads one."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def reap_our_children(exclude=()):
    """Kill and reap whatever is still our child (orphans reparented to us)."""
    me = os.getpid()
    for pid in children_of(me):
        if pid in exclude:
            continue
        st = proc_stat(pid)
        if st is None:
            continue
        if st[0] != "Z":
            kill_with_group(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def cleanup_everything():
    for d in list(LIVE_DAEMONS):
        try:
            d.shutdown(grace=5)
        except Exception as e:  # keep cleaning
            log(f"cleanup: {d.kind}: {e}")
    # Killing a daemon hands its children to us (we are their subreaper): a few
    # passes catch them too.
    for _ in range(5):
        if not children_of(os.getpid()):
            break
        reap_our_children()
        time.sleep(0.05)
    for d in list(RUN_DIRS):
        shutil.rmtree(d, ignore_errors=True)
        RUN_DIRS.remove(d)
    try:
        os.rmdir(WORK)  # only if empty
    except OSError:
        pass


def on_signal(signum, _frame):
    log(f"\n{signal.Signals(signum).name}: stopping, cleaning up")
    raise SystemExit(128 + signum)


# ----------------------------------------------------------------------------------
# small utilities
# ----------------------------------------------------------------------------------


def now():
    return time.monotonic()


def wait_until(pred, timeout, interval=0.005, what="condition"):
    """Polls pred() until it returns a true value; returns (value, monotonic time)."""
    deadline = now() + timeout
    while True:
        v = pred()
        t = now()
        if v:
            return v, t
        if t > deadline:
            raise Timeout(f"timeout after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def private_kib(pid):
    """Pages only this process maps (Private_Clean + Private_Dirty), in KiB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def cpu_secs(pid):
    """CPU time (user + system, all threads, children not included) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_spawn_helper(pid):
    """Whether pid runs `taskmaster --spawn-helper` (taskmaster's own process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"--spawn-helper" in f.read().split(b"\0")
    except OSError:
        return False


def sum_over(pids, measure):
    """measure(pid) summed over pids; a process gone meanwhile counts 0."""
    total = 0
    for pid in pids:
        try:
            total += measure(pid)
        except (OSError, BenchError):
            pass
    return total


def nfds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def nthreads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


def ctx_switches(pid):
    """{tid: voluntary_ctxt_switches} over all threads of pid."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        out[tid] = int(line.split()[1])
                        break
        except OSError:
            pass
    return out


def ctx_delta(before, after):
    total = 0
    for tid, n in after.items():
        total += n - before.get(tid, 0)
    return total


def pid_alive(pid):
    """True while pid exists. A zombie not yet reaped by its daemon counts as alive;
    one handed to us (its daemon exited first, we are the subreaper) is dead: it is
    reaped here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    st = proc_stat(pid)
    if st and st[0] == "Z" and st[1] == os.getpid():
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def run_cli(argv, timeout, check_exit=None, env=None):
    """Runs a CLI; returns (seconds, CompletedProcess). Raises Timeout on timeout."""
    t0 = now()
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise Timeout(f"timeout after {timeout:g}s: {' '.join(argv[-3:])}")
    dt = now() - t0
    if check_exit is not None and cp.returncode not in check_exit:
        raise BenchError(f"{' '.join(argv)} exited {cp.returncode}: "
                         f"{(cp.stderr or cp.stdout)[-500:]}")
    return dt, cp


def p95(xs):
    xs = sorted(xs)
    k = max(0, math.ceil(0.95 * len(xs)) - 1)
    return xs[k]


def pct(xs, q):
    """The q-th percentile (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))] if xs else None


def ignores_sigterm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigIgn:"):
                    return int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)) != 0
    except OSError:
        pass
    return False


def log_time_ms(line):
    """Milliseconds of an event-log line's `YYYY-MM-DD HH:MM:SS.mmm` (local time)."""
    t = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")
    return round(t.timestamp() * 1000)


def deadline_errors(lines, n, expected_ms, start_re, end_re):
    """For each instance: (time of its end line − time of its start line) − expected, in
    ms (the log's resolution: ±1 ms). Every one of the n instances must have both."""
    start_re, end_re = re.compile(start_re), re.compile(end_re)
    starts, errs = {}, []
    for line in lines:
        m = start_re.search(line)
        if m:
            starts[m.group(1)] = log_time_ms(line)
            continue
        m = end_re.search(line)
        if m and m.group(1) in starts:
            errs.append(log_time_ms(line) - starts.pop(m.group(1)) - expected_ms)
    if len(errs) != n:
        raise BenchError(f"{len(errs)} of {n} instances have both lines "
                         f"({start_re.pattern} / {end_re.pattern})")
    return errs


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def yaml_str(s):
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


# What a row catches from one daemon's run: recorded as that daemon's failure in the
# row, and the bench goes on.
ROW_ERRORS = (Timeout, BenchError, OSError, xmlrpc.client.Error, ValueError, KeyError,
              subprocess.SubprocessError)
