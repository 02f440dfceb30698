//! Mail: the DKIM key the operator generates, read by OpenSSL and checked by OpenDKIM against
//! the zones served by knotd; the aliases file through `postmap` as docker-mailserver loads
//! it; the accounts file the init container writes, in docker-mailserver's format.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hickory_proto::rr::RData;
use mutualis::plan::secrets::{DKIM_PRIVATE_KEY, DKIM_SECRET, DKIM_SELECTOR};

use crate::support::{
    Fixture, fixtures, require, rewrite, run, set_mode, temp_dir, text, with_config_map, write,
};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn with_mail() -> impl Iterator<Item = &'static Fixture> {
    fixtures()
        .iter()
        .filter(|f| f.secrets.contains_key(DKIM_SECRET))
}

/// The tag values of each zone's DKIM record (`mutualis._domainkey.<zone>`), from the plan.
fn dkim_records(f: &Fixture) -> Vec<(String, String, String)> {
    f.plan
        .zones
        .iter()
        .filter_map(|z| {
            let owner = format!("{DKIM_SELECTOR}._domainkey.{}.", z.origin);
            z.records.iter().find_map(|r| match &r.data {
                RData::TXT(t) if r.name.to_ascii() == owner => {
                    let value: String = t
                        .txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect();
                    let tag = |name: &str| {
                        value
                            .split(';')
                            .filter_map(|kv| kv.trim().split_once('='))
                            .find(|(k, _)| *k == name)
                            .map(|(_, v)| v.to_owned())
                            .unwrap_or_default()
                    };
                    Some((z.origin.clone(), tag("k"), tag("p")))
                }
                _ => None,
            })
        })
        .collect()
}

fn private_key_file(f: &Fixture, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("dkim.key");
    write(&path, f.secret(DKIM_SECRET, DKIM_PRIVATE_KEY));
    set_mode(&path, 0o600);
    path
}

#[test]
fn dkim_private_key_loads_in_openssl_and_its_public_half_is_the_dns_record() {
    if !require("mail dkim key (OpenSSL)", &["openssl"]) {
        return;
    }
    for f in with_mail() {
        openssl_check(f);
    }
}

fn openssl_check(f: &Fixture) {
    let dir = temp_dir();
    let key = private_key_file(f, dir.path());
    run(
        Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&key),
        &format!(
            "tenant {}: openssl pkey of Secret {DKIM_SECRET}/{DKIM_PRIVATE_KEY}",
            f.name
        ),
    );
    let public = run(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&key),
        &format!("tenant {}: openssl pkey -pubout", f.name),
    )
    .stdout;
    let records = dkim_records(f);
    assert_eq!(
        records.len(),
        f.plan.zones.len(),
        "tenant {}: a DKIM record per zone",
        f.name
    );
    for (zone, k, p) in records {
        let expected = match k.as_str() {
            // RFC 6376: p= is the SubjectPublicKeyInfo.
            "rsa" => STANDARD.encode(&public),
            // RFC 8463: p= is the raw 32-byte key.
            "ed25519" => {
                assert!(
                    public.starts_with(&ED25519_SPKI_PREFIX),
                    "tenant {}: not an Ed25519 key",
                    f.name
                );
                STANDARD.encode(&public[ED25519_SPKI_PREFIX.len()..])
            }
            other => panic!(
                "tenant {}, zone {zone}: DKIM k={other} is neither rsa nor ed25519",
                f.name
            ),
        };
        assert_eq!(
            p, expected,
            "tenant {}, zone {zone}: DKIM p= is not the key's public half",
            f.name
        );
    }
}

#[test]
fn dkim_key_matches_the_served_record_for_opendkim_testkey() {
    if !require(
        "mail dkim (OpenDKIM)",
        &["opendkim-testkey", "knotd", "kdig"],
    ) {
        return;
    }
    for f in with_mail().filter(|f| !f.plan.zones.is_empty()) {
        opendkim_check(f, false);
    }
}

