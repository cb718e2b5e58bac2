//! `meet-bench srtp`: the wire primitives' speed on one core (SRTP protect/unprotect of 1200-byte packets).

use std::time::Instant;

use meet_media::srtp::{MasterKey, SrtpContext, SrtpProfile};

pub struct Args {
    pub packets: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    for profile in [SrtpProfile::AeadAes128Gcm, SrtpProfile::AeadAes256Gcm, SrtpProfile::Aes128CmSha1_80] {
        let key = vec![7u8; profile.master_key_len()];
        let salt = vec![9u8; profile.master_salt_len()];
        let master = MasterKey::new(&key, &salt).map_err(anyhow::Error::msg)?;
        let mut tx = SrtpContext::new(profile, &master).map_err(anyhow::Error::msg)?;
        let mut rx = SrtpContext::new(profile, &master).map_err(anyhow::Error::msg)?;
        let mut buf = vec![0u8; 1300];
        let start = Instant::now();
        let mut bytes = 0usize;
        for i in 0..args.packets {
            buf[0] = 0x80;
            buf[1] = 96;
            buf[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            buf[8..12].copy_from_slice(&1234u32.to_be_bytes());
            let n = tx.protect_rtp(&mut buf, 1200).map_err(anyhow::Error::msg)?;
            bytes += rx.unprotect_rtp(&mut buf[..n]).map_err(anyhow::Error::msg)?;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{profile:?}: protect+unprotect {:.0} packets/s ({:.2} us/packet, {:.0} Mbit/s) on one core",
            args.packets as f64 / secs,
            secs * 1e6 / args.packets as f64,
            bytes as f64 * 8.0 / secs / 1e6
        );
    }
    Ok(())
}
