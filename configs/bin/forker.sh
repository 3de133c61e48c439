#!/bin/sh
# Starts three grandchildren (background sleeps, in the same process group) and
# waits. Stopping it signals the whole group, so no sleep is left behind.
for i in 1 2 3; do
    sleep 3600 &
    echo "forker $$: grandchild $i is pid $!"
done
echo "forker $$: waiting (my process group is $$: taskmaster starts me in a new session)"
wait
