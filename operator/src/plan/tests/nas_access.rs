//! The networks a Tenant (or its catalogue) declares reach its NAS through a LoadBalancer
//! restricted to them, and a NetworkPolicy admitting exactly them besides the cluster's pods.

use serde_json::json;

use super::*;

const NETWORKS: &str = "  nas: {allowedNetworks: [192.0.2.0/24, 2001:db8:42::/48]}\n";

fn with_nas(yaml: &str) -> String {
    TENANT.replace("  admins:", &format!("{}  admins:", yaml))
}

fn catalog_with(networks: &str) -> ServiceCatalog {
    let mut c = catalog();
    c.spec.nas.allowed_networks = vec![networks.to_owned()];
    c
}

fn plan_with(tenant_yaml: &str, catalog: &ServiceCatalog) -> Plan {
    build(
        &validate(&tenant(tenant_yaml), catalog).unwrap(),
        &PlanInputs::default(),
    )
}

/// The NetworkPolicies admitting TCP/445 to the NAS pods, by name, with their peers.
/// The NetworkPolicy rules letting peers reach the NAS's SMB port: (policy, from) each.
fn smb_policies(p: &Plan) -> Vec<(String, Value)> {
    p.objects
        .iter()
        .filter(|o| o.kind() == "NetworkPolicy")
        .map(Object::to_json)
        .filter(|np| {
            let sel = &np["spec"]["podSelector"]["matchLabels"];
            sel.is_null() || sel[labels::SERVICE] == "nas"
        })
        .flat_map(|np| {
            let name = np["metadata"]["name"].as_str().unwrap().to_owned();
            let rules = np["spec"]["ingress"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            rules
                .into_iter()
                .filter(|r| r["ports"].to_string().contains("\"port\":445"))
                .map(move |r| (name.clone(), r["from"].clone()))
        })
        .collect()
}

#[test]
fn declared_networks_get_a_load_balancer_and_a_policy_restricted_to_them() {
    let p = plan_with(&with_nas(NETWORKS), &catalog());
    let svc = find(&p, "Service", "nas").to_json();
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    assert_eq!(
        svc["spec"]["loadBalancerSourceRanges"],
        json!(["192.0.2.0/24", "2001:db8:42::/48"])
    );
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Local");
    assert_eq!(svc["spec"]["allocateLoadBalancerNodePorts"], false);
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "smb", "port": 445, "protocol": "TCP", "targetPort": 445}])
    );
    assert_eq!(
        smb_policies(&p),
        [
            ("allow-nas".to_owned(), json!([{"namespaceSelector": {}}])),
            (
                "allow-nas".to_owned(),
                json!([{"ipBlock": {"cidr": "192.0.2.0/24"}}, {"ipBlock": {"cidr": "2001:db8:42::/48"}}])
            ),
        ]
    );
    // The quota is derived from the plan: the mail, NAS and SFTP load balancers (SFTP is
    // reached from the NAS's networks unless spec.sftp names others; DNS is served by the
    // shared name servers), no node port.
    let quota = find(&p, "ResourceQuota", "tenant-quota").to_json();
    assert_eq!(quota["spec"]["hard"]["services.loadbalancers"], "3");
    assert_eq!(quota["spec"]["hard"]["services.nodeports"], "0");
}

#[test]
fn without_networks_the_nas_stays_inside_the_cluster() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let svc = find(&p, "Service", "nas").to_json();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert!(svc["spec"]["loadBalancerSourceRanges"].is_null());
    assert_eq!(
        smb_policies(&p),
        [("allow-nas".to_owned(), json!([{"namespaceSelector": {}}]))]
    );
    let quota = find(&p, "ResourceQuota", "tenant-quota").to_json();
    // Mail only.
    assert_eq!(quota["spec"]["hard"]["services.loadbalancers"], "1");
}

#[test]
fn the_catalogue_networks_apply_unless_the_tenant_names_its_own() {
    let vpn = catalog_with("10.8.0.0/16");
    let p = plan_with(TENANT, &vpn);
    let ranges =
        |p: &Plan| find(p, "Service", "nas").to_json()["spec"]["loadBalancerSourceRanges"].clone();
    assert_eq!(ranges(&p), json!(["10.8.0.0/16"]));
    let p = plan_with(&with_nas(NETWORKS), &vpn);
    assert_eq!(ranges(&p), json!(["192.0.2.0/24", "2001:db8:42::/48"]));
}

#[test]
fn a_bad_network_is_refused_naming_the_field_and_value() {
    let bad = with_nas("  nas: {allowedNetworks: [192.0.2.0/24, 192.0.2.1/24]}\n");
    let e = validate(&tenant(&bad), &catalog()).unwrap_err();
    assert_eq!(e.field(), Some("spec.nas.allowedNetworks[1]"));
    let text = e.to_string();
    assert!(
        text.contains("192.0.2.1/24") && text.contains("host bits"),
        "{text}"
    );
    let e = validate(&tenant(TENANT), &catalog_with("10.8.0.0")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("ServiceCatalog \"test\" spec.nas.allowedNetworks[0]")
            && text.contains("\"10.8.0.0\"")
            && text.contains("should match"),
        "{text}"
    );
}

#[test]
fn status_names_the_address_the_town_halls_connect_to() {
    let validated = validate(&tenant(&with_nas(NETWORKS)), &catalog()).unwrap();
    // Before the cloud assigns an address: the name inside the cluster.
    let p = build(&validated, &PlanInputs::default());
    let ns = validated.namespace();
    assert_eq!(p.endpoints.nas, Some(format!("smb://nas.{ns}.svc")));
    // Then the load balancer's (IPv6 in brackets), for the NAS and for SFTP alike.
    let inputs = PlanInputs {
        load_balancer_addresses: [
            ("nas".to_owned(), vec!["2001:db8:42::7".parse().unwrap()]),
            (
                "website-sftp".to_owned(),
                vec!["198.51.100.9".parse().unwrap()],
            ),
        ]
        .into(),
        ..PlanInputs::default()
    };
    let p = build(&validated, &inputs);
    assert_eq!(p.endpoints.nas.as_deref(), Some("smb://[2001:db8:42::7]"));
    assert!(p.objects.iter().any(|o| o.name() == "website-sftp"));
    assert_eq!(p.endpoints.sftp.as_deref(), Some("sftp://198.51.100.9"));
    // A NAS reached only from inside the cluster keeps its in-cluster name, whatever the inputs.
    let inside = validate(&tenant(TENANT), &catalog()).unwrap();
    let p = build(&inside, &inputs);
    assert_eq!(
        p.endpoints.nas,
        Some(format!("smb://nas.{}.svc", inside.namespace()))
    );
}
