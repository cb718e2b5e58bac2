//! Janus 1.1 VideoRoom as a peer SFU (not yet wired up).

use std::path::PathBuf;

use serde_json::Value;

use crate::runner::{LoadOptions, Scenario};

pub fn available() -> Result<PathBuf, String> {
    let p = PathBuf::from("/usr/bin/janus");
    if p.is_file() {
        Ok(p)
    } else {
        Err("janus is not installed (apt-get install -y janus)".into())
    }
}

pub fn run(_bin: &PathBuf, _scenario: &Scenario, _load: &LoadOptions, _core: usize) -> anyhow::Result<(Value, Value)> {
    anyhow::bail!("the Janus driver is not written yet")
}
