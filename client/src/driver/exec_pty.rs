//! Running a command inside a raw_exec task: with pipes, or under
//! a pseudo terminal.
//!
//! The command gets the task's environment, working dir and user, and a
//! session of its own (`setsid`), so it is the leader of a process group
//! that holds everything it starts. That group is what dropping the
//! [`ExecSession`] kills (SIGKILL), and it is never the task's group, so
//! nothing an exec does to its own processes reaches the task.
//!
//! With a tty the command's stdin, stdout and stderr are the slave side of
//! a fresh pty, which is also its controlling terminal (`TIOCSCTTY`); the
//! agent keeps the master, non-blocking, behind tokio's [`AsyncFd`]. The
//! pty is opened with `posix_openpt` and the slave with `O_CLOEXEC`
//! rather than with `openpty`, so no other process the agent spawns at the
//! same moment can inherit either end (a stray copy of the slave would
//! keep the master from ever reading EOF). Resizing is `TIOCSWINSZ` on the
//! master; the kernel then sends SIGWINCH to the terminal's foreground
//! process group.

use std::ffi::CStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};

use super::{BoxFuture, DriverError, ExecControl, ExecRequest, ExecSession, TaskConfig};

/// The terminal size when the request gives none, the classic 24x80.
const DEFAULT_TTY_SIZE: (u16, u16) = (24, 80);

/// Starts `req.command` for `task` (see the module doc). `user` is the
/// task's resolved `(uid, gid)`, if it has one.
pub fn spawn(
    task: &TaskConfig,
    user: Option<(u32, u32)>,
    req: &ExecRequest,
) -> Result<ExecSession, DriverError> {
    let Some((program, args)) = req.command.split_first() else {
        return Err(DriverError::Launch("command is not present".to_string()));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&task.task_dir)
        .env_clear()
        .envs(&task.env)
        .kill_on_drop(false);
    if let Some((uid, gid)) = user {
        // SAFETY: geteuid has no preconditions.
        if uid != unsafe { libc::geteuid() } {
            cmd.uid(uid).gid(gid);
        }
    }
    if req.tty {
        spawn_tty(cmd, program, req.tty_size.unwrap_or(DEFAULT_TTY_SIZE))
    } else {
        spawn_pipes(cmd, program)
    }
}

fn spawn_pipes(mut cmd: Command, program: &str) -> Result<ExecSession, DriverError> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs between fork and exec and calls only setsid,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| launch_error(program, &e))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(DriverError::Launch(format!(
            "{program}: stdio pipes missing"
        )));
    };
    let control = Control::watch(child, None)?;
    Ok(ExecSession {
        stdin: Box::pin(PipeWriter(Some(stdin))),
        stdout: Box::pin(stdout),
        stderr: Some(Box::pin(stderr)),
        control: Box::new(control),
    })
}

fn spawn_tty(
    mut cmd: Command,
    program: &str,
    size: (u16, u16),
) -> Result<ExecSession, DriverError> {
    let (master, slave) = open_pty().map_err(|e| DriverError::io("opening a pty", e))?;
    set_size(master.as_raw_fd(), size).map_err(|e| DriverError::io("sizing the pty", e))?;
    // SAFETY: `PtyFd` owns the master and closes it only when the AsyncFd
    // (and so its registration) is dropped.
    let master = unsafe { AsyncFd::register(PtyFd(master)) }
        .map_err(|e| DriverError::io("registering the pty", e.into_parts().1))?;
    let master = Arc::new(master);
    let dup = |fd: &OwnedFd| {
        fd.try_clone()
            .map(Stdio::from)
            .map_err(|e| DriverError::io("duplicating the pty slave", e))
    };
    cmd.stdin(dup(&slave)?)
        .stdout(dup(&slave)?)
        .stderr(dup(&slave)?);
    // SAFETY: the closure runs between fork and exec and calls only setsid
    // and ioctl, which are async-signal-safe. fd 0 is the slave by then.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| launch_error(program, &e));
    // The child has its copies; ours would keep the master from seeing EOF.
    drop(cmd);
    drop(slave);
    let child = child?;
    let control = Control::watch(child, Some(master.clone()))?;
    Ok(ExecSession {
        stdin: Box::pin(PtyWriter(master.clone())),
        stdout: Box::pin(PtyReader(master)),
        stderr: None,
        control: Box::new(control),
    })
}

/// The running command: its process group, its exit code once known, and
/// the pty master for resizing.
struct Control {
    pgid: libc::pid_t,
    exit: watch::Receiver<Option<Result<i32, String>>>,
    /// Dropped with the control: tells the reaper to kill the group.
    _kill: oneshot::Sender<()>,
    pty: Option<Arc<AsyncFd<PtyFd>>>,
}

