//! Issue 18, item 6: `/debug/*` behind a reverse proxy on the same host. Every request then comes from
//! loopback, so the routes need the operator's token, and never return the relay's secrets.

mod common;

use common::*;
use serde_json::json;

/// A TCP forwarder on loopback, as a reverse proxy on the same host is to the server.
async fn proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_routes_need_the_operators_token_and_hide_secrets() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), Default::default()).await;
    let (mut ws, m) = join(&server, "serv0dbg", Some("p1"), json!({})).await;
    assert_eq!(m["type"], "joined");
    // The participant's ICE password, as its offer carries it.
    let offer = next_of(&mut ws, &["offer"]).await;
    let sdp = offer["sdp"].as_str().unwrap();
    let pwd = sdp.lines().find_map(|l| l.strip_prefix("a=ice-pwd:")).unwrap().trim().to_string();
    let via_proxy = proxy(server.addr).await;
    let url = |path: &str| format!("http://{via_proxy}{path}");
    for path in ["/debug/relay/rooms/serv0dbg", "/debug/relay/stats"] {
        let r = http().get(url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without credentials through a proxy");
        let r = http().get(url(path)).header("authorization", "Bearer wrong").send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
        let r = http().get(url(path)).header("authorization", format!("APIKey {CONFIG_TOKEN}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}: a Server API token is not the operator's debug token");
        let r = http().get(url(path)).header("authorization", format!("Bearer {DEBUG_TOKEN}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} with the operator's token");
        let body = r.text().await.unwrap();
        assert!(!body.contains(&pwd), "{path} returns the ICE password: {body}");
    }
    let r = http()
        .get(url("/debug/relay/rooms/serv0dbg"))
        .header("authorization", format!("Bearer {DEBUG_TOKEN}"))
        .send()
        .await
        .unwrap();
    let dump = r.json_value().await;
    assert!(dump.to_string().contains("<redacted>"), "{dump}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_routes_are_off_unless_configured() {
    let server = common::process::Process::start("");
    let via_proxy = proxy(format!("127.0.0.1:{}", server.port).parse().unwrap()).await;
    for path in ["/debug/relay/rooms/serv0x", "/debug/relay/stats"] {
        let r = http().get(format!("http://{via_proxy}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let direct = http().get(server.url(path)).header("authorization", "Bearer anything").send().await.unwrap();
        assert_eq!(direct.status(), 404, "{path} from loopback");
    }
}
