//! `meetctl hosts list|drain|undrain`: the hosts of a cluster (`/hosts`, an extension of the Server API).

use clap::Subcommand;
use serde_json::json;

use crate::api::{segment, Client};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum HostsCommand {
    /// The cluster's hosts: URL, capacity, load, whether alive and whether drained.
    #[command(after_help = "Example:\n  meetctl hosts list")]
    List,
    /// Drain a host: it takes no new rooms and reports not ready; its rooms go on until they end.
    #[command(after_help = "Example:\n  meetctl hosts drain meet2")]
    Drain {
        /// Host ID (`[cluster] host_id`).
        host: String,
    },
    /// Let a drained host take new rooms again.
    #[command(after_help = "Example:\n  meetctl hosts undrain meet2")]
    Undrain {
        /// Host ID.
        host: String,
    },
}

pub fn run(command: HostsCommand, api: &mut Client, json: bool) -> anyhow::Result<()> {
    let (host, drain) = match command {
        HostsCommand::List => {
            output::print_value(&api.get("/hosts")?, json);
            return Ok(());
        }
        HostsCommand::Drain { host } => (host, true),
        HostsCommand::Undrain { host } => (host, false),
    };
    let action = if drain { "drain" } else { "undrain" };
    let answer = api.post(&format!("/hosts/{}/{action}", segment(&host)), &json!({}))?;
    if json {
        output::print_json(&answer);
    } else if drain {
        println!("host {host} is draining: it takes no new rooms");
    } else {
        println!("host {host} takes new rooms again");
    }
    Ok(())
}
