//! The allocation directory, laid out as Nomad's `client/allocdir` does:
//!
//! ```text
//! <alloc_root>/<alloc_id>/            0755
//!   alloc/                            0755  shared by the group's tasks
//!     data/ logs/ tmp/                0777
//!   <task>/                           0777
//!     local/                          0777
//!     secrets/                        0700
//!     tmp/                            1777  (sticky, as Nomad's TaskDirs)
//! ```
//!
//! It also holds the path-safety check and the file helpers that the
//! `/v1/client/fs/*` endpoints use. Paths from users are always relative to
//! the allocation directory; a leading `/` means the allocation directory
//! itself, as in `nomad alloc fs <id> /alloc/logs`.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use drover_api::AllocFileInfo;

/// The directory shared by every task of the allocation.
pub const SHARED_ALLOC_NAME: &str = "alloc";
/// Task logs, `alloc/logs/<task>.stdout.N`.
pub const LOG_DIR_NAME: &str = "logs";
pub const SHARED_DATA_DIR: &str = "data";
pub const TMP_DIR_NAME: &str = "tmp";
pub const TASK_LOCAL: &str = "local";
pub const TASK_SECRETS: &str = "secrets";

const MODE_755: u32 = 0o755;
const MODE_777: u32 = 0o777;
const MODE_700: u32 = 0o700;
const MODE_STICKY_777: u32 = 0o1777;

#[derive(Debug, thiserror::Error)]
pub enum AllocDirError {
    /// The path would leave the allocation directory (`..`, or a symlink
    /// whose target lies outside it).
    #[error("path {path:?} escapes the alloc directory")]
    Escapes { path: String },
    #[error("{path:?} not found in the alloc directory")]
    NotFound { path: String },
    /// A task or allocation name that cannot be a single directory name.
    #[error("invalid directory name {name:?}")]
    InvalidName { name: String },
    /// A user path no file can have: the kernel ends a path at its first
    /// NUL byte, so the path cannot mean what was written.
    #[error("path {path:?} contains a NUL byte")]
    NulByte { path: String },
    /// Building or removing the tree failed; names the host path, so it is
    /// for the agent's logs, not for API answers.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Reading a path a user asked for failed. Named as the user wrote it:
    /// these errors reach API clients, who must not learn where the agent
    /// keeps its data.
    #[error("{path:?}: {source}")]
    Access { path: String, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AllocDirError + '_ {
    move |source| AllocDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An I/O error on the user path `rel`.
fn access_err(rel: &str) -> impl FnOnce(io::Error) -> AllocDirError + '_ {
    move |source| AllocDirError::Access {
        path: rel.to_string(),
        source,
    }
}

/// One allocation's directory tree. Cheap to construct; nothing touches the
/// disk until [`AllocDir::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocDir {
    alloc_id: String,
    /// `<alloc_root>/<alloc_id>`.
    dir: PathBuf,
}

impl AllocDir {
    pub fn new(alloc_root: &Path, alloc_id: &str) -> AllocDir {
        AllocDir {
            alloc_id: alloc_id.to_string(),
            dir: alloc_root.join(alloc_id),
        }
    }

    pub fn alloc_id(&self) -> &str {
        &self.alloc_id
    }

    /// `<alloc_root>/<alloc_id>`, the root every user path is relative to.
    pub fn alloc_dir(&self) -> &Path {
        &self.dir
    }

    /// `<alloc_id>/alloc`, exported to tasks as `NOMAD_ALLOC_DIR`.
    pub fn shared_dir(&self) -> PathBuf {
        self.dir.join(SHARED_ALLOC_NAME)
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.shared_dir().join(LOG_DIR_NAME)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.shared_dir().join(SHARED_DATA_DIR)
    }

    pub fn shared_tmp_dir(&self) -> PathBuf {
        self.shared_dir().join(TMP_DIR_NAME)
    }

    /// `<alloc_id>/<task>`.
    pub fn task_dir(&self, task: &str) -> PathBuf {
        self.dir.join(task)
    }

    /// `<alloc_id>/<task>/local`, exported as `NOMAD_TASK_DIR`.
    pub fn task_local_dir(&self, task: &str) -> PathBuf {
        self.task_dir(task).join(TASK_LOCAL)
    }

