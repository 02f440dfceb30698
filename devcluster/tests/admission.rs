//! Admission through the real kubectl: ResourceQuota refusals and status, LimitRange defaults,
//! Pod Security warnings and strict refusals, and the switches that turn them off.

mod common;

use common::{Env, Out, start};
use devcluster::Config;

const TENANT: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: tenant}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: tenant-quota, namespace: tenant}
spec:
  hard:
    services.nodeports: "0"
    services.loadbalancers: "2"
    requests.storage: 10Gi
    persistentvolumeclaims: "3"
    count/deployments.apps: "1"
    count/configmaps: "2"
"#;

fn lb_service(name: &str, allocate_node_ports: Option<bool>) -> String {
    let alloc = allocate_node_ports
        .map(|a| format!("\n  allocateLoadBalancerNodePorts: {a}"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: tenant}}\nspec:\n  type: LoadBalancer{alloc}\n  selector: {{app: mail}}\n  ports:\n  - {{name: smtp, port: 25}}\n  - {{name: imaps, port: 993}}\n"
    )
}

fn pvc(name: &str, size: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}, namespace: tenant}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: {size}}}}}\n"
    )
}

fn deployment(ns: &str, name: &str, replicas: u32, container: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {container}\n"
    )
}

async fn apply_out(env: &Env, yaml: &str) -> Out {
    env.kubectl(&["apply", "--server-side", "-f", "-"], Some(yaml))
        .await
}

async fn refused(env: &Env, args: &[&str], yaml: &str) -> String {
    let o = env.kubectl(args, Some(yaml)).await;
    assert_ne!(o.code, 0, "expected a refusal:\n{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("(Forbidden)"), "{}", o.stderr);
    o.stderr
}

async fn jsonpath(env: &Env, args: &[&str], path: &str) -> String {
    let p = format!("jsonpath={path}");
    let mut a = args.to_vec();
    a.extend(["-o", &p]);
    env.ok(&a).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refuses_with_upstream_messages_and_reports_usage() {
    let env = start(Config::default()).await;
    env.apply(TENANT).await;

    // Two ports, two node ports, against a quota of zero: refused, by SSA and by create.
    let want = "services \"mail\" is forbidden: exceeded quota: tenant-quota, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=0";
    let svc = lb_service("mail", None);
    let err = refused(&env, &["apply", "--server-side", "-f", "-"], &svc).await;
    assert!(err.contains(want), "{err}");
    let err = refused(&env, &["create", "-f", "-"], &svc).await;
    assert!(err.contains(want), "{err}");
    // Without node ports it is admitted, and counted as a load balancer.
    env.apply(&lb_service("mail", Some(false))).await;
    let q = ["get", "quota", "tenant-quota", "-n", "tenant"];
    let used = jsonpath(&env, &q, "{.status.used.services\\.loadbalancers}").await;
    assert_eq!(used, "1");
    let hard = jsonpath(&env, &q, "{.status.hard.requests\\.storage}").await;
    assert_eq!(hard, "10Gi");

    // requests.storage: 8Gi fits, 4Gi more does not.
    env.apply(&pvc("a", "8Gi")).await;
    let err = refused(
        &env,
        &["apply", "--server-side", "-f", "-"],
        &pvc("b", "4Gi"),
    )
    .await;
    assert!(
        err.contains("persistentvolumeclaims \"b\" is forbidden: exceeded quota: tenant-quota, requested: requests.storage=4Gi, used: requests.storage=8Gi, limited: requests.storage=10Gi"),
        "{err}"
    );
    let used = jsonpath(&env, &q, "{.status.used.requests\\.storage}").await;
    assert_eq!(used, "8Gi");
    // Growing the claim past the quota is refused as well (an update counts its increase).
    let err = refused(
        &env,
        &["apply", "--server-side", "-f", "-"],
        &pvc("a", "12Gi"),
    )
    .await;
    assert!(
        err.contains("requested: requests.storage=4Gi, used: requests.storage=8Gi"),
        "{err}"
    );
    // Deleting frees the usage at once.
    env.ok(&["delete", "pvc", "a", "-n", "tenant"]).await;
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.requests\\.storage}").await,
        "0"
    );
    env.apply(&pvc("b", "4Gi")).await;
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.persistentvolumeclaims}").await,
        "1"
    );

    // count/deployments.apps: the second Deployment is one too many.
    let c = "{name: app, image: nginx}";
    env.apply(&deployment("tenant", "one", 1, c)).await;
    let err = refused(
        &env,
        &["create", "-f", "-"],
        &deployment("tenant", "two", 1, c),
    )
    .await;
    assert!(
        err.contains("deployments.apps \"two\" is forbidden: exceeded quota: tenant-quota, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"),
        "{err}"
    );
    // Updating the one that exists is not a new object.
    env.apply(&deployment("tenant", "one", 3, c)).await;

    let out = env
        .ok(&["describe", "quota", "tenant-quota", "-n", "tenant"])
        .await;
    let line = out
        .lines()
        .find(|l| l.starts_with("count/deployments.apps"))
        .unwrap_or_default();
    assert!(
        line.split_whitespace()
            .eq(["count/deployments.apps", "1", "1"]),
        "{out}"
    );
    // Plain object counts, through the protobuf that `kubectl create configmap` sends.
    for cm in ["a", "b"] {
        env.ok(&["create", "configmap", cm, "-n", "tenant"]).await;
    }
    let o = env
        .kubectl(&["create", "configmap", "c", "-n", "tenant"], None)
        .await;
    assert!(
        o.stderr.contains("configmaps \"c\" is forbidden: exceeded quota: tenant-quota, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"),
        "{}",
        o.stderr
    );

    let out = env.ok(&["get", "quota", "-n", "tenant"]).await;
    let mut lines = out.lines();
    let head = lines.next().unwrap_or_default();
    assert!(
        head.split_whitespace()
            .eq(["NAME", "AGE", "REQUEST", "LIMIT"]),
        "{out}"
    );
    assert!(
        lines.next().is_some_and(|l| l.contains("count/configmaps: 2/2, count/deployments.apps: 1/1, persistentvolumeclaims: 1/3, requests.storage: 4Gi/10Gi, services.loadbalancers: 1/2, services.nodeports: 0/0")),
        "{out}"
    );
    let yaml = env
        .ok(&["get", "resourcequota", "-n", "tenant", "-o", "yaml"])
        .await;
    assert!(yaml.contains("services.nodeports: \"0\""), "{yaml}");

    // Bad input: a hard limit that is not a quantity names the field and the rule.
    let bad = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: bad, namespace: tenant}\nspec: {hard: {pods: lots}}\n";
    let o = apply_out(&env, bad).await;
    assert!(
        o.stderr.contains(
            "spec.hard[pods]: Invalid value: \"lots\": quantities must match the regular expression"
        ),
        "{}",
        o.stderr
    );
}

