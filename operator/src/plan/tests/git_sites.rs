//! A domain's site from git: a git-sync sidecar syncing into its own root, nginx serving the
//! link, no SFTP account for that domain, egress to the repository's port only, bad sources
//! refused with the field.

use serde_json::json;

use super::*;

/// The fixture tenant whose member `tresses` publishes from git.
fn with_git(git: &str) -> String {
    TENANT.replace(
        "  - {name: tresses, displayName: Tresses, domain: tresses.fr}\n",
        &format!("  - {{name: tresses, displayName: Tresses, domain: tresses.fr, site: {{git: {git}}}}}\n"),
    )
}

const GIT: &str = "{repository: \"https://git.tresses.fr/mairie/site.git\", ref: v2}";

#[test]
fn a_git_sourced_domain_is_synced_by_git_sync_and_served_from_its_link() {
    let p = plan_of(&with_git(GIT), &PlanInputs::default());
    let d = find(&p, "Deployment", "website").to_json();
    let pod = &d["spec"]["template"]["spec"];
    let sync = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "git-sync-tresses")
        .unwrap();
    assert_eq!(
        sync["args"],
        json!([
            "--repo=https://git.tresses.fr/mairie/site.git",
            "--ref=v2",
            "--root=/srv/sites/.git-sync/tresses.fr",
            "--link=current",
            "--depth=1",
            "--period=60s",
            "--max-failures=-1"
        ])
    );
    assert_eq!(sync["image"], "registry.k8s.io/git-sync/git-sync:v4.7.1");
    assert_eq!(sync["securityContext"]["runAsUser"], 65533);
    assert_eq!(sync["securityContext"]["readOnlyRootFilesystem"], true);
    let conf = find(&p, "ConfigMap", "website-nginx").to_json();
    let conf = conf["data"]["default.conf"].as_str().unwrap();
    assert!(
        conf.contains("root /usr/share/nginx/html/.git-sync/tresses.fr/current;"),
        "{conf}"
    );
    assert!(
        conf.contains("root /usr/share/nginx/html/villages.fr;"),
        "{conf}"
    );
    // The other domains keep SFTP; this one has no account.
    let sftp = p.secrets.iter().find(|s| s.name == "website-sftp").unwrap();
    let keys: Vec<&str> = sftp.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["villages.fr", "xn--sallebuf-ptb.fr"]);
    // Out to the repository's HTTPS port, nothing else.
    // A rule of the website's policy, its only way out.
    let np = find(&p, "NetworkPolicy", "allow-website").to_json();
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["egress"].as_array().unwrap().len(), 1);
    assert_eq!(
        np["spec"]["egress"][0]["ports"],
        json!([{"port": 443, "protocol": "TCP"}])
    );
}

#[test]
fn every_domain_from_git_means_no_sftp_server_at_all() {
    let yaml = with_git(GIT)
        .replace("domain: villages.fr\n", &format!("domain: villages.fr\n  site: {{git: {GIT}}}\n"))
        .replace(
            "  - {displayName: Sallebœuf, domain: sallebœuf.fr}\n",
            "  - {displayName: Sallebœuf, domain: sallebœuf.fr, site: {git: {repository: \"https://forge.example.org:8443/sb/site\"}}}\n",
        );
    let p = plan_of(&yaml, &PlanInputs::default());
    assert!(
        !p.objects.iter().any(|o| o.name().contains("sftp")),
        "an SFTP object without an account"
    );
    assert!(!p.secrets.iter().any(|s| s.name == "website-sftp"));
    let np = find(&p, "NetworkPolicy", "allow-website").to_json();
    assert_eq!(
        np["spec"]["egress"][0]["ports"],
        json!([{"port": 443, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}])
    );
    // Without a ref: the repository's default branch.
    let d = find(&p, "Deployment", "website").to_json();
    let args = d["spec"]["template"]["spec"]["containers"].to_string();
    assert!(
        args.contains("\"--repo=https://forge.example.org:8443/sb/site\",\"--root="),
        "{args}"
    );
}

#[test]
fn a_bad_git_source_is_refused_naming_the_field() {
    let refused = |git: &str, catalog: &ServiceCatalog| {
        validate(&tenant(&with_git(git)), catalog)
            .unwrap_err()
            .to_string()
    };
    let c = catalog();
    let e = refused("{repository: \"http://git.tresses.fr/site.git\"}", &c);
    assert!(
        e.contains("spec.members[1].site.git.repository") && e.contains("https://"),
        "{e}"
    );
    let e = refused(
        "{repository: \"https://jean:secret@git.tresses.fr/site.git\"}",
        &c,
    );
    // The CRD's pattern refuses it first (one list of rules): field, value and pattern named.
    assert!(
        e.contains("spec.members[1].site.git.repository")
            && e.contains("jean:secret@")
            && e.contains("should match"),
        "{e}"
    );
    let e = refused(
        "{repository: \"https://git.tresses.fr/site.git\", ref: \"--upload-pack=x\"}",
        &c,
    );
    assert!(e.contains("spec.members[1].site.git.ref"), "{e}");
    let e = refused(
        "{repository: \"https://git.tresses.fr/site.git\", ref: \"a/../b\"}",
        &c,
    );
    assert!(e.contains("spec.members[1].site.git.ref"), "{e}");
    let e = refused(
        "{repository: \"https://git.tresses.fr:99999/site.git\"}",
        &c,
    );
    assert!(e.contains("port"), "{e}");
    let mut without = catalog();
    without.spec.images.git_sync = None;
    let e = refused(GIT, &without);
    assert!(
        e.contains("spec.members[1].site.git") && e.contains("spec.images.gitSync"),
        "{e}"
    );
}