impl Control {
    /// Hands the child to a reaper task, which publishes its exit code and,
    /// when the control is dropped, kills the whole group.
    fn watch(
        mut child: tokio::process::Child,
        pty: Option<Arc<AsyncFd<PtyFd>>>,
    ) -> Result<Control, DriverError> {
        let pgid = child
            .id()
            .and_then(|p| libc::pid_t::try_from(p).ok())
            .ok_or_else(|| {
                DriverError::Launch("exec command exited before its pid was read".into())
            })?;
        let (exit_tx, exit) = watch::channel(None);
        let (kill, mut killed) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let (status, dropped) = tokio::select! {
                status = child.wait() => (status, false),
                _ = &mut killed => {
                    kill_group(pgid);
                    (child.wait().await, true)
                }
            };
            let _ = exit_tx.send(Some(
                status
                    .map(exit_code)
                    .map_err(|e| format!("waiting for the exec command: {e}")),
            ));
            // The leader is gone; whatever it left in its group (say a
            // `sleep &`) goes when the session does. The group id cannot be
            // reused while a member is alive, and an empty group answers
            // ESRCH.
            if !dropped {
                let _ = killed.await;
            }
            kill_group(pgid);
        });
        Ok(Control {
            pgid,
            exit,
            _kill: kill,
            pty,
        })
    }
}

impl ExecControl for Control {
    fn resize(&self, rows: u16, cols: u16) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            match &self.pty {
                Some(pty) => set_size(pty.get_ref().0.as_raw_fd(), (rows, cols))
                    .map_err(|e| DriverError::io("resizing the pty", e)),
                None => Ok(()),
            }
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<i32, DriverError>> {
        let mut exit = self.exit.clone();
        Box::pin(async move {
            let seen = exit.wait_for(Option::is_some).await.map_err(|_| {
                DriverError::io(
                    "waiting for the exec command",
                    io::Error::other("reaper gone"),
                )
            })?;
            match seen.clone() {
                Some(Ok(code)) => Ok(code),
                Some(Err(m)) => Err(DriverError::io(m, io::Error::other("wait failed"))),
                None => Err(DriverError::io(
                    "waiting for the exec command",
                    io::Error::other("no exit status"),
                )),
            }
        })
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("pgid", &self.pgid).finish()
    }
}

/// The exit code as a shell reports it: 128 + the signal for a kill.
fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

