# shellcheck shell=bash
# Tools for the control API's integration test, sourced by .ci/servers:
# promtool (Debian's prometheus package) checks /metrics, and a headless
# Chromium loads the status page. No server to start: the test runs its
# own monsta daemon on a free loopback port.

control_packages() { echo prometheus chromium; }
control_start() { :; }
control_stop() { :; }
