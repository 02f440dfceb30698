//! cert-manager's ingress-shim, simulated: an Ingress annotated with a cert-manager issuer gets
//! the TLS Secret of each `spec.tls` entry, as cert-manager would issue it (the development
//! cluster has no ACME server, so the "certificate" is a placeholder that no client checks).
//! Without it, a pod mounting that Secret would never start here, as on a cluster without
//! cert-manager.

use serde_json::{Value, json};

use crate::state::State;
use crate::store::EventType;

const ISSUER_ANNOTATIONS: [&str; 2] = ["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"];

/// Creates the missing TLS Secrets of `ingress` in `ns`; returns whether it created any.
pub fn issue_for_ingress(st: &mut State, ns: &str, ingress: &Value) -> bool {
    let annotations = &ingress["metadata"]["annotations"];
    if !ISSUER_ANNOTATIONS
        .iter()
        .any(|a| annotations[a].is_string())
    {
        return false;
    }
    let Some(def) = st.def("", "v1", "secrets") else {
        return false;
    };
    let mut created = false;
    for tls in ingress["spec"]["tls"].as_array().into_iter().flatten() {
        let Some(name) = tls["secretName"].as_str() else {
            continue;
        };
        let key = crate::state::key(&def, ns, name);
        if st.store.get(&key).is_some() {
            continue;
        }
        let hosts = tls["hosts"].clone();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {
                "name": name, "namespace": ns,
                "uid": crate::clock::new_uid(), "creationTimestamp": crate::clock::now_rfc3339(),
                "annotations": {
                    "cert-manager.io/alt-names": hosts.as_array().into_iter().flatten()
                        .filter_map(Value::as_str).collect::<Vec<_>>().join(","),
                    "devcluster.mutualis.io/simulated": "cert-manager ingress-shim",
                },
            },
            // base64 of "devcluster placeholder": a mount finds its files, nothing more.
            "data": {"tls.crt": "ZGV2Y2x1c3RlciBwbGFjZWhvbGRlcg==", "tls.key": "ZGV2Y2x1c3RlciBwbGFjZWhvbGRlcg=="},
        });
        st.store.put(&key, secret, EventType::Added);
        created = true;
    }
    created
}
