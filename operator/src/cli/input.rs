//! Reading manifests: files, directories and stdin, split into documents, each admitted through
//! its CRD's schema and rules (`admission`) and turned into a `ServiceCatalog` or a `Tenant`. Bounded: a source over [`MAX_INPUT_BYTES`] is refused
//! before it is parsed (stdin is read only up to the limit), and parsing stops at the first
//! error, so a large garbage file fails in milliseconds with memory bounded by the limit.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::admission::{admit, typed};
use super::error::{CliError, Origin};
use super::yaml_path::path_at;
use crate::api::{API_VERSION, ServiceCatalog, Tenant};

/// Largest accepted source (32 MiB): ten thousand tenants take about 5 MiB.
pub const MAX_INPUT_BYTES: u64 = 32 * 1024 * 1024;

/// Everything read, in input order.
#[derive(Debug, Default)]
pub struct Manifests {
    pub catalogs: Vec<(Origin, ServiceCatalog, String)>,
    pub tenants: Vec<(Origin, Tenant, String)>,
    /// Documents of other API groups (a GitOps repository holds Namespaces, HelmReleases...).
    pub skipped_documents: usize,
    /// Kustomize's `kustomization.yaml` files.
    pub skipped_files: usize,
}

/// The API group mutualis reads; documents of any other group are someone else's.
pub const API_GROUP: &str = "mutualis.io";

/// File names Kustomize reads as its own configuration, never a Kubernetes object.
const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

