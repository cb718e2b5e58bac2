//! Hostile datagrams are dropped and counted, never panic, and never disturb a call in progress.

mod common;

use common::Net;
use meet_media::stun;

/// A small deterministic generator so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn garbage_is_counted_and_the_call_keeps_flowing() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 1111);
    let attacker = "10.0.0.66:6666".parse().unwrap();
    let mut rng = Lcg(1);
    for round in 0..2000 {
        let len = (rng.next() % 1500) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Steer some datagrams into each parser.
        if let Some(first) = d.first_mut() {
            *first = match round % 4 {
                0 => *first % 4,        // STUN
                1 => 20 + *first % 44,  // DTLS
                2 => 128 + *first % 64, // RTP/RTCP
                _ => *first,
            };
        }
        net.engine.handle_datagram(net.now, attacker, &mut d);
        // The attacker may also spoof a participant's address.
        let victim = net.clients[a].addr;
        net.engine.handle_datagram(net.now, victim, &mut d.clone());
        if round % 100 == 0 {
            net.send_rtp(a, 1111, 96, &[round as u8; 20]);
            net.progress();
        }
    }
    let c = &net.engine.counters;
    assert!(c.drop_stun_malformed + c.drop_stun_unexpected + c.drop_stun_unsolicited + c.drop_stun_unknown_user > 0);
    assert!(c.drop_dtls_unknown_addr > 0);
    assert!(c.drop_srtp_unknown_addr > 0);
    assert!(c.drop_srtp_auth > 0, "spoofed SRTP fails authentication");
    assert_eq!(net.clients[b].rtp.len(), 20, "every real packet arrived");
}

#[test]
fn stun_with_a_wrong_integrity_or_unknown_user_is_dropped() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let ufrag = net.clients[a].transport.ice_ufrag.clone();
    let mut buf = [0u8; 256];
    let n = stun::write_binding_request(&[1; 12], &format!("{ufrag}:client"), b"wrong password", 1, 1, true, &mut buf)
        .unwrap();
    net.engine.handle_datagram(net.now, "10.0.0.9:1".parse().unwrap(), &mut buf[..n]);
    assert_eq!(net.engine.counters.drop_stun_integrity, 1);
    let n = stun::write_binding_request(&[1; 12], "nobody:client", b"x", 1, 1, true, &mut buf).unwrap();
    net.engine.handle_datagram(net.now, "10.0.0.9:1".parse().unwrap(), &mut buf[..n]);
    assert_eq!(net.engine.counters.drop_stun_unknown_user, 1);
    // Neither got an answer, and the unknown address learned nothing.
    assert!(net.engine.poll_transmit().is_none());
}

#[test]
fn truncated_dtls_and_rtp_from_strangers() {
    let mut net = Net::new();
    let _a = net.join("room1", "alice", "10.0.0.2:5000");
    let stranger = "10.0.0.9:1".parse().unwrap();
    net.engine.handle_datagram(net.now, stranger, &mut [22, 254, 253, 0, 0]);
    net.engine.handle_datagram(net.now, stranger, &mut [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3]);
    assert_eq!(net.engine.counters.drop_dtls_unknown_addr, 1);
    assert_eq!(net.engine.counters.drop_srtp_unknown_addr, 1);
}
