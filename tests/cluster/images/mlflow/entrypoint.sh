#!/bin/sh
# tini as PID 1 (exec keeps the PID), with "--" so that the options of the command are not read as tini's.
exec /usr/bin/tini -- "$@"