impl Manifests {
    pub fn catalog(&self, name: &str) -> Option<&ServiceCatalog> {
        self.catalogs
            .iter()
            .map(|(_, c, _)| c)
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    /// What was skipped, for standard error: `skipped 3 documents of other API groups`.
    pub fn skipped_note(&self) -> Option<String> {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.skipped_documents > 0 {
            parts.push(format!(
                "{} of other API groups",
                plural(self.skipped_documents, "document", "documents")
            ));
        }
        if self.skipped_files > 0 {
            parts.push(plural(
                self.skipped_files,
                "kustomization file",
                "kustomization files",
            ));
        }
        (!parts.is_empty()).then(|| format!("skipped {}", parts.join(" and ")))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: Option<String>,
    kind: Option<String>,
}

/// Reads every path (`-` is stdin) into manifests.
pub fn read(paths: &[PathBuf], stdin: &mut dyn Read) -> Result<Manifests, CliError> {
    let mut out = Manifests::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let text = read_bounded(stdin, "<stdin>")?;
            parse_source("<stdin>", &text, &mut out)?;
        } else if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| CliError::Io {
                    path: path.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            // Directory order is the file system's; sort for byte-identical output.
            files.sort();
            if files.is_empty() {
                return Err(CliError::EmptyDirectory { path: path.clone() });
            }
            for f in files {
                read_file(&f, &mut out)?;
            }
        } else {
            read_file(path, &mut out)?;
        }
    }
    if out.catalogs.is_empty()
        && out.tenants.is_empty()
        && out.skipped_documents + out.skipped_files > 0
    {
        return Err(CliError::NothingOfOurs {
            skipped: out.skipped_note().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn read_file(path: &Path, out: &mut Manifests) -> Result<(), CliError> {
    let name = path.display().to_string();
    if path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| KUSTOMIZATION_FILES.contains(&n))
    {
        out.skipped_files += 1;
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(|source| CliError::Io {
        path: path.to_owned(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_INPUT_BYTES {
        return Err(CliError::TooLarge {
            source_name: name,
            size,
            limit: MAX_INPUT_BYTES,
        });
    }
    let text = read_bounded(&mut std::io::BufReader::new(file), &name)?;
    parse_source(&name, &text, out)
}

fn read_bounded(reader: &mut dyn Read, name: &str) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| CliError::Io {
            path: name.into(),
            source,
        })?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::TooLarge {
            source_name: name.to_owned(),
            size: bytes.len() as u64,
            limit: MAX_INPUT_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|e| CliError::NotUtf8 {
        source_name: name.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Splits on `---` document markers; yields (first line, text) of each non-empty document.
fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            docs.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = n + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs.retain(|(_, d)| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

fn parse_source(name: &str, text: &str, out: &mut Manifests) -> Result<(), CliError> {
    let docs = documents(text);
    if docs.is_empty() {
        return Err(CliError::Empty {
            source_name: name.to_owned(),
        });
    }
    for (i, (line, doc)) in docs.into_iter().enumerate() {
        let origin = Origin {
            source: name.to_owned(),
            document: i + 1,
            line,
        };
        let head: Head = parse(doc, &origin)?;
        let group = head
            .api_version
            .as_deref()
            .map(|v| v.rsplit_once('/').map_or("", |(group, _)| group));
        if group.is_some_and(|g| g != API_GROUP) {
            out.skipped_documents += 1;
            continue;
        }
        match (head.api_version.as_deref(), head.kind.as_deref()) {
            (Some(API_VERSION), Some("ServiceCatalog")) => {
                let admitted = admit("ServiceCatalog", doc, &origin)?;
                let c: ServiceCatalog = typed(admitted, doc, &origin)?;
                let n = named(&origin, "ServiceCatalog", c.metadata.name.as_deref())?;
                if let Some((first, _, _)) = out
                    .catalogs
                    .iter()
                    .find(|(_, o, _)| o.metadata.name.as_deref() == Some(n))
                {
                    return Err(CliError::Duplicate {
                        origin: origin.clone(),
                        kind: "ServiceCatalog",
                        name: n.to_owned(),
                        first: first.clone(),
                    });
                }
                out.catalogs.push((origin, c, doc.to_owned()));
            }
            (Some(API_VERSION), Some("Tenant")) => {
                let admitted = admit("Tenant", doc, &origin)?;
                let t: Tenant = typed(admitted, doc, &origin)?;
                let n = named(&origin, "Tenant", t.metadata.name.as_deref())?;
                if let Some((first, _, _)) = out
                    .tenants
                    .iter()
                    .find(|(_, o, _)| o.metadata.name.as_deref() == Some(n))
                {
                    return Err(CliError::Duplicate {
                        origin: origin.clone(),
                        kind: "Tenant",
                        name: n.to_owned(),
                        first: first.clone(),
                    });
                }
                out.tenants.push((origin, t, doc.to_owned()));
            }
            (api, kind) => {
                return Err(CliError::UnknownKind {
                    origin,
                    what: format!(
                        "apiVersion {:?} kind {:?}",
                        api.unwrap_or(""),
                        kind.unwrap_or("")
                    ),
                });
            }
        }
    }
    Ok(())
}

fn named<'a>(
    origin: &Origin,
    kind: &'static str,
    name: Option<&'a str>,
) -> Result<&'a str, CliError> {
    name.filter(|n| !n.is_empty())
        .ok_or_else(|| CliError::MissingName {
            origin: origin.clone(),
            kind,
        })
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    doc: &str,
    origin: &Origin,
) -> Result<T, CliError> {
    serde_saphyr::from_str(doc).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
        let bare = e.without_snippet().to_string();
        // "error: line 3 column 4: message" → "message"; positions are re-based on the file.
        let message = bare
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("error"))
            .map_or(bare.as_str(), |(_, rest)| rest);
        let message = match message.split_once(": ") {
            Some((pos, rest)) if pos.starts_with("line ") => rest,
            _ => message,
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(message)
            .to_owned();
        let file_line = origin.line + line - 1;
        let text = doc.lines().nth(line.saturating_sub(1)).unwrap_or_default();
        let snippet = super::messages::snippet(file_line, text, column);
        let shown = super::messages::humanize(doc, line, column, path_at(doc, line), &message);
        CliError::Yaml {
            source_name: origin.source.clone(),
            line: file_line,
            column,
            field: shown.field,
            message: shown.message,
            snippet,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_with_their_first_line() {
        let docs = documents("a: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n...\n");
        assert_eq!(docs, vec![(1, "a: 1\n"), (5, "b: 2\nc: 3\n")]);
        assert!(documents("\n\n# nothing\n").is_empty());
    }

    #[test]
    fn other_api_groups_are_skipped_and_counted_ours_are_checked() {
        let mut out = Manifests::default();
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n";
        parse_source("repo.yaml", text, &mut out).unwrap();
        assert_eq!(out.skipped_documents, 3);
        assert_eq!(
            out.skipped_note().as_deref(),
            Some("skipped 3 documents of other API groups")
        );
        out.skipped_files = 1;
        assert_eq!(
            out.skipped_note().as_deref(),
            Some("skipped 3 documents of other API groups and 1 kustomization file")
        );
        // A mutualis.io document of an unknown version or kind, or one with no apiVersion at
        // all, is still an error: it is meant for mutualis and would otherwise vanish silently.
        for bad in [
            "apiVersion: mutualis.io/v1\nkind: Tenant\n",
            "apiVersion: mutualis.io/v1alpha1\nkind: Tenants\n",
            "kind: Tenant\n",
        ] {
            let err = parse_source("bad.yaml", bad, &mut Manifests::default()).unwrap_err();
            assert!(matches!(err, CliError::UnknownKind { .. }), "{bad}: {err}");
        }
    }
}