const COMPUTE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: lr}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: lr}
spec: {hard: {requests.cpu: "1", limits.memory: 1Gi}}
"#;

const LIMITS: &str = r#"
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: lr}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_range_defaults_satisfy_a_compute_quota() {
    let env = start(Config::default()).await;
    env.apply(COMPUTE).await;
    let web = deployment("lr", "web", 2, "{name: web, image: nginx}");
    let err = refused(&env, &["apply", "--server-side", "-f", "-"], &web).await;
    assert!(
        err.contains("deployments.apps \"web\" is forbidden: failed quota: compute: must specify limits.memory for: web; requests.cpu for: web"),
        "{err}"
    );

    env.apply(LIMITS).await;
    env.apply(&web).await;
    let q = ["get", "quota", "compute", "-n", "lr"];
    // Two replicas × the defaults.
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.requests\\.cpu}").await,
        "200m"
    );
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.limits\\.memory}").await,
        "512Mi"
    );
    // The stored template is not changed (upstream defaults pods, not templates).
    let res = jsonpath(
        &env,
        &["get", "deploy", "web", "-n", "lr"],
        "{.spec.template.spec.containers[0].resources}",
    )
    .await;
    assert!(res.is_empty() || res == "{}", "{res}");

    // Scaling up counts the new pods: 20 × 100m is more than 1 CPU.
    let o = env
        .kubectl(
            &["scale", "deploy", "web", "-n", "lr", "--replicas=20"],
            None,
        )
        .await;
    assert!(
        o.stderr.contains("exceeded quota: compute, requested: limits.memory=4608Mi,requests.cpu=1800m, used: limits.memory=512Mi,requests.cpu=200m, limited: limits.memory=1Gi,requests.cpu=1"),
        "{}",
        o.stderr
    );
    env.ok(&["scale", "deploy", "web", "-n", "lr", "--replicas=3"])
        .await;
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.requests\\.cpu}").await,
        "300m"
    );

    // A bare Pod is the one object LimitRanger changes, and says so in an annotation.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: lr}\nspec:\n  containers:\n  - {name: app, image: nginx}\n";
    env.apply(pod).await;
    let p = ["get", "pod", "p", "-n", "lr"];
    let note = jsonpath(
        &env,
        &p,
        "{.metadata.annotations.kubernetes\\.io/limit-ranger}",
    )
    .await;
    assert_eq!(
        note,
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
    );
    let cpu = jsonpath(&env, &p, "{.spec.containers[0].resources.requests.cpu}").await;
    assert_eq!(cpu, "100m");
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.requests\\.cpu}").await,
        "400m"
    );
    assert_eq!(
        jsonpath(&env, &q, "{.status.used.limits\\.memory}").await,
        "1Gi"
    );
}