/// `only_rsa`: skip (saying so) a key of another type, which opendkim-testkey cannot check.
fn opendkim_check(f: &Fixture, only_rsa: bool) {
    if only_rsa && dkim_records(f).iter().any(|(_, k, _)| k != "rsa") {
        eprintln!(
            "conformance: SKIPPED opendkim-testkey for {}: its DKIM key is not RSA, and opendkim-testkey 2.11 checks RSA keys only",
            f.name
        );
        return;
    }
    let dir = temp_dir();
    let key = private_key_file(f, dir.path());
    let server = crate::dns::serve(f, crate::support::Net::Host);
    // OpenDKIM resolves through libunbound: pointed at the test's knotd, no validation.
    let unbound = dir.path().join("unbound.conf");
    write(
        &unbound,
        &format!(
            "server:\n  do-not-query-localhost: no\n  module-config: \"iterator\"\n  username: \"\"\n  chroot: \"\"\n\
                 forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{}\n",
            server.port
        ),
    );
    let conf = dir.path().join("opendkim.conf");
    write(
        &conf,
        &format!("ResolverConfiguration {}\n", unbound.display()),
    );
    for z in &f.plan.zones {
        let out = Command::new("opendkim-testkey")
            .args(["-vvv", "-x"])
            .arg(&conf)
            .args(["-d", &z.origin, "-s", DKIM_SELECTOR, "-k"])
            .arg(&key)
            .output()
            .unwrap();
        let report = text(&out);
        assert!(
            out.status.success() && report.contains("key OK"),
            "tenant {}, zone {}: opendkim-testkey:\n{report}",
            f.name,
            z.origin
        );
    }
}

/// The DKIM checks above pass for keys OpenSSL itself made (RSA-2048 and Ed25519), so their
/// failure on the operator's key is the key's fault, not the checks'.
#[test]
fn the_dkim_checks_pass_for_keys_openssl_generates() {
    if !require(
        "mail dkim control keys",
        &["openssl", "opendkim-testkey", "knotd", "kdig"],
    ) {
        return;
    }
    let f = with_mail().find(|f| f.name == "entre-deux-mers").unwrap();
    for (algorithm, args) in [
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        ),
        ("ed25519", &["-algorithm", "ED25519"][..]),
    ] {
        let dir = temp_dir();
        let key = dir.path().join("key.pem");
        run(
            Command::new("openssl")
                .arg("genpkey")
                .args(args)
                .arg("-out")
                .arg(&key),
            "openssl genpkey",
        );
        let spki = run(
            Command::new("openssl")
                .args(["pkey", "-pubout", "-outform", "DER", "-in"])
                .arg(&key),
            "openssl pkey -pubout",
        )
        .stdout;
        let public = if algorithm == "rsa" {
            &spki[..]
        } else {
            &spki[ED25519_SPKI_PREFIX.len()..]
        };
        let control = f.with_dkim_key(
            mutualis::plan::DkimPublicKey {
                algorithm: algorithm.into(),
                public_key_base64: STANDARD.encode(public),
                selector: DKIM_SELECTOR.into(),
            },
            std::fs::read_to_string(&key).unwrap(),
        );
        openssl_check(&control);
        opendkim_check(&control, true);
    }
}

