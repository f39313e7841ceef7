# shellcheck shell=bash
# Prosody for the xmpp notifier's integration tests, sourced by .ci/servers.
#
# One private Prosody: client-to-server only, on 127.0.0.1:15222 (no s2s, no
# http, no other listener), VirtualHost monsta.test with a self-signed
# certificate (SANs monsta.test, localhost, 127.0.0.1), STARTTLS required,
# PLAIN only inside TLS, offline storage on. Accounts monsta@ and bob@.
# Config, certificate, data and log live in $MONSTA_IT_DIR/xmpp.
#
# Published: MONSTA_IT_XMPP (host:port), MONSTA_IT_XMPP_DOMAIN,
# MONSTA_IT_XMPP_CA (the certificate, PEM), MONSTA_IT_XMPP_JID,
# MONSTA_IT_XMPP_PASSWORD, MONSTA_IT_XMPP_BOB_JID, MONSTA_IT_XMPP_BOB_PASSWORD.

xmpp_addr=127.0.0.1
xmpp_port=15222
xmpp_domain=monsta.test
xmpp_password=monsta-it-secret
xmpp_bob_password=bob-it-secret

xmpp_packages() { echo prosody openssl; }

# xmpp_write FILE: write stdin to FILE only when the content changes.
xmpp_write() {
  local tmp="$1.new"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# xmpp_register USER PASSWORD: create (or reset) the account USER@domain.
# prosodyctl (which drops to the prosody user itself) has been seen to exit 0
# without writing the account, so check the file and retry.
xmpp_register() {
  local dir="$MONSTA_IT_DIR/xmpp" i
  for i in 1 2 3; do
    prosodyctl --config "$dir/prosody.cfg.lua" register "$1" "$xmpp_domain" "$2" </dev/null >>"$dir/prosodyctl.log" 2>&1
    [ -s "$dir/data/${xmpp_domain//./%2e}/accounts/$1.dat" ] && return 0
    sleep 0.5
  done
  echo "xmpp: could not create account $1@$xmpp_domain (see $dir/prosodyctl.log)" >&2
  return 1
}

xmpp_start() {
  local dir="$MONSTA_IT_DIR/xmpp" pid
  mkdir -p "$dir/data"
  # Prosody runs as user prosody, which must be able to reach its directory:
  # mktemp -d (as .ci/run uses it) makes $MONSTA_IT_DIR 0700. Traverse only.
  chmod a+x "$MONSTA_IT_DIR"
  if [ -s "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "xmpp: already running (pid $(cat "$dir/pid"))"
  else
    if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=$xmpp_domain" \
        -addext "subjectAltName=DNS:$xmpp_domain,DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    fi
    xmpp_write "$dir/prosody.cfg.lua" <<CFG
-- Private Prosody for monsta's integration tests (written by .ci/servers.d/xmpp.sh).
data_path = "$dir/data"
certificates = "$dir"
log = { { levels = { min = "info" }, to = "file", filename = "$dir/prosody.log" } }
daemonize = false

interfaces = { "$xmpp_addr" }
local_interfaces = { "$xmpp_addr" }
c2s_ports = { $xmpp_port }
c2s_interfaces = { "$xmpp_addr" }
c2s_direct_tls_ports = { }
s2s_ports = { }
s2s_interfaces = { }
component_ports = { }
http_ports = { }
https_ports = { }
http_interfaces = { }
https_interfaces = { }

modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "offline" }
modules_disabled = { "s2s", "http", "bosh", "websocket", "s2s_bidi", "s2s_auth_certs" }

authentication = "internal_hashed"
c2s_require_encryption = true
allow_unencrypted_plain_auth = false
s2s_require_encryption = true
allow_registration = false

VirtualHost "$xmpp_domain"
  ssl = { certificate = "$dir/cert.pem", key = "$dir/key.pem" }
CFG
    chown -R prosody:prosody "$dir"
    chmod 0755 "$dir"
    xmpp_register monsta "$xmpp_password" || return 1
    xmpp_register bob "$xmpp_bob_password" || return 1
    # setpriv execs prosody itself, so the recorded pid is Prosody's.
    pid=$(start_daemon "$dir/prosody.out" setpriv --reuid=prosody --regid=prosody --init-groups \
      prosody --config "$dir/prosody.cfg.lua" -F)
    echo "$pid" >"$dir/pid"
    wait_port "$xmpp_addr" "$xmpp_port" || { cat "$dir/prosody.out" "$dir/prosody.log" >&2; return 1; }
  fi
  setenv MONSTA_IT_XMPP "$xmpp_addr:$xmpp_port"
  setenv MONSTA_IT_XMPP_DOMAIN "$xmpp_domain"
  setenv MONSTA_IT_XMPP_CA "$dir/cert.pem"
  setenv MONSTA_IT_XMPP_JID "monsta@$xmpp_domain"
  setenv MONSTA_IT_XMPP_PASSWORD "$xmpp_password"
  setenv MONSTA_IT_XMPP_BOB_JID "bob@$xmpp_domain"
  setenv MONSTA_IT_XMPP_BOB_PASSWORD "$xmpp_bob_password"
}

xmpp_stop() {
  stop_pid "$MONSTA_IT_DIR/xmpp/pid"
}