fn ns(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n")
}

const RESTRICTED_OK: &str = "{name: web, image: nginx, securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}}";
const PRIVILEGED: &str = "{name: app, image: nginx, securityContext: {privileged: true}}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_security_warns_for_workloads_and_refuses_pods() {
    let env = start(Config::default()).await;
    env.apply(&ns(
        "psa",
        "pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/warn: restricted",
    ))
    .await;
    let o = apply_out(
        &env,
        &deployment("psa", "web", 1, "{name: web, image: nginx}"),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("Warning: would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"web\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"web\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"web\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"web\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"),
        "{}",
        o.stderr
    );
    let o = apply_out(&env, &deployment("psa", "good", 1, RESTRICTED_OK)).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("Warning"), "{}", o.stderr);
    // Without strict mode a privileged workload is admitted with the warning only...
    let o = apply_out(&env, &deployment("psa", "priv", 1, PRIVILEGED)).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "privileged (container \"app\" must not set securityContext.privileged=true)"
        ),
        "{}",
        o.stderr
    );
    // ...but a Pod is refused at the enforce level, as upstream.
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: psa}}\nspec:\n  containers:\n  - {PRIVILEGED}\n"
    );
    let err = refused(&env, &["apply", "--server-side", "-f", "-"], &pod).await;
    assert!(
        err.contains("pods \"p\" is forbidden: violates PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true)"),
        "{err}"
    );
    // Invalid labels on a namespace are refused, naming label, value and what is allowed.
    let o = apply_out(
        &env,
        &ns("bad", "pod-security.kubernetes.io/enforce: strict"),
    )
    .await;
    assert!(
        o.stderr.contains("metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted"),
        "{}",
        o.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_pod_security_refuses_violating_workloads() {
    let env = start(Config {
        pod_security_strict: true,
        ..Config::default()
    })
    .await;
    env.apply(&ns(
        "strict",
        "pod-security.kubernetes.io/enforce: baseline",
    ))
    .await;
    let err = refused(
        &env,
        &["apply", "--server-side", "-f", "-"],
        &deployment("strict", "priv", 1, PRIVILEGED),
    )
    .await;
    assert!(
        err.contains("deployments.apps \"priv\" is forbidden: violates PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true)"),
        "{err}"
    );
    // A baseline-compliant one is admitted, and baseline has nothing to warn about.
    let o = apply_out(
        &env,
        &deployment("strict", "web", 1, "{name: web, image: nginx}"),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("Warning"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_admission_admits_everything() {
    let env = start(Config {
        resource_quota: false,
        pod_security: false,
        ..Config::default()
    })
    .await;
    env.apply(TENANT).await;
    env.apply(&lb_service("mail", None)).await;
    env.apply(&ns(
        "open",
        "pod-security.kubernetes.io/enforce: restricted",
    ))
    .await;
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: open}}\nspec:\n  containers:\n  - {PRIVILEGED}\n"
    );
    let o = apply_out(&env, &pod).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("Warning"), "{}", o.stderr);
    // No quota controller either: the status stays empty.
    let q = ["get", "quota", "tenant-quota", "-n", "tenant"];
    assert_eq!(jsonpath(&env, &q, "{.status}").await, "");
}
