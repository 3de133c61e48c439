"""The markdown report: one table of rows × daemons (each peer's figure and its
ratio to taskmaster, peer ÷ taskmaster of the cost, so > 1 means taskmaster is
better) with the issue's goal for the row and whether it is met, then the machine's
ceilings, the 5 000-instance run and the deadlines."""

import math

from common import MiB, GiB, median, pct
from health import health_section

# key, label (formatted with the row's size), unit kind
ROWS = [
    ("start", "start {n:,}", "s"),
    ("stop", "stop {n:,}", "s"),
    ("restart1000", "restart p95 after kill -9, {n:,} instances", "ms"),
    ("restart100", "restart p95 after kill -9, {n:,} instances", "ms"),
    ("memory", "memory, {n:,} silent", "KiB"),
    ("memprint", "memory, {n:,} each printing a line", "KiB"),
    ("idle", "idle wake-ups, {n:,} instances", "/min"),
    ("status", "status of {n:,} through the CLI", "ms"),
    ("reload", "reload, {n:,} programs, one cmd changed", "ms"),
    ("logs", "logs, {size} from one child to a file", "logs"),
]
SIZE_OF = {"start": "cycle", "stop": "cycle", "memory": "cycle", "status": "cycle",
           "memprint": "memprint", "idle": "idle", "reload": "reload", "logs": "logs",
           "restart1000": "restart1000", "restart100": "restart100"}


def fmt(unit, v, size=None):
    if v is None:
        return "—"
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "ms":
        return f"{v * 1000:.1f} ms" if v < 10 else f"{v:.2f} s"
    if unit == "/min":
        return f"{v:.1f} /min"
    if unit == "KiB":
        return f"{v / 1024:.1f} MiB"
    if unit == "logs":
        return f"{size / MiB / v:,.0f} MiB/s"
    return str(v)


def ratio_text(r):
    if r is None:
        return "—"
    if math.isinf(r):
        return "∞"
    return f"{r:.3g}×" if r < 10 else (f"{r:.1f}×" if r < 100 else f"{r:,.0f}×")


def ratio(tm, peer):
    if tm is None or peer is None:
        return None
    if tm == 0:
        return math.inf if peer > 0 else 1.0
    return peer / tm


def size_text(size):
    return f"{size / GiB:g} GiB" if size >= GiB else f"{size // MiB} MiB"


