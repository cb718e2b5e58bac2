//! Length-prefixed frames: a big-endian `u32` length, then JSON. Both sides read and write through here
//! (`meet_relay::protocol::codec` reads and writes them on async streams with the same checks).

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

/// The body length a frame's 4-byte header announces, refused when over [`MAX_FRAME_LEN`] (before any of
/// the body is read, so a bad peer cannot make the reader allocate).
pub fn body_len(header: [u8; 4]) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(CodecError::FrameTooLarge(len));
    }
    Ok(len)
}

/// Decodes one frame from the front of `buf`: `Ok(None)` when more bytes are needed, otherwise the
/// message and the bytes it used. Stream readers make the same checks (`meet_relay::protocol::codec`).
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, CodecError> {
    let Some(header) = buf.get(..4) else { return Ok(None) };
    let len = body_len(header.try_into().expect("four bytes"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;

    #[test]
    fn decode_from_bytes() {
        let msg = Message::Request { id: 1, request: Request::Stats };
        let frame = encode(&msg).unwrap();
        assert_eq!(decode(&frame).unwrap(), Some((msg, frame.len())));
        assert_eq!(decode(&frame[..frame.len() - 1]).unwrap(), None);
        assert_eq!(decode(&[0, 0]).unwrap(), None);
        assert!(matches!(decode(&u32::MAX.to_be_bytes()), Err(CodecError::FrameTooLarge(_))));
    }
}
