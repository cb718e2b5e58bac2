//! The web client: `/new`, the call page under `/call/` and `/webinar/`, and its assets under `/static/`,
//! all embedded in the binary from `control/web/`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
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
///
/// A room whose `servN` prefix names another known server (`[[servers]]`), or that another host of the
/// cluster holds or would take, is served there (a redirect keeping the path and query). Both carry the call page's `frame-ancestors` policy (`[server] allowed_origins`, else
/// any page), which also spares them the frame protection of every other response.
pub async fn call_page(
    State(state): State<AppState>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let room = query.iter().find(|(k, _)| k.eq_ignore_ascii_case("roomId")).map(|(_, v)| v.trim());
    let mut elsewhere = room.and_then(|r| state.call.other_server(r)).map(|s| s.url.clone());
    if let (None, Some(room), Some(cluster)) = (&elsewhere, room, state.cluster.as_ref()) {
        if let crate::cluster::Owner::Elsewhere { url, .. } = cluster.owner_for_page(room, &state.rooms).await {
            elsewhere = Some(url);
        }
    }
    let mut response = match elsewhere {
        Some(base) => {
            let target = format!(
                "{}{}",
                base.trim_end_matches('/'),
                uri.path_and_query().map(|p| p.as_str()).unwrap_or("/call/")
            );
            Redirect::temporary(&target).into_response()
        }
        None => asset("call.html"),
    };
    // Checked when the config was read (origins without spaces, quotes or semicolons).
    if let Ok(value) = HeaderValue::from_str(state.call.call_page_csp()) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The `/static/` module scripts an HTML page loads.
    fn page_modules(page: &str) -> Vec<String> {
        let html = Assets::get(page).unwrap_or_else(|| panic!("{page} is not embedded"));
        let html = std::str::from_utf8(&html.data).unwrap().to_string();
        let tag = "<script type=\"module\" src=\"/static/";
        html.match_indices(tag)
            .map(|(at, _)| {
                let rest = &html[at + tag.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect()
    }

    /// The files a module imports (`import … from './x.js'`, `import './x.js'`).
    fn imports(source: &str) -> Vec<String> {
        ["from './", "import './"]
            .iter()
            .flat_map(|lead| source.match_indices(lead).map(move |(at, _)| &source[at + lead.len()..]))
            .map(|rest| rest[..rest.find('\'').unwrap()].to_string())
            .collect()
    }

    /// The pages are ES modules with no build step: every module they load, and every module those import,
    /// must be embedded and served with a JavaScript type (browsers refuse a module script of any other
    /// type, and `nosniff` leaves them no guess).
    #[test]
    fn every_module_the_pages_load_is_embedded_and_served_as_javascript() {
        let mut todo: Vec<String> = ["call.html", "new.html"].into_iter().flat_map(page_modules).collect();
        assert!(todo.contains(&"call.js".to_string()) && todo.contains(&"new.js".to_string()), "{todo:?}");
        let mut seen = BTreeSet::new();
        while let Some(path) = todo.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let response = asset(&path);
            assert_eq!(response.status(), StatusCode::OK, "{path} is imported but not embedded");
            let mime = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
            assert!(mime == "text/javascript" || mime == "application/javascript", "{path}: {mime}");
            let source = Assets::get(&path).unwrap();
            todo.extend(imports(std::str::from_utf8(&source.data).unwrap()));
        }
        for module in ["bridge.js", "client-api.js", "signalling.js", "i18n-room.js", "i18n-page.js"] {
            assert!(seen.contains(module), "{module} is not loaded: {seen:?}");
        }
    }
}
