//! Tenancy: what surrounds a tenant's services. Its namespace (Pod Security `baseline`
//! enforced: mail and Samba need a few capabilities that `restricted` forbids), a quota whose
//! `requests.storage` is the tier, default limits, a default-deny network policy with one
//! allow per need, and read access for the tenant's admins.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, Namespace};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::network::{Allow, Peer, PodsOf, Port, Protocol};
use super::object::{Object, Part, meta};
use super::services::{self, Ctx, Out};
use crate::api::SubjectKind;

pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let mut ns_meta = meta(
        t.name(),
        None,
        t.namespace(),
        Part::Tenancy,
        "mutualis",
        "tenancy",
    );
    let ns_labels = ns_meta.labels.get_or_insert_with(BTreeMap::new);
    ns_labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "baseline".into(),
    );
    ns_labels.insert(
        "pod-security.kubernetes.io/warn".into(),
        "restricted".into(),
    );
    ns_labels.insert(
        "pod-security.kubernetes.io/audit".into(),
        "restricted".into(),
    );
    ns_meta.annotations = Some(BTreeMap::from([(
        "mutualis.io/display-name".to_owned(),
        t.display_name().to_owned(),
    )]));
    out.push(Object::from(Namespace {
        metadata: ns_meta,
        ..Namespace::default()
    }));

    out.push(Object::from(LimitRange {
        metadata: tmeta(ctx, "tenant-defaults"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(quantities(&[("cpu", "500m"), ("memory", "512Mi")])),
                default_request: Some(quantities(&[("cpu", "50m"), ("memory", "64Mi")])),
                ..LimitRangeItem::default()
            }],
        }),
    }));
    network_policies(ctx, out);
}

/// What depends on every service's objects: the admins' access (to the credentials the
/// services generate) and the quota.
pub fn finish(ctx: &Ctx<'_>, out: &mut Out) {
    rbac(ctx, out);
    quota(ctx, out);
}

/// The quota, once every service has put its objects in `out`.
fn quota(ctx: &Ctx<'_>, out: &mut Out) {
    let q = super::quota::quota(
        tmeta(ctx, "tenant-quota"),
        &ctx.tenant.storage().tier_storage,
        &out.objects,
        out.secrets.len(),
    );
    out.push(q);
}

fn tmeta(ctx: &Ctx<'_>, name: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    ctx.meta(name, Part::Tenancy, "mutualis", "tenancy")
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

/// Cluster DNS wherever the cluster runs it: CoreDNS in kube-system (port 53), NodeLocal
/// DNSCache on a link-local address (53), OpenShift's DNS pods (5353 behind the Service's 53).
/// Address-free on purpose: no namespace label is the same across distributions.
const CLUSTER_DNS: [Port; 4] = [
    Port::mapped("dns-udp", 53, 53, Protocol::Udp),
    Port::tcp("dns-tcp", 53),
    Port::mapped("dns-udp-alt", 5353, 5353, Protocol::Udp),
    Port::tcp("dns-tcp-alt", 5353),
];
/// cert-manager's HTTP-01 solver pods listen here, reached by the ingress controller.
const ACME_SOLVER: Port = Port::tcp("acme-http01", 8089);

fn network_policies(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let mut allows = vec![Allow {
        name: "allow-cluster-dns",
        pods: PodsOf::All,
        ingress: None,
        egress: Some((Peer::Anywhere, CLUSTER_DNS.to_vec())),
    }];
    if ctx.issuer().is_some() {
        allows.push(Allow {
            name: "allow-acme-solver",
            pods: PodsOf::Labelled(BTreeMap::from([(
                "acme.cert-manager.io/http01-solver".to_owned(),
                "true".to_owned(),
            )])),
            ingress: Some((Peer::AnyPod, vec![ACME_SOLVER])),
            egress: None,
        });
    }
    for service in t.services().enabled() {
        allows.extend(services::network_of(service, t));
    }
    allows.extend(t.backup().map(super::backup::network));

    out.push(Object::from(NetworkPolicy {
        metadata: tmeta(ctx, "default-deny"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..NetworkPolicySpec::default()
        }),
    }));
    // One policy per set of pods, named after its first allowance, with every rule that
    // applies to them: rules of policies that select the same pods add up, so this allows
    // exactly what one policy per allowance would, with fewer objects (each one is a write,
    // a watch event and work for the network plugin, times every tenant).
    let mut groups: Vec<Vec<Allow>> = Vec::new();
    for a in allows {
        match groups.iter_mut().find(|g| g[0].pods == a.pods) {
            Some(group) => group.push(a),
            None => groups.push(vec![a]),
        }
    }
    for group in groups {
        out.push(policy(ctx, group));
    }
}

