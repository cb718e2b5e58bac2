//! Conversion: one recording's track files (written by the relay's recorder, listed in `tracks.jsonl`)
//! composed as viewers see the room and encoded to H.264/AAC MP4, then cut into HLS, by `ffmpeg` as a
//! child process. [`plan`] is pure (what ffmpeg is asked, tested here); [`convert`] runs it and reports
//! progress from ffmpeg's `-progress` output.
//!
//! The picture: a 1280x720 canvas; the time is cut wherever a video track starts or ends, and in each
//! piece the video tracks present share a grid, or a screen share takes the left three quarters and the
//! cameras a column on the right. Each track is placed at its start offset. The sound: every audio
//! track (the participants' own microphones; meet has no interpreter channels) mixed, gaps as silence.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use meet_relay::protocol::tracks::TrackEvent;
use tokio::io::{AsyncBufReadExt, BufReader};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u32 = 25;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("no track was recorded")]
    Empty,
    #[error("cannot read the track list: {0}")]
    Tracks(std::io::Error),
    #[error("cannot run ffmpeg (is Debian's ffmpeg package installed?): {0}")]
    Spawn(std::io::Error),
    #[error("ffmpeg failed ({status}): {tail}")]
    Failed { status: std::process::ExitStatus, tail: String },
}

/// One track file as the conversion places it.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub file: PathBuf,
    pub video: bool,
    pub screen: bool,
    /// From the start of the composition.
    pub start_ms: u64,
    pub end_ms: u64,
}

/// The tracks of `tracks.jsonl` in `raw`, placed from the earliest start. A track whose end was never
/// written (the relay stopped) ends at `fallback_end_wall_ms`.
pub fn read_tracks(raw: &Path, fallback_end_wall_ms: u64) -> Result<Vec<Track>, ConvertError> {
    let text = match std::fs::read_to_string(raw.join("tracks.jsonl")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ConvertError::Empty),
        Err(e) => return Err(ConvertError::Tracks(e)),
    };
    // A line cut short by a crash is skipped.
    let events: Vec<TrackEvent> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut tracks = Vec::new();
    for e in &events {
        let TrackEvent::TrackStarted { file, producer, kind, wall_ms, .. } = e else { continue };
        let end = events.iter().find_map(|x| match x {
            TrackEvent::TrackEnded { file: f, duration_ms, .. } if f == file => Some(wall_ms + duration_ms),
            _ => None,
        });
        let end = end.unwrap_or(fallback_end_wall_ms.max(*wall_ms));
        tracks.push((raw.join(file), kind == "video", producer.ends_with("/screen"), *wall_ms, end));
    }
    let origin = tracks.iter().map(|t| t.3).min().ok_or(ConvertError::Empty)?;
    Ok(tracks
        .into_iter()
        .map(|(file, video, screen, start, end)| Track {
            file,
            video,
            screen,
            start_ms: start - origin,
            end_ms: end.max(start) - origin,
        })
        .collect())
}

/// Where each visible track goes: (track index, x, y, w, h).
type Cells = Vec<(usize, u32, u32, u32, u32)>;

/// The layout of the video tracks `visible` (indices into `tracks`).
pub fn layout(tracks: &[Track], visible: &[usize]) -> Cells {
    let (screens, cams): (Vec<usize>, Vec<usize>) = visible.iter().partition(|i| tracks[**i].screen);
    if let Some(&screen) = screens.first() {
        let big_w = WIDTH * 3 / 4;
        let mut cells = vec![(screen, 0, 0, big_w, HEIGHT)];
        let side: Vec<usize> = screens[1..].iter().chain(&cams).copied().collect();
        let n = side.len().max(1) as u32;
        let h = even(HEIGHT / n);
        cells.extend(side.iter().enumerate().map(|(k, i)| (*i, big_w, k as u32 * h, WIDTH - big_w, h)));
        return cells;
    }
    let n = cams.len() as u32;
    if n == 0 {
        return Vec::new();
    }
    let cols = (1..=n).find(|c| c * c >= n).unwrap_or(n);
    let rows = n.div_ceil(cols);
    let (w, h) = (even(WIDTH / cols), even(HEIGHT / rows));
    cams.iter().enumerate().map(|(k, i)| (*i, (k as u32 % cols) * w, (k as u32 / cols) * h, w, h)).collect()
}

fn even(x: u32) -> u32 {
    x & !1
}

/// A track on screen: from, to (ms), and its cell (x, y, w, h).
type Shown = (u64, u64, u32, u32, u32, u32);

