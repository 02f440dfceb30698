//! How Nextcloud is configured: the way its image supports. Its `config/*.config.php` files
//! read environment variables at every request (reverse proxy, Redis, SMTP), its entrypoint
//! reads the install variables (database, admin, trusted domain) and `*_FILE` variants of the
//! secret ones, and hook scripts under `/docker-entrypoint-hooks.d/<stage>/` run `occ` for
//! what no variable covers. Nothing is mounted into `/var/www/html/config`, which the
//! entrypoint seeds with the image's own files and Nextcloud writes.

use std::fmt::Write;

use k8s_openapi::api::core::v1::{EnvVar, Volume};

use super::super::Ctx;
use super::{ADMIN_SECRET, DB_SECRET, HTTP, REDIS, REDIS_SECRET, SECRETS_DIR};
use crate::api::Service;
use crate::plan::builders::{env, secret_files};
use crate::plan::services::mail;

/// Largest upload, GiB. One value for PHP (`PHP_UPLOAD_LIMIT`, upload and post size), Apache
/// (`APACHE_BODY_LIMIT`, bytes, which caps PHP's) and the ingress (`proxy-body-size`).
pub const UPLOAD_LIMIT_GIB: u64 = 16;

/// `PHP_UPLOAD_LIMIT`: PHP's shorthand `G` is 1024³ bytes.
pub fn php_upload_limit() -> String {
    format!("{UPLOAD_LIMIT_GIB}G")
}

/// `APACHE_BODY_LIMIT`: Apache's `LimitRequestBody`, in bytes.
pub fn apache_body_limit() -> String {
    (UPLOAD_LIMIT_GIB << 30).to_string()
}

/// ingress-nginx's `proxy-body-size` (nginx's `client_max_body_size`; `g` is 1024³ bytes).
pub fn ingress_body_size() -> String {
    format!("{UPLOAD_LIMIT_GIB}g")
}

/// The private networks an ingress controller or load balancer reaches Nextcloud from.
const TRUSTED_PROXIES: [&str; 4] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"];

/// Names of the mounted secret files, under [`SECRETS_DIR`].
const ADMIN_PASSWORD_FILE: &str = "admin-password";
const DB_PASSWORD_FILE: &str = "db-password";
const REDIS_PASSWORD_FILE: &str = "redis-password";
const SMTP_PASSWORD_FILE: &str = "smtp-password";

fn secret_path(file: &str) -> String {
    format!("{SECRETS_DIR}/{file}")
}

/// The postmaster mailbox the mail service creates; Nextcloud sends as it.
fn postmaster(ctx: &Ctx<'_>) -> String {
    format!("postmaster@{}", ctx.tenant.domain().ascii)
}

fn mail_on(ctx: &Ctx<'_>) -> bool {
    ctx.tenant.services().is_on(Service::Mail)
}

/// Variables the image's `config/*.config.php` read at run time: the web pod and the cron
/// job both need them.
pub(super) fn runtime_env(ctx: &Ctx<'_>) -> Vec<EnvVar> {
    let host = ctx.cloud_host();
    let mut vars = vec![
        env("OVERWRITEPROTOCOL", "https"),
        env("OVERWRITECLIURL", &format!("https://{host}")),
        env("TRUSTED_PROXIES", &TRUSTED_PROXIES.join(" ")),
        env("FORWARDED_FOR_HEADERS", "HTTP_X_FORWARDED_FOR"),
        env("REDIS_HOST", "redis"),
        env("REDIS_HOST_PORT", &REDIS.port.to_string()),
        env(
            "REDIS_HOST_PASSWORD_FILE",
            &secret_path(REDIS_PASSWORD_FILE),
        ),
        env("PHP_MEMORY_LIMIT", "512M"),
        env("PHP_UPLOAD_LIMIT", &php_upload_limit()),
    ];
    if mail_on(ctx) {
        // Submission with STARTTLS (SMTP_SECURE empty: no implicit TLS) to the tenant's own
        // mail Service, authenticated as the postmaster (spoof protection: it sends as itself).
        let domain = &ctx.tenant.domain().ascii;
        vars.extend([
            env("SMTP_HOST", "mail"),
            env("SMTP_PORT", &mail::SUBMISSION.port.to_string()),
            env("SMTP_AUTHTYPE", "LOGIN"),
            env("SMTP_NAME", &postmaster(ctx)),
            env("SMTP_PASSWORD_FILE", &secret_path(SMTP_PASSWORD_FILE)),
            env("MAIL_FROM_ADDRESS", "postmaster"),
            env("MAIL_DOMAIN", domain),
        ]);
    }
    vars
}

