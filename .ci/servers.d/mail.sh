# shellcheck shell=bash
# Postfix + Dovecot on loopback for the mail integration tests.
#
#   Postfix smtpd       127.0.0.1:2525  mail for monsta.test, no STARTTLS, unknown
#                                       recipients refused at RCPT TO
#   Postfix submission  127.0.0.1:2587  STARTTLS required, AUTH (Dovecot SASL)
#   Dovecot IMAP        127.0.0.1:2143  STARTTLS offered
#   Dovecot IMAPS       127.0.0.1:2993  implicit TLS
#
# Postfix delivers into Dovecot's Maildirs (virtual mailboxes, no LMTP). One
# self-signed certificate (SANs monsta.test, localhost, 127.0.0.1) serves all
# TLS ports; its PEM is published as MONSTA_IT_MAIL_CA. Everything lives in
# $MONSTA_IT_DIR/mail; the daemons are stopped by their recorded pids.

mail_packages() { echo postfix dovecot-core dovecot-imapd openssl swaks libnet-ssleay-perl; }

# mail_users prints "user password" lines of the test accounts.
mail_users() {
  echo "alice@monsta.test alice-pw-1"
  echo "bob@monsta.test bob-pw-2"
  echo "carol@monsta.test carol-pw-3"
}

# mail_write FILE: write stdin to FILE only when the content changes
# (Postfix waits ~2 s at start when main.cf changed in the last second), and
# then set mail_changed so that running daemons are restarted.
mail_write() {
  local tmp="$1.new"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; mail_changed=1; fi
}

mail_start() {
  local d="$MONSTA_IT_DIR/mail"
  local pf="$d/postfix" dv="$d/dovecot" ssl="$d/ssl" vmail="$d/vmail" logs="$d/log"
  local mail_changed=0
  mkdir -p "$pf" "$dv" "$ssl" "$vmail" "$logs" "$d/run/postfix-spool" "$d/run/postfix-data"
  chown postfix "$d/run/postfix-data"
  # The daemons drop to postfix, mail, dovecot and dovenull: they must be
  # able to walk down to their directories (mktemp -d makes 0700).
  chmod a+x "$MONSTA_IT_DIR" "$d"
  chown mail:mail "$vmail"
  chmod 0770 "$vmail"

  if [ ! -s "$ssl/cert.pem" ] || ! openssl x509 -checkend 86400 -noout -in "$ssl/cert.pem" >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=monsta.test" \
      -addext "subjectAltName=DNS:monsta.test,DNS:localhost,IP:127.0.0.1" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -keyout "$ssl/key.pem" -out "$ssl/cert.pem" >/dev/null 2>&1
    chmod 0644 "$ssl/cert.pem"
    chmod 0600 "$ssl/key.pem"
  fi

  # Accounts: Dovecot's passwd-file and Postfix's virtual mailbox map.
  mail_users | while read -r u p; do echo "$u:{PLAIN}$p"; done | mail_write "$dv/users"
  mail_users | while read -r u _; do echo "$u ${u#*@}/${u%@*}/Maildir/"; done | mail_write "$pf/vmailbox"
  chmod 0644 "$dv/users" "$pf/vmailbox"

  mail_write "$dv/dovecot.conf" <<EOF
base_dir = $d/run/dovecot
state_dir = $d/run/dovecot-state
instance_name = monsta-it-mail
listen = 127.0.0.1
protocols = imap
log_path = $logs/dovecot.log
ssl = yes
ssl_cert = <$ssl/cert.pem
ssl_key = <$ssl/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = $(id -u mail)
first_valid_gid = $(id -g mail)
mail_uid = mail
mail_gid = mail
mail_location = maildir:$vmail/%d/%n/Maildir
namespace inbox {
  inbox = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dv/users
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$vmail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = 2143
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = 2993
    ssl = yes
  }
}
service auth {
  unix_listener $d/run/auth-postfix {
    mode = 0666
  }
}
# Every test logs in from 127.0.0.1: without this, one wrong-password test
# slows every later login (IMAP and SMTP AUTH) by Dovecot's per-IP auth
# penalty (4, 8, 15 s). A wrong password still takes auth_failure_delay (2 s).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
EOF

  mail_write "$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/run/postfix-spool
data_directory = $d/run/postfix-data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = $logs
maillog_file = $logs/postfix.log
myhostname = mail.monsta.test
mydomain = monsta.test
myorigin = monsta.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery
biff = no
smtpd_banner = \$myhostname ESMTP monsta-it
virtual_mailbox_domains = monsta.test
virtual_mailbox_base = $vmail
virtual_mailbox_maps = texthash:$pf/vmailbox
virtual_uid_maps = static:$(id -u mail)
virtual_gid_maps = static:$(id -g mail)
virtual_minimum_uid = $(id -u mail)
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = none
smtpd_tls_cert_file = $ssl/cert.pem
smtpd_tls_key_file = $ssl/key.pem
smtpd_sasl_type = dovecot
smtpd_sasl_path = $d/run/auth-postfix
smtp_tls_security_level = none
EOF

  mail_write "$pf/master.cf" <<'EOF'
127.0.0.1:2525 inet n - n - - smtpd
127.0.0.1:2587 inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
virtual    unix  - n n -    - virtual
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF

  # A running instance with an outdated configuration is restarted.
  if [ "$mail_changed" = 1 ]; then mail_stop; fi

  # Dovecot first: Postfix's submission port authenticates through it.
  if ! mail_running "$d/dovecot.pid"; then
    start_daemon "$logs/dovecot.out" dovecot -F -c "$dv/dovecot.conf" >"$d/dovecot.pid"
  fi
  wait_port 127.0.0.1 2143
  wait_port 127.0.0.1 2993
  local i
  for i in $(seq 1 50); do [ -S "$d/run/auth-postfix" ] && break; sleep 0.1; done

  if ! mail_running "$d/postfix.pid"; then
    postfix -c "$pf" start </dev/null >>"$logs/postfix.out" 2>&1 || { echo "postfix did not start; see $logs/postfix.log" >&2; return 1; }
    echo "$(tr -dc 0-9 <"$d/run/postfix-spool/pid/master.pid")" >"$d/postfix.pid"
  fi
  wait_port 127.0.0.1 2525
  wait_port 127.0.0.1 2587

  setenv MONSTA_IT_SMTP 127.0.0.1:2525
  setenv MONSTA_IT_SUBMISSION 127.0.0.1:2587
  setenv MONSTA_IT_IMAP 127.0.0.1:2143
  setenv MONSTA_IT_IMAPS 127.0.0.1:2993
  setenv MONSTA_IT_MAIL_CA "$ssl/cert.pem"
  setenv MONSTA_IT_MAIL_DOMAIN monsta.test
  local n=1 u p
  while read -r u p; do
    setenv "MONSTA_IT_MAIL_USER$n" "$u"
    setenv "MONSTA_IT_MAIL_PASSWORD$n" "$p"
    n=$((n + 1))
  done < <(mail_users)
}

# mail_running PIDFILE: the recorded process is alive (zombies are not).
mail_running() {
  local state
  [ -s "$1" ] || return 1
  state=$(ps -o stat= -p "$(cat "$1")" 2>/dev/null || true)
  case "$state" in ""|Z*) return 1 ;; esac
}

mail_stop() {
  local d="$MONSTA_IT_DIR/mail"
  stop_pid "$d/postfix.pid"
  stop_pid "$d/dovecot.pid"
}
