#!/usr/bin/env bash
# Runs long jobs one after another, so that a core never waits for someone to start the
# next run. Each job is one command line (a campaign or downstream run, pinned to its core
# by its own script); a finished run exits at once, so the same queue command, rerun after
# a stop, resumes the unfinished run and goes on.
#
#   nohup bash scripts/queue.sh LOG 'bash scripts/campaign.sh baseline 1 1000 0' \
#       'bash scripts/downstream.sh ant_goal flat_sac 1 0' &
#
# LOG gets one line per job start and end. A job that fails is logged and the queue goes
# on with the next; a job stopped by a signal (exit 130 or 143), or a SIGTERM / Ctrl-C to
# the queue itself (passed on to the running job, which saves first), stops the queue.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/queue.sh LOG 'COMMAND' ['COMMAND' ...]" >&2; exit 2
fi
log=$1; shift
mkdir -p "$(dirname "$log")"
child=
stop() {
  echo "$(date -u +%FT%TZ) queue: stopping" >>"$log"
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  [ -n "$child" ] && wait "$child"
  exit 143
}
trap stop TERM INT
for job in "$@"; do
  echo "$(date -u +%FT%TZ) start: $job" >>"$log"
  bash -c "$job" &
  child=$!
  wait "$child"
  code=$?
  child=
  echo "$(date -u +%FT%TZ) exit $code: $job" >>"$log"
  if [ "$code" -eq 130 ] || [ "$code" -eq 143 ]; then
    echo "$(date -u +%FT%TZ) queue: the job was stopped; rerun the queue to resume" >>"$log"
    exit "$code"
  fi
done
echo "$(date -u +%FT%TZ) queue: done" >>"$log"
