//! Tests of the STUN codec: the RFC 5769 vectors, writer round trips, and malformed input.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    d.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

// RFC 5769 test vectors (§2.1 to §2.4), as printed in the RFC. Padding of SOFTWARE and
// USERNAME in §2.1 to §2.3 is 0x20 on purpose.
const REQUEST: &str = "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
    00 24 00 04 6e 00 01 ff  80 29 00 08 93 2f f9 b1 51 26 3b 36
    00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
    00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
    80 28 00 04 e5 7a 3b cf";
const IPV4_RESPONSE: &str = "01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96";
const IPV6_RESPONSE: &str = "01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
    00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
    80 28 00 04 c8 fb 0b 4c";
const LONG_TERM_REQUEST: &str = "00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
    00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
    00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46
    53 54 76 79 36 34 73 41
    00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
    00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66";
const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
/// MD5("<username>:example.org:TheMatrIX"), the §2.4 long-term key (computed outside).
const LONG_TERM_KEY: &str = "e8ca7ad59d5eb0518e312911d2dab2a9";
const TID: [u8; 12] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

/// A message built attribute by attribute, for the forms the public writers never make.
fn build(attrs: &[(u16, &[u8])], key: Option<&[u8]>, fingerprint: bool) -> Vec<u8> {
    let mut out = vec![0u8; 512];
    let mut w = Writer::new(&mut out, BINDING, Class::Request, &TID).unwrap();
    for (t, v) in attrs {
        w.attr(*t, v).unwrap();
    }
    if let Some(k) = key {
        w.integrity(k).unwrap();
    }
    if fingerprint {
        w.fingerprint().unwrap();
    }
    let n = w.len;
    out.truncate(n);
    out
}

