//! Conformance: the programs that really read what mutualis renders are given it. Zones go to
//! BIND's and Knot's checkers and are served by knotd; the website's nginx configuration is
//! tested and served by nginx; the NAS's sambacc configuration becomes smb.conf for testparm and
//! a real smbd; the DKIM key goes to OpenSSL, OpenDKIM and rspamd (which signs with it), the aliases to postmap; Nextcloud's
//! Apache and PHP files to apache2 and php, its Redis start script to sh and redis-server; every object to checkov. A missing program skips
//! its check with a printed `conformance: SKIPPED` line (`scripts/install-tools` installs them).

mod backup;
mod cache;
mod collaboration;
mod dns;
mod mail;
mod nas;
mod scanner;
mod schema;
mod servers;
mod sftp;
mod signing;
mod support;
mod web;

/// The tenant with every service off is under test too: it must give the programs above
/// nothing to run, only the namespace and its guard rails.
#[test]
fn the_tenant_with_every_service_off_has_no_workload_config_or_secret() {
    let f = support::fixtures()
        .iter()
        .find(|f| f.name == "tout-eteint")
        .unwrap();
    let kinds: std::collections::BTreeSet<&str> = f.plan.objects.iter().map(|o| o.kind()).collect();
    for absent in [
        "Deployment",
        "CronJob",
        "ConfigMap",
        "Ingress",
        "PersistentVolumeClaim",
    ] {
        assert!(
            !kinds.contains(absent),
            "tout-eteint has a {absent}: {kinds:?}"
        );
    }
    assert!(
        kinds.contains("Namespace") && kinds.contains("NetworkPolicy"),
        "{kinds:?}"
    );
    assert!(f.plan.zones.is_empty() && f.plan.secrets.is_empty());
}

/// Every file mutualis generates into a ConfigMap is read by a check of this suite; a new file
/// fails here until a check hands it to its program (or says here why none can).
#[test]
fn every_generated_configuration_file_has_a_conformance_check() {
    let checked: &[(&str, &str, &str)] = &[
        (
            "zones-",
            "db.",
            "dns: named-checkzone, knotc zone-check, knotd",
        ),
        ("website-nginx", "default.conf", "web: nginx -t and served"),
        (
            "website-nginx",
            "placeholder.html",
            "web: served by a fresh site",
        ),
        ("nas-config", "config.json", "nas: sambacc, testparm, smbd"),
        (
            "nas-config",
            "prepare.sh",
            "nas: run by sh, users.json to sambacc",
        ),
        ("mail-config", "postfix-virtual.cf", "mail: postmap"),
        ("mail-config", "dkim_signing.conf", "signing: rspamd"),
        (
            "nextcloud-config",
            "ports.conf",
            "collaboration: apache2 -t",
        ),
        (
            "nextcloud-config",
            "000-default.conf",
            "collaboration: apache2 -t",
        ),
        (
            "nextcloud-config",
            "mutualis-settings.sh",
            "collaboration: sh, its occ calls recorded",
        ),
        ("nextcloud-config", "member-groups.sh", "collaboration: sh"),
    ];
    let mut unchecked = Vec::new();
    for f in support::fixtures() {
        for o in &f.plan.objects {
            let mutualis::plan::Object::ConfigMap(cm) = o else {
                continue;
            };
            for key in cm.data.iter().flatten().map(|(k, _)| k) {
                if !checked.iter().any(|(name, prefix, _)| {
                    // `zones-` is the prefix of every tenant's zone ConfigMap.
                    (o.name() == *name || (name.ends_with('-') && o.name().starts_with(name)))
                        && key.starts_with(prefix)
                }) {
                    unchecked.push(format!("{}: ConfigMap {}, key {key}", f.name, o.name()));
                }
            }
        }
    }
    assert!(
        unchecked.is_empty(),
        "no conformance check reads:\n{}",
        unchecked.join("\n")
    );
}
