//! `[recording]`: where recordings live and when rooms record on their own. The names are fixed by the
//! issue that asked for recording, so operators and tests can rely on them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingSection {
    /// Where files live; default `<data-dir>/recordings`.
    pub dir: Option<PathBuf>,
    /// Record every room.
    #[serde(default)]
    pub auto: bool,
    /// Seconds after a room's first join that auto-recording starts.
    #[serde(default = "default_delay")]
    pub auto_start_delay_s: f64,
    /// Seconds after a room's last leave that its recording stops.
    #[serde(default = "default_delay")]
    pub auto_stop_delay_s: f64,
    /// A recording is cut into videos of at most this many hours.
    #[serde(default = "default_part_hours")]
    pub part_hours: f64,
}

impl Default for RecordingSection {
    fn default() -> Self {
        RecordingSection {
            dir: None,
            auto: false,
            auto_start_delay_s: default_delay(),
            auto_stop_delay_s: default_delay(),
            part_hours: default_part_hours(),
        }
    }
}

fn default_delay() -> f64 {
    60.0
}

fn default_part_hours() -> f64 {
    4.0
}

impl RecordingSection {
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [("auto_start_delay_s", self.auto_start_delay_s), ("auto_stop_delay_s", self.auto_stop_delay_s)]
        {
            if !(0.0..=86_400.0).contains(&v) {
                return Err(format!("[recording] {key}: must be between 0 and 86400"));
            }
        }
        // 0.001 h = 3.6 s: short parts are for tests.
        if !(0.001..=24.0).contains(&self.part_hours) {
            return Err("[recording] part_hours: must be between 0.001 and 24".into());
        }
        Ok(())
    }

    /// The directory, made absolute (the relay writes there; it may run in another working directory).
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        let dir = self.dir.clone().unwrap_or_else(|| data_dir.join("recordings"));
        std::path::absolute(&dir).unwrap_or(dir)
    }

    pub fn timing(&self) -> super::schedule::Timing {
        super::schedule::Timing {
            auto: self.auto,
            start_delay: Duration::from_secs_f64(self.auto_start_delay_s),
            stop_delay: Duration::from_secs_f64(self.auto_stop_delay_s),
            part: Duration::from_secs_f64(self.part_hours * 3600.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        let s: RecordingSection = toml::from_str("").unwrap();
        assert!(!s.auto && s.auto_start_delay_s == 60.0 && s.part_hours == 4.0);
        assert_eq!(s.timing().part, Duration::from_secs(4 * 3600));
        assert!(s.validate().is_ok());
        let s: RecordingSection = toml::from_str("auto = true\nauto_start_delay_s = 2\npart_hours = 0.01").unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.timing().part, Duration::from_secs(36));
        for bad in ["part_hours = 0", "auto_stop_delay_s = -1", "part_hours = 100"] {
            let s: RecordingSection = toml::from_str(bad).unwrap();
            assert!(s.validate().is_err(), "{bad}");
        }
        assert!(toml::from_str::<RecordingSection>("autostart = true").is_err());
        assert!(RecordingSection::default().dir(Path::new("/var/meet")).ends_with("recordings"));
    }
}
