# shellcheck shell=bash
# NSD for the DNS checks' integration tests, sourced by .ci/servers.
#
# Two private NSD instances serve zone monsta.test on port 5353:
#   main: 127.0.0.2, 127.0.0.3 and [::1], serial $dns_serial
#   lag:  127.0.0.4, an older copy (serial $dns_lag_serial, www lacks 127.0.0.5)
# 127.0.0.5:5353 is left closed for "server down" tests.
# State, configs, zones and logs live in $MONSTA_IT_DIR/dns/{main,lag}.

dns_serial=2026112401
dns_lag_serial=2026112300
dns_port=5353

dns_packages() { echo nsd; }

# dns_write FILE: write stdin to FILE only when the content changes.
dns_write() {
  local tmp="$1.new"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# dns_zone SERIAL LAG: print the zone; LAG=1 leaves out www's second address.
dns_zone() {
  local i
  cat <<ZONE
\$ORIGIN monsta.test.
\$TTL 300
@       IN SOA  ns1.monsta.test. hostmaster.monsta.test. $1 3600 600 86400 300
@       IN NS   ns1
@       IN NS   ns2
ns1     IN A    127.0.0.2
ns2     IN A    127.0.0.3
@       IN MX   10 mx1
@       IN MX   20 mx2
mx1     IN A    127.0.0.10
mx2     IN A    127.0.0.11
www     IN A    127.0.0.1
ZONE
  [ "$2" = 1 ] || echo 'www     IN A    127.0.0.5'
  cat <<'ZONE'
www     IN AAAA ::1
www     IN AAAA fd00:0:0:0::10
alias   IN CNAME www
@       IN TXT  "v=spf1 mx -all"
multi   IN TXT  "first part " "second part"
_sip._tcp IN SRV 10 5 5060 sip
sip     IN A    127.0.0.20
@       IN CAA  0 issue "ca.monsta.test"
ZONE
  # 12 strings of 100 bytes: far more than a 512-byte UDP answer holds.
  for i in $(seq -w 1 12); do
    printf 'big     IN TXT  "%s-%s"\n' "$i" "$(printf 'x%.0s' $(seq 1 97))"
  done
}

# dns_instance NAME SERIAL LAG ADDR…: configure and start one NSD.
dns_instance() {
  local name=$1 serial=$2 lag=$3; shift 3
  local dir="$MONSTA_IT_DIR/dns/$name" a pid
  mkdir -p "$dir/xfr"
  dns_zone "$serial" "$lag" | dns_write "$dir/monsta.test.zone"
  {
    echo "server:"
    for a in "$@"; do echo "  ip-address: $a@$dns_port"; done
    cat <<CONF
  port: $dns_port
  do-ip4: yes
  do-ip6: yes
  username: ""
  chroot: ""
  zonesdir: "$dir"
  database: ""
  pidfile: "$dir/nsd-own.pid"
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir/xfr"
  zonelistfile: "$dir/zone.list"
  server-count: 1
  hide-version: yes
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: monsta.test
  zonefile: monsta.test.zone
CONF
  } | dns_write "$dir/nsd.conf"
  nsd-checkconf "$dir/nsd.conf"
  nsd-checkzone monsta.test "$dir/monsta.test.zone" >/dev/null
  stop_pid "$dir/nsd.pid"
  pid=$(start_daemon "$dir/nsd.log" nsd -d -c "$dir/nsd.conf")
  echo "$pid" >"$dir/nsd.pid"
  for a in "$@"; do
    wait_port "$a" "$dns_port" || { cat "$dir/nsd.log" >&2; return 1; }
  done
}

dns_start() {
  dns_instance main "$dns_serial" 0 127.0.0.2 127.0.0.3 ::1
  dns_instance lag "$dns_lag_serial" 1 127.0.0.4
  setenv MONSTA_IT_DNS1 127.0.0.2:$dns_port
  setenv MONSTA_IT_DNS2 127.0.0.3:$dns_port
  setenv MONSTA_IT_DNS_LAG 127.0.0.4:$dns_port
  setenv MONSTA_IT_DNS6 "[::1]:$dns_port"
  setenv MONSTA_IT_DNS_DOWN 127.0.0.5:$dns_port
  setenv MONSTA_IT_DNS_ZONE monsta.test
  setenv MONSTA_IT_DNS_SERIAL $dns_serial
  setenv MONSTA_IT_DNS_LAG_SERIAL $dns_lag_serial
}

dns_stop() {
  stop_pid "$MONSTA_IT_DIR/dns/main/nsd.pid"
  stop_pid "$MONSTA_IT_DIR/dns/lag/nsd.pid"
}
