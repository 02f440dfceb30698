//! The plan fed with small YAML fixtures through the real `validate`, checking whole objects
//! and the invariants every plan must keep.

mod backup;
mod git_sites;
mod inputs_and_validation;
mod limits;
mod mailboxes;
mod nas_access;
mod outbound;
mod ports_and_policies;
mod quota;
mod secrets_and_settings;
mod sftp;

use serde_json::{Value, json};

use super::object::labels;
use super::*;
use crate::api::{ServiceCatalog, Tenant};

pub(super) const CATALOG: &str = r#"
apiVersion: mutualis.io/v1alpha1
kind: ServiceCatalog
metadata: {name: test}
spec:
  tiers:
  - {name: small, storage: 100Gi, contribution: {alone: 100, withMembers: 250}, split: {mail: 20, website: 10, collaboration: 30, nas: 40}}
  images:
    mail: {repository: mailserver/docker-mailserver, tag: "15.1.0"}
    website: {repository: nginxinc/nginx-unprivileged, tag: 1.30.4-alpine}
    dns: {repository: coredns/coredns, tag: "1.13.2"}
    collaboration: {repository: nextcloud, tag: 32.0.13-apache}
    database: {repository: postgres, tag: "17.9"}
    cache: {repository: redis, tag: 8.2.4}
    nas: {repository: quay.io/samba.org/samba-server, tag: v0.9}
    sftp: {repository: docker.io/drakkan/sftpgo, tag: v2.7.5}
    gitSync: {repository: registry.k8s.io/git-sync/git-sync, tag: v4.7.1}
  storageClassName: fast
  tls: {clusterIssuer: letsencrypt}
  dns:
    nameServers: [ns1.example.net, ns2.example.net]
    hostmaster: hostmaster@example.net
    webTarget: {addresses: [192.0.2.1]}
  mail:
    outbound: {egressAddresses: [192.0.2.25, "2001:db8::25"]}
"#;

pub(super) const TENANT: &str = r#"
apiVersion: mutualis.io/v1alpha1
kind: Tenant
metadata: {name: villages}
spec:
  catalogRef: test
  tier: small
  displayName: Les Villages
  domain: villages.fr
  admins: [{kind: User, name: alice}]
  members:
  - {displayName: Sallebœuf, domain: sallebœuf.fr}
  - {name: tresses, displayName: Tresses, domain: tresses.fr}
"#;

pub(super) fn catalog() -> ServiceCatalog {
    serde_saphyr::from_str(CATALOG).unwrap()
}

pub(super) fn tenant(yaml: &str) -> Tenant {
    serde_saphyr::from_str(yaml).unwrap()
}

pub(super) fn plan_of(yaml: &str, inputs: &PlanInputs) -> Plan {
    build(&validate(&tenant(yaml), &catalog()).unwrap(), inputs)
}

pub(super) fn find<'a>(p: &'a Plan, kind: &str, name: &str) -> &'a Object {
    p.objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing"))
}

#[test]
fn every_object_is_labelled_namespaced_and_unowned() {
    let p = plan_of(TENANT, &PlanInputs::default());
    assert_eq!(p.objects[0].kind(), "Namespace");
    for o in &p.objects {
        let m = o.metadata();
        let l = m.labels.as_ref().unwrap();
        assert_eq!(l[labels::MANAGED_BY], "mutualis", "{}", o.name());
        assert_eq!(l[labels::PART_OF], "mutualis");
        assert_eq!(l[labels::TENANT], "villages");
        assert!(
            ["mail", "website", "dns", "collaboration", "nas", "tenancy"]
                .contains(&l[labels::SERVICE].as_str())
        );
        assert!(l.contains_key(labels::NAME) && l.contains_key(labels::COMPONENT));
        assert!(
            m.owner_references.is_none(),
            "the apply step adds owner references"
        );
        if o.name() == "zones-villages" {
            // The one child outside the tenant's namespace: the shared name servers' zones.
            assert_eq!(m.namespace.as_deref(), Some("mutualis-dns"));
            assert_eq!(l["mutualis.io/zone"], "true");
        } else if o.kind() != "Namespace" {
            assert_eq!(
                m.namespace.as_deref(),
                Some("mutualis-villages"),
                "{}",
                o.name()
            );
        }
    }
}

#[test]
fn objects_come_in_apply_order() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let ranks: Vec<usize> = p.objects.iter().map(object::apply_rank).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    assert_eq!(p.objects.last().unwrap().kind(), "CronJob");
}

