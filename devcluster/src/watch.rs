//! Watches: chunked newline-delimited JSON. Replays history from the requested resource version
//! (or sends the current objects as ADDED), then streams live events, with periodic BOOKMARKs,
//! an in-stream 410 ERROR when the version is too old, and a clean close at `timeoutSeconds`.
//! Dropping the response (client gone) drops the stream and releases the watcher.

use crate::convert::to_external;
use crate::handlers::{Req, content_type, matches, render, selectors};
use crate::request::Repr;
use crate::resources::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::{Event, EventType, Stored};
use crate::table::{IncludeObject, row, table};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

struct Watcher {
    shared: Arc<Shared>,
    def: Arc<ResourceDef>,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    repr: Repr,
    bookmarks: bool,
    last: u64,
    rx: tokio::sync::watch::Receiver<u64>,
    stop: tokio::sync::watch::Receiver<bool>,
    expire: tokio::sync::watch::Receiver<u64>,
    out: VecDeque<Bytes>,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
}

pub fn start(shared: Arc<Shared>, def: Arc<ResourceDef>, req: &Req) -> ApiResult<Response> {
    let (labels, mut fields) = selectors(&def, &req.query)?;
    if let Some(name) = &req.route.name {
        // The deprecated item watch (`…/tenants/x?watch=true`).
        fields = FieldSelector::parse(&format!("metadata.name={name}"))?;
    }
    let rv_param = req.query.get("resourceVersion").unwrap_or_default();
    let rv: Option<u64> = match rv_param {
        "" | "0" => None,
        s => Some(s.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {s:?}: must be a non-negative integer"
            ))
        })?),
    };
    let timeout = match req.query.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("timeoutSeconds: Invalid value: {t:?}")))?,
        None => 1800,
    };
    let send_initial = req.query.flag("sendInitialEvents");
    let repr = Repr::from_accept(
        req.headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let now = Instant::now();
    let mut w = Watcher {
        rx: shared.rv_tx.subscribe(),
        stop: shared.stop_tx.subscribe(),
        expire: shared.expire_tx.subscribe(),
        shared,
        def,
        ns: req.route.namespace.clone(),
        labels,
        fields,
        repr,
        bookmarks,
        last: 0,
        out: VecDeque::new(),
        deadline: now + Duration::from_secs(timeout),
        next_bookmark: now,
        done: false,
    };
    w.next_bookmark = now + w.shared.config.bookmark_interval;
    let st = w.shared.lock();
    match rv {
        Some(n) if !send_initial => {
            w.last = n;
            drop(st);
            w.poll_store();
        }
        _ => {
            // Current state as ADDED events, then (for streaming lists) the end-of-initial bookmark.
            w.last = st.store.rv();
            let initial: Vec<(String, String, Arc<Stored>)> = st
                .store
                .list(&w.def.storage, w.ns.as_deref(), None)
                .filter(|((n, name), s)| matches(s, n, name, &w.labels, &w.fields))
                .map(|((n, name), s)| (n.clone(), name.clone(), s.clone()))
                .collect();
            drop(st);
            for (_, _, s) in initial {
                let line = w.line("ADDED", &s);
                w.out.push_back(line);
            }
            if send_initial && bookmarks {
                let bm = w.bookmark(true);
                w.out.push_back(bm);
            }
        }
    }
    let stream = futures::stream::unfold(w, |mut w| async move {
        let chunk = w.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(chunk), w))
    });
    Response::builder()
        .status(200)
        .header("Content-Type", content_type(repr, false))
        .header("Cache-Control", "no-cache, private")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

impl Watcher {
    fn line(&self, kind: &str, s: &Stored) -> Bytes {
        let obj: Bytes = match self.repr {
            Repr::Table => {
                let o = to_external(&self.def, s.value());
                Bytes::from(
                    serde_json::to_vec(&table(
                        &self.def,
                        vec![row(&self.def, &o, IncludeObject::Metadata)],
                        &s.rv.to_string(),
                        None,
                    ))
                    .unwrap_or_default(),
                )
            }
            repr => render(&self.def, s, repr, IncludeObject::Metadata),
        };
        let mut out = Vec::with_capacity(obj.len() + 32);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        out.extend_from_slice(&obj);
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }

    /// BOOKMARKs carry apiVersion and kind: kube-rs cannot decode them otherwise.
    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": self.last.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = match self.repr {
            Repr::Metadata => (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            ),
            _ => (self.def.kind.clone(), self.def.api_version()),
        };
        let v = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": meta}});
        Bytes::from(format!("{v}\n"))
    }

    fn expired(&mut self, oldest: u64) {
        let status = ApiError::expired(format!(
            "too old resource version: {} ({})",
            self.last, oldest
        ))
        .to_status();
        self.out.push_back(Bytes::from(format!(
            "{}\n",
            json!({"type": "ERROR", "object": status})
        )));
        self.done = true;
    }

    /// Takes the events after `last` from the store.
    fn poll_store(&mut self) {
        loop {
            let st = self.shared.lock();
            // The API server ends the watches of a deleted CRD's resources: the client's re-list
            // then meets the 404.
            if let Some(crd) = self.def.crd.as_deref()
                && !st.registry.serves_crd(crd)
            {
                self.done = true;
                return;
            }
            let batch = st.store.events_since(self.last, 512);
            let current = st.store.rv();
            drop(st);
            match batch {
                Err(oldest) => return self.expired(oldest),
                Ok(events) => {
                    let n = events.len();
                    for e in events {
                        self.last = e.rv;
                        if e.key.storage != self.def.storage
                            || self.ns.as_deref().is_some_and(|n| n != e.key.ns)
                        {
                            continue;
                        }
                        let now =
                            matches(&e.obj, &e.key.ns, &e.key.name, &self.labels, &self.fields);
                        let before = match &e.prev_labels {
                            Some(prev) if e.kind == EventType::Modified => {
                                self.labels.matches(prev) && now_fields(&e, &self.fields)
                            }
                            _ => now,
                        };
                        let kind = match (before, now) {
                            (false, false) => continue,
                            (true, false) => "DELETED",
                            (false, true) => "ADDED",
                            (true, true) => e.kind.as_str(),
                        };
                        let line = self.line(kind, &e.obj);
                        self.out.push_back(line);
                    }
                    if n < 512 {
                        self.last = self.last.max(current);
                        return;
                    }
                }
            }
        }
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if !self.out.is_empty() {
                // Coalesce what is queued into one chunk.
                let mut buf = Vec::new();
                while let Some(b) = self.out.pop_front() {
                    buf.extend_from_slice(&b);
                    if buf.len() > 256 * 1024 {
                        break;
                    }
                }
                return Some(Bytes::from(buf));
            }
            if self.done || Instant::now() >= self.deadline {
                return None;
            }
            let wake = self.deadline.min(self.next_bookmark);
            tokio::select! {
                _ = self.stop.changed() => return None,
                _ = self.expire.changed() => {
                    let oldest = self.shared.lock().store.rv() + 1;
                    self.expired(oldest);
                }
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    self.poll_store();
                }
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= self.next_bookmark {
                        self.next_bookmark = Instant::now() + self.shared.config.bookmark_interval;
                        if self.bookmarks {
                            let b = self.bookmark(false);
                            self.out.push_back(b);
                        }
                    }
                }
            }
        }
    }
}

/// Field selectors see the same values before and after a label change.
fn now_fields(e: &Event, fields: &FieldSelector) -> bool {
    matches(
        &e.obj,
        &e.key.ns,
        &e.key.name,
        &LabelSelector::default(),
        fields,
    )
}