/// The web pod's variables: the run-time ones and what the entrypoint reads to install.
pub(super) fn web_env(ctx: &Ctx<'_>) -> Vec<EnvVar> {
    let mut vars = vec![
        env("POSTGRES_HOST", "postgres"),
        env("POSTGRES_DB", "nextcloud"),
        env("POSTGRES_USER", "nextcloud"),
        env("POSTGRES_PASSWORD_FILE", &secret_path(DB_PASSWORD_FILE)),
        env("NEXTCLOUD_ADMIN_USER", "admin"),
        env(
            "NEXTCLOUD_ADMIN_PASSWORD_FILE",
            &secret_path(ADMIN_PASSWORD_FILE),
        ),
        env("NEXTCLOUD_TRUSTED_DOMAINS", &ctx.cloud_host()),
        env("APACHE_BODY_LIMIT", &apache_body_limit()),
    ];
    vars.extend(runtime_env(ctx));
    vars
}

/// The Secret files a Nextcloud pod reads: the web pod's install credentials, and for both
/// the Redis and (with mail) SMTP passwords. 0o440 with the pod's fsGroup: www-data only.
pub(super) fn secrets_volume(ctx: &Ctx<'_>, web: bool) -> Volume {
    let mut files = vec![(REDIS_SECRET, "password", REDIS_PASSWORD_FILE)];
    if web {
        files.push((ADMIN_SECRET, "password", ADMIN_PASSWORD_FILE));
        files.push((DB_SECRET, "password", DB_PASSWORD_FILE));
    }
    if mail_on(ctx) {
        files.push((mail::POSTMASTER_SECRET, "password", SMTP_PASSWORD_FILE));
    }
    secret_files("secrets", &files, 0o440)
}

/// A shell word: single-quoted, with embedded quotes closed and escaped.
pub(super) fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// One `occ` command line, every argument quoted.
pub(super) fn occ(args: &[&str]) -> String {
    let words: Vec<String> = args.iter().map(|a| quote(a)).collect();
    format!("php /var/www/html/occ {}\n", words.join(" "))
}

/// The `before-starting` hook setting what no variable covers. It runs at every start, so a
/// changed tenant (domain, mail switched on or off) reaches an installed Nextcloud too.
pub(super) fn settings_hook(ctx: &Ctx<'_>) -> String {
    let set = |key: &[&str], value: &str, kind: &str| {
        let mut args = vec!["config:system:set"];
        args.extend_from_slice(key);
        args.extend(["--type", kind, "--value", value]);
        occ(&args)
    };
    let mut script = String::from(
        "#!/bin/sh\n# Generated by mutualis: Nextcloud system settings no image variable covers.\nset -eu\n",
    );
    script.push_str(&set(&["default_phone_region"], "FR", "string"));
    // 01:00 UTC: heavy background jobs run at night.
    script.push_str(&set(&["maintenance_window_start"], "1", "integer"));
    script.push_str(&set(&["memcache.local"], "\\OC\\Memcache\\APCu", "string"));
    // The entrypoint sets trusted_domains only at install; keep it following the domain.
    script.push_str(&set(&["trusted_domains", "1"], &ctx.cloud_host(), "string"));
    if mail_on(ctx) && ctx.issuer().is_some() {
        // SMTP_HOST is the in-cluster Service; its certificate names the mail host.
        script.push_str(&set(
            &["mail_smtpstreamoptions", "ssl", "peer_name"],
            &ctx.mail_host(),
            "string",
        ));
    } else {
        script.push_str(&occ(&["config:system:delete", "mail_smtpstreamoptions"]));
    }
    script
}

/// The `before-starting` hook adding a group per member commune (idempotent).
pub(super) fn member_groups_hook(ctx: &Ctx<'_>) -> String {
    let mut script = String::from(
        "#!/bin/sh\n# Generated by mutualis: a group per member commune (idempotent).\nset -u\n",
    );
    for m in ctx.tenant.members() {
        let line = occ(&["group:add", "--display-name", &m.display_name, &m.name]);
        let _ = writeln!(script, "{} >/dev/null 2>&1 || true", line.trim_end());
    }
    script
}

/// Apache's listening port and virtual host, moved off port 80 to run unprivileged.
pub(super) fn apache_files(host: &str) -> [(String, String); 2] {
    let port = HTTP.target;
    let vhost = [
        format!("<VirtualHost *:{port}>"),
        format!("  ServerName {host}"),
        "  DocumentRoot /var/www/html".to_owned(),
        "  <Directory /var/www/html>".to_owned(),
        "    AllowOverride All".to_owned(),
        "    Require all granted".to_owned(),
        "  </Directory>".to_owned(),
        "</VirtualHost>".to_owned(),
    ];
    [
        ("ports.conf".to_owned(), format!("Listen {port}\n")),
        ("000-default.conf".to_owned(), vhost.join("\n") + "\n"),
    ]
}
