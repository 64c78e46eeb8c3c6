//! File descriptors from PID 1 to a child, over a Unix socketpair with
//! SCM_RIGHTS: the way a child without capabilities (and without the
//! permission to open a block device) gets exactly the ones it may use.
//! One message per hand-over: a byte with the count, the descriptors
//! attached to it.

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// At most this many in one message.
pub const MAX: usize = 4;

pub fn send(sock: &UnixStream, fds: &[OwnedFd]) -> std::io::Result<()> {
    if fds.len() > MAX {
        return Err(std::io::Error::other(format!("{} descriptors (at most {MAX})", fds.len())));
    }
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let count = [fds.len() as u8];
    let iov = [IoSlice::new(&count)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)?;
    Ok(())
}

/// The next hand-over (blocks until it comes).
pub fn recv(sock: &UnixStream) -> std::io::Result<Vec<OwnedFd>> {
    let mut count = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut count)];
    let mut space = nix::cmsg_space!([RawFd; MAX]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut out = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in this process for
                // this message; nothing else refers to it, so this OwnedFd is
                // its only owner.
                out.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    if msg.bytes == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "PID 1 closed the descriptor socket"));
    }
    if out.len() != usize::from(count[0]) {
        return Err(std::io::Error::other(format!("{} descriptors came; {} were sent", out.len(), count[0])));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn descriptors_arrive_in_order_and_work() {
        let (a, b) = UnixStream::pair().unwrap();
        let dir = std::env::temp_dir().join(format!("vigil-fds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for i in 0..2 {
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, format!("file {i}")).unwrap();
            files.push(OwnedFd::from(std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap()));
        }
        send(&a, &files).unwrap();
        send(&a, &[]).unwrap();
        let got = recv(&b).unwrap();
        assert_eq!(got.len(), 2);
        for (i, fd) in got.into_iter().enumerate() {
            let mut f = std::fs::File::from(fd);
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, format!("file {i}"));
            f.rewind().unwrap();
            f.write_all(b"FILE").unwrap();
        }
        assert!(recv(&b).unwrap().is_empty());
        assert!(std::fs::read_to_string(dir.join("f1")).unwrap().starts_with("FILE"));
        drop(a);
        assert!(recv(&b).is_err(), "a closed socket is an error, not an empty hand-over");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
