#!/bin/sh
# Several lines per second on stdout, and every third one also on stderr.
# (`sleep 0.2`: fractional sleep is not POSIX, but GNU and busybox sleep take it.)
i=0
while :; do
    i=$((i + 1))
    echo "chatty $$: stdout line $i"
    if [ $((i % 3)) -eq 0 ]; then
        echo "chatty $$: stderr line $i" >&2
    fi
    sleep 0.2
done
