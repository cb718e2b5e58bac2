//! The recorder's files, read back by ffprobe (Debian's `ffmpeg` package, installed by scripts/test.sh):
//! RTP packets of a real VP8 stream (encoded by ffmpeg here) and of Opus go through
//! [`TrackWriter`] with a sequence-number wrap, reordering, a lost packet and bad payloads, and what
//! comes out is a Matroska file ffprobe reads with the right codec, size, frame count and duration;
//! a file cut short (a crash) still reads up to where it stops.

use std::path::Path;
use std::process::Command;

use meet_media::rtp::{write_header, HeaderFields, Ssrc};
use meet_relay::record::depacketize::Codec;
use meet_relay::record::writer::{TrackEvent, TrackWriter};

fn rtp(seq: u16, ts: u32, marker: bool, pt: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 12 + payload.len()];
    let fields = HeaderFields {
        marker,
        payload_type: pt,
        sequence_number: seq,
        timestamp: ts,
        ssrc: Ssrc(42),
        csrcs: &[],
        extensions: &[],
    };
    let n = write_header(&fields, &mut out).unwrap();
    out.truncate(n);
    out.extend_from_slice(payload);
    out
}

/// VP8 frames of a 2 s test pattern at 30 fps, 320x240 (from an IVF file ffmpeg writes).
fn vp8_frames(dir: &Path) -> Vec<Vec<u8>> {
    let ivf = dir.join("source.ivf");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "2"])
        .args(["-c:v", "libvpx", "-g", "30", "-b:v", "300k", "-f", "ivf"])
        .arg(&ivf)
        .status()
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    assert!(status.success());
    let data = std::fs::read(&ivf).unwrap();
    let mut frames = Vec::new();
    let mut at = usize::from(u16::from_le_bytes([data[6], data[7]]));
    while at + 12 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        frames.push(data[at + 12..at + 12 + len].to_vec());
        at += 12 + len;
    }
    frames
}

