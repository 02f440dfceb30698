//! The chart's RBAC allows what the operator does (its designed requests here; the recorded
//! ones in the operator's end-to-end tests, with the same function) and nothing more.

use mutualis_tests::chart::{NAMESPACE, RELEASE, render};
use mutualis_tests::manifests::find;
use mutualis_tests::rbac::{Request, grants_for_service_account, uncovered};
use mutualis_tests::require_tool;
use serde_json::json;

/// The requests the operator's design says it makes (docs/architecture.md): the chart must
/// allow each. The development cluster's request log checks the real ones in the operator's
/// end-to-end tests with the same function.
pub(crate) fn operator_requests() -> Vec<Request> {
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
    // The children's kinds: a sample here; the operator's own test (`operator/tests/render.rs`)
    // checks the chart's rules against its table of child kinds, all of them.
    let children = [("", "configmaps"), ("apps", "deployments")];
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
