//! The Helm chart, checked with the real `helm` and `kubernetes-validate`: lint, render with
//! default and production values, validate every object against Kubernetes 1.33's schemas.
//! The modules check the values (schema, overrides, NOTES), the CRDs and the catalogue, the
//! RBAC, and the install guide run against the development cluster (with the image's build).

#[path = "chart/crd_upgrade.rs"]
mod crd_upgrade;
#[path = "chart/crds.rs"]
mod crds;
#[path = "chart/dns.rs"]
mod dns;
#[path = "chart/guide.rs"]
mod guide;
#[path = "chart/image.rs"]
mod image;
#[path = "chart/install.rs"]
mod install;
#[path = "chart/monitoring.rs"]
mod monitoring;
#[path = "chart/rbac.rs"]
mod rbac;
#[path = "chart/values.rs"]
mod values;

use mutualis_tests::chart::{NAMESPACE, RELEASE, chart_dir, production_values, render};
use mutualis_tests::manifests::{find, key, kind, of_kind};
use mutualis_tests::{require_tool, run};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

/// Kinds whose schema kubernetes-validate cannot know (custom resources, skipped by it), checked
/// otherwise: the ServiceCatalog by the CRD's schema when the chart is installed on the
/// development cluster, the ServiceMonitor field by field below, the PrometheusRule's rules by
/// promtool and the PodMonitor in `monitoring.rs`.
const CUSTOM_KINDS: [&str; 4] = [
    "ServiceCatalog",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
];

const DEFAULT_KINDS: [&str; 9] = [
    "ClusterRole",
    "CustomResourceDefinition",
    "ClusterRoleBinding",
    "Deployment",
    "PodDisruptionBudget",
    "Role",
    "RoleBinding",
    "Service",
    "ServiceAccount",
];

fn app_version() -> String {
    let chart = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    let chart: Value = serde_saphyr::from_str(&chart).unwrap();
    chart["appVersion"]
        .as_str()
        .expect("Chart.yaml has an appVersion")
        .to_owned()
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects.iter().map(|o| kind(o).to_owned()).collect()
}

fn pod_spec(objects: &[Value]) -> &Value {
    &find(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
}

fn container(objects: &[Value]) -> &Value {
    let containers = pod_spec(objects)["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "one container, the operator");
    &containers[0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn lint_strict_passes_with_default_and_production_values() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    for values in [None, Some(production_values())] {
        let mut command = Command::new(&helm);
        command.args(["lint", "--strict"]).arg(chart_dir());
        if let Some(values) = &values {
            command.arg("-f").arg(values);
        }
        let output = run(&mut command).expect_success();
        assert!(
            output
                .stdout
                .contains("1 chart(s) linted, 0 chart(s) failed"),
            "{}",
            output.printed()
        );
        assert!(!output.stdout.contains("[WARNING]"), "{}", output.printed());
    }
}

/// Renders, then runs kubernetes-validate --strict on every object, and checks that exactly the
/// expected objects passed and only the custom kinds went unchecked.
fn validate_rendered(extra: &[&str], expected_kinds: &[&str]) {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let Some(validate) = require_tool("kubernetes-validate") else {
        return;
    };
    let objects = render(&helm, extra);
    let expected: BTreeSet<String> = expected_kinds.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(kinds(&objects), expected);

    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let path = dir
            .path()
            .join(format!("{i:02}-{}.json", key(object).replace('/', "-")));
        std::fs::write(&path, serde_json::to_vec_pretty(object).unwrap()).unwrap();
        files.push(path);
    }
    let output = run(Command::new(&validate)
        .args(["--strict", "--kubernetes-version", "1.33"])
        .args(&files))
    .expect_success();
    let printed = format!("{}{}", output.stdout, output.stderr);
    for (object, file) in objects.iter().zip(&files) {
        let file = file.display().to_string();
        let lines: Vec<&str> = printed.lines().filter(|l| l.contains(&file)).collect();
        let custom = CUSTOM_KINDS.contains(&kind(object));
        let wanted = if custom {
            "Couldn't find schema for kind"
        } else {
            "passed for resource"
        };
        assert!(
            lines.len() == 1 && lines[0].contains(wanted),
            "{}: expected one line with {wanted:?}, got {lines:?}\n{printed}",
            key(object)
        );
    }
}

#[test]
fn default_render_passes_kubernetes_validate_strict() {
    validate_rendered(&[], &DEFAULT_KINDS);
}

#[test]
fn production_render_passes_kubernetes_validate_strict() {
    let values = production_values().display().to_string();
    let mut kinds = DEFAULT_KINDS.to_vec();
    kinds.extend(["ServiceCatalog", "ServiceMonitor", "NetworkPolicy"]);
    validate_rendered(&["-f", &values], &kinds);
}

#[test]
fn every_object_carries_the_recommended_labels() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let values = production_values().display().to_string();
    for extra in [vec![], vec!["-f", values.as_str()]] {
        let objects = render(&helm, &extra);
        for object in &objects {
            let labels = &object["metadata"]["labels"];
            assert_eq!(
                labels["app.kubernetes.io/name"],
                "mutualis",
                "{}",
                key(object)
            );
            assert_eq!(
                labels["app.kubernetes.io/instance"],
                RELEASE,
                "{}",
                key(object)
            );
            assert_eq!(
                labels["app.kubernetes.io/managed-by"],
                "Helm",
                "{}",
                key(object)
            );
            assert_eq!(
                labels["app.kubernetes.io/part-of"],
                "mutualis",
                "{}",
                key(object)
            );
            assert_eq!(
                labels["app.kubernetes.io/version"],
                app_version(),
                "{}",
                key(object)
            );
            assert!(
                labels["helm.sh/chart"]
                    .as_str()
                    .unwrap()
                    .starts_with("mutualis-")
            );
            // Namespaced objects go to the release namespace, cluster-scoped ones nowhere.
            let cluster_scoped = [
                "ClusterRole",
                "ClusterRoleBinding",
                "ServiceCatalog",
                "CustomResourceDefinition",
            ]
            .contains(&kind(object));
            assert_eq!(
                object["metadata"]["namespace"].is_null(),
                cluster_scoped,
                "{}",
                key(object)
            );
            if !cluster_scoped {
                assert_eq!(
                    object["metadata"]["namespace"],
                    NAMESPACE,
                    "{}",
                    key(object)
                );
            }
            if !extra.is_empty() {
                assert_eq!(
                    labels["mutualis.io/environment"],
                    "production",
                    "commonLabels on {}",
                    key(object)
                );
            }
        }
    }
}

#[test]
fn default_deployment_is_highly_available_and_locked_down() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(&helm, &[]);
    let deployment = find(&objects, "Deployment", RELEASE);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = pod_spec(&objects);
    let container = container(&objects);

    // Image: the chart's appVersion by default.
    assert_eq!(
        container["image"],
        format!("ghcr.io/mutualis/mutualis:{}", app_version())
    );
    let args = args(&objects);
    for expected in [
        "run",
        "--http-addr=0.0.0.0:8080",
        "--leader-election=true",
        "--concurrency=8",
        "--log-format=json",
        "--log-level=info",
    ] {
        assert!(
            args.contains(&expected.to_owned()),
            "{expected} missing from {args:?}"
        );
    }
    assert_eq!(args[0], "run");
    // Leader election identity and namespace from the downward API.
    let env = container["env"].as_array().unwrap();
    for (name, path) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], path);
    }
    // Probes on the HTTP port.
    assert_eq!(
        container["ports"],
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    // Locked down.
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 65532);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "the operator needs its API token"
    );
    assert_eq!(pod["serviceAccountName"], RELEASE);
    // Soft anti-affinity by host name, selecting the operator's own pods.
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let preferred =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(
        preferred[0]["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(
        &preferred[0]["podAffinityTerm"]["labelSelector"]["matchLabels"],
        selector
    );
    assert!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_null()
    );
    // The selector selects the pods; the PDB and the Service select the same pods.
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "pod template lacks selector label {k}"
        );
    }
    let pdb = find(&objects, "PodDisruptionBudget", RELEASE);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    let service = find(&objects, "Service", "mutualis-metrics");
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
    // Optional objects are off by default.
    assert!(of_kind(&objects, "ServiceMonitor").is_empty());
    assert!(of_kind(&objects, "ServiceCatalog").is_empty());
    assert!(of_kind(&objects, "NetworkPolicy").is_empty());
}

