//! The local terminal: is it one, its size, and raw mode that is always
//! undone.
//!
//! Raw mode is a value ([`RawMode`]) whose `Drop` restores the saved
//! settings, so every way out of a session (the command exits, the agent
//! goes away, `~.`, SIGTERM handled by the session loop, a panic unwinding)
//! leaves the user's shell as it was. A process killed by SIGKILL cannot be
//! helped; `stty sane` is the user's remedy then, as with ssh.

use std::os::fd::RawFd;

/// Whether `fd` is a terminal.
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal's (height, width) in cells, if `fd` is a terminal.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes one winsize into the zeroed struct we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The terminal on `fd` in raw mode until dropped (or [`RawMode::restore`]).
pub struct RawMode {
    fd: RawFd,
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Saves `fd`'s settings and switches it to raw mode (no echo, no line
    /// editing, no signals from keys, no output post-processing), as
    /// `cfmakeraw` defines it: Ctrl-C then reaches the remote process.
    pub fn enter(fd: RawFd) -> std::io::Result<RawMode> {
        // SAFETY: tcgetattr fills the zeroed termios we own.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct; tcsetattr reads it.
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawMode {
            fd,
            saved: Some(saved),
        })
    }

    /// Puts the saved settings back now (idempotent), e.g. before printing
    /// a message that should start at the left margin.
    pub fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            // SAFETY: restores settings read from this same descriptor.
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &saved) };
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}
