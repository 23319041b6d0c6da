//! Writing a response's file regions (`log::zero_copy`): with `sendfile(2)` from the segment
//! file to the socket on plaintext TCP connections, read into a pooled buffer and written on
//! the others (TLS encrypts in user space).

use crate::log::zero_copy::FileRegion;
use std::io;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

/// The writing half of a connection, and the TCP socket under it when bytes written to that
/// socket go to the peer as they are (plaintext).
pub trait Transport: AsyncWrite + Unpin + Send + 'static {
    fn plain_socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl Transport for tokio::net::tcp::OwnedWriteHalf {
    fn plain_socket(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl<T: tokio::io::AsyncRead + AsyncWrite + Send + 'static> Transport for tokio::io::WriteHalf<T> {}

/// Writes `region` after what `writer` holds: `sendfile` on a plaintext socket (after flushing
/// the buffer, so the bytes stay in order), else a read and an ordinary write. Returns whether
/// it was sent with `sendfile`.
pub async fn write_region<W: Transport>(
    writer: &mut BufWriter<W>,
    region: &FileRegion,
) -> io::Result<bool> {
    if writer.get_ref().plain_socket().is_none() {
        let bytes = region.read()?;
        writer.write_all(&bytes).await?;
        return Ok(false);
    }
    writer.flush().await?;
    let Some(socket) = writer.get_ref().plain_socket() else {
        return Err(io::Error::other("the socket went away"));
    };
    send_file(socket, region).await?;
    Ok(true)
}

/// `sendfile(2)` of the whole region to a non-blocking socket, waiting for it to be writable.
/// A file that ends before the region does (truncated since the fetch read its headers) is an
/// error: the response would be short, so the connection must close.
pub async fn send_file(socket: &TcpStream, region: &FileRegion) -> io::Result<()> {
    let mut offset = region.position();
    let end = offset + region.len() as u64;
    while offset < end {
        socket.writable().await?;
        let left = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let sent = socket.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::fs::sendfile(socket, region.file(), Some(&mut offset), left)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the segment file ended before the records being sent (truncated)",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::zero_copy::FileRegion;
    use tokio::io::AsyncReadExt;

    /// A connected loopback pair: (the broker's side, the client's side).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        (accepted.unwrap().0, client.unwrap())
    }

    /// Everything `peer` reads until the writer shuts down.
    fn read_all(
        mut peer: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    ) -> tokio::task::JoinHandle<Vec<u8>> {
        tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        })
    }

    fn file_of(data: &[u8]) -> (tempfile::NamedTempFile, std::sync::Arc<std::fs::File>) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), data).unwrap();
        let file = std::sync::Arc::new(std::fs::File::open(f.path()).unwrap());
        (f, file)
    }

    #[tokio::test]
    async fn a_region_goes_to_the_socket_byte_for_byte_behind_buffered_bytes() {
        // Larger than the socket buffers, so sendfile waits for the reader at least once.
        let data: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
        let (_f, file) = file_of(&data);
        let region = FileRegion::for_tests(file, 1_000, 5_000_000);
        let (server, client) = pair().await;
        let (_r, w) = server.into_split();
        let reader = read_all(client);
        let mut writer = BufWriter::new(w);
        writer.write_all(b"head").await.unwrap();
        assert!(
            write_region(&mut writer, &region).await.unwrap(),
            "sent with sendfile"
        );
        writer.write_all(b"tail").await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 4 + 5_000_000 + 4);
        assert_eq!(&got[..4], b"head");
        assert!(got[4..5_000_004] == data[1_000..5_001_000]);
        assert_eq!(&got[5_000_004..], b"tail");
    }

    #[tokio::test]
    async fn a_file_truncated_under_a_region_fails_the_write() {
        let (f, file) = file_of(&[7u8; 100_000]);
        let region = FileRegion::for_tests(file, 0, 100_000);
        std::fs::OpenOptions::new()
            .write(true)
            .open(f.path())
            .unwrap()
            .set_len(50_000)
            .unwrap();
        let (server, _client) = pair().await;
        let err = send_file(&server, &region).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }

    #[tokio::test]
    async fn a_transport_without_a_plain_socket_gets_the_region_read_and_written() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let (_f, file) = file_of(&data);
        let region = FileRegion::for_tests(file, 7, 200_000);
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (_r, w) = tokio::io::split(ours);
        let reader = read_all(theirs);
        let mut writer = BufWriter::new(w);
        writer.write_all(b"h").await.unwrap();
        assert!(
            !write_region(&mut writer, &region).await.unwrap(),
            "no sendfile"
        );
        writer.shutdown().await.unwrap();
        drop(writer);
        drop(_r);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 1 + 200_000);
        assert!(got[1..] == data[7..200_007]);
    }
}