    /// `<alloc_id>/<task>/secrets`, exported as `NOMAD_SECRETS_DIR`.
    pub fn task_secrets_dir(&self, task: &str) -> PathBuf {
        self.task_dir(task).join(TASK_SECRETS)
    }

    pub fn task_tmp_dir(&self, task: &str) -> PathBuf {
        self.task_dir(task).join(TMP_DIR_NAME)
    }

    /// Create the tree for the allocation and each task. Idempotent: an
    /// existing tree (a restarted agent re-attaching) is left as is, with its
    /// modes reset. Modes are set explicitly so the umask does not matter.
    pub fn build(&self, tasks: &[&str]) -> Result<(), AllocDirError> {
        check_name(&self.alloc_id)?;
        for task in tasks {
            check_name(task)?;
            if *task == SHARED_ALLOC_NAME {
                return Err(AllocDirError::InvalidName {
                    name: task.to_string(),
                });
            }
        }
        make_dir(&self.dir, MODE_755)?;
        make_dir(&self.shared_dir(), MODE_755)?;
        for dir in [self.logs_dir(), self.shared_tmp_dir(), self.data_dir()] {
            make_dir(&dir, MODE_777)?;
        }
        for task in tasks {
            make_dir(&self.task_dir(task), MODE_777)?;
            make_dir(&self.task_local_dir(task), MODE_777)?;
            make_dir(&self.task_tmp_dir(task), MODE_STICKY_777)?;
            make_dir(&self.task_secrets_dir(task), MODE_700)?;
        }
        Ok(())
    }

    /// Remove the whole tree. A tree that is already gone is not an error.
    pub fn destroy(&self) -> Result<(), AllocDirError> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(io_err(&self.dir)),
        }
    }

    /// Map a user path onto the host, refusing anything that leaves the
    /// allocation directory. `..` is resolved lexically first (popping past
    /// the root is an escape); then the deepest existing ancestor is
    /// canonicalized, so a symlink anywhere on the way that points outside
    /// is caught even when the final file does not exist yet. Returns the
    /// canonical path when the target exists, the joined path otherwise.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, AllocDirError> {
        let escapes = || AllocDirError::Escapes {
            path: rel.to_string(),
        };
        if rel.contains('\0') {
            return Err(AllocDirError::NulByte {
                path: rel.to_string(),
            });
        }
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for comp in Path::new(rel).components() {
            match comp {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(p) => parts.push(p),
                Component::ParentDir => {
                    parts.pop().ok_or_else(escapes)?;
                }
                Component::Prefix(_) => return Err(escapes()),
            }
        }
        let root = fs::canonicalize(&self.dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => AllocDirError::NotFound {
                path: rel.to_string(),
            },
            _ => access_err(rel)(e),
        })?;
        let joined: PathBuf = parts.iter().fold(root.clone(), |p, c| p.join(c));

        // Canonicalize the deepest ancestor that exists, then re-append the
        // rest. Dangling symlinks count as "not existing" here, but a
        // dangling link can only be created, not followed, by the fs helpers.
        let mut existing = joined.as_path();
        let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
        let canonical = loop {
            match fs::canonicalize(existing) {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let (Some(parent), Some(name)) = (existing.parent(), existing.file_name())
                    else {
                        return Err(escapes());
                    };
                    rest.push(name);
                    existing = parent;
                }
                Err(e) => return Err(access_err(rel)(e)),
            }
        };
        if !canonical.starts_with(&root) {
            return Err(escapes());
        }
        Ok(rest.iter().rev().fold(canonical, |p, c| p.join(c)))
    }

    /// The entries of a directory, Nomad's `/v1/client/fs/ls`. Entries are
    /// described without following symlinks and sorted by name.
    pub fn list(&self, rel: &str) -> Result<Vec<AllocFileInfo>, AllocDirError> {
        let path = self.existing(rel)?;
        let mut out = Vec::new();
        for entry in fs::read_dir(&path).map_err(access_err(rel))? {
            let entry = entry.map_err(access_err(rel))?;
            let meta = entry.metadata().map_err(access_err(rel))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            out.push(file_info(name, &meta, String::new()));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One file or directory, Nomad's `/v1/client/fs/stat`, with a sniffed
    /// content type.
    pub fn stat(&self, rel: &str) -> Result<AllocFileInfo, AllocDirError> {
        let path = self.existing(rel)?;
        let meta = fs::metadata(&path).map_err(access_err(rel))?;
        let name = Path::new(rel)
            .file_name()
            .or_else(|| path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let content_type = detect_content_type(&path, &meta);
        Ok(file_info(name, &meta, content_type))
    }

    /// Up to `limit` bytes of a file from `offset`; fewer at end of file,
    /// none past it.
    pub fn read_at(&self, rel: &str, offset: u64, limit: usize) -> Result<Vec<u8>, AllocDirError> {
        let path = self.existing(rel)?;
        let mut file = File::open(&path).map_err(access_err(rel))?;
        // The check above and the open are two steps; a task could swap a
        // path component for a symlink in between. Re-check what was opened.
        let fd_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if let (Ok(opened), Ok(root)) = (fs::read_link(&fd_path), fs::canonicalize(&self.dir)) {
            if !opened.starts_with(&root) {
                return Err(AllocDirError::Escapes {
                    path: rel.to_string(),
                });
            }
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(access_err(rel))?;
        let mut buf = Vec::with_capacity(limit.min(1 << 20));
        file.take(limit as u64)
            .read_to_end(&mut buf)
            .map_err(access_err(rel))?;
        Ok(buf)
    }

    /// [`AllocDir::resolve`], then require that the target exists.
    fn existing(&self, rel: &str) -> Result<PathBuf, AllocDirError> {
        let path = self.resolve(rel)?;
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(AllocDirError::NotFound {
                path: rel.to_string(),
            }),
            Err(e) => Err(access_err(rel)(e)),
        }
    }
}

fn check_name(name: &str) -> Result<(), AllocDirError> {
    let mut comps = Path::new(name).components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(n)), None) if n == name => Ok(()),
        _ => Err(AllocDirError::InvalidName {
            name: name.to_string(),
        }),
    }
}

