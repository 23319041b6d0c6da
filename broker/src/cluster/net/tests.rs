//! The pooled transport against a loopback server: many calls in flight on one connection with
//! replies out of order, reconnecting after the server restarts, deadlines, unreachable peers.
#![allow(clippy::unwrap_used)]

use super::*;
use std::sync::atomic::AtomicUsize;
use tokio::net::TcpListener;

/// Serves `listener` with a handler that answers `Heartbeat { id }` with `Error(id)` after
/// `id * 10 ms` (so later requests overtake earlier ones); counts accepted connections.
fn serve(listener: TcpListener, accepted: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            connections.spawn(serve_connection(stream, |req| async move {
                match req {
                    Request::Heartbeat { id } => {
                        let wait = u64::try_from(id).unwrap_or(0) * 10;
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                        Reply::Error(id.to_string())
                    }
                    _ => Reply::Ack,
                }
            }));
        }
    })
}

async fn heartbeat(addr: &str, id: i32, timeout: Duration) -> Result<Reply, TransportError> {
    call(addr, &Request::Heartbeat { id }, timeout).await
}

#[tokio::test]
async fn many_calls_share_one_connection_and_replies_match_their_requests() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = serve(listener, Arc::clone(&accepted));
    // The slowest first: each reply arrives before the ones sent earlier.
    let calls = (0..20)
        .rev()
        .map(|id| {
            let addr = addr.clone();
            tokio::spawn(async move { (id, heartbeat(&addr, id, Duration::from_secs(10)).await) })
        })
        .collect::<Vec<_>>();
    for call in calls {
        let (id, reply) = call.await.unwrap();
        assert!(matches!(reply, Ok(Reply::Error(ref got)) if *got == id.to_string()));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn a_restarted_server_is_reconnected_to() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = serve(listener, Arc::clone(&accepted));
    assert!(heartbeat(&addr, 0, Duration::from_secs(5)).await.is_ok());
    // Stopping the server drops its connections: the client sees the close.
    server.abort();
    let _ = server.await;
    let listener = TcpListener::bind(&addr).await.unwrap();
    let server = serve(listener, Arc::clone(&accepted));
    // Bounded: the backoff is at most 500 ms.
    let mut ok = false;
    for _ in 0..40 {
        if heartbeat(&addr, 0, Duration::from_secs(5)).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "no reply after the server restarted");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    server.abort();
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out_and_the_silent_connection_is_replaced() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = serve(listener, Arc::clone(&accepted));
    // Heartbeat 100 answers after a second: past a 100 ms deadline.
    let err = heartbeat(&addr, 100, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    // Nothing came back while it waited, so the next call opens a new connection.
    let mut ok = false;
    for _ in 0..40 {
        if heartbeat(&addr, 0, Duration::from_secs(5)).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    server.abort();
}

#[tokio::test]
async fn an_unreachable_peer_fails_fast_while_backing_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = heartbeat(&addr, 0, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    let started = std::time::Instant::now();
    let err = heartbeat(&addr, 0, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A server on the previous transport: one bare request, one bare reply, per read.
fn serve_legacy(listener: TcpListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(async move {
                let mut framed = tokio_util::codec::Framed::new(stream, frame_codec());
                while let Some(Ok(frame)) = framed.next().await {
                    let Ok(request) = serde_json::from_slice::<Request>(&frame) else {
                        return;
                    };
                    let reply = match request {
                        Request::Heartbeat { id } => Reply::Error(id.to_string()),
                        _ => Reply::Ack,
                    };
                    let bytes = serde_json::to_vec(&reply).unwrap();
                    if framed.send(Bytes::from(bytes)).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

#[tokio::test]
async fn a_peer_on_the_previous_transport_is_answered_and_asked_the_old_way() {
    // New client, old server: the first call falls back, later ones go straight to it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = serve_legacy(listener);
    for id in 0..3 {
        let reply = heartbeat(&addr, id, Duration::from_secs(5)).await.unwrap();
        assert!(matches!(reply, Reply::Error(ref got) if *got == id.to_string()));
    }
    server.abort();

    // Old client, new server: bare frames are answered with bare frames, in order.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = serve(listener, Arc::new(AtomicUsize::new(0)));
    let stream = TcpStream::connect(&addr).await.unwrap();
    let mut framed = tokio_util::codec::Framed::new(stream, frame_codec());
    for id in [3, 0] {
        let bytes = serde_json::to_vec(&Request::Heartbeat { id }).unwrap();
        framed.send(Bytes::from(bytes)).await.unwrap();
        let frame = framed.next().await.unwrap().unwrap();
        let reply: Reply = serde_json::from_slice(&frame).unwrap();
        assert!(matches!(reply, Reply::Error(ref got) if *got == id.to_string()));
    }
    server.abort();
}
