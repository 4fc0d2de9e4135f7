//! The store at network distance: a TCP relay that delays what crosses it
//! (`PONTE_BENCH_STORE_RTT_MS`).

use std::time::Duration;

use bytes::Bytes;

/// A TCP relay on loopback to `target` (`host:port`) that delivers every
/// piece of data `one_way` after it arrived, in both directions; returns
/// its `http://` endpoint.
///
/// It runs on a thread and runtime of its own, as a network is not part of
/// the client: on the benchmark's runtime its pieces would wait behind
/// whatever the client's tasks are doing, which, for the broker, includes
/// TLS the raw baseline does not have, and the relay would add more delay
/// on the broker's path than on the baseline's.
pub fn store_at_distance(target: String, one_way: Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(relay(listener, target, one_way));
    });
    endpoint
}

/// Relays each connection `listener` accepts to `target`, delayed.
async fn relay(listener: std::net::TcpListener, target: String, one_way: Duration) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    while let Ok((inbound, _)) = listener.accept().await {
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                return;
            };
            for stream in [&inbound, &outbound] {
                stream.set_nodelay(true).unwrap();
            }
            let (from_client, to_client) = inbound.into_split();
            let (from_store, to_store) = outbound.into_split();
            tokio::join!(
                delayed_copy(from_client, to_store, one_way),
                delayed_copy(from_store, to_client, one_way)
            );
        });
    }
}

/// Copies `from` to `to`, each piece (and the end) `delay` after it was read.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Bytes)>();
    let read = async move {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let due = tokio::time::Instant::now() + delay;
            // An empty piece is the end of the stream.
            if tx.send((due, Bytes::copy_from_slice(&buf[..n]))).is_err() || n == 0 {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, piece)) = rx.recv().await {
            if !delay.is_zero() {
                tokio::time::sleep_until(due).await;
            }
            let sent = if piece.is_empty() {
                to.shutdown().await
            } else {
                to.write_all(&piece).await
            };
            if sent.is_err() || piece.is_empty() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}
