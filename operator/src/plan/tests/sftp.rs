//! Publishing: an SFTP account per domain in a restricted sidecar beside nginx, on the same
//! content volume (nginx read-only, SFTP read-write), exposed like the NAS.

use serde_json::json;

use super::*;

fn website_pod(p: &Plan) -> Value {
    find(p, "Deployment", "website").to_json()["spec"]["template"]["spec"].clone()
}

fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

#[test]
fn each_domain_gets_an_sftp_account_with_a_generated_password() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let secret = p.secrets.iter().find(|s| s.name == "website-sftp").unwrap();
    let keys: Vec<&str> = secret.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["villages.fr", "xn--sallebuf-ptb.fr", "tresses.fr"]);
    assert_eq!(
        secret.service,
        crate::plan::object::Part::Service(Service::Website)
    );
    let pod = website_pod(&p);
    let init = container(&pod, "initContainers", "sftp-users");
    let script = init["command"][2].as_str().unwrap();
    for d in &keys {
        // One user per domain, confined to the domain's site directory, enabled.
        assert!(
            script.contains(&format!("{{\"username\": \"{d}\", \"password\": \"%s\", \"status\": 1, \"home_dir\": \"/srv/sites/{d}\", \"permissions\": {{\"/\": [\"*\"]}}}}' \"$(cat /etc/mutualis/sftp/{d})\"")),
            "{script}"
        );
        assert!(
            script.contains(&format!("mkdir -p /srv/sites/{d}\n")),
            "{script}"
        );
    }
    // The admins read the SFTP passwords too.
    let role = find(&p, "Role", "tenant-admin").to_json();
    assert!(role.to_string().contains("\"website-sftp\""), "{role}");
}

#[test]
fn nginx_reads_the_content_sftp_writes_it_both_locked_down() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let pod = website_pod(&p);
    let nginx = container(&pod, "containers", "nginx");
    let sftp = container(&pod, "containers", "sftp");
    let content = |c: &Value| -> Value {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "content")
            .cloned()
            .unwrap()
    };
    assert_eq!(content(nginx)["readOnly"], true);
    assert_eq!(content(sftp)["mountPath"], "/srv/sites");
    assert!(content(sftp)["readOnly"].is_null());
    for c in [sftp, container(&pod, "initContainers", "sftp-users")] {
        let s = &c["securityContext"];
        assert_eq!(s["runAsNonRoot"], true, "{c}");
        assert_eq!(s["runAsUser"], 1000);
        assert_eq!(s["readOnlyRootFilesystem"], true);
        assert_eq!(s["capabilities"], json!({"drop": ["ALL"]}));
    }
    // The pod's readiness is nginx's alone: an SFTP outage keeps the websites served.
    assert!(sftp["readinessProbe"].is_null() && !sftp["livenessProbe"].is_null());
    // No password in the environment; the web admin (whose default port is nginx's) off.
    let env = sftp["env"].to_string();
    assert!(!env.contains("valueFrom"), "{env}");
    assert!(
        env.contains(r#"{"name":"SFTPGO_HTTPD__BINDINGS__0__PORT","value":"0"}"#),
        "{env}"
    );
    assert_eq!(
        sftp["ports"],
        json!([{"containerPort": 2022, "name": "sftp", "protocol": "TCP"}])
    );
}

#[test]
fn sftp_is_exposed_like_the_nas_to_its_own_networks_or_the_nas_ones() {
    let with = |yaml: &str| TENANT.replace("  admins:", &format!("{yaml}  admins:"));
    // No network anywhere: inside the cluster only.
    let p = plan_of(TENANT, &PlanInputs::default());
    let svc = find(&p, "Service", "website-sftp").to_json();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "sftp", "port": 22, "protocol": "TCP", "targetPort": 2022}])
    );
    // No network outside the cluster reaches it (the policy's rules: HTTP and SFTP, from pods).
    let np = find(&p, "NetworkPolicy", "allow-website").to_json();
    assert!(
        !np["spec"]["ingress"].to_string().contains("ipBlock"),
        "{np}"
    );
    // The NAS's networks reach SFTP too, unless spec.sftp names others.
    let nas = "  nas: {allowedNetworks: [192.0.2.0/24]}\n";
    for (yaml, cidr) in [
        (nas.to_owned(), "192.0.2.0/24"),
        (
            format!("{nas}  sftp: {{allowedNetworks: [198.51.100.0/24]}}\n"),
            "198.51.100.0/24",
        ),
    ] {
        let p = plan_of(&with(&yaml), &PlanInputs::default());
        let svc = find(&p, "Service", "website-sftp").to_json();
        assert_eq!(svc["spec"]["type"], "LoadBalancer");
        assert_eq!(svc["spec"]["loadBalancerSourceRanges"], json!([cidr]));
        assert_eq!(svc["spec"]["externalTrafficPolicy"], "Local");
        // One rule of the website's policy (after HTTP and SFTP from the cluster's pods).
        let np = find(&p, "NetworkPolicy", "allow-website").to_json();
        assert_eq!(
            np["spec"]["ingress"][2],
            json!({"from": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 2022, "protocol": "TCP"}]})
        );
        assert_eq!(np["spec"]["ingress"].as_array().unwrap().len(), 3);
    }
    let bad = with("  sftp: {allowedNetworks: [192.0.2.1/24]}\n");
    let e = validate(&tenant(&bad), &catalog()).unwrap_err().to_string();
    assert!(
        e.contains("spec.sftp.allowedNetworks") && e.contains("192.0.2.1/24"),
        "{e}"
    );
}