#[test]
fn aliases_load_with_postmap_and_route_to_the_postmaster() {
    if !require("mail aliases (postfix)", &["postmap"]) {
        return;
    }
    let mut tenants = 0;
    for (f, data) in with_config_map("mail-config") {
        let dir = temp_dir();
        let file = dir.path().join("postfix-virtual.cf");
        let aliases = &data["postfix-virtual.cf"];
        write(&file, aliases);
        // postmap reads a main.cf; a fresh Debian install of postfix has none (debconf's "No
        // configuration"), so an empty one of our own: the defaults are docker-mailserver's.
        write(&dir.path().join("main.cf"), "");
        let postmap = || {
            let mut c = Command::new("postmap");
            c.arg("-c").arg(dir.path());
            c
        };
        // docker-mailserver copies the file to /etc/postfix/virtual and runs postmap on it.
        run(
            postmap().arg(format!("hash:{}", file.display())),
            &format!("tenant {}: postmap mail-config/postfix-virtual.cf", f.name),
        );
        let mut domains = BTreeSet::new();
        for line in aliases.lines().filter(|l| !l.trim().is_empty()) {
            let (from, to) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}: alias line {line:?}", f.name));
            let out = run(
                postmap()
                    .args(["-q", from])
                    .arg(format!("hash:{}", file.display())),
                &format!("tenant {}: postmap -q {from}", f.name),
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                to.trim(),
                "tenant {}: {from}",
                f.name
            );
            domains.insert(from.split_once('@').unwrap().1.to_owned());
        }
        // Every zone's domain is a virtual domain of the server through its aliases.
        let zones: BTreeSet<String> = f.plan.zones.iter().map(|z| z.origin.clone()).collect();
        if !zones.is_empty() {
            assert_eq!(
                domains, zones,
                "tenant {}: aliases cover every domain",
                f.name
            );
        }
        tenants += 1;
    }
    assert!(tenants >= 4, "only {tenants} tenants have mail");
}

/// The accounts init container's script, rewritten to run on this machine: its config
/// directory and password files under `dir` (the Secrets' generated values written there).
fn accounts_script(f: &Fixture, dir: &Path) -> (String, Vec<String>) {
    let pod = f.deployment("mail").unwrap().spec.as_ref().unwrap();
    let pod = pod.template.spec.as_ref().unwrap();
    let init = &pod.init_containers.as_ref().unwrap()[0];
    let command = init.command.as_ref().unwrap();
    assert_eq!(
        &command[..2],
        ["/bin/sh", "-c"],
        "{}: a shell command",
        f.name
    );
    // The passwords come from the Secret files the init container mounts, not its env.
    assert!(init.env.is_none(), "{}: the init container's env", f.name);
    let addresses: Vec<String> = command[2]
        .lines()
        .filter_map(|l| l.strip_prefix("account "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let script = rewrite(
        &command[2],
        "/tmp/docker-mailserver",
        &config.display().to_string(),
        1,
        &f.name,
    );
    let secrets = f.secret_mounts(pod, init, dir);
    let (path, local) = secrets.iter().next().expect("a mounted Secret");
    let script = rewrite(
        &script,
        &format!("{path}/"),
        &format!("{}/", local.display()),
        addresses.len(),
        &f.name,
    );
    (script, addresses)
}

fn run_script(script: &str) -> std::process::Output {
    Command::new("/bin/sh")
        .args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap()
}

/// The generated password of `address`: the key of the Secret the pod projects at
/// `<domain>/<local part>` (several domains may have a `mairie`).
fn initial_password<'a>(f: &'a Fixture, address: &str) -> &'a str {
    let (local, domain) = address.split_once('@').unwrap();
    let wanted = format!("{domain}/{local}");
    let pod = f.deployment("mail").unwrap().spec.as_ref().unwrap();
    let volume = pod.template.spec.as_ref().unwrap().volumes.iter().flatten();
    let (secret, key) = volume
        .filter(|v| v.name == "accounts")
        .flat_map(|v| v.projected.iter().flat_map(|p| p.sources.iter().flatten()))
        .filter_map(|s| s.secret.as_ref())
        .find_map(|s| {
            let item = s.items.iter().flatten().find(|i| i.path == wanted)?;
            Some((s.name.as_str(), item.key.as_str()))
        })
        .unwrap_or_else(|| panic!("{}: no projected password for {address}", f.name));
    f.secret(secret, key)
}

/// Dovecot (which docker-mailserver's accounts become a passwd-file of) verifies each line's
/// hash against the generated password: the scheme and hash are ones it accepts.
fn dovecot_verifies(f: &Fixture, line: &str, password: &str) {
    let (_, hash) = line.split_once('|').unwrap();
    let out = run(
        Command::new("doveadm").args(["pw", "-t", hash, "-p", password]),
        &format!("tenant {}: doveadm pw -t of {line:?}", f.name),
    );
    assert!(
        text(&out).contains("(verified)"),
        "tenant {}: {}",
        f.name,
        text(&out)
    );
}

