//! Compiled components kept on disk, so a start or reload compiles only modules it has never
//! seen. Compiling the Python sample takes seconds; loading its compiled form, milliseconds.
//!
//! A compiled artifact is native code: loading it runs whatever it contains, so it is trusted
//! only as far as the directory it is in. The directory must belong to this user and be closed
//! to everyone else (it is made `0700` when created), each file must belong to this user and be
//! writable by no one else, and each file carries a SHA-256 of its contents, checked before
//! loading. An artifact is named by the module's SHA-256 and the engine's compatibility hash
//! (wasmtime version and every setting that changes code), and wasmtime checks both again when
//! loading. Anything that fails a check is ignored and the module compiled again — never loaded.

use std::fs;
use std::hash::Hasher;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// First bytes of every artifact file, naming its layout.
const MAGIC: &[u8] = b"edge-proxy compiled component v1\n";

/// A directory of compiled components.
pub struct CompiledCache {
    dir: PathBuf,
}

impl CompiledCache {
    /// The cache at `dir`, created if missing. `None` (with a warning) when the directory cannot
    /// be made or may be written by another user: then every module is compiled.
    pub fn open(dir: &Path) -> Option<Self> {
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "module cache off: cannot create the directory");
            return None;
        }
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() && m.uid() == euid() && m.permissions().mode() & 0o077 == 0 => {
                Some(CompiledCache {
                    dir: dir.to_path_buf(),
                })
            }
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), "module cache off: the directory must belong to this user with mode 0700");
                None
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "module cache off");
                None
            }
        }
    }

    /// The component for `bytes` (whose SHA-256 is `digest`): loaded from the cache when a
    /// sound artifact is there, else compiled and stored.
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &[u8; 32],
    ) -> wasmtime::Result<Component> {
        let path = self.path(engine, digest);
        if let Some(component) = self.load(engine, &path) {
            return Ok(component);
        }
        let component = Component::new(engine, bytes)?;
        let stored = match component.serialize() {
            Ok(code) => self.store(&path, &code).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{e:#}")),
        };
        if let Err(e) = stored {
            tracing::warn!(file = %path.display(), error = %e, "module cache: cannot store a compiled component");
        }
        Ok(component)
    }

    fn path(&self, engine: &Engine, digest: &[u8; 32]) -> PathBuf {
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_hash = hasher.0.finalize();
        self.dir
            .join(format!("{}-{}.cwasm", hex(digest), hex(&engine_hash[..8])))
    }

    /// The artifact at `path` if it passes every check.
    fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let meta = fs::symlink_metadata(path).ok()?;
        if !meta.is_file() || meta.uid() != euid() || meta.permissions().mode() & 0o022 != 0 {
            tracing::warn!(file = %path.display(), "module cache: ignoring an artifact not owned by this user or writable by others");
            return None;
        }
        let file = fs::read(path).ok()?;
        let sealed = file
            .strip_prefix(MAGIC)
            .filter(|rest| rest.len() > 32)
            .filter(|rest| Sha256::digest(&rest[32..])[..] == rest[..32]);
        let Some(rest) = sealed else {
            tracing::warn!(file = %path.display(), "module cache: ignoring a damaged artifact");
            return None;
        };
        // SAFETY: the bytes were written by `store` in a directory only this user can write,
        // their checksum matches, and wasmtime refuses artifacts from another engine version or
        // configuration.
        match unsafe { Component::deserialize(engine, &rest[32..]) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %format!("{e:#}"), "module cache: ignoring an artifact wasmtime refused");
                None
            }
        }
    }

    /// Writes `code` to `path` atomically (a temporary file renamed into place), so a reader
    /// never sees half an artifact.
    fn store(&self, path: &Path, code: &[u8]) -> std::io::Result<()> {
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", std::process::id(), fastrand::u64(..)));
        let result = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(code))?;
            file.write_all(code)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash names files the same
/// way in every build of the same wasmtime.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    /// Unused: the digest is read from the inner SHA-256.
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
