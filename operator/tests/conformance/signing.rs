//! Mail signing: rspamd, the signer docker-mailserver runs (`ENABLE_RSPAMD=1`), loads the
//! `mail-config` ConfigMap's `dkim_signing.conf` as an override and the key from the
//! `mail-dkim` Secret, signs a message from each of the tenant's domains, and verifies the
//! signature against the zones served by knotd. rspamd and knotd run in a private network
//! namespace: rspamd's default modules would otherwise try to reach its public servers.

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mutualis::plan::secrets::{DKIM_PRIVATE_KEY, DKIM_SECRET, DKIM_SELECTOR};

use crate::support::{
    Fixture, Net, PrivateNet, Server, fixtures, require, rewrite, run, temp_dir, write,
};

/// Where docker-mailserver takes rspamd overrides from (copied into /etc/rspamd/override.d).
const DMS_OVERRIDES: &str = "/tmp/docker-mailserver/rspamd/override.d/";
const RSPAMD_PORT: u16 = 11333;

fn rspamc(net: Net, args: &[&str], message: &str) -> String {
    use std::io::Write;
    let mut child = net
        .command("rspamc")
        .args(["-h", &format!("127.0.0.1:{RSPAMD_PORT}"), "-t", "10"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    crate::support::text(&out)
}

/// rspamd's configuration: the Debian package's, with the plan's override and test settings.
fn rspamd_conf(f: &Fixture, dir: &Path, dns_port: u16) {
    let data = f.config_map("mail-config").unwrap();
    let pod = f.deployment("mail").unwrap().spec.as_ref().unwrap();
    let mounts = pod.template.spec.as_ref().unwrap().containers[0]
        .volume_mounts
        .as_ref()
        .unwrap();
    let local = dir.join("local");
    let mut overrides = 0;
    for m in mounts {
        if let (Some(file), Some(key)) = (m.mount_path.strip_prefix(DMS_OVERRIDES), &m.sub_path) {
            let key_dir = dir.join("dkim").display().to_string();
            let text = rewrite(
                &data[key],
                "/etc/mutualis/dkim",
                &key_dir,
                usize::from(key == "dkim_signing.conf"),
                &f.name,
            );
            write(&local.join("override.d").join(file), &text);
            overrides += 1;
        }
    }
    assert!(
        overrides > 0,
        "tenant {}: no rspamd override mounted",
        f.name
    );
    let key = dir.join("dkim").join(DKIM_PRIVATE_KEY);
    write(&key, f.secret(DKIM_SECRET, DKIM_PRIVATE_KEY));
    // The Secret volume's mode: rspamd reads the key as its own user.
    crate::support::set_mode(&key, 0o444);
    // Test only: one worker on loopback, the namespace's knotd as resolver, logs to stdout.
    write(
        &local.join("local.d/worker-normal.inc"),
        &format!("bind_socket = \"127.0.0.1:{RSPAMD_PORT}\";\n"),
    );
    write(
        &local.join("override.d/worker-controller.inc"),
        "enabled = false;\n",
    );
    write(
        &local.join("override.d/worker-proxy.inc"),
        "enabled = false;\n",
    );
    write(
        &local.join("local.d/options.inc"),
        &format!("dns {{ nameserver = [\"127.0.0.1:{dns_port}\"]; }}\n"),
    );
    write(
        &local.join("override.d/logging.inc"),
        "type = \"console\";\nlevel = \"info\";\n",
    );
    for sub in ["db", "run", "log"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        let _ = Command::new("chown")
            .args(["_rspamd:_rspamd"])
            .arg(dir.join(sub))
            .status();
    }
}

/// Signs a message from each domain of `f` with rspamd and verifies it; returns the failures.
/// rspamd compiles its whole rule set at start (seconds of CPU): one instance at a time, so two
/// tests never starve each other on a small machine.
static ONE_RSPAMD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sign_and_verify(f: &Fixture) -> Vec<String> {
    let _one = ONE_RSPAMD.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ns) = PrivateNet::new("mail signing (rspamd)") else {
        return Vec::new();
    };
    let net = ns.net();
    let zones = crate::dns::serve(f, net);
    let dir = temp_dir();
    rspamd_conf(f, dir.path(), zones.port);
    let d = dir.path().display();
    let mut rspamd = Server::start(
        &format!("rspamd for {}", f.name),
        net.command(crate::support::which("rspamd").unwrap())
            .args([
                "-f",
                "-u",
                "_rspamd",
                "-g",
                "_rspamd",
                "-c",
                "/etc/rspamd/rspamd.conf",
            ])
            .arg(format!("--var=LOCAL_CONFDIR={d}/local"))
            .arg(format!("--var=DBDIR={d}/db"))
            .arg(format!("--var=RUNDIR={d}/run"))
            .arg(format!("--var=LOGDIR={d}/log")),
        &dir.path().join("rspamd.log"),
    );
    let message = |domain: &str| {
        format!(
            "From: Postmaster <postmaster@{domain}>\r\nTo: someone@example.org\r\nSubject: conformance\r\n\
             Date: Tue, 01 Dec 2026 12:00:00 +0000\r\nMessage-ID: <conformance@{domain}>\r\n\r\nBonjour.\r\n"
        )
    };
    let first = message(&f.plan.zones[0].origin);
    // Loading rspamd's rules takes seconds; ready once it answers a scan.
    rspamd.wait_ready_within(240, || {
        !rspamc(net, &["symbols"], &first)
            .to_lowercase()
            .contains("refused")
    });
    let mut failures = Vec::new();
    for z in &f.plan.zones {
        let sender = format!("postmaster@{}", z.origin);
        // As submission does: an authenticated user sends from its domain.
        let signed = rspamc(net, &["--user", &sender, "--mime"], &message(&z.origin));
        // The header, unfolded.
        let mut lines = signed
            .lines()
            .skip_while(|l| !l.starts_with("DKIM-Signature:"));
        let Some(first_line) = lines.next() else {
            failures.push(format!(
                "tenant {}, zone {}: rspamd did not sign:\n{signed}",
                f.name, z.origin
            ));
            continue;
        };
        let header: String = std::iter::once(first_line)
            .chain(lines.take_while(|l| l.starts_with([' ', '\t'])))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        if !header.contains(&format!("d={};", z.origin))
            || !header.contains(&format!("s={DKIM_SELECTOR};"))
        {
            failures.push(format!(
                "tenant {}, zone {}: unexpected signature {header}",
                f.name, z.origin
            ));
        }
        // What a receiving server sees: the signed message from another address, checked
        // against the served zone.
        let verdict = rspamc(net, &["-i", "192.0.2.1", "symbols"], &signed);
        let allowed = format!("[{}:s={DKIM_SELECTOR}]", z.origin);
        if !verdict
            .lines()
            .any(|l| l.contains("R_DKIM_ALLOW") && l.contains(&allowed))
        {
            failures.push(format!(
                "tenant {}, zone {}: signature not verified:\n{verdict}",
                f.name, z.origin
            ));
        }
    }
    if !failures.is_empty() {
        failures.push(format!("rspamd log:\n{}", rspamd.output()));
    }
    failures
}

#[test]
fn rspamd_signs_with_the_operator_key_and_the_served_zones_verify_it() {
    if !require(
        "mail signing (rspamd)",
        &["rspamd", "rspamc", "knotd", "kdig"],
    ) {
        return;
    }
    let f = fixtures()
        .iter()
        .find(|f| f.name == "entre-deux-mers")
        .unwrap();
    let failures = sign_and_verify(f);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same check passes with an RSA-2048 key made by OpenSSL: a failure above is the key's.
#[test]
fn rspamd_signs_with_an_openssl_rsa_key_and_the_served_zones_verify_it() {
    if !require(
        "mail signing (rspamd)",
        &["rspamd", "rspamc", "knotd", "kdig", "openssl"],
    ) {
        return;
    }
    let dir = temp_dir();
    let key = dir.path().join("key.pem");
    run(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
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
    let f = fixtures()
        .iter()
        .find(|f| f.name == "entre-deux-mers")
        .unwrap();
    let control = f.with_dkim_key(
        mutualis::plan::DkimPublicKey {
            algorithm: "rsa".into(),
            public_key_base64: STANDARD.encode(spki),
            selector: DKIM_SELECTOR.into(),
        },
        std::fs::read_to_string(&key).unwrap(),
    );
    let failures = sign_and_verify(&control);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
