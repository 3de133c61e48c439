"""The logs row: one program floods a gigabyte to its log file under each daemon
(and taskmaster once more with its pump's copy path), beside the child writing
straight to its file, all on a tmpfs when one has room. Its own module: the
file's checks, the memory warm-up and the directory choice are the logs row's
alone."""

import os
import tempfile
import time

from common import (ROW_ERRORS, PROG, RUN_DIRS, AlteredBytes, BenchError, WrongBytes, MiB, GiB, log, now,
                    wait_until)
from daemons import Program, Taskmaster, TaskmasterCopy

# The first bytes `taskmaster-testprog flood` writes: byte i is i % 251.
FLOOD_HEAD = bytes(i % 251 for i in range(64 << 10))


def check_head(path):
    """Raises AlteredBytes unless the file starts with the flood's bytes."""
    with open(path, "rb") as f:
        head = f.read(len(FLOOD_HEAD))
    if head != FLOOD_HEAD[:len(head)]:
        i = next(i for i, (a, b) in enumerate(zip(head, FLOOD_HEAD)) if a != b)
        raise AlteredBytes(i, head[i], FLOOD_HEAD[i])


def warm_memory(directory, size):
    """Writes and deletes a scratch file of `size` bytes in `directory`, just before
    a logs run. The VM hands free memory back to its host, and a writer that needs a
    gigabyte of fresh pages after a quiet while may wait for the host to give them
    back; after this, no writer is the one that takes them back. That holds only
    while freed pages stay in the VM for a while (`quiet_vm`): when the VM reports
    them to the host at once, it did not make the row steady."""
    path = os.path.join(directory, "warm.tmp")
    block = b"\0" * MiB
    try:
        with open(path, "wb") as f:
            for _ in range(size // MiB):
                f.write(block)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def logs_directory(rundir):
    """Where the logs row's files go, and what to call that filesystem in the report.

    A tmpfs when one with room is mounted (/dev/shm): on a disk, each rep's gigabyte
    is still being written back while the next daemon runs, and the figures
    depended on which daemon ran before (README: Performance). Every daemon and
    the child writing straight to its file write to the same directory."""
    need = 3 * GiB  # the file, and room to spare
    try:
        st = os.statvfs("/dev/shm")
        tmpfs = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in open("/proc/mounts"))
        if tmpfs and st.f_bavail * st.f_frsize >= need:
            d = tempfile.mkdtemp(prefix="taskmaster-bench-logs-", dir="/dev/shm")
            RUN_DIRS.append(d)
            return d, "a tmpfs (/dev/shm)"
    except (OSError, IndexError):
        pass
    return rundir, "the run directory's filesystem (no tmpfs with 3 GiB free)"



class LogsRows:
    def row_logs(self):
        size = self.reps(32 * MiB, GiB)
        reps = self.reps(1, 3)
        self.sizes["logs"] = size
        log(f"logs: {size // MiB} MiB to a file, {reps} reps")
        for r in range(reps):
            for kind in self.kinds:
                # taskmaster also with the pump's copy path, beside its spliced run,
                # first on every other rep (the first writer of a rep may pay more).
                copy_first = kind is Taskmaster and r % 2 == 1
                if copy_first:
                    self.logs_copy_once(r, size)
                try:
                    secs = self.logs_once(kind, size)
                    self.record("logs", kind, secs)
                    log(f"  rep {r + 1} {kind.kind}: {secs:.2f}s = {size / MiB / secs:.0f} MiB/s")
                except ROW_ERRORS as e:
                    self.fail(("logs",), kind, e)
                if kind is Taskmaster and not copy_first:
                    self.logs_copy_once(r, size)
            # The ceiling in the same conditions: a fresh file, after a sync, in
            # the middle of the same sequence of runs (README: Performance).
            try:
                secs = self.direct_write_once(size)
                self.record("logs_direct", Taskmaster, secs)
                log(f"  rep {r + 1} the child straight to its file: {secs:.2f}s = "
                    f"{size / MiB / secs:.0f} MiB/s")
            except (OSError, BenchError) as e:
                log(f"  the child straight to its file: {e}")

    def logs_copy_once(self, r, size):
        """taskmaster's logs run with `TASKMASTER_NO_SPLICE=1`: which path wins."""
        try:
            secs = self.logs_once(TaskmasterCopy, size)
            self.record("logs_copy", Taskmaster, secs)
            log(f"  rep {r + 1} taskmaster, copy path: {secs:.2f}s = {size / MiB / secs:.0f} MiB/s")
        except ROW_ERRORS as e:
            log(f"  taskmaster, copy path: {e}")

    def logs_once(self, kind, size):
        label = self.label(kind)
        out = os.path.join(self.logs_dir, label + ".out")
        prog = Program("f", [PROG, "flood", str(size)], autostart=False, autorestart=False,
                       stdout=out)
        d = kind(self.rundir, [prog], label)
        try:
            d.launch()
            os.sync()  # start each rep without the previous rep's dirty pages
            if self.logs_dir != self.rundir:  # a tmpfs: no writeback to wait for
                warm_memory(self.logs_dir, size + size // 4)
            t0 = now()
            cli = d.start_all_async()
            last = [0, now()]  # size of the file, when it last grew
            checked = []

            def grow():
                try:
                    got = os.stat(out).st_size
                except FileNotFoundError:
                    got = 0
                if got != last[0]:
                    last[:] = [got, now()]
                if not checked and got >= len(FLOOD_HEAD):
                    check_head(out)
                    checked.append(True)
                return got

            try:
                # all the bytes, or no growth for 3 s (bytes lost)
                _, t_end = wait_until(
                    lambda: grow() >= size or (last[0] and now() - last[1] > 3),
                    self.reps(60, 300), 0.005, f"{size} bytes in the log file")
                if cli is not None:
                    cli.wait(timeout=60)
            finally:
                if cli is not None and cli.poll() is None:
                    cli.kill()
                    cli.wait()
            # anything written after the count was reached? (a peer that re-encodes)
            settle = now()
            while now() - last[1] < 0.3 and now() - settle < 30:
                grow()
                time.sleep(0.05)
            got = grow()
            if got != size:
                raise WrongBytes(got, size, last[1] - t0)
            return t_end - t0
        finally:
            d.shutdown()
            try:
                os.unlink(out)
            except OSError:
                pass