#[test]
fn the_accounts_file_holds_every_declared_mailbox_with_a_hash_dovecot_verifies() {
    if !require(
        "mail accounts (Dovecot, mkpasswd)",
        &["doveadm", "mkpasswd", "awk"],
    ) {
        return;
    }
    let mut mailboxes = 0;
    for f in with_mail() {
        let dir = temp_dir();
        let (script, addresses) = accounts_script(f, dir.path());
        let postmaster = addresses[0].clone();
        assert!(
            postmaster.starts_with("postmaster@"),
            "{}: {addresses:?}",
            f.name
        );
        let out = run_script(&script);
        assert!(out.status.success(), "tenant {}: {}", f.name, text(&out));
        let file = dir.path().join("config/postfix-accounts.cf");
        let accounts = std::fs::read_to_string(&file).unwrap();
        // docker-mailserver: `<address>|<{SCHEME}hash>` per line, read by Dovecot's passwd-file.
        let lines: Vec<&str> = accounts.lines().collect();
        assert_eq!(
            lines
                .iter()
                .map(|l| l.split('|').next().unwrap())
                .collect::<Vec<_>>(),
            addresses,
            "tenant {}",
            f.name
        );
        for (line, address) in lines.iter().zip(&addresses) {
            assert!(
                line.contains("|{SHA512-CRYPT}$6$"),
                "tenant {}: {line}",
                f.name
            );
            dovecot_verifies(f, line, initial_password(f, address));
        }
        // A second start keeps every line as it is (the salts would differ if rewritten).
        let out = run_script(&script);
        assert!(out.status.success(), "tenant {}: {}", f.name, text(&out));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            accounts,
            "tenant {}",
            f.name
        );
        mailboxes += addresses.len() - 1;
    }
    assert!(
        mailboxes >= 10,
        "the examples declare mailboxes: {mailboxes}"
    );
}

#[test]
fn a_changed_password_survives_and_an_undeclared_account_leaves_the_file() {
    if !require("mail accounts (mkpasswd)", &["mkpasswd", "awk"]) {
        return;
    }
    let f = with_mail().find(|f| f.name == "coteaux-bordelais").unwrap();
    let dir = temp_dir();
    let (script, addresses) = accounts_script(f, dir.path());
    let file = dir.path().join("config/postfix-accounts.cf");
    // As main's init container wrote it (postmaster in {PLAIN}), a password a user changed
    // with `setup email update`, and an account no longer declared.
    let changed = format!("{}|{{SHA512-CRYPT}}$6$changed$byTheUser", addresses[1]);
    let postmaster = format!("{}|{{PLAIN}}seeded-before", addresses[0]);
    write(
        &file,
        &format!("{postmaster}\nancien@coteaux-bordelais.fr|{{PLAIN}}x\n{changed}\n"),
    );
    let out = run_script(&script);
    assert!(out.status.success(), "{}", text(&out));
    let accounts = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = accounts.lines().collect();
    assert_eq!(lines.len(), addresses.len(), "{accounts}");
    assert_eq!(lines[0], postmaster);
    assert_eq!(lines[1], changed);
    assert!(!accounts.contains("ancien@"), "{accounts}");

    // A password file missing (its Secret key not there yet): the pod stops, the file stays.
    let secret_dir = dir.path().join("secret-accounts");
    let (local, domain) = addresses.last().unwrap().split_once('@').unwrap();
    std::fs::remove_file(secret_dir.join(domain).join(local)).unwrap();
    std::fs::remove_file(&file).unwrap();
    write(&file, &postmaster);
    let out = run_script(&script);
    assert!(!out.status.success(), "no password, yet: {accounts}");
    assert!(
        text(&out).contains("no initial password for"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), postmaster);
}
