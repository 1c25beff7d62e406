//! The real server loop over real sockets: slow clients are disconnected after the read
//! timeouts, complete requests are answered with the peer address known, and shutdown lets
//! requests in flight finish.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use latchkey_web::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::harness::TestApp;

const TIMEOUT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to close a connection before calling it a failure:
/// far above the timeouts under test, far below "for ever".
const OUTER_DEADLINE: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Fires when the server has taken the shutdown signal (stopped accepting).
    stopping: Option<oneshot::Receiver<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(router: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = oneshot::channel();
    let (stopping_tx, stopping) = oneshot::channel();
    let options = ServeOptions {
        header_read_timeout: TIMEOUT,
        body_read_timeout: TIMEOUT,
        shutdown_grace: OUTER_DEADLINE,
    };
    let task = tokio::spawn(latchkey_web::serve(listener, router, options, async move {
        let _ = stop_rx.await;
        let _ = stopping_tx.send(());
    }));
    Server {
        addr,
        stop: Some(stop),
        stopping: Some(stopping),
        task,
    }
}

/// Reads until the server closes the connection; returns what it sent and when it closed,
/// counted from `since`. Fails the test if the connection is still open after the outer
/// deadline.
async fn read_until_closed(stream: &mut TcpStream, since: Instant) -> (String, Duration) {
    let mut received = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(OUTER_DEADLINE, read)
        .await
        .unwrap_or_else(|_| panic!("the server kept the connection open for {OUTER_DEADLINE:?}"));
    (
        String::from_utf8_lossy(&received).into_owned(),
        since.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_stops_in_its_request_line_is_disconnected_after_the_header_timeout() {
    let app = TestApp::sqlite().await;
    let server = start(app.router.clone()).await;
    let since = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /livez HT").await.unwrap();
    let (answer, after) = read_until_closed(&mut stream, since).await;
    eprintln!("half a request line: closed after {after:?}, answer {answer:?}");
    assert!(after >= TIMEOUT, "closed after {after:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_client_that_stops_half_way_through_its_body_is_disconnected_after_the_body_timeout() {
    let app = TestApp::sqlite().await;
    let server = start(app.router.clone()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let body = r#"{"email": "nobody@example.com", "password": "guess-guess-guess"}"#;
    let head = format!(
        "POST /api/v1/sessions HTTP/1.1\r\nHost: latchkey.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    let since = Instant::now();
    let (answer, after) = read_until_closed(&mut stream, since).await;
    eprintln!("half a body: closed after {after:?}");
    assert!(after >= TIMEOUT, "closed after {after:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn complete_requests_are_answered_with_the_peer_known_and_idle_connections_end() {
    let app = TestApp::sqlite().await;
    let server = start(app.router.clone()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let body = r#"{"email": "nobody@example.com", "password": "guess-guess-guess"}"#;
    let requests = format!(
        "GET /livez HTTP/1.1\r\nHost: latchkey.test\r\n\r\nGET /healthz HTTP/1.1\r\nHost: latchkey.test\r\n\r\nPOST /api/v1/sessions HTTP/1.1\r\nHost: latchkey.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(requests.as_bytes()).await.unwrap();
    // Three answers on one kept-alive connection, then nothing more is sent: the connection
    // is closed once it has been idle for the header timeout.
    let since = Instant::now();
    let (answers, after) = read_until_closed(&mut stream, since).await;
    eprintln!("kept-alive connection: closed after {after:?}");
    let statuses: Vec<&str> = answers
        .lines()
        .filter(|line| line.starts_with("HTTP/1.1 "))
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 401 Unauthorized"
        ],
        "{answers}"
    );
    assert!(after >= TIMEOUT, "closed after {after:?}");
    let audited: Vec<String> = app
        .store
        .recent_audit(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.client_addr)
        .collect();
    assert_eq!(audited, ["127.0.0.1"], "the peer reaches the handlers");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_the_request_in_flight_finish() {
    let (started_tx, mut started) = mpsc::channel::<()>(1);
    let (release, release_rx) = oneshot::channel::<()>();
    let release_rx = std::sync::Mutex::new(Some(release_rx));
    let release_rx = std::sync::Arc::new(release_rx);
    let router = Router::new().route(
        "/slow",
        get(move || {
            let started_tx = started_tx.clone();
            let release_rx = release_rx.lock().unwrap().take();
            async move {
                let _ = started_tx.send(()).await;
                if let Some(release) = release_rx {
                    let _ = release.await;
                }
                "finished\n"
            }
        }),
    );
    let mut server = start(router).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: latchkey.test\r\n\r\n")
        .await
        .unwrap();
    started.recv().await.unwrap();

    server.stop.take().unwrap().send(()).unwrap();
    server.stopping.take().unwrap().await.unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no new connection once shutting down"
    );
    assert!(!server.task.is_finished(), "a request is still in flight");

    release.send(()).unwrap();
    let (answer, _) = read_until_closed(&mut stream, Instant::now()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("finished\n"), "{answer}");
    tokio::time::timeout(OUTER_DEADLINE, server.task)
        .await
        .expect("the server returns once the request has finished")
        .unwrap()
        .unwrap();
}
