"""Holding this VM's memory still while the bench runs, and giving it back after.

Two things in the guest kernel of this project's VMs hand memory back to the host,
and both made figures swing by 2-4x from one repetition to the next with no change
in the code (README, Performance):

* free page reporting: a page the guest frees is reported to the host, which
  drops it, at once (`min_free_ms` 0); the next write into "free" memory then waits
  for the host to fault a page back in. The logs row writes a gigabyte into fresh
  pages, so it read ~800 or ~2 400 MiB/s depending on which pages it got;
* DAMON's `pageout` scheme: pages nobody touched for a minute are paged out,
  which drops the children's executable from the page cache, so an exec now and
  then waits for the disk (restart outliers of 5-10 ms).

For the run, freed pages wait `HOLD_MS` before being reported (with the logs
row's warm-up just before each writer, that writer finds pages still in the guest)
and DAMON is paused. Both are put back as they were at the end, by `atexit` too.
Root only and only where the knobs exist; otherwise nothing changes and the report
says so. The same for every daemon and for the ceilings."""

import atexit
import os

PAGE_REPORTING = "/sys/module/page_reporting/parameters/min_free_ms"
KDAMONDS = "/sys/kernel/mm/damon/admin/kdamonds"
# The largest delay the module takes.
HOLD_MS = "10000"

_restore = []  # (path, value) to write back, in order


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _write(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def _kdamond_states():
    """{state file: its value} for every kdamond that is on."""
    out = {}
    try:
        names = os.listdir(KDAMONDS)
    except OSError:
        return out
    for name in names:
        path = os.path.join(KDAMONDS, name, "state")
        if _read(path) == "on":
            out[path] = "on"
    return out


def hold():
    """Holds freed memory in the guest and pauses DAMON; returns what it did, in
    words for the report ("" when nothing could be done)."""
    done = []
    before = _read(PAGE_REPORTING)
    if before is not None and before != HOLD_MS and _write(PAGE_REPORTING, HOLD_MS):
        _restore.append((PAGE_REPORTING, before))
        done.append(f"freed memory held in the VM {int(HOLD_MS) // 1000} s before it "
                    f"goes back to the host (page reporting's min_free_ms, {before} before)")
    paused = [path for path in _kdamond_states() if _write(path, "off")]
    for path in paused:
        _restore.append((path, "on"))
    if paused:
        done.append("DAMON's pageout paused")
    if _restore:
        atexit.register(release)
    return "; ".join(done)


def release():
    """Puts back what `hold` changed (idempotent)."""
    while _restore:
        path, value = _restore.pop()
        _write(path, value)
