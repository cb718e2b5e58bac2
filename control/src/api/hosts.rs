//! `GET /hosts`, `POST /hosts/{hostId}/drain` and `/undrain`: the hosts of a cluster (an extension of
//! the reference API; see `crate::cluster`). Without a cluster they answer 404.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use crate::cluster::Cluster;
use crate::AppState;

fn cluster(state: &AppState) -> Result<&Cluster, ApiError> {
    state
        .cluster
        .as_deref()
        .ok_or_else(|| ApiError::NotFound("This server is not part of a cluster ([cluster] url is not set)".into()))
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}

pub async fn list(State(state): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let cluster = cluster(&state)?;
    let hosts = cluster.hosts().await.map_err(store_error)?;
    let hosts: Vec<Value> = hosts
        .into_iter()
        .map(|(h, alive)| {
            json!({
                "hostId": h.id,
                "url": h.url,
                "capacity": h.capacity,
                "load": h.load,
                "draining": h.draining,
                "alive": alive,
                "lastSeen": h.last_seen_ms / 1000,
                "self": h.id == cluster.host_id(),
            })
        })
        .collect();
    Ok(Json(Value::Array(hosts)))
}

async fn set_draining(state: &AppState, host_id: &str, draining: bool) -> Result<Json<Value>, ApiError> {
    let cluster = cluster(state)?;
    if !cluster.set_draining(host_id, draining).await.map_err(store_error)? {
        return Err(ApiError::NotFound(format!("Host {host_id} not found")));
    }
    tracing::info!(host = %host_id, draining, "host drain flag set through the Server API");
    Ok(Json(json!({"hostId": host_id, "draining": draining})))
}

pub async fn drain(
    State(state): State<AppState>,
    _caller: Caller,
    Path(host_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_draining(&state, &host_id, true).await
}

pub async fn undrain(
    State(state): State<AppState>,
    _caller: Caller,
    Path(host_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_draining(&state, &host_id, false).await
}
