//! The default key provider: key-encryption keys in a local file.
//!
//! The file is created on first start with mode 0600, written to a temporary name, flushed to
//! disk and then linked into place, so a crash never leaves a half-written key file and two
//! processes starting at once cannot overwrite each other's key. A file that other users can
//! read is refused: the key file and the database together reveal every template.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::{
    Aad, CryptoError, KekRef, Key256, KeyError, KeyProvider, WrappedKey, hex_decode, hex_encode,
    open, random_array, seal,
};

const HEADER: &str = "bioguard-master-key/v1";
const KIND: &str = "local";

struct Version {
    kek: KekRef,
    key: Key256,
}

/// Key-encryption keys read from a local file. The highest version wraps new data keys;
/// every version in the file can unwrap.
pub struct LocalKeyFile {
    path: PathBuf,
    versions: std::sync::RwLock<Vec<Version>>,
}

impl LocalKeyFile {
    /// Opens the key file at `path`, creating it with one fresh key if it does not exist.
    /// Returns the provider and whether the file was created now.
    pub fn open_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        let created = if path.exists() {
            false
        } else {
            create(path)?;
            true
        };
        Ok((Self::open(path)?, created))
    }

    /// Opens an existing key file.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError::KeyFile {
            path: path.to_owned(),
            reason,
        };
        let meta = fs::metadata(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "it is readable by other users (mode {mode:04o}); run `chmod 600` on it"
            )));
        }
        let text = zeroize::Zeroizing::new(
            fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?,
        );
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        if lines.next() != Some(HEADER) {
            return Err(err(format!(
                "it does not start with `{HEADER}`; it is not a bioguard key file"
            )));
        }
        let mut versions: Vec<Version> = Vec::new();
        for line in lines {
            let (v, hex) = line
                .split_once(' ')
                .ok_or_else(|| err("a key line is not `<version> <64 hex digits>`".into()))?;
            let version: u32 = v
                .parse()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| err("a key version is not a positive integer".into()))?;
            let bytes = zeroize::Zeroizing::new(
                hex_decode(hex.trim()).ok_or_else(|| err("a key is not hexadecimal".into()))?,
            );
            let key = Key256::from_slice(&bytes)
                .ok_or_else(|| err("a key is not 32 bytes (64 hex digits)".into()))?;
            if versions.iter().any(|x| x.kek.version == version) {
                return Err(err(format!("key version {version} appears twice")));
            }
            versions.push(Version {
                kek: KekRef {
                    provider: KIND.into(),
                    version,
                    key_id: key_id(&key),
                },
                key,
            });
        }
        if versions.is_empty() {
            return Err(err("it holds no key".into()));
        }
        versions.sort_by_key(|v| v.kek.version);
        Ok(Self {
            path: path.to_owned(),
            versions: std::sync::RwLock::new(versions),
        })
    }

    /// The file this provider reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Version>> {
        self.versions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn held(&self) -> String {
        self.read()
            .iter()
            .map(|v| v.kek.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn reload(&self) -> Result<(), KeyError> {
        let fresh = Self::open(&self.path)?;
        let versions = fresh
            .versions
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        *self.versions.write().unwrap_or_else(|p| p.into_inner()) = versions;
        Ok(())
    }

    /// Rewrites the key file with `versions`: to a temporary file (0600), flushed, then
    /// renamed over the old one, and the directory flushed.
    fn rewrite(&self, versions: &[(u32, &Key256)]) -> Result<(), KeyError> {
        let err = |reason: String| KeyError::KeyFile {
            path: self.path.clone(),
            reason,
        };
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut body = zeroize::Zeroizing::new(String::from(
            "# bioguard master key file: the key-encryption keys that wrap every data key.\n\
             # Whoever holds this file and the database can read the templates: keep it mode 0600,\n\
             # back it up apart from the database, and never commit it anywhere.\n",
        ));
        body.push_str(HEADER);
        body.push('\n');
        for (v, k) in versions {
            body.push_str(&format!("{v} {}\n", hex_encode(k.expose())));
        }
        let tmp = dir.join(format!(
            ".master.key.{}.tmp",
            hex_encode(&random_array::<8>().map_err(|e| err(e.to_string()))?)
        ));
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            fs::File::open(dir)?.sync_all()
        };
        let result = write();
        let _ = fs::remove_file(&tmp);
        result.map_err(|e| err(format!("cannot rewrite it: {e}")))
    }

    fn context(kek: &KekRef, aad: &Aad) -> Aad {
        Aad::new("bioguard/kek/local/v1")
            .field(kek.to_string().as_bytes())
            .field(aad.as_bytes())
    }
}

