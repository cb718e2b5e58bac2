//! systemd's readiness protocol (`sd_notify(3)`): one datagram such as `READY=1` to the Unix socket named
//! by `$NOTIFY_SOCKET`. Without that variable (not started by systemd with `Type=notify`) nothing is sent.
//! Used by both daemons: `meet-relay` and `meet-control`.

use std::io;
use std::os::unix::net::UnixDatagram;

/// The service serves: its listeners are bound.
pub fn ready() {
    send("READY=1");
}

/// The service is shutting down (draining).
pub fn stopping() {
    send("STOPPING=1");
}

/// A one-line status for `systemctl status`.
pub fn status(text: &str) {
    send(&format!("STATUS={}", text.replace('\n', " ")));
}

/// Sends `state` when `$NOTIFY_SOCKET` is set; failures are logged, never fatal.
fn send(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = notify_to(&socket, state) {
        tracing::warn!(error = %e, state, "cannot notify systemd");
    }
}

/// Sends `state` to `socket`: a path, or `@name` for the abstract namespace.
pub fn notify_to(socket: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = socket.as_bytes();
    let sock = UnixDatagram::unbound()?;
    let sent = match bytes.split_first() {
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?
        }
        Some((b'/', _)) => sock.send_to(state.as_bytes(), socket)?,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "NOTIFY_SOCKET is neither a path nor @abstract")),
    };
    if sent != state.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short datagram"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_sockets() {
        let path = std::env::temp_dir().join(format!("meet-notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_file(&path);

        use std::os::linux::net::SocketAddrExt;
        let name = format!("meet-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        assert!(notify_to(std::ffi::OsStr::new("relative"), "READY=1").is_err());
    }
}
