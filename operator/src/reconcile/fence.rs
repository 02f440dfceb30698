//! Fencing: every write of the controller (apply, prune, status, events, finalizers, cleanup)
//! goes through one client that asks the [`LeaderGuard`] first. One choke point instead of a
//! check in each write path, so that no path can forget it. Reads (get, list, watch) always go
//! out: a paused leader's caches keep up, only its writes wait for a renewed lease.
//!
//! The elector keeps the unfenced client: renewing the lease is how writing becomes allowed again.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;

use super::leader::LeaderGuard;

/// The error of a write refused because the lease may have run out.
#[derive(Debug, thiserror::Error)]
#[error(
    "not sent: this replica's leader lease is past its renew deadline; writes resume once it is renewed"
)]
pub struct Fenced;

/// `client`, with every write held to `guard`.
pub fn fenced(client: Client, guard: Arc<LeaderGuard>) -> Client {
    let namespace = client.default_namespace().to_owned();
    Client::new(
        Fence {
            inner: client,
            guard,
        },
        namespace,
    )
}

/// Whether a request changes the cluster.
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[derive(Clone)]
struct Fence {
    inner: Client,
    guard: Arc<LeaderGuard>,
}

impl tower_service::Service<Request<Body>> for Fence {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner client buffers; readiness is its concern when the request is sent.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_write(request.method()) && !self.guard.may_write() {
            tracing::warn!(method = %request.method(), uri = %request.uri(), "write fenced: the leader lease is past its renew deadline");
            return Box::pin(async { Err(kube::Error::Service(Box::new(Fenced))) });
        }
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }
}
