//! The Helm chart, checked with the real `helm` and `kubernetes-validate`: lint, render with
//! default and production values, validate every object against Kubernetes 1.33's schemas,
//! refuse bad values, carry the generated CRDs, grant the operator what it needs and no more.
//! Installing it on the development cluster is in `chart_install.rs`.

use mutualis_tests::chart::{NAMESPACE, RELEASE, chart_dir, production_values, render};
use mutualis_tests::manifests::{find, key, kind, of_kind};
use mutualis_tests::rbac::{Request, grants_for_service_account, uncovered};
use mutualis_tests::{require_tool, run, workspace_root};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Kinds whose schema kubernetes-validate cannot know (custom resources), checked otherwise:
/// the ServiceCatalog by the CRD's schema when the chart is installed on the development
/// cluster, the ServiceMonitor field by field below.
const CUSTOM_KINDS: [&str; 2] = ["ServiceCatalog", "ServiceMonitor"];

const DEFAULT_KINDS: [&str; 8] = [
    "ClusterRole",
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
    kinds.extend(CUSTOM_KINDS);
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
            let cluster_scoped =
                ["ClusterRole", "ClusterRoleBinding", "ServiceCatalog"].contains(&kind(object));
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

#[test]
fn a_single_replica_runs_without_leader_election_or_pdb() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(
        &helm,
        &[
            "--set",
            "replicaCount=1",
            "--set",
            "operator.leaderElection=false",
        ],
    );
    assert!(args(&objects).contains(&"--leader-election=false".to_owned()));
    assert!(
        of_kind(&objects, "PodDisruptionBudget").is_empty(),
        "minAvailable 1 of 1 would block drains"
    );

    // Two replicas without an election would fight: refused with the reason.
    let output = run(Command::new(&helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "operator.leaderElection=false"]))
    .expect_failure();
    assert!(
        output
            .stderr
            .contains("replicaCount > 1 needs operator.leaderElection=true"),
        "{}",
        output.printed()
    );
}

#[test]
fn bad_values_are_refused_by_the_schema_with_clear_messages() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let bad = workspace_root().join("tests/fixtures/bad-values.yaml");
    for subcommand in [&["template", RELEASE][..], &["lint", "--strict"][..]] {
        let output = run(Command::new(&helm)
            .args(subcommand)
            .arg(chart_dir())
            .arg("-f")
            .arg(&bad))
        .expect_failure();
        let printed = output.printed();
        for message in [
            "at '': additional properties 'replicas' not allowed",
            "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
            "at '/image/digest': '0123abcd' does not match pattern '^(sha256:[a-f0-9]{64})?$'",
            "at '/operator/logFormat': value must be one of 'json', 'text'",
            "at '/operator/concurrency': got string, want integer",
            "at '/podAntiAffinity': value must be one of 'soft', 'hard', 'none'",
            "at '/metrics/serviceMonitor/interval': '30 seconds' does not match pattern",
        ] {
            assert!(
                printed.contains(message),
                "{subcommand:?}: missing {message:?} in\n{printed}"
            );
        }
    }
    // The catalogue's cluster-specific DNS settings cannot be forgotten.
    let output = run(Command::new(&helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "catalog.create=true"]))
    .expect_failure();
    assert!(
        output
            .stderr
            .contains("catalog.spec.dns is required when catalog.create is true"),
        "{}",
        output.printed()
    );
}

#[test]
fn notes_tell_how_to_look_at_tenants() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let output = run(Command::new(&helm)
        .args(["install", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE, "--dry-run=client"]))
    .expect_success();
    let notes = output
        .stdout
        .split("NOTES:")
        .nth(1)
        .unwrap_or_else(|| panic!("no NOTES:\n{}", output.stdout));
    for line in [
        "kubectl get tenants",
        "kubectl describe tenant <name>",
        "kubectl wait --for=condition=Ready tenant/<name>",
        &format!("kubectl -n {NAMESPACE} logs deployment/{RELEASE}"),
        "leaves the CRDs, the tenants and their data in place",
    ] {
        assert!(notes.contains(line), "NOTES lack {line:?}:\n{notes}");
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn chart_crds_are_the_generated_crds_byte_for_byte() {
    let generated = files_of(&workspace_root().join("crds"));
    let charted = files_of(&chart_dir().join("crds"));
    if generated.is_empty() && charted.is_empty() {
        // Until `mutualis crd` has written crds/ there is nothing to carry yet.
        eprintln!("crds/ is empty: nothing to compare");
        return;
    }
    let names =
        |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&charted),
        names(&generated),
        "charts/mutualis/crds/ must hold the files of crds/"
    );
    for ((name, chart_bytes), (_, generated_bytes)) in charted.iter().zip(&generated) {
        assert!(
            chart_bytes == generated_bytes,
            "charts/mutualis/crds/{name} differs from crds/{name}: cp crds/*.yaml charts/mutualis/crds/"
        );
    }
    // Helm installs crds/ before the templates and never deletes them: both CRDs must be there.
    let all: String = generated
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    for crd in ["tenants.mutualis.io", "servicecatalogs.mutualis.io"] {
        assert!(
            all.contains(&format!("name: {crd}")),
            "{crd} missing from crds/"
        );
    }
}

