"""The daemons behind one interface: a Program says how every daemon should run a
child; a Daemon writes its own config for it, starts, polls states, issues the
row's commands through its own CLI, and shuts down. taskmaster and supervisord are
here; pm2, circus and Horust in peers.py.

Each daemon class says which rows it cannot do (`unsupported`: row -> why), so the
report shows "not supported: why" instead of a faked figure."""

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import time
import xmlrpc.client

from common import (children_of, is_spawn_helper, LIVE_DAEMONS, PROG, TM_BIN, TMCTL_BIN, BenchError, Timeout,
                    descendants_of, kill_pids, log, now, proc_stat, run_cli, wait_until,
                    yaml_str)
from install import SV_BIN, SVCTL_BIN


class Program:
    """One program as every daemon should run it: restart always (unless told
    otherwise), no start delay, stop with SIGTERM then SIGKILL after `stoptime`,
    stdout to /dev/null unless `stdout` names a file."""

    def __init__(self, name, argv, numprocs=1, autostart=False, autorestart=True,
                 stdout=None, starttime=0, stoptime=10):
        self.name, self.argv, self.numprocs = name, argv, numprocs
        self.autostart, self.autorestart, self.stdout = autostart, autorestart, stdout
        self.starttime, self.stoptime = starttime, stoptime


