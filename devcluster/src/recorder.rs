//! A log of the resource requests the cluster served, in Kubernetes RBAC terms, so that tests
//! can check a ClusterRole covers what a component really does.

/// One request, as RBAC would authorize it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordedRequest {
    /// get, list, watch, create, update, patch, delete, deletecollection
    pub verb: String,
    /// API group, "" for core.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// "status" for the status subresource, else "".
    pub subresource: String,
    /// "" for cluster-scoped or all-namespaces requests.
    pub namespace: String,
    /// "" for collection requests.
    pub name: String,
    /// The request's `User-Agent` ("" when absent, as with kube-rs).
    pub user_agent: String,
}