/// ffmpeg's arguments to compose `tracks` into `mp4`, and the result's duration.
pub fn plan(tracks: &[Track], mp4: &Path) -> Result<(Vec<String>, u64), ConvertError> {
    let duration_ms = tracks.iter().map(|t| t.end_ms).max().ok_or(ConvertError::Empty)?.max(1000);
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-v", "error", "-progress", "pipe:1", "-nostats"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for t in tracks {
        args.push("-i".into());
        args.push(t.file.display().to_string());
    }
    // Pieces of time with the same tracks on screen.
    let mut cuts: Vec<u64> = tracks.iter().filter(|t| t.video).flat_map(|t| [t.start_ms, t.end_ms]).collect();
    cuts.push(0);
    cuts.push(duration_ms);
    cuts.sort_unstable();
    cuts.dedup();
    let mut uses: Vec<Vec<Shown>> = vec![Vec::new(); tracks.len()];
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let visible: Vec<usize> = (0..tracks.len())
            .filter(|i| tracks[*i].video && tracks[*i].start_ms <= a && tracks[*i].end_ms >= b)
            .collect();
        for (i, x, y, cw, ch) in layout(tracks, &visible) {
            uses[i].push((a, b, x, y, cw, ch));
        }
    }
    let mut graph = Vec::new();
    graph.push(format!("color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={}[base0]", secs(duration_ms)));
    let mut base = 0;
    for (i, t) in tracks.iter().enumerate().filter(|(i, t)| t.video && !uses[*i].is_empty()) {
        let n = uses[i].len();
        let labels: String = (0..n).map(|k| format!("[v{i}_{k}]")).collect();
        graph.push(format!("[{i}:v]setpts=PTS-STARTPTS+{}/TB,fps={FPS},split={n}{labels}", secs(t.start_ms)));
        for (k, (a, b, x, y, w, h)) in uses[i].iter().enumerate() {
            graph.push(format!(
                "[v{i}_{k}]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2[c{i}_{k}]"
            ));
            graph.push(format!(
                "[base{base}][c{i}_{k}]overlay={x}:{y}:eof_action=pass:enable='between(t,{},{})'[base{}]",
                secs(*a),
                secs(*b),
                base + 1
            ));
            base += 1;
        }
    }
    graph.push(format!("[base{base}]format=yuv420p[vout]"));
    let audio: Vec<usize> = (0..tracks.len()).filter(|i| !tracks[*i].video).collect();
    for &i in &audio {
        graph.push(format!(
            "[{i}:a]aresample=48000:async=1:first_pts=0,adelay=delays={}:all=1[a{i}]",
            tracks[i].start_ms
        ));
    }
    let pad = format!("apad=whole_dur={},atrim=0:{}[aout]", secs(duration_ms), secs(duration_ms));
    match audio.len() {
        0 => graph.push(format!("anullsrc=r=48000:cl=stereo,{pad}")),
        1 => graph.push(format!("[a{}]{pad}", audio[0])),
        n => {
            let inputs: String = audio.iter().map(|i| format!("[a{i}]")).collect();
            graph.push(format!("{inputs}amix=inputs={n}:duration=longest:normalize=0,{pad}"));
        }
    }
    args.push("-filter_complex".into());
    args.push(graph.join(";"));
    for a in [
        "-map",
        "[vout]",
        "-map",
        "[aout]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "26",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
        "-t",
    ] {
        args.push(a.into());
    }
    args.push(secs(duration_ms));
    args.push(mp4.display().to_string());
    Ok((args, duration_ms))
}

/// Runs ffmpeg with `args`; `progress` gets the encoded time (ms) as it goes.
async fn run_ffmpeg(args: &[String], mut progress: impl FnMut(u64)) -> Result<(), ConvertError> {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(ConvertError::Spawn)?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let errors = tokio::spawn(async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s).await;
        s
    });
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(us) = line.strip_prefix("out_time_us=").and_then(|v| v.trim().parse::<u64>().ok()) {
            progress(us / 1000);
        }
    }
    let status = child.wait().await.map_err(ConvertError::Spawn)?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        let tail: String = errors.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(ConvertError::Failed { status, tail });
    }
    Ok(())
}

