//! `meetctl stats summary|sessions` over the Server API (`/streaming/statistics/peers[/summary]`).

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::api::{segment, Client};
use crate::exit::{fail, Exit};
use crate::{output, time};

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// A room's participants, first join, last leave and duration over a period.
    #[command(
        after_help = "Examples:\n  meetctl stats summary --room serv0standup\n  meetctl stats summary --room serv0standup --from 2025-06-01T00:00:00Z --to 2025-06-30T23:59:59Z"
    )]
    Summary(Period),
    /// Every participant session (join, leave, duration) of a room over a period.
    #[command(
        after_help = "Example:\n  meetctl stats sessions --room serv0standup --from 2025-06-21T00:00:00Z --json"
    )]
    Sessions(Period),
}

#[derive(Args, Debug)]
pub struct Period {
    /// Room ID.
    #[arg(long)]
    room: String,
    /// Start of the period, RFC 3339 (default: 7 days ago).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the period, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
}

impl Period {
    fn query(&self) -> anyhow::Result<String> {
        let now = time::now_unix() as i64;
        let check = |flag: &str, t: &Option<String>, default: i64| -> anyhow::Result<String> {
            match t {
                Some(t) => {
                    time::parse_rfc3339(t).map_err(|e| fail(Exit::Usage, format!("{flag}: {e}")))?;
                    Ok(t.clone())
                }
                None => Ok(time::format_rfc3339(default)),
            }
        };
        let from = check("--from", &self.from, now - 7 * 86_400)?;
        let to = check("--to", &self.to, now)?;
        Ok(format!("?room_id={}&from={}&to={}", segment(&self.room), segment(&from), segment(&to)))
    }
}

pub fn run(command: StatsCommand, api: &mut Client, json: bool) -> anyhow::Result<()> {
    let mut answer = match &command {
        StatsCommand::Summary(p) => api.get(&format!("/streaming/statistics/peers/summary{}", p.query()?))?,
        StatsCommand::Sessions(p) => api.get(&format!("/streaming/statistics/peers{}", p.query()?))?,
    };
    if !json {
        readable_times(&mut answer);
    }
    output::print_value(&answer, json);
    Ok(())
}

/// `start_time: 1624276920` -> `2021-06-21T12:02:00Z` for people (JSON output keeps the numbers).
fn readable_times(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match v.as_i64() {
                    Some(secs) if k.ends_with("_time") => *v = Value::String(time::format_rfc3339(secs)),
                    _ => readable_times(v),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(readable_times),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_readable() {
        let mut v = serde_json::json!({"data": [{"person_id": "p", "join_time": 1624268640, "duration": 660}]});
        readable_times(&mut v);
        assert_eq!(v["data"][0]["join_time"], "2021-06-21T09:44:00Z");
        assert_eq!(v["data"][0]["duration"], 660);
    }
}
