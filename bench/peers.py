"""The other supervisors users pick instead: pm2, circus and Horust, each configured
like taskmaster on the same child (restart always, no start delay, stop with SIGTERM
then SIGKILL after the stop timeout, as a group where the peer can, output to
/dev/null except in the logs row), driven through its own CLI where it has one."""

import json
import os
import shlex
import signal
import subprocess
import time

from common import (LIVE_DAEMONS, BenchError, now, proc_stat,
                    run_cli, wait_until)
from daemons import Daemon, live_prog_children
from install import CIRCUSCTL_BIN, CIRCUSD_BIN, HORUST_BIN, PM2_BIN


class AdoptedProcess:
    """A daemon that forked itself away from the CLI that launched it (pm2's): the
    harness is a child subreaper, so it becomes our child and we can reap it; this
    gives it the little of Popen's interface that Daemon uses."""

    def __init__(self, pid):
        self.pid, self.returncode = pid, None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # not (or no longer) ours: look at /proc
            st = proc_stat(self.pid)
            if st is None or st[0] in ("Z", "X"):
                self.returncode = -1
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else now() + timeout
        while self.poll() is None:
            if deadline is not None and now() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, sig):
        os.kill(self.pid, sig)


class ProcPolled(Daemon):
    """A peer whose states are polled cheaply from /proc (its live children running
    the bench's program) for the timed waits; native states are used elsewhere."""

    def running_pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        return live_prog_children(self.proc.pid)


class Pm2(ProcPolled):
    kind = "pm2"
    key = "pm2"
    how = ("`pm2 start ecosystem.config.js` (apps registered and started) / `pm2 stop all` / "
           "`pm2 ls` / `pm2 startOrReload ecosystem.config.js` (pm2 has no reload of only "
           "what changed: it reloads every app), with its own PM2_HOME in the run dir; "
           "fork mode, `interpreter: none`, `autorestart`, `restart_delay: 0`, `min_uptime: "
           "0`, `kill_timeout`, `treekill` (the group); the timed waits poll /proc (the "
           "children of its daemon, exec done), the start row's result is confirmed by "
           "`pm2 jlist`")
    unsupported = {}

    def __init__(self, rundir, programs, label="pm2"):
        super().__init__(rundir, programs, label)
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        self.conf = os.path.join(self.dir, "ecosystem.config.js")

    def env(self):
        env = dict(os.environ)
        env["PM2_HOME"] = self.home
        env.pop("PM2_PUBLIC_KEY", None)
        env.pop("PM2_SECRET_KEY", None)
        return env

    def ctl(self, *args):
        return [PM2_BIN, *args]

    def write_config(self, programs):
        apps = []
        for p in programs:
            app = {
                "name": p.name,
                "script": p.argv[0],
                "args": p.argv[1:],
                "interpreter": "none",
                "exec_mode": "fork",
                "instances": p.numprocs,
                "autorestart": p.autorestart,
                "restart_delay": 0,
                "min_uptime": 0,
                "max_restarts": 1_000_000,
                "kill_timeout": int(p.stoptime * 1000),
                "treekill": True,
                "merge_logs": True,
                "out_file": p.stdout or "/dev/null",
                "error_file": "/dev/null",
                "cwd": self.dir,
            }
            apps.append(app)
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write("module.exports = " + json.dumps({"apps": apps}, indent=1) + ";\n")
        os.rename(tmp, self.conf)

    def launch(self, timeout=60):
        self.write_config(self.programs)
        # `pm2 ping` starts pm2's daemon (it detaches itself; as a subreaper we adopt it).
        run_cli(self.ctl("ping"), timeout=timeout, check_exit=(0,), env=self.env())
        pidfile = os.path.join(self.home, "pm2.pid")
        pid, _ = wait_until(lambda: _read_pid(pidfile), 10, 0.02, "pm2.pid")
        self.proc = AdoptedProcess(pid)
        LIVE_DAEMONS.append(self)
        if any(p.autostart for p in self.programs):
            self.start_all(timeout)
        return self

    def ready(self):
        return True

    def start_all(self, timeout):
        # pm2 starts apps one at a time: hundreds take minutes on a loaded machine.
        run_cli(self.ctl("start", self.conf), timeout=max(timeout, 600), check_exit=(0,),
                env=self.env())

    def start_all_async(self):
        return subprocess.Popen(self.ctl("start", self.conf), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env=self.env())

    def status_argv(self):
        return self.ctl("ls")

    def version_argv(self):
        return self.ctl("ping")

    def status_once(self, n):
        dt, cp = run_cli(self.status_argv(), timeout=60, env=self.env())
        lines = cp.stdout.count("\n")
        if lines < n:
            raise BenchError(f"pm2 ls printed {lines} lines, expected {n}")
        return dt

    def states(self):
        _, cp = run_cli(self.ctl("jlist"), timeout=60, check_exit=(0,), env=self.env())
        out = {}
        for d in json.loads(cp.stdout[cp.stdout.index("["):]):
            status = d.get("pm2_env", {}).get("status", "?")
            state = "RUNNING" if status == "online" else status.upper()
            out[f"{d['name']}:{d['pm_id']}"] = (state, d.get("pid") or None)
        return out

    def reload(self):
        dt, cp = run_cli(self.ctl("startOrReload", self.conf, "--update-env"), timeout=900,
                         env=self.env())
        if cp.returncode != 0:
            raise BenchError(f"pm2 startOrReload exited {cp.returncode}: {cp.stderr[-500:]}")
        return dt

    def request_shutdown(self):
        # Not `pm2 kill`: it stops every app first, as slowly as the stop row shows.
        # The daemon is SIGKILLed and Daemon.shutdown kills its children by pid.
        self.proc.send_signal(signal.SIGKILL)


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