#[test]
fn quota_is_the_tier_and_volumes_fit_in_it() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let quota = find(&p, "ResourceQuota", "tenant-quota").to_json();
    assert_eq!(quota["spec"]["hard"]["requests.storage"], "100Gi");
    assert_eq!(quota["spec"]["hard"]["persistentvolumeclaims"], "5");
    let mut total = 0;
    for o in &p.objects {
        if let Object::PersistentVolumeClaim(pvc) = o {
            let spec = pvc.spec.as_ref().unwrap();
            let q = &spec.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0;
            assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
            assert_eq!(p.storage.volume(o.name()).unwrap().quantity(), *q);
            total += quantity::parse_bytes(q).unwrap();
        }
    }
    assert_eq!(total, p.storage.total_bytes());
    assert!(total <= 100 << 30);
    assert_eq!(p.storage.by_service()["nas"], "40Gi");
    assert_eq!(
        p.annual_contribution, 250,
        "members present: the with-members price"
    );
}

#[test]
fn every_container_is_locked_down_sized_and_probed() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let mut checked = 0;
    for o in &p.objects {
        let pod = match o {
            Object::Deployment(d) => d.spec.as_ref().unwrap().template.spec.clone().unwrap(),
            Object::CronJob(c) => c
                .spec
                .as_ref()
                .unwrap()
                .job_template
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .clone()
                .unwrap(),
            _ => continue,
        };
        assert_eq!(
            pod.automount_service_account_token,
            Some(false),
            "{}",
            o.name()
        );
        let long_running = matches!(o, Object::Deployment(_));
        for c in pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten())
        {
            let s = c.security_context.as_ref().unwrap();
            assert_eq!(s.allow_privilege_escalation, Some(false), "{}", c.name);
            assert_eq!(s.privileged, Some(false));
            assert_eq!(s.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
            assert_eq!(
                s.capabilities.as_ref().unwrap().drop.as_deref(),
                Some(&["ALL".to_owned()][..])
            );
            let r = c.resources.as_ref().unwrap();
            assert!(
                r.requests.as_ref().unwrap().contains_key("memory")
                    && r.limits.as_ref().unwrap().contains_key("memory")
            );
            assert!(c.image.as_ref().unwrap().contains(':'));
            checked += 1;
        }
        if long_running {
            let main = &pod.containers[0];
            assert!(
                main.readiness_probe.is_some() && main.liveness_probe.is_some(),
                "{}",
                o.name()
            );
        }
    }
    assert_eq!(
        checked, 12,
        "6 Deployments (4 with init containers, the website's with its SFTP sidecar) and the CronJob"
    );
    // Only docker-mailserver and Samba run as root, and say so.
    let roots: Vec<&str> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Deployment(d) => Some(d),
            _ => None,
        })
        .filter(|d| {
            let c = &d
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers[0];
            c.security_context.as_ref().unwrap().run_as_non_root != Some(true)
        })
        .map(|d| d.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(roots, ["mail", "nas"]);
}

#[test]
fn website_config_has_a_virtual_host_per_domain_in_idna() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let cm = find(&p, "ConfigMap", "website-nginx").to_json();
    let conf = cm["data"]["default.conf"].as_str().unwrap();
    for host in [
        "server_name villages.fr www.villages.fr;",
        "server_name xn--sallebuf-ptb.fr www.xn--sallebuf-ptb.fr;",
        "server_name tresses.fr www.tresses.fr;",
    ] {
        assert!(conf.contains(host), "{host} in\n{conf}");
    }
    let ingress = find(&p, "Ingress", "website-salleboeuf").to_json();
    assert_eq!(
        ingress["spec"],
        json!({
            "rules": [
                {"host": "xn--sallebuf-ptb.fr", "http": {"paths": [{"backend": {"service": {"name": "website", "port": {"number": 8080}}}, "path": "/", "pathType": "Prefix"}]}},
                {"host": "www.xn--sallebuf-ptb.fr", "http": {"paths": [{"backend": {"service": {"name": "website", "port": {"number": 8080}}}, "path": "/", "pathType": "Prefix"}]}}
            ],
            "tls": [{"hosts": ["xn--sallebuf-ptb.fr", "www.xn--sallebuf-ptb.fr"], "secretName": "website-salleboeuf-tls"}]
        })
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
}

