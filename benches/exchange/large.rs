//! One very large envelope, streamed in and out; what is measured is the
//! broker's memory (its peak RSS), and the time each way.

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use ponte::client::Client;
use ponte::documents::party::Prepared;
use ponte::documents::DocumentId;
use ponte::jose::Jwk;

use crate::setup::rss_mib;

/// Submits an envelope of about `size` bytes made from `template`'s
/// header (its ciphertext a run of `A`s, its manifest signed anew), then
/// retrieves it, and prints the times and the broker's peak RSS.
pub async fn in_and_out(
    mission: &Client,
    case: &str,
    signing: &Jwk,
    template: &Prepared,
    size: u64,
    broker_pid: u32,
    idle_rss: f64,
) {
    let jwe: serde_json::Value = serde_json::from_slice(&template.envelope).unwrap();
    let prefix = format!(
        "{{\"protected\":{},\"recipients\":{},\"iv\":{},\"tag\":{},\"ciphertext\":\"",
        jwe["protected"], jwe["recipients"], jwe["iv"], jwe["tag"]
    );
    let suffix = "\"}";
    let chunk = Bytes::from(vec![b'A'; 1 << 20]);
    let chunks = size / chunk.len() as u64;
    let total = prefix.len() as u64 + chunks * chunk.len() as u64 + suffix.len() as u64;
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    hasher.update(prefix.as_bytes());
    for _ in 0..chunks {
        hasher.update(&chunk);
    }
    hasher.update(suffix.as_bytes());
    let mut manifest = template.manifest.clone();
    manifest.document_id = DocumentId::generate();
    manifest.envelope_sha256 = ponte::pki::hex(hasher.finish().as_ref());
    let token = manifest.sign(signing).unwrap();
    let parts = std::iter::once(Bytes::from(prefix.clone()))
        .chain(std::iter::repeat_n(chunk.clone(), chunks as usize))
        .chain(std::iter::once(Bytes::from_static(suffix.as_bytes())));
    let body =
        reqwest::Body::wrap_stream(futures::stream::iter(parts.map(Ok::<_, std::io::Error>)));
    let started = Instant::now();
    let (status, _) = mission.submit(case, &token, body).await.unwrap();
    let up = started.elapsed();
    assert_eq!(status, 201);
    let (peak_in, _) = rss_mib(broker_pid);
    let started = Instant::now();
    let response = mission
        .http()
        .get(mission.url(&format!(
            "/v1/documents/{}/envelope?purpose=best_interest_assessment",
            manifest.document_id
        )))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(piece) = stream.next().await {
        received += piece.unwrap().len() as u64;
    }
    let down = started.elapsed();
    assert_eq!(received, total);
    let (peak, _) = rss_mib(broker_pid);
    println!(
        "{} MiB envelope: in {:.1?} ({:.0} MiB/s), out {:.1?} ({:.0} MiB/s); broker RSS idle {:.0} MiB, peak after upload {:.0} MiB, peak overall {:.0} MiB (target < 128 MiB)",
        total >> 20,
        up,
        total as f64 / 1048576.0 / up.as_secs_f64(),
        down,
        total as f64 / 1048576.0 / down.as_secs_f64(),
        idle_rss,
        peak_in,
        peak
    );
}
