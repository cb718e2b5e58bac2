//! Issue 18, item 10: the headers of each kind of response. `nosniff` everywhere; no page framed by
//! another site except the call pages, which integrators embed (any page by default, only the
//! configured origins with `[server] allowed_origins`); `Strict-Transport-Security` under HTTPS only.

mod common;

use common::process::Process;
use common::*;
use meet_control::call_config::CallConfig;

/// One of each kind of response, and whether it is a call page.
const PATHS: [(&str, bool); 12] = [
    ("/new", false),
    ("/", false),
    ("/static/style.css", false),
    ("/meetBridgeApi.js", false),
    ("/healthz", false),
    ("/openapi.json", false),
    ("/rooms", false),
    ("/no/such/page", false),
    ("/call/?roomId=serv0head", true),
    ("/call?roomId=serv0head", true),
    ("/webinar/?roomId=serv0head", true),
    ("/webinar?roomId=serv0head", true),
];

async fn headers_of(server: &Server, path: &str) -> (u16, reqwest::header::HeaderMap) {
    let r = http().get(server.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.headers().clone())
}

/// Asserts the framing policy of a response's headers: `frame_ancestors` for a call page, none at all
/// elsewhere.
fn assert_headers(path: &str, headers: &reqwest::header::HeaderMap, call_page_policy: Option<&str>) {
    let one = |name: &str| {
        let all: Vec<_> = headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert!(all.len() <= 1, "{path}: {name} sent {} times: {all:?}", all.len());
        all.into_iter().next()
    };
    assert_eq!(one("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
    match call_page_policy {
        Some(policy) => {
            assert_eq!(one("content-security-policy").as_deref(), Some(policy), "{path}");
            assert_eq!(one("x-frame-options"), None, "{path}: the call page must stay embeddable");
        }
        None => {
            assert_eq!(one("content-security-policy").as_deref(), Some("frame-ancestors 'none'"), "{path}");
            assert_eq!(one("x-frame-options").as_deref(), Some("DENY"), "{path}");
        }
    }
    assert_eq!(one("strict-transport-security"), None, "{path}: no HSTS over plain HTTP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_is_nosniff_and_only_call_pages_may_be_framed() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), Default::default()).await;
    for (path, call) in PATHS {
        let (status, headers) = headers_of(&server, path).await;
        assert!(status != 500, "{path}: {status}");
        assert_headers(path, &headers, call.then_some("frame-ancestors *"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_limit_who_embeds_the_call_pages_and_their_redirects() {
    let file = toml::from_str(
        "[server]\nallowed_origins = [\"https://app.example.com\"]\n\
         [[servers]]\nid = \"serv7\"\nurl = \"https://serv7.example.com\"\n",
    )
    .unwrap();
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), CallConfig::from_file(&file).unwrap()).await;
    let policy = "frame-ancestors 'self' https://app.example.com";
    for (path, call) in PATHS {
        let (_, headers) = headers_of(&server, path).await;
        assert_headers(path, &headers, call.then_some(policy));
    }
    // A room of another server is a redirect there, with the same policy as the page it stands for.
    let (status, headers) = headers_of(&server, "/call/?roomId=serv7abc").await;
    assert_eq!(status, 307);
    assert_headers("/call/ redirect", &headers, Some(policy));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_responses_carry_strict_transport_security() {
    let p = Process::start("[tls]\nself_signed = true\n");
    let mut conn = raw::tls(p.port, &p.dir.0.join("data/tls/cert.pem")).await;
    for (path, call) in PATHS {
        let r = raw::get(&mut conn, path, &[]).await;
        assert_eq!(r.all("strict-transport-security"), ["max-age=31536000"], "{path}: {r:?}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        let framing = if call { "frame-ancestors *" } else { "frame-ancestors 'none'" };
        assert_eq!(r.header("content-security-policy"), Some(framing), "{path}");
    }
}