/// The requests the operator's design says it makes (DESIGN.md §4, KUBE5.md): the chart must
/// allow each. The development cluster's request log checks the real ones in the operator's
/// end-to-end tests with the same function.
fn operator_requests() -> Vec<Request> {
    let mut requests = vec![
        Request::new("list", "mutualis.io", "tenants"),
        Request::new("watch", "mutualis.io", "tenants"),
        Request::new("patch", "mutualis.io", "tenants").named("coteaux-bordelais"),
        Request::new("update", "mutualis.io", "tenants").named("coteaux-bordelais"),
        Request::new("patch", "mutualis.io", "tenants")
            .subresource("status")
            .named("coteaux-bordelais"),
        Request::new("update", "mutualis.io", "tenants")
            .subresource("finalizers")
            .named("coteaux-bordelais"),
        Request::new("list", "mutualis.io", "servicecatalogs"),
        Request::new("watch", "mutualis.io", "servicecatalogs"),
        Request::new("get", "mutualis.io", "servicecatalogs").named("default"),
        Request::new("patch", "", "namespaces").named("mutualis-coteaux-bordelais"),
        Request::new("create", "events.k8s.io", "events").ns("default"),
        Request::new("patch", "events.k8s.io", "events")
            .ns("default")
            .named("coteaux.1"),
        Request::new("get", "coordination.k8s.io", "leases")
            .ns(NAMESPACE)
            .named("mutualis-leader"),
        Request::new("create", "coordination.k8s.io", "leases").ns(NAMESPACE),
        Request::new("update", "coordination.k8s.io", "leases")
            .ns(NAMESPACE)
            .named("mutualis-leader"),
        Request::non_resource("get", "/apis/mutualis.io/v1alpha1"),
    ];
    let children = [
        ("", "configmaps"),
        ("", "secrets"),
        ("", "services"),
        ("", "persistentvolumeclaims"),
        ("", "serviceaccounts"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "cronjobs"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "networkpolicies"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ];
    for (group, resource) in children {
        // Metadata watches across namespaces (Controller::owns), applies and prunes in the tenant's.
        requests.push(Request::new("list", group, resource));
        requests.push(Request::new("watch", group, resource));
        requests.push(
            Request::new("patch", group, resource)
                .ns("mutualis-coteaux-bordelais")
                .named("x"),
        );
        requests.push(
            Request::new("delete", group, resource)
                .ns("mutualis-coteaux-bordelais")
                .named("x"),
        );
    }
    requests
}

#[test]
fn rbac_allows_what_the_operator_does_and_nothing_more() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(&helm, &[]);
    let grants = grants_for_service_account(&objects, NAMESPACE, RELEASE);
    assert_eq!(
        grants.len(),
        2,
        "one ClusterRoleBinding and one RoleBinding for the operator"
    );

    let requests = operator_requests();
    let missing = uncovered(&grants, &requests);
    assert!(
        missing.is_empty(),
        "the chart's RBAC misses: {}",
        list(&missing)
    );

    let forbidden = vec![
        // Tenants belong to their authors; the catalogue to the committee.
        Request::new("create", "mutualis.io", "tenants"),
        Request::new("delete", "mutualis.io", "tenants").named("coteaux-bordelais"),
        Request::new("patch", "mutualis.io", "servicecatalogs").named("default"),
        Request::new("delete", "mutualis.io", "servicecatalogs").named("default"),
        // Server-side apply never PUTs children; nothing deletes in bulk.
        Request::new("update", "", "secrets")
            .ns("mutualis-coteaux-bordelais")
            .named("x"),
        Request::new("deletecollection", "", "persistentvolumeclaims")
            .ns("mutualis-coteaux-bordelais"),
        // Nothing the operator does not manage.
        Request::new("get", "", "pods")
            .ns("mutualis-coteaux-bordelais")
            .named("x"),
        Request::new("create", "", "pods")
            .subresource("exec")
            .ns("mutualis-coteaux-bordelais")
            .named("x"),
        Request::new("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
        Request::new("escalate", "rbac.authorization.k8s.io", "roles").ns("x"),
        Request::new("bind", "rbac.authorization.k8s.io", "roles").ns("x"),
        Request::new("impersonate", "", "serviceaccounts").ns("x"),
        Request::new("create", "", "events").ns("default"),
        Request::new("patch", "apiextensions.k8s.io", "customresourcedefinitions")
            .named("tenants.mutualis.io"),
        // Leases only in the release namespace, and never deleted.
        Request::new("update", "coordination.k8s.io", "leases")
            .ns("kube-system")
            .named("kube-controller-manager"),
        Request::new("list", "coordination.k8s.io", "leases"),
        Request::new("delete", "coordination.k8s.io", "leases")
            .ns(NAMESPACE)
            .named("mutualis-leader"),
    ];
    let allowed: Vec<String> = forbidden
        .iter()
        .filter(|r| !uncovered(&grants, std::slice::from_ref(r)).contains(r))
        .map(|r| r.to_string())
        .collect();
    assert!(
        allowed.is_empty(),
        "the chart's RBAC grants too much: {allowed:?}"
    );

    // Readers of the cluster (the built-in `view` role) may look at tenants, not change them.
    let view = find(&objects, "ClusterRole", "mutualis-view");
    assert_eq!(
        view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    for rule in view["rules"].as_array().unwrap() {
        assert_eq!(rule["verbs"], json!(["get", "list", "watch"]));
    }

    // Without rbac.create the chart grants nothing (an existing ServiceAccount is bound elsewhere).
    let objects = render(&helm, &["--set", "rbac.create=false"]);
    assert!(grants_for_service_account(&objects, NAMESPACE, RELEASE).is_empty());
    assert_eq!(
        uncovered(&[], &requests).len(),
        requests.len() - 1,
        "only discovery is free"
    );
}

fn list(requests: &[&Request]) -> String {
    requests.iter().map(|r| format!("\n  {r}")).collect()
}

#[test]
fn names_follow_overrides_and_an_existing_service_account_is_bound() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(
        &helm,
        &[
            "--set",
            "fullnameOverride=ops-operator",
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=existing-account",
        ],
    );
    assert!(of_kind(&objects, "ServiceAccount").is_empty());
    let deployment = find(&objects, "Deployment", "ops-operator");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "existing-account"
    );
    find(&objects, "Role", "ops-operator-leader-election");
    // The RBAC binds the existing account, in the release namespace.
    let grants = grants_for_service_account(&objects, NAMESPACE, "existing-account");
    assert_eq!(grants.len(), 2);
    assert!(uncovered(&grants, &operator_requests()).is_empty());

    // An existing account must be named.
    let output = run(Command::new(&helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "serviceAccount.create=false"]))
    .expect_failure();
    assert!(
        output
            .stderr
            .contains("serviceAccount.name is required when serviceAccount.create is false"),
        "{}",
        output.printed()
    );

    // A release named otherwise gets the chart name appended, once.
    let output = run(Command::new(&helm)
        .args(["template", "ops"])
        .arg(chart_dir()))
    .expect_success();
    let objects = mutualis_tests::manifests::parse_documents(&output.stdout);
    find(&objects, "Deployment", "ops-mutualis");
    assert_eq!(
        find(&objects, "Deployment", "ops-mutualis")["spec"]["selector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "mutualis", "app.kubernetes.io/instance": "ops"})
    );
}

#[test]
fn kubernetes_older_than_1_30_is_refused() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let template = |version: &str| {
        run(Command::new(&helm)
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--kube-version", version]))
    };
    template("1.30.0").expect_success();
    template("1.33.0").expect_success();
    let output = template("1.29.9").expect_failure();
    assert!(
        output
            .stderr
            .contains("chart requires kubeVersion: >=1.30.0-0"),
        "{}",
        output.printed()
    );
}
