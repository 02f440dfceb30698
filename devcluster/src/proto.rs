//! Just enough Kubernetes protobuf to read what kubectl's typed generators send
//! (`kubectl create namespace|configmap|secret|serviceaccount`): the `k8s\0` envelope, the
//! `runtime.Unknown` wrapper, ObjectMeta's writable fields, and those four kinds. Anything
//! else in protobuf is answered 415, like a server that does not speak it.

use serde_json::{Map, Value, json};

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let (mut pos, mut out) = (0, Vec::new());
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let w = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                pos += 8;
                Wire::Fixed
            }
            2 => {
                let n = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(n).filter(|e| *e <= buf.len())?;
                let b = &buf[pos..end];
                pos = end;
                Wire::Bytes(b)
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            _ => return None,
        };
        if pos > buf.len() {
            return None;
        }
        out.push((tag >> 3, w));
    }
    Some(out)
}

fn text(b: &[u8]) -> Option<Value> {
    Some(Value::String(String::from_utf8(b.to_vec()).ok()?))
}

pub fn b64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A `map<string, string|bytes>` entry: (key, value bytes).
fn entry(b: &[u8]) -> Option<(String, &[u8])> {
    let (mut k, mut v) = (String::new(), &b[..0]);
    for (f, w) in fields(b)? {
        match (f, w) {
            (1, Wire::Bytes(x)) => k = String::from_utf8(x.to_vec()).ok()?,
            (2, Wire::Bytes(x)) => v = x,
            _ => {}
        }
    }
    Some((k, v))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (f, w) in fields(b)? {
        match (f, w) {
            (1, Wire::Bytes(x)) => drop(m.insert("name".into(), text(x)?)),
            (2, Wire::Bytes(x)) => drop(m.insert("generateName".into(), text(x)?)),
            (3, Wire::Bytes(x)) => drop(m.insert("namespace".into(), text(x)?)),
            // Sent on updates (helm rewrites its release Secret): optimistic concurrency.
            (6, Wire::Bytes(x)) => drop(m.insert("resourceVersion".into(), text(x)?)),
            (11, Wire::Bytes(x)) => {
                let (k, v) = entry(x)?;
                labels.insert(k, text(v)?);
            }
            (12, Wire::Bytes(x)) => {
                let (k, v) = entry(x)?;
                annotations.insert(k, text(v)?);
            }
            (14, Wire::Bytes(x)) => finalizers.push(text(x)?),
            _ => {}
        }
    }
    for (k, v) in [
        ("labels", Value::Object(labels)),
        ("annotations", Value::Object(annotations)),
        ("finalizers", Value::Array(finalizers)),
    ] {
        if v.as_object().is_some_and(|o| !o.is_empty())
            || v.as_array().is_some_and(|a| !a.is_empty())
        {
            m.insert(k.into(), v);
        }
    }
    Some(Value::Object(m))
}

/// Decodes an envelope-wrapped object into JSON, or `None` for anything not understood.
pub fn decode(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &body[..0]);
    for (f, w) in fields(unknown)? {
        match (f, w) {
            (1, Wire::Bytes(tm)) => {
                for (g, x) in fields(tm)? {
                    match (g, x) {
                        (1, Wire::Bytes(s)) => api_version = String::from_utf8(s.to_vec()).ok()?,
                        (2, Wire::Bytes(s)) => kind = String::from_utf8(s.to_vec()).ok()?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    if api_version != "v1" {
        return None;
    }
    let mut obj = json!({"apiVersion": "v1", "kind": kind});
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    for (f, w) in fields(raw)? {
        match (kind.as_str(), f, w) {
            // helm deletes its release Secrets with protobuf DeleteOptions.
            ("DeleteOptions", 6, Wire::Bytes(x)) => obj["propagationPolicy"] = text(x)?,
            ("DeleteOptions", _, _) => {}
            (_, 1, Wire::Bytes(x)) => obj["metadata"] = object_meta(x)?,
            ("ConfigMap", 2, Wire::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(k, text(v)?);
            }
            ("ConfigMap", 3, Wire::Bytes(x)) => {
                let (k, v) = entry(x)?;
                binary.insert(k, Value::String(b64(v)));
            }
            ("ConfigMap", 4, Wire::Varint(v)) | ("Secret", 5, Wire::Varint(v)) => {
                obj["immutable"] = Value::Bool(v != 0)
            }
            ("Secret", 2, Wire::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(k, Value::String(b64(v)));
            }
            ("Secret", 3, Wire::Bytes(x)) => obj["type"] = text(x)?,
            ("Secret", 4, Wire::Bytes(x)) => {
                let (k, v) = entry(x)?;
                string_data.insert(k, text(v)?);
            }
            ("ServiceAccount", 4, Wire::Varint(v)) => {
                obj["automountServiceAccountToken"] = Value::Bool(v != 0)
            }
            ("Namespace" | "ServiceAccount", _, _) => {}
            ("ConfigMap" | "Secret", _, _) => {}
            _ => return None,
        }
    }
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        obj["binaryData"] = Value::Object(binary);
    }
    for (k, v) in string_data {
        // stringData is write-only: merged into data, as the apiserver does.
        obj["data"][&k] = Value::String(b64(v.as_str().unwrap_or_default().as_bytes()));
    }
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3 | 2) as u8, b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        let meta = [
            field(1, b"cfg"),
            field(11, &[field(1, b"app"), field(2, b"x")].concat()),
        ]
        .concat();
        let raw = [
            field(1, &meta),
            field(2, &[field(1, b"k"), field(2, b"v")].concat()),
        ]
        .concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app": "x"}}, "data": {"k": "v"}})
        );
        assert_eq!(b64(b"hello"), "aGVsbG8=");
        assert!(decode(b"k8s\0\xff\xff").is_none());
        assert!(decode(b"{}").is_none());
    }
}