fn make_dir(path: &Path, mode: u32) -> Result<(), AllocDirError> {
    fs::create_dir_all(path).map_err(io_err(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

fn file_info(name: String, meta: &Metadata, content_type: String) -> AllocFileInfo {
    let mod_time = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or_default();
    AllocFileInfo {
        name,
        is_dir: meta.is_dir(),
        size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
        file_mode: go_file_mode(meta),
        mod_time,
        content_type,
    }
}

/// Go's `os.FileMode.String()`: one letter per type or special bit present
/// (in Go's order `d L D p S u g c t`), or `-` when none is, then `rwx` ×3.
pub fn go_file_mode(meta: &Metadata) -> String {
    let ft = meta.file_type();
    let mode = meta.permissions().mode();
    let mut out = String::with_capacity(12);
    let flags = [
        (ft.is_dir(), 'd'),
        (ft.is_symlink(), 'L'),
        (ft.is_block_device() || ft.is_char_device(), 'D'),
        (ft.is_fifo(), 'p'),
        (ft.is_socket(), 'S'),
        (mode & 0o4000 != 0, 'u'),
        (mode & 0o2000 != 0, 'g'),
        (ft.is_char_device(), 'c'),
        (mode & 0o1000 != 0, 't'),
    ];
    for (set, c) in flags {
        if set {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}

/// Nomad sniffs the first 512 bytes with Go's `http.DetectContentType` and
/// special-cases `.json`. Drover keeps the two answers that matter for logs
/// and config files: text (no binary control bytes, as Go's text rule) or
/// `application/octet-stream` (also directories and empty or unreadable
/// files, as in Nomad).
fn detect_content_type(path: &Path, meta: &Metadata) -> String {
    let mut content_type = "application/octet-stream";
    if !meta.is_dir() {
        let mut head = [0u8; 512];
        if let Ok(n) = File::open(path).and_then(|mut f| f.read(&mut head)) {
            let is_binary = |b: &u8| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F);
            if n > 0 && !head[..n].iter().any(is_binary) {
                content_type = "text/plain; charset=utf-8";
            }
        }
    }
    if path.extension().is_some_and(|e| e == "json") {
        content_type = "application/json";
    }
    content_type.to_string()
}
