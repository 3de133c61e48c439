#!/bin/sh
# An interactive program for `pty: true` and `attach`: prints a prompt, reads a
# line, echoes it back. `quit` exits 0 (and `autorestart: always` starts it again).
echo "prompt $$: attached to a terminal? $(tty)"
while printf 'demo> ' && IFS= read -r line; do
    case $line in
        quit | exit)
            echo "bye"
            exit 0
            ;;
        '') ;;
        *) echo "you said: $line" ;;
    esac
done
echo "prompt $$: end of input"