class Report:
    def __init__(self, b):
        self.b = b
        self.keys = [k.key for k in b.kinds]
        self.names = {k.key: k.kind for k in b.kinds}
        # Rows of figures only (`scale_base` keeps whole start-row records).
        self.med = {row: {key: median(vals) for key, vals in per.items()}
                    for row, per in b.results.items()
                    if all(isinstance(v, (int, float)) for vals in per.values() for v in vals)}
        self.behind = []  # (row label, peer, ratio) where the peer beats taskmaster
        self.even = []  # (row label, peer) where they are equal (e.g. both 0 wake-ups)

    def m(self, row, key):
        return self.med.get(row, {}).get(key)

    def r(self, row, key):
        return ratio(self.m(row, "tm"), self.m(row, key))

    def cell(self, row, kind, unit, size, label):
        key = kind.key
        why = kind.unsupported.get(row.rstrip("0123456789") if row.startswith("restart")
                                   else row)
        if why:
            return f"— not supported: {why}"
        v = self.m(row, key)
        if v is None:
            err = self.b.errors.get((row, key))
            if err and err[2]:
                return f"— {err[0]} ({err[2]})"
            return f"— {err[0]}" if err else "—"
        text = fmt(unit, v, size)
        if key != "tm":
            r = self.r(row, key)
            text += f" ({ratio_text(r)})"
            if r is not None and r < 1:
                self.behind.append((label, kind.kind, r))
            elif r == 1.0:
                self.even.append((label, kind.kind))
        return text

    # -- goals, exactly the issue's --

    def goal(self, row):
        b, c = self.b, self.b.ceilings
        tm = self.m(row, "tm")
        if tm is None:
            return "", "—"

        def at_least(key, want):
            r = self.r(row, key)
            return (None, f"{self.names.get(key, key)} not measured") if r is None else (
                r >= want, f"{ratio_text(r)}")
        parts = []
        # The ceilings are of 1 000 children; a smaller (quick) row is held to its share.
        n = b.sizes.get("cycle", 1000)
        share = "" if n == 1000 else f", × {n:,}/1 000"
        if row == "start":
            parts.append(("≥ 10× supervisord",) + at_least("sv", 10))
            sp = c.get("spawn_small")
            if sp:
                ceil = sp[0] * n / 1000
                parts.append((f"≤ 1.3× the spawn ceiling ({ceil:.3f} s{share})",
                              tm / ceil <= 1.3, f"{tm / ceil:.2f}×"))
            else:
                parts.append(("≤ 1.3× the spawn ceiling", None, "ceiling not measured"))
        elif row == "stop":
            parts.append(("≥ 3× supervisord",) + at_least("sv", 3))
            kr = c.get("kill_reap")
            if kr:
                kr = kr * n / 1000
                parts.append((f"≤ 2× kill-and-reap ({kr * 1000:.0f} ms{share})", tm / kr <= 2,
                              f"{tm / kr:.2f}×"))
            else:
                parts.append(("≤ 2× kill-and-reap", None, "ceiling not measured"))
        elif row == "logs":
            dw = c.get("direct_write")
            if dw and dw[1] == b.sizes.get("logs"):
                parts.append(("≤ 1.15× the child writing to its file", tm / dw[0] <= 1.15,
                              f"{tm / dw[0]:.2f}×"))
            else:
                parts.append(("≤ 1.15× the child writing to its file", None, "not measured"))
            peers = [k for k in self.keys if k != "tm"]
            rs = {k: self.r(row, k) for k in peers}
            measured = {k: r for k, r in rs.items() if r is not None}
            ok = all(r > 1 for r in measured.values()) if measured else None
            why = ", ".join(f"{self.names[k]} {ratio_text(r)}" for k, r in measured.items())
            others = [f"{self.names[k]} {self.b.errors.get((row, k), ('not measured',))[0]}"
                      for k in peers if k not in measured]
            parts.append(("ahead of every peer that keeps the bytes", ok,
                          "; ".join(x for x in (why, ", ".join(others)) if x)))
        elif row.startswith("restart"):
            parts.append(("≤ 3 ms", tm <= 0.003, f"{tm * 1000:.1f} ms"))
            if row == "restart1000":
                parts.append(("≥ 4× pm2",) + at_least("pm2", 4))
        elif row == "idle":
            parts.append(("0 wake-ups", tm == 0, f"{tm:.1f} /min"))
        elif row in ("status", "reload"):
            want = 50 if row == "status" else 20
            rs = {k: self.r(row, k) for k in self.keys if k != "tm"}
            rs = {k: r for k, r in rs.items() if r is not None}
            if rs:
                worst = min(rs, key=rs.get)
                parts.append((f"≥ {want}× every peer", rs[worst] >= want,
                              f"lowest {self.names[worst]} {ratio_text(rs[worst])}"))
            else:
                parts.append((f"≥ {want}× every peer", None, "no peer measured"))
        elif row in ("memory", "memprint"):
            parts.append(("≤ 0.75× supervisord",) + at_least("sv", 1 / 0.75))
        if not parts:
            return "", "—"
        goal = "; ".join(p[0] for p in parts)
        oks = [p[1] for p in parts]
        met = "yes" if all(o is True for o in oks) else (
            "—" if any(o is None for o in oks) and not any(o is False for o in oks) else "**no**")
        return goal, f"{met} ({'; '.join(p[2] for p in parts)})"

    def scale_row(self):
        s, b = self.b.scale, self.b
        cols = len(self.keys)
        if not s:
            return None
        goal = ("runs (≤ 3 descriptors per instance); start, stop, status per instance "
                "within 1.5× of the start row")
        if "error" in s:
            cells = [f"not run: {s['error']}"] + ["not measured"] * (cols - 1)
            return f"| {s['n']:,} instances | " + " | ".join(cells) + f" | {goal} | **no** |"
        base_n = b.sizes.get("cycle", 1000)
        per = []
        oks = []
        for row in ("start", "stop", "status"):
            base = self.m(row, "tm")
            if base and s.get(row):
                r = (s[row] / s["n"]) / (base / base_n)
                per.append(f"{row} {r:.2f}×")
                oks.append(r <= 1.5)
        # The instances' descriptors: those held running, less the daemon's own
        # (held idle, before the start).
        fd_per = (s["fds"] - (s.get("fds_idle") or 0)) / s["n"] if s.get("fds") else None
        oks.append(fd_per is not None and fd_per <= 3)
        text = (f"start {s['start']:.3f} s, stop {s['stop']:.3f} s, status "
                f"{(s['status'] or 0) * 1000:.1f} ms, {fd_per:.2f} fds/instance; per instance "
                f"vs {base_n:,}: {', '.join(per)}")
        cells = [text] + ["not measured"] * (cols - 1)
        met = "yes" if all(oks) else "**no**"
        return f"| {s['n']:,} instances | " + " | ".join(cells) + f" | {goal} | {met} |"

    def table(self):
        b = self.b
        out = ["| row | " + " | ".join(self.names[k] for k in self.keys) + " | goal | met |",
               "| --- | " + " | ".join("---:" for _ in self.keys) + " | --- | --- |"]
        for row, label, unit in ROWS:
            if row not in b.results and not any(e[0] == row for e in b.errors):
                continue
            size = b.sizes.get(SIZE_OF.get(row, ""), 0)
            label = label.format(n=size, size=size_text(size) if row == "logs" else "")
            cells = [self.cell(row, k, unit, size, label) for k in b.kinds]
            goal, met = self.goal(row)
            out.append(f"| {label} | " + " | ".join(cells) + f" | {goal} | {met} |")
        sr = self.scale_row()
        if sr:
            out.append(sr)
        if self.behind:
            every = "**no**: " + "; ".join(f"{lab}: {who} {ratio_text(r)}"
                                           for lab, who, r in self.behind)
        else:
            every = "yes"
        if self.even:
            every += " (even: " + "; ".join(f"{lab}: {who}" for lab, who in self.even) + ")"
        out.append("| every row, every peer | " + " | ".join("" for _ in self.keys)
                   + f" | taskmaster ahead | {every} |")
        return out

    def ceilings_section(self):
        c = self.b.ceilings
        out = []
        rows = []
        for table, what in (("small", "small descriptor table"),
                            ("daemon", "holding the daemon's descriptors")):
            sp = c.get(f"spawn_{table}")
            if sp:
                best, threads, per = sp
                tries = ", ".join(f"{t}: {s:.3f} s" for t, s in sorted(per.items()))
                how = (f"`bench/ceiling` `posix_spawn` loop, median of the repetitions for "
                       f"each thread count, the best count shown ({tries})")
                if table == "daemon":
                    held, held_how = c.get("held_fds", (None, ""))
                    how += f"; {held:,} close-on-exec pipe ends held ({held_how})"
                rows.append((f"spawn 1 000 children, {what}", f"{best:.3f} s ({threads} threads)",
                             how))
        if c.get("kill_reap"):
            rows.append(("kill-and-reap 1 000", f"{c['kill_reap'] * 1000:.0f} ms",
                         "SIGKILL each child the probe spawned, then `waitpid` each "
                         "(median of the small-table runs)"))
        if c.get("direct_write"):
            secs, size = c["direct_write"]
            rows.append((f"the child writing straight to its file ({size_text(size)})",
                         f"{size / MiB / secs:,.0f} MiB/s ({secs:.2f} s)",
                         f"`taskmaster-testprog flood {size}` with a new file as its stdout, "
                         f"once per logs rep beside the daemons (median), on "
                         f"{self.b.logs_fs}, where every daemon's log file of the row is too"))
        if rows:
            out += ["### The machine's ceilings (same run)", "",
                    "| ceiling | figure | how |", "| --- | ---: | --- |"]
            out += [f"| {a} | {b_} | {h} |" for a, b_, h in rows]
            out.append("")
        return out

    def deadline_section(self):
        ex = self.b.extra
        out = []
        for row, what in (("deadline_start", "`starttime: 10`: `spawned` → `entered RUNNING`"),
                          ("deadline_stop", "`stoptime: 30`: `stopping` → `killing … SIGKILL`")):
            errs = ex.get(row)
            if errs:
                out.append(f"* {what}, minus the deadline, over {len(errs)} instances: p50 "
                           f"{pct(errs, 50):+d} ms, p99 {pct(errs, 99):+d} ms, worst "
                           f"{max(errs):+d} ms (event-log stamps, ±1 ms).")
        if out:
            out = ["### taskmaster alone: deadline errors", ""] + out + [""]
        return out

    def details(self):
        b, out = self.b, []
        det = []
        for row, what in (("start_cpu", "`start all`"), ("stop_cpu", "`stop all`")):
            vals = [(k, self.m(row, k)) for k in self.keys]
            vals = [f"{self.names[k]} {v * 1000:.0f} ms" for k, v in vals if v is not None]
            if vals:
                det.append(f"the daemon's own CPU time for {what}: " + ", ".join(vals))
        for row in ("restart1000", "restart100"):
            vals = [(k, self.m(row + "_p50", k)) for k in self.keys]
            vals = [f"{self.names[k]} {v * 1000:.1f} ms" for k, v in vals if v is not None]
            if vals:
                det.append(f"{row[7:]} instances, restart p50: " + ", ".join(vals))
        copy, spliced = self.m("logs_copy", "tm"), self.m("logs", "tm")
        if copy and spliced:
            size = b.sizes.get("logs", 0)
            det.append(f"taskmaster's logs row with the pump copying instead of splicing "
                       f"(`TASKMASTER_NO_SPLICE=1`, run beside each spliced rep, before it every other rep): "
                       f"{size / MiB / copy:,.0f} MiB/s, spliced {size / MiB / spliced:,.0f} MiB/s")
        cli = [f"{self.names[k]} {b.extra[f'cli_{k}'] * 1000:.0f} ms" for k in self.keys
               if f"cli_{k}" in b.extra]
        if cli:
            det.append("one CLI round trip (taskmasterctl/supervisorctl `version`, `pm2 ping`, "
                       "`circusctl numwatchers`): " + ", ".join(cli))
        fds = [f"{self.names[k]} {self.m('fds', k):.0f}" for k in self.keys
               if self.m("fds", k) is not None]
        if fds:
            det.append(f"descriptors held with {b.sizes.get('cycle', 0):,} instances running: "
                       + ", ".join(fds))
        if det:
            out += ["Also measured: " + "; ".join(det) + ".", ""]
        return out

    def problems(self):
        b = self.b
        out = []
        for (row, key), (word, msg, _) in b.errors.items():
            first = " / ".join(l.strip() for l in msg.strip().splitlines()[:3])
            out.append(f"* {row} ({self.names.get(key, key)}): {word}: {first[:300]}")
        out += [f"* {n}" for n in b.notes]
        return (["Problems during the run:", ""] + out + [""]) if out else []

    def how(self):
        out = ["How each daemon is driven (same child, `target/release/examples/"
               "taskmaster-testprog`; restart always, no start delay, SIGTERM then SIGKILL "
               "after the stop timeout, output to /dev/null except in the logs row):", ""]
        for k in self.b.kinds:
            out.append(f"* {k.kind}: {k.how}.")
        b = self.b
        out += ["", f"Restart rows: {b.extra.get('kills', '?')} distinct instances SIGKILLed "
                f"{b.extra.get('kill_gap', 0) * 1000:.0f} ms apart per repetition, each up for "
                "over a second; every instance stamps its start time into one file and the "
                "i-th new stamp is the i-th kill's replacement. Status: median of "
                f"{b.extra.get('status_runs', '?')} runs per repetition. Times of CLI-driven "
                "rows include the CLI's own start-up.", ""]
        return out


def build_report(b, elapsed):
    rep = Report(b)
    mode = "quick (smaller sizes, fewer repetitions: not for comparison)" if b.quick else "full"
    out = [f"Mode: **{mode}** — run took {elapsed:.0f} s. Cells: the daemon's figure "
           "(median of the repetitions) and, for a peer, its ratio to taskmaster (peer ÷ "
           "taskmaster of the cost — seconds, bytes of RSS, wake-ups, or for logs the time "
           "to write the bytes; > 1 means taskmaster is better).", ""]
    out += rep.table()
    out.append("")
    out += rep.ceilings_section()
    out += rep.deadline_section()
    out += health_section(b)
    out += rep.details()
    out += rep.how()
    out += rep.problems()
    return "\n".join(out)
