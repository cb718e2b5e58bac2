//! `meetctl api-tokens create|list|revoke`: permanent Server API tokens (`/api-tokens`).

use clap::Subcommand;
use serde_json::{json, Value};

use crate::api::{segment, Client};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum ApiTokensCommand {
    /// Create a token; it is printed once, keep it.
    #[command(after_help = "Example:\n  meetctl --username admin api-tokens create --name backend > backend.token")]
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
    },
    /// Tokens that exist (never their secret values).
    List,
    /// Revoke a token by ID; requests made with it fail from now on.
    #[command(after_help = "Example:\n  meetctl api-tokens revoke 3")]
    Revoke {
        /// Token ID, as `api-tokens list` shows it.
        id: String,
    },
}

pub fn run(command: ApiTokensCommand, api: &mut Client, json: bool) -> anyhow::Result<()> {
    match command {
        ApiTokensCommand::Create { name } => {
            let answer = api.post("/api-tokens", &json!({ "name": name }))?;
            if json {
                output::print_json(&answer);
            } else {
                match answer.get("token").and_then(Value::as_str) {
                    // Only the secret on stdout, so `> file` keeps just it; the rest goes to stderr.
                    Some(token) => {
                        println!("{token}");
                        eprintln!(
                            "meetctl: API token {name:?} created (id {}); it is not shown again",
                            answer.get("id").map(output::cell).unwrap_or_default()
                        );
                    }
                    None => output::print_value(&answer, false),
                }
            }
        }
        ApiTokensCommand::List => output::print_value(&api.get("/api-tokens")?, json),
        ApiTokensCommand::Revoke { id } => {
            let answer = api.delete(&format!("/api-tokens/{}", segment(&id)))?;
            if json {
                output::print_json(&answer);
            } else {
                println!("API token {id} revoked");
            }
        }
    }
    Ok(())
}
