#!/bin/sh
# A steady worker: one heartbeat line every $HEARTBEAT_SECS seconds (default 2).
# It stops cleanly on SIGUSR1, its configured stopsignal.
interval=${HEARTBEAT_SECS:-2}
n=0
trap 'echo "worker $$: got SIGUSR1 after $n beats, exiting cleanly"; exit 0' USR1
echo "worker $$: started in $(pwd), greeting=$GREETING verbose=$VERBOSE"
while :; do
    n=$((n + 1))
    echo "worker $$: heartbeat $n"
    if [ "$VERBOSE" = true ]; then
        echo "worker $$: (verbose, on stderr) beat $n at $(date '+%H:%M:%S')" >&2
    fi
    # Sleep in the background and wait, so a trapped signal is handled at once.
    sleep "$interval" &
    wait $!
done
