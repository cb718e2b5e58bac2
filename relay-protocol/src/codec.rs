//! Length-prefixed frames: a big-endian `u32` length, then JSON. Both sides read and write through here.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Message, MAX_FRAME_LEN};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {0} bytes is over the {MAX_FRAME_LEN}-byte limit")]
    FrameTooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one message; `Ok(None)` on a clean end of stream between frames.
///
/// An oversized length is refused before any of its body is read, so a bad peer cannot make us allocate.
pub async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Message>, CodecError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_LEN {
        return Err(CodecError::FrameTooLarge(len));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Decodes one frame from the front of `buf`: `Ok(None)` when more bytes are needed, otherwise the
/// message and the bytes it used. The same checks as [`read_message`], for callers that hold bytes.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, CodecError> {
    let Some(len) = buf.get(..4) else { return Ok(None) };
    let len = u32::from_be_bytes(len.try_into().expect("four bytes")) as usize;
    if len > MAX_FRAME_LEN {
        return Err(CodecError::FrameTooLarge(len));
    }
    let Some(body) = buf.get(4..4 + len) else { return Ok(None) };
    Ok(Some((serde_json::from_slice(body)?, 4 + len)))
}

pub fn encode(message: &Message) -> Result<Vec<u8>, CodecError> {
    let body = serde_json::to_vec(message)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(CodecError::FrameTooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub async fn write_message<W: AsyncWrite + Unpin>(writer: &mut W, message: &Message) -> Result<(), CodecError> {
    writer.write_all(&encode(message)?).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Request, PROTOCOL_VERSION};

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

    #[test]
    fn decode_from_bytes() {
        let msg = Message::Request { id: 1, request: Request::Stats };
        let frame = encode(&msg).unwrap();
        assert_eq!(decode(&frame).unwrap(), Some((msg, frame.len())));
        assert_eq!(decode(&frame[..frame.len() - 1]).unwrap(), None);
        assert_eq!(decode(&[0, 0]).unwrap(), None);
        assert!(matches!(decode(&u32::MAX.to_be_bytes()), Err(CodecError::FrameTooLarge(_))));
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