#[test]
fn nas_has_a_share_and_a_generated_user_per_member() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let cm = find(&p, "ConfigMap", "nas-config").to_json();
    let config: Value = serde_json::from_str(cm["data"]["config.json"].as_str().unwrap())
        .expect("sambacc config is JSON");
    let shares: Vec<&String> = config["shares"].as_object().unwrap().keys().collect();
    assert_eq!(shares, ["salleboeuf", "tresses", "villages"]);
    assert_eq!(
        config["shares"]["salleboeuf"]["options"]["comment"],
        "Sallebœuf"
    );
    let users = p.secrets.iter().find(|s| s.name == "nas-users").unwrap();
    let keys: Vec<&str> = users.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["villages", "salleboeuf", "tresses"]);
    assert!(
        users
            .keys
            .iter()
            .all(|(_, k)| matches!(k, SecretKind::Password { length: 24 }))
    );
}

#[test]
fn rbac_is_read_mostly_and_reads_only_the_generated_credentials() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let role = find(&p, "Role", "tenant-admin").to_json();
    let rules = role["rules"].as_array().unwrap();
    let secret_rules: Vec<&Value> = rules
        .iter()
        .filter(|r| r["resources"].to_string().contains("secrets"))
        .collect();
    // Exactly one rule on Secrets: `get`, by the names of the credentials the plan generates.
    assert_eq!(secret_rules.len(), 1, "{rules:?}");
    assert_eq!(secret_rules[0]["verbs"], json!(["get"]));
    let mut names: Vec<&str> = secret_rules[0]["resourceNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut generated: Vec<&str> = p.secrets.iter().map(|s| s.name.as_str()).collect();
    generated.sort_unstable();
    assert!(!names.is_empty());
    assert_eq!(names, generated);
    let text = role["rules"].to_string();
    assert!(
        !text.contains("\"create\"") && !text.contains("\"update\"") && !text.contains("\"patch\"")
    );
    let binding = find(&p, "RoleBinding", "tenant-admin").to_json();
    assert_eq!(
        binding["subjects"],
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}])
    );
    let no_admins = TENANT.replace("  admins: [{kind: User, name: alice}]\n", "");
    assert!(
        !plan_of(&no_admins, &PlanInputs::default())
            .objects
            .iter()
            .any(|o| o.kind() == "RoleBinding")
    );
}

#[test]
fn network_policy_denies_by_default() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let deny = find(&p, "NetworkPolicy", "default-deny").to_json();
    assert_eq!(
        deny["spec"],
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    );
    let mail = find(&p, "NetworkPolicy", "allow-mail").to_json();
    assert_eq!(
        mail["spec"]["ingress"][0]["ports"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn one_network_policy_per_set_of_pods_holds_every_rule_for_them() {
    let example = |file: &str| {
        let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    };
    let coteaux: Tenant = serde_saphyr::from_str(&example("coteaux-bordelais.yaml")).unwrap();
    let syndicate: ServiceCatalog = serde_saphyr::from_str(&example("catalog.yaml")).unwrap();
    let coteaux = build(
        &validate(&coteaux, &syndicate).unwrap(),
        &PlanInputs::default(),
    );
    for p in [plan_of(TENANT, &PlanInputs::default()), coteaux.clone()] {
        let policies: Vec<Value> = p
            .objects
            .iter()
            .filter(|o| o.kind() == "NetworkPolicy" && o.name() != "default-deny")
            .map(super::object::Object::to_json)
            .collect();
        let mut selectors: Vec<String> = policies
            .iter()
            .map(|np| np["spec"]["podSelector"].to_string())
            .collect();
        selectors.sort();
        let before = selectors.len();
        selectors.dedup();
        assert_eq!(selectors.len(), before, "two policies select the same pods");
        // Each policy says it isolates exactly the directions it has rules for.
        for np in &policies {
            let types: Vec<&str> = ["Ingress", "Egress"]
                .into_iter()
                .filter(|t| np["spec"][t.to_lowercase()].is_array())
                .collect();
            assert_eq!(np["spec"]["policyTypes"], json!(types), "{np}");
        }
    }
    // The Coteaux's website pod: HTTP and SFTP from the cluster, SFTP from the declared
    // network, and out to its git host — four allowances, one policy.
    let web = find(&coteaux, "NetworkPolicy", "allow-website").to_json();
    assert_eq!(web["spec"]["ingress"].as_array().unwrap().len(), 3, "{web}");
    assert_eq!(web["spec"]["egress"].as_array().unwrap().len(), 1, "{web}");
}

#[test]
fn the_plan_is_deterministic() {
    let a = plan_of(TENANT, &PlanInputs::default());
    let b = plan_of(TENANT, &PlanInputs::default());
    assert_eq!(a, b);
    let json = |p: &Plan| serde_json::to_string(&p.objects).unwrap();
    assert_eq!(json(&a), json(&b));
}
