//! The shared name servers (`dns.enabled`): every tenant's zones served by redundant, locked-down
//! CoreDNS pods behind one load balancer, fed by a sidecar that may only read ConfigMaps of
//! their namespace.

use mutualis_tests::chart::render;
use mutualis_tests::manifests::{key, kind, of_kind};
use mutualis_tests::require_tool;
use serde_json::Value;

const ON: [&str; 2] = ["--set", "dns.enabled=true"];

fn dns_objects(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/component"] == "dns")
        .collect()
}

#[test]
fn dns_render_passes_kubernetes_validate_strict() {
    let mut kinds = super::DEFAULT_KINDS.to_vec();
    kinds.extend(["Namespace", "ConfigMap", "NetworkPolicy"]);
    super::validate_rendered(&ON, &kinds);
}

#[test]
fn off_by_default() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    assert!(dns_objects(&render(&helm, &[])).is_empty());
}

#[test]
fn name_servers_are_redundant_locked_down_and_reachable_on_53_only() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(&helm, &ON);
    let dns = dns_objects(&objects);
    for o in &dns {
        let ns = if kind(o) == "Namespace" {
            &o["metadata"]["name"]
        } else {
            &o["metadata"]["namespace"]
        };
        assert_eq!(ns, "mutualis-dns", "{}", key(o));
    }
    let one = |k: &str| -> &Value {
        let found: Vec<&&Value> = dns.iter().filter(|o| kind(o) == k).collect();
        assert_eq!(found.len(), 1, "{k}");
        found[0]
    };
    let deployment = one("Deployment");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "CoreDNS and the zone sidecar");
    for c in containers {
        let s = &c["securityContext"];
        assert_eq!(s["allowPrivilegeEscalation"], false, "{}", c["name"]);
        assert_eq!(s["readOnlyRootFilesystem"], true);
        assert_eq!(s["capabilities"]["drop"][0], "ALL");
        assert!(c["resources"]["limits"]["memory"].is_string());
        assert!(c["image"].as_str().unwrap().contains(':'), "pinned");
    }
    let sidecar = containers.iter().find(|c| c["name"] == "zones").unwrap();
    let env = |n: &str| {
        sidecar["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env("LABEL").unwrap(), "mutualis.io/zone");
    assert_eq!(env("NAMESPACE").unwrap(), "mutualis-dns");
    assert_eq!(env("FOLDER").unwrap(), "/zones");
    let corefile = one("ConfigMap")["data"]["Corefile"].as_str().unwrap();
    assert!(corefile.contains("directory /zones db\\.(.*) {1}") && corefile.contains("reload"));

    assert_eq!(one("PodDisruptionBudget")["spec"]["maxUnavailable"], 1);
    let service = one("Service");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["externalTrafficPolicy"], "Local");
    let ports: Vec<(i64, &str)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_i64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(ports, [(53, "UDP"), (53, "TCP")]);
    let policy = one("NetworkPolicy");
    assert!(
        policy["spec"]["ingress"][0]["from"].is_null(),
        "queried from anywhere"
    );
    let role = one("Role");
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}])
    );
    assert_eq!(of_kind(&objects, "Namespace").len(), 1);
}
