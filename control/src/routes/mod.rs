//! HTTP routes: the pages and their assets ([`pages`]) and the operator's diagnostics ([`debug`]); the
//! headers every response gets ([`security_headers`]).

pub mod debug;
pub mod pages;

use axum::http::{header, HeaderValue};
use axum::response::Response;

/// Headers for every response (a layer over the whole router, unmatched paths included):
/// - `X-Content-Type-Options: nosniff`: a browser takes each response for the type it declares, so no
///   JSON answer or asset is ever run as a script or rendered as a page;
/// - frame protection (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers):
///   another site cannot show `/new` or any other page in a frame and trick clicks on it. Responses
///   that set their own `Content-Security-Policy` keep it instead: the call pages, which integrators
///   embed ([`pages::call_page`]).
///
/// `Strict-Transport-Security` is added where HTTPS is served ([`crate::http::serve`]).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}