/// Composes the tracks of `raw` into `out/video.mp4`, then `out/master.m3u8` (+ `index.m3u8` and
/// its segments). `progress` gets a percentage. Returns the video's duration in ms.
pub async fn convert(
    raw: &Path,
    out: &Path,
    fallback_end_wall_ms: u64,
    mut progress: impl FnMut(u8),
) -> Result<u64, ConvertError> {
    let tracks = read_tracks(raw, fallback_end_wall_ms)?;
    std::fs::create_dir_all(out).map_err(ConvertError::Tracks)?;
    let mp4 = out.join("video.mp4");
    let (args, duration_ms) = plan(&tracks, &mp4)?;
    tracing::debug!(?args, "ffmpeg composes a recording");
    // The MP4 is most of the work; HLS is a copy of its streams.
    run_ffmpeg(&args, |ms| progress((ms * 95 / duration_ms).min(95) as u8)).await?;
    let hls: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-v", "error", "-i"]
        .iter()
        .map(|s| s.to_string())
        .chain([mp4.display().to_string()])
        .chain(
            ["-c", "copy", "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_segment_filename"]
                .iter()
                .map(|s| s.to_string()),
        )
        .chain([
            out.join("seg_%04d.ts").display().to_string(),
            "-master_pl_name".into(),
            "master.m3u8".into(),
            out.join("index.m3u8").display().to_string(),
        ])
        .collect();
    run_ffmpeg(&hls, |_| {}).await?;
    progress(100);
    Ok(duration_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(video: bool, screen: bool, start_ms: u64, end_ms: u64) -> Track {
        Track { file: format!("/r/{start_ms}.mkv").into(), video, screen, start_ms, end_ms }
    }

    #[test]
    fn grids_and_screen_shares() {
        let t =
            [track(true, false, 0, 10), track(true, false, 0, 10), track(true, true, 0, 10), track(true, false, 0, 10)];
        assert_eq!(layout(&t, &[0]), [(0, 0, 0, 1280, 720)]);
        assert_eq!(layout(&t, &[0, 1]), [(0, 0, 0, 640, 720), (1, 640, 0, 640, 720)]);
        assert_eq!(layout(&t, &[0, 1, 3]).len(), 3);
        assert_eq!(layout(&t, &[0, 1, 3])[2], (3, 0, 360, 640, 360));
        let with_screen = layout(&t, &[0, 1, 2]);
        assert_eq!(with_screen[0], (2, 0, 0, 960, 720));
        assert_eq!(with_screen[1..], [(0, 960, 0, 320, 360), (1, 960, 360, 320, 360)]);
        assert!(layout(&t, &[]).is_empty());
    }

    #[test]
    fn the_plan_places_tracks_at_their_offsets_and_mixes_audio() {
        let t = [
            track(true, false, 0, 20_000),
            track(false, false, 0, 20_000),
            track(true, false, 5_000, 15_000),
            track(false, false, 5_000, 15_000),
        ];
        let (args, duration) = plan(&t, Path::new("/o/video.mp4")).unwrap();
        assert_eq!(duration, 20_000);
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        // Three pieces: alone, together, alone again.
        assert!(graph.contains("[0:v]setpts=PTS-STARTPTS+0.000/TB,fps=25,split=3"), "{graph}");
        assert!(graph.contains("[2:v]setpts=PTS-STARTPTS+5.000/TB,fps=25,split=1"), "{graph}");
        assert!(graph.contains("enable='between(t,5.000,15.000)'"), "{graph}");
        assert!(graph.contains("adelay=delays=5000:all=1[a3]"), "{graph}");
        assert!(graph.contains("[a1][a3]amix=inputs=2"), "{graph}");
        assert_eq!(args.last().unwrap(), "/o/video.mp4");
        assert!(matches!(plan(&[], Path::new("/o")), Err(ConvertError::Empty)));
    }

    #[test]
    fn tracks_are_read_from_the_list_and_a_cut_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("meet-convert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("tracks.jsonl"),
            concat!(
                r#"{"event":"trackStarted","file":"a.mkv","producer":"p/camera","peer":"p","kind":"video","codec":"vp8","wallMs":1000,"width":640,"height":480}"#, "\n",
                r#"{"event":"trackStarted","file":"b.mkv","producer":"q/screen","peer":"q","kind":"video","codec":"vp8","wallMs":3000}"#, "\n",
                r#"{"event":"trackEnded","file":"a.mkv","wallMs":9000,"durationMs":8000,"frames":200}"#, "\n",
                r#"{"event":"trackEnd"#,
            ),
        )
        .unwrap();
        let t = read_tracks(&dir, 20_000).unwrap();
        assert_eq!(t[0], Track { file: dir.join("a.mkv"), video: true, screen: false, start_ms: 0, end_ms: 8000 });
        assert_eq!((t[1].screen, t[1].start_ms, t[1].end_ms), (true, 2000, 19_000));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(read_tracks(&dir, 0), Err(ConvertError::Empty)));
    }
}
