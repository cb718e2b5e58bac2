//! HTTP: the video API shaped like the reference's "Getting Recorded Video" (`GET
//! /streaming/videos/search?q=` and `GET /streaming/videos/{id}`, with the Server API's credentials and
//! errors), the files of a video under its random token (`/videos/<token>/<file>`, with byte ranges for
//! players) and a player page (`/videos/<token>/`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::store::{blocking, Video};
use crate::AppState;

/// Results of one search at most.
const SEARCH_LIMIT: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/streaming/videos/search", get(search))
        .route("/streaming/videos/{id}", get(video))
        .route("/videos/{token}/", get(player))
        .route("/videos/{token}/{file}", get(file))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn recordings(state: &AppState) -> Result<&super::Recordings, ApiError> {
    state.recordings.as_ref().ok_or_else(|| ApiError::NotFound("Recording is not enabled on this server".into()))
}

/// Where this server is reached, as the request says (`Host`, and `X-Forwarded-Proto` behind a proxy).
fn origin(headers: &HeaderMap) -> (String, String) {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https" || *s == "http")
        .unwrap_or("http")
        .to_string();
    (scheme, host)
}

/// A video as the API shows it.
pub fn video_json(v: &Video, scheme: &str, host: &str) -> Value {
    let ready = v.status == "ready";
    let base = format!("{scheme}://{host}/videos/{}", v.token);
    json!({
        "id": v.id,
        "name": v.name,
        "room_id": v.room_id,
        "status": v.status,
        "duration": v.duration_ms,
        "progress": v.progress,
        "error": v.error,
        "created_at": super::iso_time(v.created_at_ms),
        "updated_at": super::iso_time(v.updated_at_ms),
        "hls_url": ready.then(|| format!("{base}/master.m3u8")),
        "origin_host": ready.then(|| host.to_string()),
        "origin_resource": ready.then(|| format!("videos/{}/video.mp4", v.token)),
        "player_url": ready.then(|| format!("{base}/")),
    })
}

async fn search(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let r = recordings(&state)?;
    if query.q.len() > 256 {
        return Err(ApiError::BadRequest("q: at most 256 characters".into()));
    }
    let q = query.q.clone();
    let found = blocking(r.store(), move |s| s.search_videos(&q, SEARCH_LIMIT))
        .await
        .map_err(|e| ApiError::internal("searching videos", e))?;
    let (scheme, host) = origin(&headers);
    Ok(Json(Value::Array(found.iter().map(|v| video_json(v, &scheme, &host)).collect())))
}

async fn video(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = recordings(&state)?;
    let not_found = || ApiError::NotFound(format!("Video {id} not found"));
    let Ok(n) = id.parse::<i64>() else { return Err(not_found()) };
    let v = blocking(r.store(), move |s| s.video(n))
        .await
        .map_err(|e| ApiError::internal("reading a video", e))?
        .ok_or_else(not_found)?;
    let (scheme, host) = origin(&headers);
    Ok(Json(video_json(&v, &scheme, &host)))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

async fn player(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(dir) = state.recordings.as_ref().and_then(|r| r.dir()) else { return not_found() };
    if !super::valid_token(&token) || !dir.join(&token).join("out/video.mp4").is_file() {
        return not_found();
    }
    let mut response = Html(PLAYER_PAGE).into_response();
    // Players may be embedded anywhere, like the reference's player code.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; style-src 'unsafe-inline'; media-src 'self' blob:"),
    );
    response
}

const PLAYER_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Recording</title>
<style>html,body{margin:0;height:100%;background:#000}video{width:100%;height:100%}</style></head>
<body><video controls playsinline preload="metadata">
<source src="master.m3u8" type="application/vnd.apple.mpegurl">
<source src="video.mp4" type="video/mp4">
</video></body></html>
"#;

/// A file name of a video's output: letters, digits, `_`, `-`, `.`, not starting with a dot.
fn valid_file(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        _ => "application/octet-stream",
    }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within `len`; `None`: the whole file.
fn range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let spec = v.strip_prefix("bytes=").ok_or(())?;
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (a, b) => (a.parse().map_err(|_| ())?, b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))),
    };
    if start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn file(
    State(state): State<AppState>,
    Path((token, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(dir) = state.recordings.as_ref().and_then(|r| r.dir()) else { return not_found() };
    if !super::valid_token(&token) || !valid_file(&name) {
        return not_found();
    }
    let path = dir.join(&token).join("out").join(&name);
    let Ok(mut f) = tokio::fs::File::open(&path).await else { return not_found() };
    let Ok(len) = f.metadata().await.map(|m| m.len()) else { return not_found() };
    let (status, start, end) = match range(&headers, len) {
        Ok(None) => (StatusCode::OK, 0, len.saturating_sub(1)),
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Err(()) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut()
                .insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"));
            return r;
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    if f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return not_found();
    }
    let stream = futures_util::stream::unfold((f.take(count), vec![0u8; 64 * 1024]), |(mut f, mut buf)| async move {
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => Some((Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(&buf[..n])), (f, buf))),
            Err(e) => Some((Err(e), (f, buf))),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&name)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).expect("ascii"));
    }
    // The token is the secret: keep it out of other sites' Referer headers.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_names() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range(&h("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(range(&h("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(range(&h("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(range(&h("bytes=2-100"), 10), Ok(Some((2, 9))));
        assert!(range(&h("bytes=10-"), 10).is_err());
        assert!(range(&h("bytes=5-2"), 10).is_err());
        assert!(range(&h("items=1-2"), 10).is_err());
        assert!(range(&h("bytes=x-2"), 10).is_err());
        assert!(valid_file("seg_0001.ts") && valid_file("master.m3u8"));
        assert!(!valid_file("..") && !valid_file(".hidden") && !valid_file("a/b") && !valid_file(""));
        assert_eq!(content_type("video.mp4"), "video/mp4");
    }
}
