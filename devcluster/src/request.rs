//! Parsing what arrives on the wire: lenient query strings (kube-rs sends `?&limit=500`),
//! resource paths, and the media types a client accepts.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut m = HashMap::new();
        for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(decode(k), decode(v));
        }
        Self(m)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }
}

/// A resource request path, split.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// `/api/v1/...` or `/apis/{g}/{v}/...`; `None` for anything that is not a resource path.
pub fn route(path: &str) -> Option<Route> {
    let segs: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let (group, version, rest) = match segs.first().map(String::as_str) {
        Some("api") if segs.len() >= 3 => (String::new(), segs[1].clone(), &segs[2..]),
        Some("apis") if segs.len() >= 4 => (segs[1].clone(), segs[2].clone(), &segs[3..]),
        _ => return None,
    };
    // `namespaces/{ns}/{resource}...` unless it is the namespace's own status/finalize.
    let (namespace, rest) = if rest.len() >= 3
        && rest[0] == "namespaces"
        && rest[2] != "status"
        && rest[2] != "finalize"
    {
        (Some(rest[1].clone()), &rest[2..])
    } else {
        (None, rest)
    };
    if rest.is_empty() || rest.len() > 3 || rest.iter().any(String::is_empty) {
        return None;
    }
    Some(Route {
        group,
        version,
        resource: rest[0].clone(),
        namespace,
        name: rest.get(1).cloned(),
        sub: rest.get(2).cloned(),
    })
}

/// What representation of objects the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    Json,
    Table,
    Metadata,
}

impl Repr {
    pub fn from_accept(accept: &str) -> Self {
        for r in accept.split(',') {
            let params: Vec<&str> = r.split(';').map(str::trim).collect();
            let has = |p: &str| params.contains(&p);
            if has("as=Table")
                && has("g=meta.k8s.io")
                && params.iter().any(|p| *p == "v=v1" || *p == "v=v1beta1")
            {
                return Self::Table;
            }
            if (has("as=PartialObjectMetadataList") || has("as=PartialObjectMetadata"))
                && has("g=meta.k8s.io")
            {
                return Self::Metadata;
            }
            if params
                .first()
                .is_some_and(|m| *m == "application/json" || *m == "*/*" || m.is_empty())
            {
                return Self::Json;
            }
        }
        Self::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_queries() {
        let q = Query::parse(Some(
            "&limit=500&fieldSelector=metadata.name%3Dx%2Cb%3Dc&watch=true",
        ));
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=x,b=c"));
        assert!(q.flag("watch"));
        assert_eq!(Query::parse(Some("")).get("x"), None);
        assert_eq!(Query::parse(Some("a=%zz%4")).get("a"), Some("%zz%4"));
    }

    #[test]
    fn routes() {
        let r = route("/apis/example.io/v1/namespaces/default/tenants/x/status").unwrap();
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.sub.as_deref()
            ),
            ("example.io", Some("default"), Some("x"), Some("status"))
        );
        let r = route("/api/v1/namespaces/default").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.namespace),
            ("namespaces", Some("default"), None)
        );
        let r = route("/api/v1/namespaces/x/status").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.sub.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = route("/api/v1/configmaps").unwrap();
        assert_eq!((r.resource.as_str(), r.name), ("configmaps", None));
        assert!(route("/api/v1").is_none());
        assert!(route("/apis/a/v1/x/y/z/w").is_none());
    }

    #[test]
    fn representations() {
        assert_eq!(
            Repr::from_accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
            Repr::Table
        );
        assert_eq!(
            Repr::from_accept("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Repr::Metadata
        );
        assert_eq!(
            Repr::from_accept("application/vnd.kubernetes.protobuf,application/json"),
            Repr::Json
        );
        assert_eq!(Repr::from_accept(""), Repr::Json);
    }
}
