#!/bin/sh
# Ignores SIGTERM (and so do its `sleep` children, which inherit the ignored
# disposition): `stop stubborn` waits `stoptime`, then SIGKILLs the process group.
trap '' TERM
echo "stubborn $$: ignoring SIGTERM; only SIGKILL will do"
while :; do
    sleep 1
done