class Circus(ProcPolled):
    kind = "circus"
    key = "circus"
    how = ("`circusctl --endpoint E start WATCHER / stop / list WATCHER / reloadconfig` "
           "(circus has no per-process states: `list` gives the pids); `respawn`, "
           "`warmup_delay = 0`, `check_flapping = False`, `graceful_timeout`, `stop_children` "
           "(the children's children too); the timed waits poll /proc (the children of "
           "circusd, exec done), the start row's result is confirmed by `circusctl --json "
           "list`")
    unsupported = {}

    def __init__(self, rundir, programs, label="circus"):
        super().__init__(rundir, programs, label)
        self.conf = os.path.join(self.dir, "circus.ini")
        self.endpoint = f"ipc://{os.path.join(self.dir, 'ctl.sock')}"

    def write_config(self, programs):
        lines = [
            "[circus]",
            f"endpoint = {self.endpoint}",
            f"pubsub_endpoint = ipc://{os.path.join(self.dir, 'pub.sock')}",
            "statsd = False",
            "check_delay = 5",
            "warmup_delay = 0",
            "",
        ]
        for p in programs:
            lines += [
                f"[watcher:{p.name}]",
                f"cmd = {shlex.quote(p.argv[0])}",
                f"args = {' '.join(shlex.quote(a) for a in p.argv[1:])}",
                f"numprocesses = {p.numprocs}",
                f"autostart = {p.autostart}",
                f"respawn = {p.autorestart}",
                "warmup_delay = 0",
                "check_flapping = False",
                "stop_signal = TERM",
                f"graceful_timeout = {p.stoptime}",
                "stop_children = True",
                "copy_env = True",
                f"working_dir = {self.dir}",
                "close_child_stderr = True",
            ]
            if p.stdout:
                lines += ["stdout_stream.class = FileStream",
                          f"stdout_stream.filename = {p.stdout}"]
            else:
                lines.append("close_child_stdout = True")
            lines.append("")
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines))
        os.rename(tmp, self.conf)

    def launch_argv(self):
        return [CIRCUSD_BIN, "--log-level", "warning", "--log-output",
                os.path.join(self.dir, "circusd.log"), self.conf]

    def ctl(self, *args):
        return [CIRCUSCTL_BIN, "--endpoint", self.endpoint, "--timeout", "120", *args]

    def ready(self):
        _, cp = run_cli([CIRCUSCTL_BIN, "--endpoint", self.endpoint, "--timeout", "2",
                         "status"], timeout=10)
        return cp.returncode == 0

    # `circusctl start` alone starts the arbiter, not watchers that do not
    # autostart: the bench's rows that start by command have one program, named.
    def start_all(self, timeout):
        run_cli(self.ctl("start", self.programs[0].name), timeout=timeout, check_exit=(0,))

    def stop_all_async(self):
        return subprocess.Popen(self.ctl("stop"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def start_all_async(self):
        return subprocess.Popen(self.ctl("start", self.programs[0].name),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)

    def status_once(self, n):
        """circus has no per-process states: `list WATCHER` (the pids of its processes)
        is its per-instance listing."""
        dt, cp = run_cli(self.ctl("list", self.programs[0].name), timeout=60, check_exit=(0,))
        count = len([x for x in cp.stdout.replace(",", " ").split() if x.strip().isdigit()])
        if count < n:
            raise BenchError(f"circusctl list printed {count} pids, expected {n}")
        return dt

    def states(self):
        out = {}
        for p in self.programs:
            _, cp = run_cli(self.ctl("--json", "list", p.name), timeout=60)
            try:
                data = json.loads(cp.stdout)
            except ValueError:
                raise BenchError(f"circusctl --json list {p.name}: {cp.stdout[-300:]}")
            pids = data.get("pids", []) if isinstance(data, dict) else data
            for i, pid in enumerate(pids):
                st = proc_stat(int(pid))
                out[f"{p.name}:{i}"] = ("RUNNING" if st and st[0] != "Z" else "EXITED",
                                        int(pid))
        return out

    def reload_argv(self):
        return self.ctl("reloadconfig")

    def version_argv(self):
        return self.ctl("numwatchers")

    def request_shutdown(self):
        # SIGTERM: circusd stops its watchers, then exits.
        self.proc.send_signal(signal.SIGTERM)


class Horust(ProcPolled):
    """Horust runs every service file of a directory and has no control command in
    the version installed: `start all` is launching horust, `stop all` is SIGTERM to
    horust (it stops each service, then exits), and states are its children in /proc."""
    kind = "Horust"
    key = "horust"
    how = ("no control CLI: start = launching `horust --services-path DIR` with one "
           "service file per instance (its own start-up is in the start row), stop = "
           "SIGTERM to horust (it stops each service, then exits); `strategy = always`, "
           "`backoff = 0s`, `start-delay = 0s`, `[termination]` TERM and `wait`; no way to "
           "stop a service's group; states from /proc (the children of horust)")
    unsupported = {
        "status": "no status command (no control CLI)",
        "reload": "no reload (services are read at start only)",
    }

    def __init__(self, rundir, programs, label="horust"):
        super().__init__(rundir, programs, label)
        self.services = os.path.join(self.dir, "services")

    def write_config(self, programs):
        os.makedirs(self.services, exist_ok=True)
        for p in programs:
            for i in range(p.numprocs):
                name = p.name if p.numprocs == 1 else f"{p.name}-{i}"
                lines = [
                    f"command = {json.dumps(' '.join(shlex.quote(a) for a in p.argv))}",
                    'start-delay = "0s"',
                    f"working-directory = {json.dumps(self.dir)}",
                    f"stdout = {json.dumps(p.stdout or '/dev/null')}",
                    'stderr = "/dev/null"',
                    "[restart]",
                    f"strategy = {json.dumps('always' if p.autorestart else 'never')}",
                    'backoff = "0s"',
                    "[termination]",
                    'signal = "TERM"',
                    f'wait = "{p.stoptime}s"',
                ]
                with open(os.path.join(self.services, name + ".toml"), "w") as f:
                    f.write("\n".join(lines) + "\n")

    def launch_argv(self):
        return [HORUST_BIN, "--services-path", self.services, "--uds-folder-path", self.dir]

    def launch(self, timeout=30):
        self.write_config(self.programs)
        if any(p.autostart for p in self.programs):
            self._spawn()
        return self

    def _spawn(self):
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(self.launch_argv(), stdin=subprocess.DEVNULL,
                                         stdout=o, stderr=e, cwd=self.dir,
                                         start_new_session=True)
        LIVE_DAEMONS.append(self)

    def ready(self):
        return True

    def start_all(self, timeout):
        self._spawn()

    def start_all_async(self):
        self._spawn()
        return None

    def stop_all_async(self):
        self.proc.send_signal(signal.SIGTERM)
        return None

    def states(self):
        return {str(p): ("RUNNING", p) for p in self.running_pids()}

    def status_once(self, n):
        raise BenchError(self.unsupported["status"])

    def request_shutdown(self):
        self.proc.send_signal(signal.SIGTERM)



