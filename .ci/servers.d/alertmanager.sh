# shellcheck shell=bash
# Prometheus Alertmanager (Debian's prometheus-alertmanager, with amtool)
# for the alertmanager notifier's integration test, sourced by .ci/servers.
# Nothing runs here: the test starts its own two-node cluster on private
# loopback ports and temporary directories, and stops it when done.

alertmanager_packages() { echo prometheus-alertmanager; }

alertmanager_start() {
  local b
  for b in prometheus-alertmanager amtool; do
    command -v "$b" >/dev/null || { echo "$b missing: run .ci/servers install" >&2; return 1; }
  done
}

alertmanager_stop() { :; }
