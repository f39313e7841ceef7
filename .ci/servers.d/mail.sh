# shellcheck shell=bash
# Postfix + Dovecot on loopback for the mail integration tests.
mail_packages() { echo postfix dovecot-imapd dovecot-core openssl swaks libnet-ssleay-perl; }
mail_start() { :; }
mail_stop() { :; }