/// One frame as VP8 RTP payloads of at most 300 bytes of data, each with a descriptor.
fn vp8_payloads(frame: &[u8], picture_id: u16) -> Vec<Vec<u8>> {
    frame
        .chunks(300)
        .enumerate()
        .map(|(i, chunk)| {
            let first = if i == 0 { 0x90 } else { 0x80 };
            let mut p = vec![first, 0x80, 0x80 | (picture_id >> 8) as u8 & 0x7F, picture_id as u8];
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

fn ffprobe(file: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "0", "-show_entries", entries])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The last packet's time in seconds.
fn last_packet_time(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "0", "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().lines().filter_map(|l| l.trim().parse().ok()).fold(0.0, f64::max)
}

#[test]
fn a_vp8_track_with_wrap_reordering_loss_and_bad_payloads_reads_back() {
    let dir = tempdir("vp8");
    let frames = vp8_frames(&dir);
    assert_eq!(frames.len(), 60);
    let mut packets = Vec::new();
    let mut seq: u16 = 65_500; // wraps within the first frames
    for (n, frame) in frames.iter().enumerate() {
        let ts = 1_000u32.wrapping_add(3000 * n as u32);
        let payloads = vp8_payloads(frame, n as u16);
        let last = payloads.len() - 1;
        for (i, p) in payloads.into_iter().enumerate() {
            packets.push(rtp(seq, ts, i == last, 96, &p));
            seq = seq.wrapping_add(1);
        }
    }
    // Swap neighbours here and there (reordering); lose one packet of frame 40 for good.
    for i in (5..packets.len() - 1).step_by(17) {
        packets.swap(i, i + 1);
    }
    let lost_frame_ts = 1_000 + 3000 * 40;
    let lost = packets.iter().position(|p| u32::from_be_bytes(p[4..8].try_into().unwrap()) == lost_frame_ts).unwrap();
    packets.remove(lost + 1);
    let mut w = TrackWriter::new(dir.clone(), "cam.mkv".into(), "p/camera".into(), "p".into(), Codec::Vp8, 90_000);
    let mut written = 0;
    let mut bad = 0;
    for (i, p) in packets.into_iter().enumerate() {
        if i == 100 {
            // A packet that is no RTP.
            bad += u64::from(w.push(vec![0x00, 1, 2], 0).unwrap().bad_payload);
        }
        let o = w.push(p, 1_700_000_000_000 + i as u64).unwrap();
        written += o.frames;
        bad += u64::from(o.bad_payload);
    }
    let o = w.push(rtp(1, 0, true, 96, &[0x80]), 0).unwrap();
    assert!(o.late || o.bad_payload, "an old sequence number is late");
    assert_eq!(bad, 1);
    // The gap is still held (fewer than 128 packets came after it): given up at the end.
    assert_eq!(w.losses(), (0, 0));
    assert_eq!(w.finish(1_700_000_002_000).unwrap(), (1, 1));
    assert!(written < 59, "the frames after the gap waited for it");

    let file = dir.join("cam.mkv");
    let info = ffprobe(&file, "stream=codec_name,width,height,nb_read_packets");
    assert!(info.contains("codec_name=vp8"), "{info}");
    assert!(info.contains("width=320") && info.contains("height=240"), "{info}");
    assert!(info.contains("nb_read_packets=59"), "{info}");
    let last = last_packet_time(&file);
    assert!((last - 59.0 / 30.0).abs() < 0.05, "last frame at {last} s");
    // It decodes.
    let status = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&file).args(["-f", "null", "-"]).status();
    assert!(status.unwrap().success());

    let events: Vec<TrackEvent> = std::fs::read_to_string(dir.join("tracks.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(matches!(&events[0], TrackEvent::TrackStarted { file, width: 320, height: 240, .. } if file == "cam.mkv"));
    assert!(
        matches!(&events[1], TrackEvent::TrackEnded { frames: 59, duration_ms, .. } if (1930..=1970).contains(duration_ms))
    );

    // A crash cuts the file anywhere: what is before the cut still reads.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "quiet", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(&cut)
        .output()
        .unwrap();
    let n: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!((20..59).contains(&n), "{n} packets before the cut");
}

#[test]
fn an_opus_track_reads_back_with_its_gaps() {
    let dir = tempdir("opus");
    let mut w = TrackWriter::new(dir.clone(), "mic.mkv".into(), "p/mic".into(), "p".into(), Codec::Opus, 48_000);
    // 2 s of 20 ms packets, then 1 s of silence not sent (DTX), then 1 s more; the timestamp wraps.
    let mut ts = u32::MAX - 48_000;
    let mut seq = 100u16;
    for i in 0..200 {
        if (100..150).contains(&i) {
            ts = ts.wrapping_add(960);
            continue;
        }
        // An Opus frame: TOC of 20 ms CELT fullband, and a few bytes.
        w.push(rtp(seq, ts, false, 111, &[0xFC, 0xFF, 0xFE]), 0).unwrap();
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(960);
    }
    w.push(vec![1, 2, 3], 0).unwrap();
    // An empty payload is dropped and counted.
    assert!(w.push(rtp(seq, ts, false, 111, &[]), 0).unwrap().bad_payload);
    w.finish(0).unwrap();
    let file = dir.join("mic.mkv");
    let info = ffprobe(&file, "stream=codec_name,channels,nb_read_packets");
    assert!(info.contains("codec_name=opus") && info.contains("nb_read_packets=150"), "{info}");
    let last = last_packet_time(&file);
    assert!((last - 3.98).abs() < 0.05, "last packet at {last} s");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("meet-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the recorder thread spends per packet (reorder, depacketize, write): 1,000-byte VP8 packets,
/// five per frame, into a file. Printed for docs/recording.md; the bound only catches a disaster.
#[test]
fn recorder_cost_per_packet() {
    let dir = tempdir("cost");
    let mut w = TrackWriter::new(dir.clone(), "cost.mkv".into(), "p/camera".into(), "p".into(), Codec::Vp8, 90_000);
    let mut key = vec![0x10, 0, 0, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01];
    key.resize(1000, 7);
    let inter = vec![0x11; 1000];
    let n = 100_000u32;
    let started = std::time::Instant::now();
    for i in 0..n {
        let frame = i / 5;
        let first = i % 5 == 0;
        let mut payload = vec![if first { 0x90 } else { 0x80 }, 0x80, 0x80, frame as u8];
        payload.extend_from_slice(if first && frame % 60 == 0 { &key } else { &inter });
        let p = rtp(i as u16, frame * 3000, i % 5 == 4, 96, &payload);
        w.push(p, 0).unwrap();
    }
    w.finish(0).unwrap();
    let per_packet = started.elapsed() / n;
    println!("recorder: {per_packet:?} per 1,000-byte VP8 packet (incl. building the packet)");
    assert!(per_packet < std::time::Duration::from_micros(50), "{per_packet:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
