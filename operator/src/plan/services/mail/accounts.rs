//! The mail accounts: the postmaster and every declared mailbox, each with a generated initial
//! password in a Secret per domain (`mail-accounts-<tenant or member name>`, key = local part),
//! written by an init container into docker-mailserver's `postfix-accounts.cf`.
//!
//! docker-mailserver reads that file when it starts (and its change detector when the file
//! changes) and builds Dovecot's userdb from it. The init container rewrites it at every start
//! from the declaration: an account already in the file keeps its line (a password changed
//! with `setup email update` survives), a new one gets `{SHA512-CRYPT}` of its initial
//! password, and an account no longer declared is left out (its mail stays on the volume).

use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, Volume};

use super::super::{Ctx, Out};
use super::{DMS_CONFIG, POSTMASTER_SECRET};
use crate::api::Service;
use crate::plan::builders::secret_files;
use crate::plan::secrets::SecretKind;
use crate::plan::security::{mount, resources, root_with};

/// Where the init container sees the passwords: `<domain>/<local part>`.
const PASSWORDS: &str = "/etc/mutualis/accounts";
/// Length of a generated mailbox password.
const PASSWORD_LENGTH: u8 = 24;

/// The Secret holding the initial passwords of the mailboxes of the tenant's own domain
/// (`owner` = the tenant's name) or of a member's (`owner` = the member's name).
pub fn accounts_secret(owner: &str) -> String {
    format!("mail-accounts-{owner}")
}

/// One account: its address, and the Secret key holding its initial password.
struct Account {
    address: String,
    domain: String,
    local: String,
    secret: String,
    key: String,
}

/// Every account in order: the postmaster, then each domain's mailboxes.
fn accounts(ctx: &Ctx<'_>) -> Vec<Account> {
    let t = ctx.tenant;
    let own = &t.domain().ascii;
    let mut list = vec![Account {
        address: format!("postmaster@{own}"),
        domain: own.clone(),
        local: "postmaster".into(),
        secret: POSTMASTER_SECRET.into(),
        key: "password".into(),
    }];
    let domains = std::iter::once((t.name(), own, t.mail())).chain(
        t.members()
            .iter()
            .map(|m| (m.name.as_str(), &m.domain.ascii, &m.mail)),
    );
    for (owner, domain, mail) in domains {
        for local in &mail.mailboxes {
            list.push(Account {
                address: format!("{local}@{domain}"),
                domain: domain.clone(),
                local: local.clone(),
                secret: accounts_secret(owner),
                key: local.clone(),
            });
        }
    }
    list
}

/// Asks for the Secrets of the declared mailboxes (one per domain that has any): created
/// once, a key added per new mailbox, none ever changed or removed.
pub fn request_secrets(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let domains = std::iter::once((t.name(), t.mail()))
        .chain(t.members().iter().map(|m| (m.name.as_str(), &m.mail)));
    for (owner, mail) in domains.filter(|(_, m)| !m.mailboxes.is_empty()) {
        out.secret(
            ctx,
            &accounts_secret(owner),
            Service::Mail,
            mail.mailboxes
                .iter()
                .map(|l| {
                    (
                        l.clone(),
                        SecretKind::Password {
                            length: PASSWORD_LENGTH,
                        },
                    )
                })
                .collect(),
        );
    }
}

/// The script writing `postfix-accounts.cf`. Passwords are read from files and reach
/// `mkpasswd` on its standard input, never a command line; a missing password stops the pod
/// rather than creating an account without one.
fn script(accounts: &[Account]) -> String {
    let mut s = format!(
        "set -eu\n\
         f={DMS_CONFIG}/postfix-accounts.cf\n\
         touch \"$f\"\n\
         umask 077\n\
         : > \"$f.new\"\n\
         account() {{\n\
         \x20 line=$(awk -F'|' -v a=\"$1\" '$1 == a {{ print; exit }}' \"$f\")\n\
         \x20 if [ -n \"$line\" ]; then\n\
         \x20   printf '%s\\n' \"$line\" >> \"$f.new\"\n\
         \x20 elif [ -s \"$2\" ]; then\n\
         \x20   printf '%s|{{SHA512-CRYPT}}%s\\n' \"$1\" \"$(mkpasswd --method=sha-512 --stdin < \"$2\")\" >> \"$f.new\"\n\
         \x20 else\n\
         \x20   echo \"mutualis: no initial password for $1 in $2\" >&2; exit 1\n\
         \x20 fi\n\
         }}\n"
    );
    for a in accounts {
        let _ = writeln!(
            s,
            "account {} {PASSWORDS}/{}/{}",
            a.address, a.domain, a.local
        );
    }
    s.push_str("mv \"$f.new\" \"$f\"\n");
    s
}

/// The init container writing the accounts, and the volume of their passwords (root reads
/// them, in this container only).
pub fn init(ctx: &Ctx<'_>) -> (Container, Volume) {
    let accounts = accounts(ctx);
    let paths: Vec<String> = accounts
        .iter()
        .map(|a| format!("{}/{}", a.domain, a.local))
        .collect();
    let files: Vec<(&str, &str, &str)> = accounts
        .iter()
        .zip(&paths)
        .map(|(a, p)| (a.secret.as_str(), a.key.as_str(), p.as_str()))
        .collect();
    let container = Container {
        name: "accounts".into(),
        image: Some(ctx.tenant.catalog().images.mail.reference()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script(&accounts)]),
        volume_mounts: Some(vec![
            mount("data", DMS_CONFIG, Some("config"), false),
            mount("accounts", PASSWORDS, None, true),
        ]),
        security_context: Some(root_with(&[])),
        resources: Some(resources("10m", "16Mi", "200m", "64Mi")),
        ..Container::default()
    };
    (container, secret_files("accounts", &files, 0o400))
}
