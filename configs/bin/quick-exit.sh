#!/bin/sh
# Exits at once, before its starttime: every try is a failed start, so taskmaster
# backs off (1 s, 2 s, ...) and ends in FATAL after `startretries` retries.
echo "quick-exit $$: giving up immediately" >&2
exit 1
