//! The web client: `/new`, the call page under `/call/` and `/webinar/`, and its assets under `/static/`,
//! all embedded in the binary from `control/web/`.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "web/"]
struct Assets;

fn asset(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache".to_string())], file.data).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub async fn new_page() -> Response {
    asset("new.html")
}

/// `/call/` and `/webinar/` serve the same page; it reads its mode from the path.
pub async fn call_page() -> Response {
    asset("call.html")
}

pub async fn static_file(Path(path): Path<String>) -> Response {
    asset(&path)
}

pub async fn index() -> axum::response::Redirect {
    axum::response::Redirect::temporary("/new")
}

/// `GET /meetBridgeApi.js` (and `/meetBridgeApi.mjs`, the same library as an ES module): the Client API
/// library that integrators load on their own pages, so any origin may fetch it (modules need CORS).
pub async fn bridge_api() -> Response {
    script_for_any_origin("meetBridgeApi.js")
}

pub async fn bridge_api_module() -> Response {
    script_for_any_origin("meetBridgeApi.mjs")
}

fn script_for_any_origin(path: &str) -> Response {
    let mut response = asset(path);
    if response.status() == StatusCode::OK {
        let headers = response.headers_mut();
        let js = header::HeaderValue::from_static("text/javascript; charset=utf-8");
        headers.insert(header::CONTENT_TYPE, js);
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    }
    response
}
