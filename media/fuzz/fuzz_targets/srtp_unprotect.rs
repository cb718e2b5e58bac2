//! Feeds arbitrary bytes to SRTP and SRTCP unprotect, which must return without panicking, and
//! checks that anything protect accepts unprotects back to the same bytes.
//!
//! Input: one selector byte (profile, RTP or RTCP, which check), then the packet.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_media::srtp::{MasterKey, SrtpContext, SrtpProfile};

const PROFILES: [SrtpProfile; 3] =
    [SrtpProfile::Aes128CmSha1_80, SrtpProfile::AeadAes128Gcm, SrtpProfile::AeadAes256Gcm];

fn context(profile: SrtpProfile) -> SrtpContext {
    let master = MasterKey::new(&[0x42; 32][..profile.master_key_len()], &[0x24; 14][..profile.master_salt_len()])
        .expect("fixed key lengths are valid");
    SrtpContext::new(profile, &master).expect("key matches profile")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let profile = PROFILES[usize::from(selector % 3)];
    let rtcp = selector & 0x80 != 0;

    if selector & 0x40 == 0 {
        // Hostile input: whatever it is, unprotect must return rather than panic.
        let mut rx = context(profile);
        let mut buf = packet.to_vec();
        let _ = if rtcp { rx.unprotect_rtcp(&mut buf) } else { rx.unprotect_rtp(&mut buf) };
        return;
    }

    // Round trip through our own sender.
    let (mut tx, mut rx) = (context(profile), context(profile));
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + profile.rtcp_overhead(), 0);
    let protected = if rtcp { tx.protect_rtcp(&mut buf, packet.len()) } else { tx.protect_rtp(&mut buf, packet.len()) };
    let Ok(n) = protected else {
        return;
    };
    let srtp = &mut buf[..n];
    let plain = if rtcp { rx.unprotect_rtcp(srtp) } else { rx.unprotect_rtp(srtp) };
    let plain = plain.expect("our own packet unprotects");
    assert_eq!(&srtp[..plain], packet);
});