def live_prog_children(pid):
    """Pids of the children of `pid` that run the bench's child program (exec done,
    not a zombie): how a daemon without per-instance states is polled."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if not st or st[1] != pid or st[0] in ("Z", "X"):
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0]
        except OSError:
            continue
        if argv0 == PROG.encode():
            out.append(int(name))
    return out


class Daemon:
    kind = "?"
    key = "?"
    # row -> why the daemon cannot do it (shown in the table instead of a figure)
    unsupported = {}
    # How `start all` / `stop all` / `status` / reload are issued, for the notes.
    how = ""

    def __init__(self, rundir, programs, label):
        self.dir = os.path.join(rundir, label)
        os.makedirs(self.dir)
        self.programs = programs
        self.proc = None
        self.out = os.path.join(self.dir, "daemon.out")
        self.err = os.path.join(self.dir, "daemon.err")

    # -- lifecycle --
    def launch(self, timeout=30):
        self.write_config(self.programs)
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(self.launch_argv(), stdin=subprocess.DEVNULL,
                                         stdout=o, stderr=e, cwd=self.dir,
                                         start_new_session=True, env=self.env())
        LIVE_DAEMONS.append(self)
        self.wait_ready(timeout)
        return self

    def env(self):
        return None

    def wait_ready(self, timeout):
        deadline = now() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.kind} failed to start (exit {self.proc.returncode}):"
                                 f"\n{self.daemon_output()}")
            try:
                if self.ready():
                    return
            except Exception as ex:  # not listening yet
                last = ex
            if now() > deadline:
                raise Timeout(f"{self.kind} not ready after {timeout}s ({last}):\n"
                              f"{self.daemon_output()}")
            time.sleep(0.02)

    def daemon_output(self):
        text = ""
        for p in (self.err, self.out):
            try:
                with open(p, errors="replace") as f:
                    t = f.read().strip()
                if t:
                    text += t[-3000:] + "\n"
            except OSError:
                pass
        return text.strip() or "(no output)"

    @property
    def pid(self):
        return self.proc.pid

    def own_pids(self):
        """The daemon's own processes (not its programs): what CPU, memory and
        wake-ups are counted over."""
        return [self.pid]

    # -- commands (through the daemon's CLI by default) --
    def start_all(self, timeout):
        """Issues `start all`; returns when the CLI does (the caller polls states)."""
        run_cli(self.ctl("start", "all"), timeout=timeout, check_exit=(0,))

    def stop_all_async(self):
        """Begins `stop all`; returns a Popen to wait for (or None)."""
        return subprocess.Popen(self.ctl("stop", "all"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env=self.env())

    def start_all_async(self):
        return subprocess.Popen(self.ctl("start", "all"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env=self.env())

    def status_once(self, n):
        """Runs the CLI's status listing once; returns its seconds."""
        dt, cp = run_cli(self.status_argv(), timeout=60)
        lines = cp.stdout.count("\n")
        if lines < n:
            raise BenchError(f"status printed {lines} lines, expected {n}")
        return dt

    def status_argv(self):
        return self.ctl("status")

    def reload(self):
        dt, cp = run_cli(self.reload_argv(), timeout=60)
        if cp.returncode != 0:
            raise BenchError(f"reload exited {cp.returncode}: {cp.stdout}{cp.stderr}")
        return dt

    # -- states --
    def running_pids(self):
        """Pids of the instances the daemon has running (native states)."""
        return [p for s, p in self.states().values() if s == "RUNNING" and p]

    def wait_running(self, n, timeout, interval=0.02):
        """Waits until n instances run; returns the monotonic time it was seen."""
        _, t = wait_until(lambda: len(self.running_pids()) >= n, timeout, interval,
                          f"{n} instances running ({self.kind})")
        return t

    def confirm_running(self, n):
        """Checks through the native states that n instances run (after a wait that
        may have polled /proc instead)."""
        running = sum(1 for s, _ in self.states().values() if s == "RUNNING")
        if running < n:
            raise BenchError(f"{self.kind} reports {running} of {n} instances running")

    def wait_states(self, want, n, timeout, interval=0.02):
        def ok():
            st = self.states()
            return sum(1 for s, _ in st.values() if s == want) >= n
        _, t = wait_until(ok, timeout, interval, f"{n} instances {want} ({self.kind})")
        return t

    # -- shutdown --
    def shutdown(self, grace=20):
        if self.proc is None:
            return
        try:
            kids = descendants_of(self.proc.pid) if self.proc.poll() is None else {}
            if self.proc.poll() is None:
                try:
                    self.request_shutdown()
                except Exception:
                    try:
                        self.proc.send_signal(signal.SIGTERM)
                    except OSError:
                        pass
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    log(f"{self.kind} did not shut down within {grace}s: SIGKILL")
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    try:
                        os.kill(self.proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    self.proc.wait(timeout=10)
            kill_pids(kids)
        finally:
            if self in LIVE_DAEMONS:
                LIVE_DAEMONS.remove(self)

    def request_shutdown(self):
        self.proc.send_signal(signal.SIGTERM)


class Taskmaster(Daemon):
    kind = "taskmaster"
    key = "tm"
    how = ("`taskmasterctl -s SOCKET start all / stop all / status / reload`; states "
           "from the JSON socket")

    def __init__(self, rundir, programs, label="tm"):
        super().__init__(rundir, programs, label)
        self.sock = os.path.join(self.dir, "tm.sock")
        self.conf = os.path.join(self.dir, "taskmaster.yaml")

    def own_pids(self):
        # The spawn helper is taskmaster's too: its CPU and memory count.
        return [self.pid] + [c for c in children_of(self.pid) if is_spawn_helper(c)]

    def write_config(self, programs):
        lines = ["taskmaster:", f"  logfile: {yaml_str(os.path.join(self.dir, 'taskmaster.log'))}",
                 "programs:" if programs else "programs: {}"]
        for p in programs:
            lines += [
                f"  {p.name}:",
                f"    cmd: {yaml_str(' '.join(p.argv))}",
                f"    numprocs: {p.numprocs}",
                f"    autostart: {'true' if p.autostart else 'false'}",
                f"    autorestart: {'always' if p.autorestart else 'never'}",
                f"    starttime: {p.starttime}",
                f"    stoptime: {p.stoptime}",
            ]
            if p.stdout:
                lines.append(f"    stdout: {yaml_str(p.stdout)}")
            if getattr(p, "healthcheck", None):
                lines.append(f"    healthcheck: {p.healthcheck}")
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(tmp, self.conf)

    def launch_argv(self):
        return [TM_BIN, "-c", self.conf, "--no-shell", "--socket", self.sock]

    def ctl(self, *args):
        return [TMCTL_BIN, "-s", self.sock, *args]

    def request(self, command, args=(), timeout=30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall((json.dumps({"command": command, "args": list(args)}) + "\n").encode())
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        return json.loads(buf)

    def ready(self):
        return self.request("version", timeout=2).get("ok")

    def states(self):
        """{instance name: (STATE, pid)}"""
        r = self.request("status", ["--json"])
        return {d["name"]: (d["state"], d["pid"]) for d in r["data"]}

    def request_shutdown(self):
        self.request("shutdown", timeout=5)

    def reload_argv(self):
        return self.ctl("reload")

    def version_argv(self):
        return self.ctl("version")


class TaskmasterCopy(Taskmaster):
    """taskmaster with its output copied through the pump instead of spliced
    (`TASKMASTER_NO_SPLICE=1`): the logs row measures both paths in one run."""
    kind = "taskmaster (copy path)"
    key = "tmcopy"

    def env(self):
        return dict(os.environ, TASKMASTER_NO_SPLICE="1")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout):
        super().__init__()
        self.unix_path, self.timeout = path, timeout

    def make_connection(self, host):
        return UnixHTTPConnection(self.unix_path, self.timeout)


class Supervisord(Daemon):
    kind = "supervisord"
    key = "sv"
    how = ("`supervisorctl -c CONF start all / stop all / status / update`; states from "
           "XML-RPC over its unix socket")

    def __init__(self, rundir, programs, label="sv"):
        super().__init__(rundir, programs, label)
        self.sock = os.path.join(self.dir, "sv.sock")
        self.conf = os.path.join(self.dir, "supervisord.conf")

    def write_config(self, programs):
        total = sum(p.numprocs for p in programs)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        minfds = 4 * total + 1024
        if hard != resource.RLIM_INFINITY:
            minfds = min(minfds, hard)
        lines = [
            "[supervisord]",
            "nodaemon=true",
            f"logfile={os.path.join(self.dir, 'supervisord.log')}",
            f"pidfile={os.path.join(self.dir, 'supervisord.pid')}",
            f"childlogdir={self.dir}",
            "loglevel=warn",
            f"minfds={minfds}",
            "",
            "[unix_http_server]",
            f"file={self.sock}",
            "chmod=0700",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.sock}",
            "",
        ]
        for p in programs:
            lines += [
                f"[program:{p.name}]",
                "command=" + " ".join(p.argv),
                f"numprocs={p.numprocs}",
                "process_name=%(program_name)s" + ("_%(process_num)d" if p.numprocs > 1 else ""),
                f"autostart={'true' if p.autostart else 'false'}",
                f"autorestart={'true' if p.autorestart else 'false'}",
                f"startsecs={p.starttime}",
                f"stopwaitsecs={p.stoptime}",
                "stopasgroup=true",
                "killasgroup=true",
                "stderr_logfile=NONE",
            ]
            if p.stdout:
                lines += [f"stdout_logfile={p.stdout}", "stdout_logfile_maxbytes=0",
                          "stdout_logfile_backups=0"]
            else:
                lines.append("stdout_logfile=NONE")
            lines.append("")
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines))
        os.rename(tmp, self.conf)

    def launch_argv(self):
        return [SV_BIN, "-c", self.conf]

    def ctl(self, *args):
        return [SVCTL_BIN, "-c", self.conf, *args]

    def rpc(self, timeout=30):
        return xmlrpc.client.ServerProxy("http://localhost/RPC2",
                                         transport=UnixTransport(self.sock, timeout))

    def ready(self):
        return self.rpc(2).supervisor.getState()["statename"] == "RUNNING"

    def states(self):
        infos = self.rpc().supervisor.getAllProcessInfo()
        out = {}
        for d in infos:
            name = d["name"] if d["group"] == d["name"] else f"{d['group']}:{d['name']}"
            out[name] = (d["statename"], d["pid"] or None)
        return out

    def request_shutdown(self):
        # SIGTERM: supervisord stops every child, then exits.
        self.proc.send_signal(signal.SIGTERM)

    def reload_argv(self):
        return self.ctl("update")

    def version_argv(self):
        return self.ctl("version")
