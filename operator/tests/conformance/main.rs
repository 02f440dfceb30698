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
