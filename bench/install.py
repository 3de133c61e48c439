"""Installs the peers into bench/ on first use: supervisor and circus into bench/.venv
(PyPI), pm2 into bench/.npm (npm), Horust into bench/.cargo (crates.io), and builds
the ceiling probe (bench/ceiling). Each install is idempotent (nothing is done when
the binary is there) and a failure is reported and returned, never fatal: the run
goes on without that peer."""

import os
import subprocess
import sys

from common import BENCH, ROOT, log

VENV = os.path.join(BENCH, ".venv")
NPM_PREFIX = os.path.join(BENCH, ".npm")
CARGO_ROOT = os.path.join(BENCH, ".cargo")
SV_BIN = os.path.join(VENV, "bin", "supervisord")
SVCTL_BIN = os.path.join(VENV, "bin", "supervisorctl")
CIRCUSD_BIN = os.path.join(VENV, "bin", "circusd")
CIRCUSCTL_BIN = os.path.join(VENV, "bin", "circusctl")
PM2_BIN = os.path.join(NPM_PREFIX, "node_modules", ".bin", "pm2")
HORUST_BIN = os.path.join(CARGO_ROOT, "bin", "horust")
CEILING_DIR = os.path.join(BENCH, "ceiling")
CEILING_TARGET = os.path.join(ROOT, "target", "bench-ceiling")
CEILING_BIN = os.path.join(CEILING_TARGET, "release", "spawn-ceiling")

# Horust versions tried in order when the newest does not build with our toolchain.
HORUST_VERSIONS = [None, "0.1.10", "0.1.9", "0.1.8", "0.1.7"]


def _run(argv, what, timeout, **kw):
    """Runs an install step; returns None or the reason it failed (last lines)."""
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, **kw)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{what}: {e}"
    if cp.returncode != 0:
        tail = " / ".join((cp.stderr or cp.stdout).strip().splitlines()[-4:])
        return f"{what} exited {cp.returncode}: {tail[-600:]}"
    return None


def _pip(package, binary):
    if os.access(binary, os.X_OK):
        return None
    log(f"installing {package} into bench/.venv ...")
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        err = _run([sys.executable, "-m", "venv", VENV], "python -m venv", 300)
        if err:
            return err
    return _run([os.path.join(VENV, "bin", "python"), "-m", "pip", "install", "-q",
                 "--disable-pip-version-check", package], f"pip install {package}", 900)


def ensure_supervisor():
    return _pip("supervisor", SV_BIN) or (
        None if os.access(SVCTL_BIN, os.X_OK) else "supervisorctl missing after install")


def ensure_circus():
    return _pip("circus", CIRCUSD_BIN) or (
        None if os.access(CIRCUSCTL_BIN, os.X_OK) else "circusctl missing after install")


def ensure_pm2():
    if os.access(PM2_BIN, os.X_OK):
        return None
    log("installing pm2 into bench/.npm ...")
    os.makedirs(NPM_PREFIX, exist_ok=True)
    err = _run(["npm", "install", "--prefix", NPM_PREFIX, "--no-audit", "--no-fund",
                "--loglevel=error", "pm2"], "npm install pm2", 900)
    if err:
        return err
    return None if os.access(PM2_BIN, os.X_OK) else "pm2 missing after npm install"


def ensure_horust():
    if os.access(HORUST_BIN, os.X_OK):
        return None
    errors = []
    for version in HORUST_VERSIONS:
        what = "horust" + (f"@{version}" if version else " (newest)")
        log(f"cargo install {what} into bench/.cargo (a few minutes) ...")
        argv = ["cargo", "install", "--quiet", "--locked", "--root", CARGO_ROOT, "horust"]
        if version:
            argv += ["--version", version]
        err = _run(argv, f"cargo install {what}", 1800)
        if err is None and os.access(HORUST_BIN, os.X_OK):
            return None
        errors.append(err or f"{what}: no binary after install")
    return "; ".join(errors)[-900:]


def ensure_ceiling_probe():
    """Builds bench/ceiling (std + libc only) into target/bench-ceiling."""
    err = _run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                os.path.join(CEILING_DIR, "Cargo.toml"), "--target-dir", CEILING_TARGET],
               "cargo build bench/ceiling", 900)
    if err is None and not os.access(CEILING_BIN, os.X_OK):
        err = "no spawn-ceiling binary after the build"
    return err


INSTALLERS = {
    "supervisord": ensure_supervisor,
    "pm2": ensure_pm2,
    "circus": ensure_circus,
    "horust": ensure_horust,
}