#[test]
fn rfc5769_sample_request() {
    let buf = hex(REQUEST);
    let m = parse(&buf).unwrap();
    assert_eq!((m.class, m.method), (Class::Request, BINDING));
    assert_eq!(m.transaction_id, TID);
    assert_eq!(m.username, Some(&b"evtj:h6vY"[..]));
    assert_eq!(m.split_username(), Some((&b"evtj"[..], &b"h6vY"[..])));
    assert_eq!(m.priority, Some(0x6e00_01ff));
    assert_eq!(m.ice_controlled, Some(0x932f_f9b1_5126_3b36));
    assert_eq!((m.ice_controlling, m.use_candidate), (None, false));
    assert!(m.has_integrity() && m.has_fingerprint());
    assert!(m.unknown_comprehension_required().is_empty());
    assert!(m.check_integrity(PASSWORD));
    assert!(!m.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBu"));
    assert!(!m.check_integrity(b""));
}

#[test]
fn rfc5769_sample_responses() {
    for (vector, want) in
        [(IPV4_RESPONSE, "192.0.2.1:32853"), (IPV6_RESPONSE, "[2001:db8:1234:5678:11:2233:4455:6677]:32853")]
    {
        let buf = hex(vector);
        let m = parse(&buf).unwrap();
        assert_eq!((m.class, m.method), (Class::Success, BINDING));
        let want: SocketAddr = want.parse().unwrap();
        assert_eq!(m.xor_mapped_address, Some(want));
        assert!(m.has_fingerprint());
        assert!(m.check_integrity(PASSWORD));
        assert!(!m.check_integrity(b"wrong"));
        // Our XOR-MAPPED-ADDRESS encoding gives the vector's bytes.
        let mut value = [0u8; 20];
        let n = write_xor_address(want, &TID, &mut value);
        assert_eq!(&buf[40..40 + n], &value[..n]);
    }
}

#[test]
fn rfc5769_long_term_request() {
    let buf = hex(LONG_TERM_REQUEST);
    let m = parse(&buf).unwrap();
    assert_eq!(m.username, Some("マトリックス".as_bytes()));
    assert!(m.has_integrity() && !m.has_fingerprint());
    assert!(m.unknown_comprehension_required().is_empty(), "REALM and NONCE are known");
    assert!(m.check_integrity(&hex(LONG_TERM_KEY)));
    assert!(!m.check_integrity(b"TheMatrIX"));
}

#[test]
fn binding_success_round_trip() {
    for addr in ["203.0.113.7:50000", "[2001:db8::1]:9", "[::ffff:198.51.100.2]:443"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut out = [0u8; 128];
        let n = write_binding_success(&TID, addr, b"pwd", &mut out).unwrap();
        let canonical = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        assert_eq!(n, if canonical.is_ipv4() { 64 } else { 76 });
        let m = parse(&out[..n]).unwrap();
        assert_eq!((m.class, m.method, m.transaction_id), (Class::Success, BINDING, TID));
        assert_eq!(m.xor_mapped_address, Some(canonical));
        assert!(m.check_integrity(b"pwd") && m.has_fingerprint());
        assert!(!m.check_integrity(b"pwe"));
        for short in 0..n {
            let err = write_binding_success(&TID, addr, b"pwd", &mut out[..short]);
            assert_eq!(err, Err(StunError::BufferTooSmall));
        }
    }
}

#[test]
fn binding_request_round_trip() {
    let mut out = [0u8; 128];
    let n = write_binding_request(&TID, "srv1:cli1", b"pass", 0x6e00_01ff, 42, true, &mut out).unwrap();
    let m = parse(&out[..n]).unwrap();
    assert_eq!((m.class, m.method), (Class::Request, BINDING));
    assert_eq!(m.split_username(), Some((&b"srv1"[..], &b"cli1"[..])));
    assert_eq!((m.priority, m.ice_controlling), (Some(0x6e00_01ff), Some(42)));
    assert!(m.use_candidate && m.ice_controlled.is_none());
    assert!(m.check_integrity(b"pass") && !m.check_integrity(b"pasS"));
    let n = write_binding_request(&TID, "a:b", b"k", 1, 2, false, &mut out).unwrap();
    assert!(!parse(&out[..n]).unwrap().use_candidate);
    let long = "x".repeat(MAX_USERNAME + 1);
    let err = write_binding_request(&TID, &long, b"k", 1, 2, false, &mut [0u8; 1024]);
    assert_eq!(err, Err(StunError::ValueTooLong));
    for short in 0..n {
        let err = write_binding_request(&TID, "a:b", b"k", 1, 2, false, &mut out[..short]);
        assert_eq!(err, Err(StunError::BufferTooSmall));
    }
}

#[test]
fn binding_errors() {
    let mut out = [0u8; 128];
    let n = write_binding_error(&TID, 487, Some(b"pwd"), &mut out).unwrap();
    let m = parse(&out[..n]).unwrap();
    assert_eq!((m.class, m.error_code), (Class::Error, Some(487)));
    assert_eq!(m.error_reason, Some(&b"Role Conflict"[..]));
    assert!(m.check_integrity(b"pwd") && m.has_fingerprint());

    let n = write_binding_error(&TID, 400, None, &mut out).unwrap();
    let m = parse(&out[..n]).unwrap();
    assert_eq!(m.error_code, Some(400));
    assert!(!m.has_integrity() && m.has_fingerprint());
    let n = write_binding_error(&TID, 599, None, &mut out).unwrap();
    assert_eq!(parse(&out[..n]).unwrap().error_reason, Some(&b""[..]));

    let n = write_unknown_attributes_error(&TID, &[0x7000, 0x0031], None, &mut out).unwrap();
    let m = parse(&out[..n]).unwrap();
    assert_eq!(m.error_code, Some(420));
    assert!(out[..n].windows(8).any(|w| w == [0, 0x0A, 0, 4, 0x70, 0, 0, 0x31]));

    for code in [0, 299, 700, u16::MAX] {
        let err = write_binding_error(&TID, code, None, &mut out);
        assert_eq!(err, Err(StunError::InvalidErrorCode));
    }
    assert_eq!(write_binding_error(&TID, 401, None, &mut out[..27]), Err(StunError::BufferTooSmall));
}

#[test]
fn wrong_integrity_and_fingerprint() {
    // Integrity without FINGERPRINT, so a tampered body still parses.
    let buf = build(&[(attr::USERNAME, b"a:b")], Some(b"key"), false);
    assert!(parse(&buf).unwrap().check_integrity(b"key"));
    let mut tampered = buf.clone();
    tampered[24] ^= 1;
    assert!(!parse(&tampered).unwrap().check_integrity(b"key"));
    let mut bad_tag = buf.clone();
    *bad_tag.last_mut().unwrap() ^= 0x80;
    assert!(!parse(&bad_tag).unwrap().check_integrity(b"key"));

    let mut buf = hex(REQUEST);
    *buf.last_mut().unwrap() ^= 1;
    assert_eq!(parse(&buf), Err(StunError::BadFingerprint));
    let mut buf = hex(REQUEST);
    buf[30] ^= 1; // inside SOFTWARE: FINGERPRINT catches it first
    assert_eq!(parse(&buf), Err(StunError::BadFingerprint));
}

#[test]
fn attributes_after_integrity_ignored_and_fingerprint_last() {
    let mut out = [0u8; 256];
    let mut w = Writer::new(&mut out, BINDING, Class::Request, &TID).unwrap();
    w.integrity(b"k").unwrap();
    w.attr(attr::USERNAME, b"late:comer").unwrap();
    w.attr(attr::PRIORITY, &[0, 0, 0, 1]).unwrap();
    w.attr(0x7777, b"").unwrap();
    let n = w.len;
    let m = parse(&out[..n]).unwrap();
    assert_eq!((m.username, m.priority), (None, None));
    assert!(m.unknown_comprehension_required().is_empty());
    assert!(m.check_integrity(b"k"));

    let buf = build(&[], None, true);
    let mut after = buf.clone();
    after.extend_from_slice(&[0x80, 0x22, 0, 0]); // SOFTWARE after FINGERPRINT
    after[3] += 4;
    assert_eq!(parse(&after), Err(StunError::FingerprintNotLast));
}

#[test]
fn unknown_attributes_noted_and_duplicates() {
    let buf = build(
        &[
            (0x7FFF, b"abc"),
            (0xC001, b"optional"),
            (0x0031, b""),
            (0x7FFF, b""),
            (attr::PRIORITY, &[0, 0, 0, 7]),
            (attr::PRIORITY, &[0, 0, 0, 9]),
        ],
        None,
        false,
    );
    let m = parse(&buf).unwrap();
    assert_eq!(m.unknown_comprehension_required(), &[0x7FFF, 0x0031]);
    assert_eq!(m.priority, Some(7));
    let many: Vec<(u16, &[u8])> = (0..20).map(|i| (0x4000 + i, &b""[..])).collect();
    let m_many = build(&many, None, false);
    assert_eq!(parse(&m_many).unwrap().unknown_comprehension_required().len(), MAX_UNKNOWN);
}

#[test]
fn malformed_values() {
    for (t, v) in [
        (attr::PRIORITY, &[0u8, 1, 2][..]),
        (attr::ICE_CONTROLLING, &[0; 4][..]),
        (attr::ICE_CONTROLLED, &[0; 9][..]),
        (attr::USE_CANDIDATE, &[0; 4][..]),
        (attr::XOR_MAPPED_ADDRESS, &[0, 1, 0, 0, 1, 2, 3][..]),
        (attr::XOR_MAPPED_ADDRESS, &[0, 3, 0, 0, 1, 2, 3, 4][..]),
        (attr::XOR_MAPPED_ADDRESS, &[0, 2, 0, 0, 1, 2, 3, 4][..]),
        (attr::ERROR_CODE, &[0, 0, 4][..]),
        (attr::ERROR_CODE, &[0, 0, 2, 0][..]),
        (attr::ERROR_CODE, &[0, 0, 4, 100][..]),
        (attr::MESSAGE_INTEGRITY, &[0; 16][..]),
        (attr::FINGERPRINT, &[0; 8][..]),
    ] {
        assert_eq!(parse(&build(&[(t, v)], None, false)), Err(StunError::BadAttribute(t)));
    }
}

#[test]
fn header_and_length_errors() {
    assert_eq!(parse(&[]), Err(StunError::TooShort));
    assert_eq!(parse(&[0; 19]), Err(StunError::TooShort));
    let empty = build(&[], None, false);
    assert_eq!(empty.len(), HEADER_LEN);
    let m = parse(&empty).unwrap();
    assert!(!m.has_integrity() && !m.check_integrity(b"") && m.username.is_none());
    assert_eq!(m.split_username(), None);

    let buf = hex(REQUEST);
    let mut b = buf.clone();
    b[0] |= 0x40;
    assert_eq!(parse(&b), Err(StunError::NotStun));
    let mut b = buf.clone();
    b[5] ^= 1;
    assert_eq!(parse(&b), Err(StunError::BadMagicCookie));
    for length in [0x57u16, 0x5A, 0x5C, 0x54] {
        let mut b = buf.clone();
        b[2..4].copy_from_slice(&length.to_be_bytes());
        assert_eq!(parse(&b), Err(StunError::BadLength), "length {length:#x}");
    }
    let mut trailing = buf.clone();
    trailing.push(0);
    assert_eq!(parse(&trailing), Err(StunError::BadLength));
    // SOFTWARE claiming 100 bytes overruns the message; so does USERNAME claiming 5 of 4
    // when its padding would pass the end.
    let mut b = buf.clone();
    b[23] = 0x64;
    assert_eq!(parse(&b), Err(StunError::AttributeOverrun));
    let short = build(&[(attr::USERNAME, b"abcd")], None, false);
    let mut b = short.clone();
    b[23] = 5;
    assert_eq!(parse(&b), Err(StunError::AttributeOverrun));
}

#[test]
fn truncated_and_bit_flipped_never_panic() {
    for vector in [REQUEST, IPV4_RESPONSE, IPV6_RESPONSE, LONG_TERM_REQUEST] {
        let buf = hex(vector);
        for n in 0..buf.len() {
            assert!(parse(&buf[..n]).is_err(), "prefix {n}");
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                if let Ok(m) = parse(&b) {
                    let _ = (m.check_integrity(PASSWORD), m.split_username());
                }
            }
        }
    }
    // Pseudo-random garbage with a valid header.
    let mut x: u32 = 0x1234_5678;
    for _ in 0..2000 {
        let mut b = build(&[], None, false);
        for _ in 0..(x % 17) * 4 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b.push(x as u8);
        }
        let len = (b.len() - HEADER_LEN) as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let _ = parse(&b).map(|m| m.check_integrity(b"k"));
    }
}

#[test]
fn message_type_bits() {
    for method in 0..0x1000u16 {
        for class in [Class::Request, Class::Indication, Class::Success, Class::Error] {
            let t = encode_type(method, class);
            assert_eq!(t & 0xC000, 0);
            assert_eq!(decode_type(t), (method, class));
        }
    }
    assert_eq!(encode_type(BINDING, Class::Request), 0x0001);
    assert_eq!(encode_type(BINDING, Class::Indication), 0x0011);
    assert_eq!(encode_type(BINDING, Class::Success), 0x0101);
    assert_eq!(encode_type(BINDING, Class::Error), 0x0111);
}

#[test]
fn split_username_forms() {
    let buf = build(&[(attr::USERNAME, b"a:b:c")], None, false);
    let m = parse(&buf).unwrap();
    assert_eq!(m.split_username(), Some((&b"a"[..], &b"b:c"[..])));
    let buf = build(&[(attr::USERNAME, b"nocolon")], None, false);
    assert_eq!(parse(&buf).unwrap().split_username(), None);
    let buf = build(&[(attr::USERNAME, b":")], None, false);
    assert_eq!(parse(&buf).unwrap().split_username(), Some((&b""[..], &b""[..])));
}
