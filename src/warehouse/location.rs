//! Where the warehouse lives: a URL turned into a root object store and the URL of
//! each table. `file://` paths are relative to the project directory; cloud URLs use
//! object_store's builders, which read the standard credential variables
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::memory::InMemory;
use url::Url;

use super::TableName;

/// A warehouse URL that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// The text is not a URL.
    #[error(
        "{url:?} is not a valid warehouse URL ({reason}); use file://PATH, s3://BUCKET/PREFIX, gs://, az:// or memory://"
    )]
    Syntax {
        /// The URL as written.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The scheme is not one lockstep writes to.
    #[error(
        "unsupported warehouse URL scheme {scheme:?} in {url:?}; use file://, s3://, gs://, az:// or memory://"
    )]
    Scheme {
        /// The URL as written.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// object_store could not build a client for it.
    #[error("cannot open warehouse {url}: {source}")]
    Store {
        /// The URL.
        url: String,
        /// Underlying error.
        source: object_store::Error,
    },
}

/// A parsed warehouse location and the URL of its root (ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    kind: Kind,
    root: Url,
}

/// The kinds of place a warehouse can live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A local directory (absolute).
    File(PathBuf),
    /// An in-process store shared by everything that opens the same name.
    Memory(String),
    /// An object-store bucket with an optional prefix.
    Cloud(Url),
}

impl Location {
    /// Parse `url` as written in lockstep.toml; relative `file://` paths resolve
    /// against `project_dir`.
    pub fn parse(url: &str, project_dir: &Path) -> Result<Location, LocationError> {
        let kind = Kind::parse(url, project_dir)?;
        let root = match &kind {
            Kind::File(p) => Url::from_directory_path(p).ok(),
            Kind::Memory(name) if name.is_empty() => Url::parse("memory:///").ok(),
            Kind::Memory(name) => Url::parse(&format!("memory:///{name}/")).ok(),
            Kind::Cloud(u) => Url::parse(&format!("{}/", u.as_str().trim_end_matches('/'))).ok(),
        }
        .ok_or_else(|| LocationError::Syntax {
            url: url.to_string(),
            reason: "cannot form a root URL".into(),
        })?;
        Ok(Location { kind, root })
    }

    /// What kind of place this is.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }
}

impl Kind {
    fn parse(url: &str, project_dir: &Path) -> Result<Kind, LocationError> {
        let syntax = |reason: &str| LocationError::Syntax {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(syntax("missing scheme"));
        };
        match scheme {
            "file" => {
                if rest.is_empty() {
                    return Err(syntax("empty path"));
                }
                let path = Path::new(rest);
                let abs = if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    project_dir.join(path)
                };
                Ok(Kind::File(normalize(&abs)))
            }
            "memory" => Ok(Kind::Memory(rest.trim_matches('/').to_string())),
            "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" => {
                let parsed = Url::parse(url).map_err(|e| syntax(&e.to_string()))?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(syntax("missing bucket"));
                }
                Ok(Kind::Cloud(parsed))
            }
            other => Err(LocationError::Scheme {
                url: url.to_string(),
                scheme: other.to_string(),
            }),
        }
    }
}

impl Location {
    /// The URL of the warehouse root, ending in `/`.
    pub fn root_url(&self) -> Url {
        self.root.clone()
    }

    /// The URL of one table's folder, ending in `/`.
    pub fn table_url(&self, name: &TableName) -> Url {
        let mut url = self.root_url();
        let path = format!("{}{}/{}/", url.path(), name.area(), name.name());
        url.set_path(&path);
        url
    }

    /// The object store rooted at the bucket / filesystem root (deltalake expects the
    /// root store, with table locations as full URLs).
    pub fn root_store(
        &self,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn ObjectStore>, LocationError> {
        match &self.kind {
            Kind::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| LocationError::Store {
                    url: self.root_url().to_string(),
                    source: object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    },
                })?;
                Ok(Arc::new(object_store::local::LocalFileSystem::new()))
            }
            Kind::Memory(name) => Ok(shared_memory_store(name)),
            Kind::Cloud(url) => {
                let mut opts: HashMap<String, String> = std::env::vars()
                    .filter(|(k, _)| {
                        k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
                    })
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                // Delta commits need put-if-absent; S3 provides it through ETags.
                if matches!(url.scheme(), "s3" | "s3a") {
                    opts.entry("aws_conditional_put".into())
                        .or_insert_with(|| "etag".into());
                }
                opts.extend(options.iter().map(|(k, v)| (k.clone(), v.clone())));
                let (store, _) = object_store::parse_url_opts(url, opts).map_err(|source| {
                    LocationError::Store {
                        url: url.to_string(),
                        source,
                    }
                })?;
                Ok(Arc::from(store))
            }
        }
    }
}

/// `memory://name` is one store per process and name, so two handles on the same
/// warehouse (a test and the code under test) see the same tables.
fn shared_memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut map = stores
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

/// Remove `.` and `..` components without touching the filesystem (the directory may
/// not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_resolve_against_the_project() {
        let loc = Location::parse("file://./warehouse", Path::new("/srv/shop")).unwrap();
        assert_eq!(
            loc.kind(),
            &Kind::File(PathBuf::from("/srv/shop/warehouse"))
        );
        let t = TableName::parse("raw_shopify.orders").unwrap();
        assert_eq!(
            loc.table_url(&t).as_str(),
            "file:///srv/shop/warehouse/raw_shopify/orders/"
        );
        let abs = Location::parse("file:///data/wh", Path::new("/x")).unwrap();
        assert_eq!(abs.kind(), &Kind::File(PathBuf::from("/data/wh")));
    }

    #[test]
    fn cloud_and_memory_urls() {
        let s3 = Location::parse("s3://bucket/prefix", Path::new("/")).unwrap();
        let t = TableName::parse("models.golden_customers").unwrap();
        assert_eq!(
            s3.table_url(&t).as_str(),
            "s3://bucket/prefix/models/golden_customers/"
        );
        let mem = Location::parse("memory://t1", Path::new("/")).unwrap();
        assert_eq!(
            mem.table_url(&t).as_str(),
            "memory:///t1/models/golden_customers/"
        );
    }

    #[test]
    fn bad_urls_are_rejected_with_reason() {
        for bad in ["warehouse", "ftp://x/y", "s3://", "file://"] {
            let err = Location::parse(bad, Path::new("/"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(bad.split("://").next().unwrap()),
                "{bad}: {err}"
            );
        }
    }
}
