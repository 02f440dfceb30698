//! Conformance: the programs that really read what mutualis renders are given it. Zones go to
//! BIND's and Knot's checkers and are served by knotd; the website's nginx configuration is
//! tested and served by nginx; the NAS's sambacc configuration becomes smb.conf for testparm and
//! a real smbd; the DKIM key goes to OpenSSL, OpenDKIM and rspamd (which signs with it), the aliases to postmap; Nextcloud's
//! Apache and PHP files to apache2 and php; every object to checkov. A missing program skips
//! its check with a printed `conformance: SKIPPED` line (`scripts/install-tools` installs them).

mod collaboration;
mod dns;
mod mail;
mod nas;
mod scanner;
mod signing;
mod support;
mod web;