/// The NetworkPolicy of allowances for the same pods (`group` is never empty).
fn policy(ctx: &Ctx<'_>, group: Vec<Allow>) -> Object {
    let tenant = ctx.tenant.name();
    let name = group[0].name;
    let pods = group[0].pods.selector(tenant);
    let ports = |ports: &[Port]| Some(ports.iter().map(Port::policy_port).collect());
    let mut ingress = Vec::new();
    let mut egress = Vec::new();
    for a in group {
        if let Some((from, p)) = a.ingress {
            ingress.push(NetworkPolicyIngressRule {
                from: from.peers(tenant),
                ports: ports(&p),
            });
        }
        if let Some((to, p)) = a.egress {
            egress.push(NetworkPolicyEgressRule {
                to: to.peers(tenant),
                ports: ports(&p),
            });
        }
    }
    let mut types = Vec::new();
    if !ingress.is_empty() {
        types.push("Ingress".to_owned());
    }
    if !egress.is_empty() {
        types.push("Egress".to_owned());
    }
    Object::from(NetworkPolicy {
        metadata: tmeta(ctx, name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pods),
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: (!egress.is_empty()).then_some(egress),
            policy_types: Some(types),
        }),
    })
}

/// Read-mostly access for the tenant's admins: they see everything but Secrets, read logs
/// and may delete a pod to restart it; changes go through the Tenant. Of the Secrets they may
/// read exactly the credentials generated for the tenant (to hand the communes their
/// passwords), by name: no other Secret, and nothing outside the namespace.
fn rbac(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    if t.admins().is_empty() {
        return;
    }
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    let read = ["get", "list", "watch"];
    out.push(Object::from(Role {
        metadata: tmeta(ctx, "tenant-admin"),
        rules: Some(
            vec![
                rule(
                    &[""],
                    &[
                        "pods",
                        "pods/log",
                        "services",
                        "endpoints",
                        "configmaps",
                        "persistentvolumeclaims",
                        "events",
                        "resourcequotas",
                        "limitranges",
                    ],
                    &read,
                ),
                rule(&[""], &["pods"], &["delete"]),
                rule(&["apps"], &["deployments", "replicasets"], &read),
                rule(&["batch"], &["cronjobs", "jobs"], &read),
                rule(
                    &["networking.k8s.io"],
                    &["ingresses", "networkpolicies"],
                    &read,
                ),
                rule(&["events.k8s.io"], &["events"], &read),
            ]
            .into_iter()
            // An empty resourceNames would mean every Secret: the rule exists only with names.
            .chain((!out.secrets.is_empty()).then(|| {
                PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["secrets".into()]),
                    // Not the syndicate's S3 credentials, shared by every tenant's copy.
                    resource_names: Some(
                        out.secrets
                            .iter()
                            .filter(|s| s.name != super::backup::S3_SECRET)
                            .map(|s| s.name.clone())
                            .collect(),
                    ),
                    verbs: vec!["get".into()],
                    ..PolicyRule::default()
                }
            }))
            .collect(),
        ),
    }));
    out.push(Object::from(RoleBinding {
        metadata: tmeta(ctx, "tenant-admin"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "tenant-admin".into(),
        },
        subjects: Some(
            t.admins()
                .iter()
                .map(|s| RbacSubject {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: match s.kind {
                        SubjectKind::User => "User".into(),
                        SubjectKind::Group => "Group".into(),
                    },
                    name: s.name.clone(),
                    namespace: None,
                })
                .collect(),
        ),
    }));
}
