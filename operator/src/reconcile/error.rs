//! Errors of the reconcile layer. A spec the user must fix is not an error here: it is reported
//! in the Tenant's status and the reconciler waits for a change. What remains is what a retry
//! can cure (the API server or the network), retried with a growing delay.

use kube::runtime::finalizer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A read or write of the Kubernetes API failed.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),

    /// Applying one planned object failed.
    #[error("applying {kind} {name} failed: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// The cluster does not serve a kind the plan needs (its CRD is missing): the operator
    /// says what to install rather than "not found".
    #[error(
        "applying {kind} {name}: this cluster does not serve {kind} ({api_version}); install {prerequisite}, a prerequisite of mutualis (docs/cluster-checklist.md)"
    )]
    NotServed {
        kind: String,
        api_version: String,
        name: String,
        prerequisite: &'static str,
    },

    /// An object goes to a namespace that does not exist and that the operator does not create:
    /// the shared name servers' (`spec.dns.zonesNamespace`, created by the chart).
    #[error(
        "applying {kind} {name}: namespace {namespace} does not exist; mutualis creates only the tenants' namespaces, the shared name servers' one (the catalogue's spec.dns.zonesNamespace) comes with the chart (dns.enabled): install it, create the namespace, or correct the catalogue"
    )]
    NamespaceMissing {
        kind: String,
        name: String,
        namespace: String,
    },

    /// The plan holds a kind this operator does not watch (a bug: the kinds table and the
    /// builders disagree).
    #[error("the plan holds a {0}, a kind the operator does not manage")]
    UnmanagedKind(String),

    /// Adding or removing the cleanup finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

/// Whose fault, for metrics and retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// The request was refused for what it said (4xx other than conflict or throttling):
    /// a retry will not cure it soon, so it backs off to the maximum quickly.
    Rejected,
    /// The API server was busy, unreachable, or lost a race: retry soon.
    Transient,
}

impl Category {
    pub fn label(self) -> &'static str {
        match self {
            Category::Rejected => "rejected",
            Category::Transient => "transient",
        }
    }
}

fn kube_category(err: &kube::Error) -> Category {
    match err {
        kube::Error::Api(s) if matches!(s.code, 400 | 403 | 404 | 405 | 415 | 422) => {
            Category::Rejected
        }
        _ => Category::Transient,
    }
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::Kube(e) | Error::Apply { source: e, .. } => kube_category(e),
            Error::UnmanagedKind(_) | Error::NotServed { .. } | Error::NamespaceMissing { .. } => {
                Category::Rejected
            }
            Error::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                    e.category()
                }
                finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => {
                    kube_category(e)
                }
                _ => Category::Rejected,
            },
        }
    }

    /// A short, stable name for metrics and events.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Apply { .. } => "apply",
            Error::UnmanagedKind(_) => "unmanaged_kind",
            Error::NotServed { .. } => "not_served",
            Error::NamespaceMissing { .. } => "namespace_missing",
            Error::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.label(),
                _ => "finalizer",
            },
        }
    }
}

impl From<finalizer::Error<Error>> for Error {
    fn from(e: finalizer::Error<Error>) -> Self {
        Error::Finalizer(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