#[test]
fn production_values_reach_the_pods() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let values = production_values().display().to_string();
    let objects = render(&helm, &["-f", &values]);
    let deployment = find(&objects, "Deployment", RELEASE);
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = pod_spec(&objects);
    let container = container(&objects);
    assert_eq!(
        container["image"],
        "registry.gironde-numerique.fr/mirror/mutualis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "a digest pins the image"
    );
    assert_eq!(
        pod["imagePullSecrets"],
        json!([{"name": "registry-credentials"}])
    );
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(
        pod["nodeSelector"]["node-role.gironde-numerique.fr/system"],
        "true"
    );
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    let template_meta = &deployment["spec"]["template"]["metadata"];
    assert_eq!(
        template_meta["annotations"]["example.com/team"],
        "syndicate-ops"
    );
    assert_eq!(template_meta["labels"]["cost-center"], "mutualisation");
    let args = args(&objects);
    assert!(args.contains(&"--concurrency=16".to_owned()));
    assert!(args.contains(&"--log-format=text".to_owned()));
    assert!(args.contains(&"--log-level=info,mutualis=debug".to_owned()));
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "TZ")
    );
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    // Hard anti-affinity replaces the soft one; topology spread gets the selector by default.
    let required =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(&required[0]["labelSelector"]["matchLabels"], selector);
    assert!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .is_null()
    );
    assert_eq!(
        &pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"],
        selector
    );
    assert_eq!(
        find(&objects, "PodDisruptionBudget", RELEASE)["spec"]["minAvailable"],
        2
    );
    // The ServiceMonitor scrapes the metrics Service by its port name and labels.
    let monitor = find(&objects, "ServiceMonitor", RELEASE);
    let service = find(&objects, "Service", "mutualis-metrics");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["interval"], "15s");
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([NAMESPACE])
    );
    let service_labels = service["metadata"]["labels"].as_object().unwrap();
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            service_labels.get(k),
            Some(v),
            "Service lacks ServiceMonitor selector label {k}"
        );
    }
    // The NetworkPolicy lets the monitoring namespace reach the HTTP port of the operator only.
    let policy = find(&objects, "NetworkPolicy", RELEASE);
    assert_eq!(&policy["spec"]["podSelector"]["matchLabels"], selector);
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        policy["spec"]["ingress"][0]["ports"],
        json!([{"port": "http", "protocol": "TCP"}])
    );
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );

    // The catalogue is created and kept on uninstall.
    let catalog = find(&objects, "ServiceCatalog", "gironde-numerique");
    assert_eq!(catalog["apiVersion"], "mutualis.io/v1alpha1");
    assert_eq!(
        catalog["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        catalog["spec"]["dns"]["hostmaster"],
        "hostmaster@gironde-numerique.fr"
    );
}