fn kill_group(pgid: libc::pid_t) {
    if pgid > 1 {
        // SAFETY: kill has no memory preconditions; a negative pid
        // addresses the group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

fn launch_error(program: &str, e: &io::Error) -> DriverError {
    DriverError::Launch(match e.kind() {
        io::ErrorKind::NotFound => format!("exec: \"{program}\": executable file not found"),
        io::ErrorKind::PermissionDenied => format!("exec: \"{program}\": permission denied"),
        _ => format!("exec: \"{program}\": {e}"),
    })
}

/// A new pty: (master, non-blocking; slave), both close-on-exec.
fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt has no memory preconditions.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain calls on a valid master fd; ptsname_r writes at most
    // `name.len()` bytes including the NUL.
    let mut name = [0 as libc::c_char; 128];
    unsafe {
        if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::ptsname_r(fd, name.as_mut_ptr(), name.len());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    // SAFETY: ptsname_r succeeded, so `name` is NUL-terminated.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) };
    // SAFETY: `path` is a valid C string.
    let sfd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if sfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sfd was just opened and is owned by nobody else.
    let slave = unsafe { OwnedFd::from_raw_fd(sfd) };
    // SAFETY: fcntl on a valid fd.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((master, slave))
}

fn set_size(fd: RawFd, (rows, cols): (u16, u16)) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize for the duration of the call.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ as _, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The pty master, for [`AsyncFd`].
struct PtyFd(OwnedFd);

impl AsRawFd for PtyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Read for &PtyFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            // Linux answers EIO once every slave copy is closed: that is
            // the terminal's EOF.
            if e.raw_os_error() == Some(libc::EIO) {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

impl Write for &PtyFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The command's stdin pipe; shutting it down closes it, so the command
/// reads EOF (tokio's `ChildStdin` only closes when dropped).
struct PipeWriter(Option<tokio::process::ChildStdin>);

impl AsyncWrite for PipeWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.as_mut() {
            Some(w) => Pin::new(w).poll_write(cx, data),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0 = None;
        Poll::Ready(Ok(()))
    }
}

/// What the terminal prints.
struct PtyReader(Arc<AsyncFd<PtyFd>>);

impl AsyncRead for PtyReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// What the user types. Shutting it down sends the terminal's end-of-file
/// character (^D), as a closed keyboard would; a pty has no half-close.
struct PtyWriter(Arc<AsyncFd<PtyFd>>);

impl PtyWriter {
    fn poll_write_some(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_some(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_some(cx, &[4]).map_ok(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::driver::LogConfig;

    const DEADLINE: Duration = Duration::from_secs(10);

    fn task(dir: &std::path::Path) -> TaskConfig {
        TaskConfig {
            alloc_id: "a".into(),
            task_name: "t".into(),
            driver_config: BTreeMap::new(),
            env: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
            user: None,
            task_dir: dir.to_path_buf(),
            alloc_dir: dir.to_path_buf(),
            logs: LogConfig {
                dir: dir.to_path_buf(),
                max_files: 1,
                max_file_size_mb: 1,
            },
            resources: Default::default(),
            kill_signal: None,
            kill_timeout: Duration::from_secs(1),
            identity: Default::default(),
            ports: Vec::new(),
        }
    }

    fn req(command: &[&str], tty: bool, size: Option<(u16, u16)>) -> ExecRequest {
        ExecRequest {
            command: command.iter().map(|s| s.to_string()).collect(),
            tty,
            tty_size: size,
        }
    }

    async fn read_all(r: &mut Pin<Box<dyn AsyncRead + Send>>) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(DEADLINE, r.read_to_end(&mut out))
            .await
            .expect("output EOF within the deadline")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn pipes_carry_env_dir_stdin_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spawn(
            &task(dir.path()),
            None,
            &req(
                &[
                    "/bin/sh",
                    "-c",
                    "echo $GREETING; pwd; cat; echo err >&2; exit 7",
                ],
                false,
                None,
            ),
        )
        .unwrap();
        s.stdin.write_all(b"typed\n").await.unwrap();
        s.stdin.shutdown().await.unwrap();
        let out = read_all(&mut s.stdout).await;
        let want_dir = dir.path().canonicalize().unwrap();
        assert_eq!(out, format!("hi\n{}\ntyped\n", want_dir.display()));
        assert_eq!(read_all(s.stderr.as_mut().unwrap()).await, "err\n");
        let code = tokio::time::timeout(DEADLINE, s.control.wait())
            .await
            .unwrap();
        assert_eq!(code.unwrap(), 7);
    }

    #[tokio::test]
    async fn tty_has_size_and_resizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spawn(
            &task(dir.path()),
            None,
            &req(&["/bin/sh"], true, Some((40, 100))),
        )
        .unwrap();
        assert!(s.stderr.is_none());
        s.stdin
            .write_all(b"stty size; tty -s && echo T$((1+1))Y\n")
            .await
            .unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 1024];
        let until = |seen: &str, want: &str| seen.contains(want);
        while !until(&seen, "T2Y\r\n") {
            let n = tokio::time::timeout(DEADLINE, s.stdout.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no TTY line in {seen:?}"))
                .unwrap();
            assert!(n > 0, "EOF before TTY: {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.contains("40 100\r\n"), "{seen:?}");
        s.control.resize(50, 132).await.unwrap();
        s.stdin.write_all(b"stty size; exit 4\n").await.unwrap();
        let rest = read_all(&mut s.stdout).await;
        assert!(rest.contains("50 132\r\n"), "{rest:?}");
        let code = tokio::time::timeout(DEADLINE, s.control.wait())
            .await
            .unwrap();
        assert_eq!(code.unwrap(), 4);
    }

    #[tokio::test]
    async fn dropping_the_session_kills_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut s = spawn(
            &task(dir.path()),
            None,
            &req(
                &[
                    "/bin/sh",
                    "-c",
                    "sleep 100 & echo $! > pid; echo ready; wait",
                ],
                false,
                None,
            ),
        )
        .unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(DEADLINE, s.stdout.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"ready\n");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        drop(s);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        // SAFETY: kill with signal 0 only checks existence.
        while unsafe { libc::kill(pid, 0) } == 0 {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            if !alive {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sleep {pid} survived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn unknown_program_is_a_launch_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = spawn(
            &task(dir.path()),
            None,
            &req(&["/no/such/thing"], false, None),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("/no/such/thing"), "{err}");
        assert!(spawn(&task(dir.path()), None, &req(&[], false, None)).is_err());
    }
}
