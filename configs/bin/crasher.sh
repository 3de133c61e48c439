#!/bin/sh
# Runs CRASH_AFTER seconds (default 4), then exits 1 — an unexpected exit code, so
# `autorestart: unexpected` brings it back. Exit code 2 would count as expected.
after=${CRASH_AFTER:-4}
echo "crasher $$: up, crashing in ${after}s"
sleep "$after"
echo "crasher $$: crashing now (exit 1)" >&2
exit 1