#[test]
fn without_an_sftp_image_the_plan_says_sites_cannot_be_published() {
    let mut c = catalog();
    c.spec.images.sftp = None;
    let p = build(
        &validate(&tenant(TENANT), &c).unwrap(),
        &PlanInputs::default(),
    );
    assert!(!p.objects.iter().any(|o| o.name().contains("sftp")));
    assert_eq!(website_pod(&p)["containers"].as_array().unwrap().len(), 1);
    assert!(
        p.notes.iter().any(|n| n.contains("spec.images.sftp")),
        "{:?}",
        p.notes
    );
}

const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+OoYNEzXt/WW75kiAVcg7P4I2+gnT6tw4OR4xuRiJF agence-web@example.org";
const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPhPrgvivOnrAXUUxURdgPch8CuNzH1nsa4SSv4Gbuf5OipehfxFPbz/nY1Rwd9yUp4UBztQdQAZiWVAtnbZXxQ= mairie";

fn with_keys(keys: &[&str]) -> String {
    let list: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    TENANT.replace(
        "  - {name: tresses, displayName: Tresses, domain: tresses.fr}\n",
        &format!(
            "  - {{name: tresses, displayName: Tresses, domain: tresses.fr, site: {{sftpPublicKeys: [{}]}}}}\n",
            list.join(", ")
        ),
    )
}

#[test]
fn declared_public_keys_reach_the_domain_account_without_their_comments() {
    let p = plan_of(&with_keys(&[ED25519, ECDSA]), &PlanInputs::default());
    let pod = website_pod(&p);
    let script = container(&pod, "initContainers", "sftp-users")["command"][2]
        .as_str()
        .unwrap()
        .to_owned();
    let tresses = script
        .lines()
        .find(|l| l.contains("\"username\": \"tresses.fr\""))
        .unwrap();
    assert!(
        tresses.contains(r#", "public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+OoYNEzXt/WW75kiAVcg7P4I2+gnT6tw4OR4xuRiJF", "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPhPrgvivOnrAXUUxURdgPch8CuNzH1nsa4SSv4Gbuf5OipehfxFPbz/nY1Rwd9yUp4UBztQdQAZiWVAtnbZXxQ="]}"#),
        "{tresses}"
    );
    assert!(!script.contains("agence-web"), "{script}");
    // The other domains have none.
    let villages = script
        .lines()
        .find(|l| l.contains("\"username\": \"villages.fr\""))
        .unwrap();
    assert!(!villages.contains("public_keys"), "{villages}");
}

#[test]
fn a_bad_public_key_is_refused_naming_the_field() {
    let refused = |key: &str| {
        validate(&tenant(&with_keys(&[ED25519, key])), &catalog())
            .unwrap_err()
            .to_string()
    };
    let field = "spec.members[1].site.sftpPublicKeys[1]";
    // The blob of an ed25519 key announced as RSA.
    let e = refused(&ED25519.replace("ssh-ed25519", "ssh-rsa"));
    assert!(e.contains(field) && e.contains("another type"), "{e}");
    let e = refused("ssh-ed25519 AAAA%%%notbase64");
    assert!(e.contains(field) && e.contains("base64"), "{e}");
    let e = refused("ssh-dss AAAAB3NzaC1kc3MAAACBAP");
    // The CRD's pattern names the key types allowed.
    assert!(
        e.contains(field) && e.contains("ssh-ed25519|ssh-rsa"),
        "{e}"
    );
    let e = refused("ssh-ed25519");
    assert!(e.contains(field), "{e}");
    // Keys for a site served from git: it has no SFTP account.
    let yaml = with_keys(&[ED25519]).replace(
        "site: {sftpPublicKeys:",
        "site: {git: {repository: \"https://git.tresses.fr/site.git\"}, sftpPublicKeys:",
    );
    let e = validate(&tenant(&yaml), &catalog())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.members[1].site.sftpPublicKeys") && e.contains("git"),
        "{e}"
    );
}