/// A public fingerprint of a key: the first 8 bytes of a domain-separated SHA-256.
fn key_id(key: &Key256) -> String {
    let mut h = Sha256::new();
    h.update(b"bioguard/kek-id/v1\0");
    h.update(key.expose());
    hex_encode(&h.finalize()[..8])
}

fn create(path: &Path) -> Result<(), KeyError> {
    let err = |reason: String| KeyError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let key = zeroize::Zeroizing::new(random_array::<32>().map_err(|e| err(e.to_string()))?);
    let body = zeroize::Zeroizing::new(format!(
        "# bioguard master key file: the key-encryption keys that wrap every data key.\n\
         # Whoever holds this file and the database can read the templates: keep it mode 0600,\n\
         # back it up apart from the database, and never commit it anywhere.\n\
         {HEADER}\n1 {}\n",
        hex_encode(&*key)
    ));
    let tmp = dir.join(format!(
        ".master.key.{}.tmp",
        hex_encode(&random_array::<8>().map_err(|e| err(e.to_string()))?)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        // A hard link fails if the target exists: never overwrite a key another process made.
        match fs::hard_link(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        fs::File::open(dir)?.sync_all()
    };
    let result = write();
    let _ = fs::remove_file(&tmp);
    result.map_err(|e| err(format!("cannot create it: {e}")))
}

#[async_trait]
impl KeyProvider for LocalKeyFile {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn current(&self) -> KekRef {
        // Invariant: `open` refuses a file without keys, and `destroy` keeps the current one.
        let versions = self.read();
        versions[versions.len() - 1].kek.clone()
    }

    fn versions(&self) -> Vec<KekRef> {
        self.read().iter().map(|v| v.kek.clone()).collect()
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        self.reload()
    }

    async fn rotate(&self) -> Result<KekRef, KeyError> {
        self.reload()?;
        let fresh = Key256::random()?;
        let next = self.current().version + 1;
        {
            let versions = self.read();
            let mut all: Vec<(u32, &Key256)> =
                versions.iter().map(|v| (v.kek.version, &v.key)).collect();
            all.push((next, &fresh));
            self.rewrite(&all)?;
        }
        self.reload()?;
        Ok(self.current())
    }

    async fn destroy(&self, version: u32) -> Result<(), KeyError> {
        self.reload()?;
        if version == self.current().version {
            return Err(KeyError::KeyFile {
                path: self.path.clone(),
                reason: format!("version {version} is the current key; rotate first"),
            });
        }
        {
            let versions = self.read();
            if !versions.iter().any(|v| v.kek.version == version) {
                return Err(KeyError::UnknownKek {
                    wanted: format!("{KIND}:v{version}"),
                    held: self.held(),
                });
            }
            let kept: Vec<(u32, &Key256)> = versions
                .iter()
                .filter(|v| v.kek.version != version)
                .map(|v| (v.kek.version, &v.key))
                .collect();
            self.rewrite(&kept)?;
        }
        self.reload()
    }

    async fn wrap(&self, key: &Key256, aad: &Aad) -> Result<WrappedKey, KeyError> {
        let versions = self.read();
        let v = &versions[versions.len() - 1];
        let ciphertext = seal(&v.key, &Self::context(&v.kek, aad), key.expose())?;
        Ok(WrappedKey {
            kek: v.kek.clone(),
            ciphertext,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &Aad) -> Result<Key256, KeyError> {
        // A version written by another process (a rotation) is read from the file once.
        if !self.read().iter().any(|v| v.kek == wrapped.kek) {
            self.reload()?;
        }
        let versions = self.read();
        let v = versions
            .iter()
            .find(|v| v.kek == wrapped.kek)
            .ok_or_else(|| KeyError::UnknownKek {
                wanted: wrapped.kek.to_string(),
                held: versions
                    .iter()
                    .map(|v| v.kek.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let plain = open(&v.key, &Self::context(&v.kek, aad), &wrapped.ciphertext)?;
        Key256::from_slice(&plain).ok_or(KeyError::Crypto(CryptoError::Integrity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The local provider never awaits anything, so one poll completes it.
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("local key provider awaited"),
        }
    }

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bioguard-keytest-{}",
            hex_encode(&random_array::<8>().expect("rng"))
        ));
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn creates_with_mode_0600_and_reopens() {
        let dir = temp_dir();
        let path = dir.join("master.key");
        let (p, created) = LocalKeyFile::open_or_create(&path).expect("create");
        assert!(created);
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (q, created) = LocalKeyFile::open_or_create(&path).expect("reopen");
        assert!(!created);
        assert_eq!(p.current(), q.current());

        let dek = Key256::random().expect("rng");
        let aad = Aad::new("ctx").field(b"subject-1");
        let w = block_on(p.wrap(&dek, &aad)).expect("wrap");
        let back = block_on(q.unwrap(&w, &aad)).expect("unwrap");
        assert_eq!(back.expose(), dek.expose());
        assert!(block_on(q.unwrap(&w, &Aad::new("ctx").field(b"subject-2"))).is_err());
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn refuses_open_permissions_and_bad_files() {
        let dir = temp_dir();
        let path = dir.join("master.key");
        LocalKeyFile::open_or_create(&path).expect("create");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = LocalKeyFile::open(&path).err().expect("refused");
        assert!(e.to_string().contains("chmod 600"), "{e}");

        let bad = dir.join("bad.key");
        for body in [
            "nonsense\n",
            "bioguard-master-key/v1\n",
            "bioguard-master-key/v1\n1 abcd\n",
        ] {
            fs::write(&bad, body).expect("write");
            fs::set_permissions(&bad, fs::Permissions::from_mode(0o600)).expect("chmod");
            assert!(LocalKeyFile::open(&bad).is_err(), "{body}");
        }
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn passes_the_conformance_suite() {
        let dir = temp_dir();
        let (p, _) = LocalKeyFile::open_or_create(&dir.join("master.key")).expect("key");
        let report = block_on(crate::conformance::check(&p, 10)).expect("conforms");
        assert_eq!(report.passed.len(), 8, "{:?}", report.passed);
        let rotation = block_on(crate::conformance::check_rotation(&p)).expect("rotates");
        assert_eq!(rotation.len(), 6, "{rotation:?}");
        // The key file on disk agrees: only the new version is left.
        let (q, _) = LocalKeyFile::open_or_create(&dir.join("master.key")).expect("reopen");
        assert_eq!(q.versions(), p.versions());
        assert_eq!(q.versions().len(), 1);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn another_key_file_cannot_unwrap() {
        let dir = temp_dir();
        let (a, _) = LocalKeyFile::open_or_create(&dir.join("a.key")).expect("a");
        let (b, _) = LocalKeyFile::open_or_create(&dir.join("b.key")).expect("b");
        let aad = Aad::new("ctx");
        let w = block_on(a.wrap(&Key256::random().expect("rng"), &aad)).expect("wrap");
        let e = block_on(b.unwrap(&w, &aad)).err().expect("refused");
        assert!(matches!(e, KeyError::UnknownKek { .. }), "{e}");
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
