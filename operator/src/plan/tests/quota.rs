//! The quota admits every object of the plan as Kubernetes' quota admission counts them, and
//! nothing more of what it limits.

use super::*;
use crate::plan::quantity::parse_bytes;

fn hard(plan: &Plan) -> std::collections::BTreeMap<String, String> {
    let q = plan
        .objects
        .iter()
        .find_map(|o| match o {
            Object::ResourceQuota(q) => Some(q),
            _ => None,
        })
        .expect("a quota");
    q.spec
        .as_ref()
        .unwrap()
        .hard
        .as_ref()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// Node ports as upstream's service evaluator counts them: one per port of a NodePort
/// Service, and of a LoadBalancer unless `allocateLoadBalancerNodePorts: false`.
fn node_ports(plan: &Plan) -> usize {
    plan.objects
        .iter()
        .filter_map(|o| match o {
            Object::Service(s) => s.spec.as_ref(),
            _ => None,
        })
        .map(|s| {
            let ports = s.ports.as_ref().map_or(0, Vec::len);
            match s.type_.as_deref() {
                Some("NodePort") => ports,
                Some("LoadBalancer") if s.allocate_load_balancer_node_ports != Some(false) => ports,
                _ => 0,
            }
        })
        .sum()
}

#[test]
fn the_quota_admits_the_plan_and_allows_no_node_port() {
    for yaml in [
        TENANT.to_owned(),
        TENANT.replace(
            "  admins:",
            "  services: {mail: false, nas: false}\n  admins:",
        ),
        // The NAS's own load balancer for the town halls' networks.
        TENANT.replace(
            "  admins:",
            "  nas: {allowedNetworks: [192.0.2.0/24]}\n  admins:",
        ),
    ] {
        let plan = plan_of(&yaml, &PlanInputs::default());
        let hard = hard(&plan);
        let count = |kind: &str| plan.objects.iter().filter(|o| o.kind() == kind).count();
        let limit = |k: &str| hard[k].parse::<usize>().unwrap();
        assert_eq!(limit("services.nodeports"), 0);
        assert_eq!(
            node_ports(&plan),
            0,
            "the plan's Services take no node port"
        );
        assert!(limit("services") >= count("Service"));
        assert_eq!(
            limit("persistentvolumeclaims"),
            count("PersistentVolumeClaim")
        );
        assert!(limit("count/deployments.apps") >= count("Deployment"));
        assert!(limit("secrets") >= plan.secrets.len());
        let lbs = plan
            .objects
            .iter()
            .filter(|o| matches!(o, Object::Service(s) if s.spec.as_ref().unwrap().type_.as_deref() == Some("LoadBalancer")))
            .count();
        assert_eq!(limit("services.loadbalancers"), lbs);
        let storage: u64 = plan.storage.volumes.iter().map(|v| v.bytes).sum();
        assert!(parse_bytes(&hard["requests.storage"]).unwrap() >= storage);
        // Compute is what the pods ask for: at least the mail server's 200m if mail is on.
        let cpu: u64 = hard["requests.cpu"].trim_end_matches('m').parse().unwrap();
        assert!(cpu >= 200, "{cpu}");
    }
}
