//! Frames on async streams: the checks and encoding of `meet_relay_protocol::codec` (re-exported here),
//! with the reads and writes of a socket.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use meet_relay_protocol::codec::*;
use meet_relay_protocol::Message;

/// Reads one message; `Ok(None)` on a clean end of stream between frames.
///
/// An oversized length is refused before any of its body is read, so a bad peer cannot make us allocate.
pub async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Message>, CodecError> {
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; body_len(header)?];
    reader.read_exact(&mut body).await?;
    Ok(Some(serde_json::from_slice(&body)?))
}

pub async fn write_message<W: AsyncWrite + Unpin>(writer: &mut W, message: &Message) -> Result<(), CodecError> {
    writer.write_all(&encode(message)?).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use meet_relay_protocol::{Request, MAX_FRAME_LEN, PROTOCOL_VERSION};

    #[tokio::test]
    async fn round_trip() {
        let msg = Message::Request { id: 7, request: Request::Hello { version: PROTOCOL_VERSION } };
        let frame = encode(&msg).unwrap();
        let mut r = &frame[..];
        assert_eq!(read_message(&mut r).await.unwrap(), Some(msg));
        assert!(read_message(&mut r).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_before_reading() {
        let frame = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let mut r = &frame[..];
        assert!(matches!(read_message(&mut r).await, Err(CodecError::FrameTooLarge(_))));
    }

    #[tokio::test]
    async fn garbage_and_truncation() {
        let mut frame = 5u32.to_be_bytes().to_vec();
        frame.extend_from_slice(b"{nope");
        assert!(matches!(read_message(&mut &frame[..]).await, Err(CodecError::Malformed(_))));
        let truncated = [0u8, 0, 0, 9, b'{'];
        assert!(matches!(read_message(&mut &truncated[..]).await, Err(CodecError::Io(_))));
    }
}
