# shellcheck shell=bash
# The monitoring plugins (Debian's monitoring-plugins-basic) for the script
# check's integration test, sourced by .ci/servers. Nothing runs: start only
# publishes where the plugins are.

plugins_dir=/usr/lib/nagios/plugins

plugins_packages() { echo monitoring-plugins-basic; }

plugins_start() {
  local p
  for p in check_tcp check_disk; do
    [ -x "$plugins_dir/$p" ] || { echo "$plugins_dir/$p missing: run .ci/servers install" >&2; return 1; }
  done
  setenv MONSTA_IT_PLUGINS "$plugins_dir"
}

plugins_stop() { :; }
