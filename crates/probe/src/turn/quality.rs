//! Relay quality: a short, bounded burst of numbered packets through the
//! relay to the echo peer, giving RTT percentiles, loss and throughput.

use model::turn::RelayQuality;
use std::net::SocketAddr;
use std::time::Duration;

/// Shape of the quality burst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualityConfig {
    /// Packets to send.
    pub packets: u32,
    /// Payload size in bytes (at least 16).
    pub payload_bytes: usize,
    /// Gap between packets.
    pub interval: Duration,
    /// Hard cap on the whole burst, including waiting for stragglers.
    pub max_duration: Duration,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            packets: 50,
            payload_bytes: 160,
            interval: Duration::from_millis(2),
            max_duration: Duration::from_secs(2),
        }
    }
}

const MAGIC: &[u8; 8] = b"NSQBURST";

/// Percentile (0..=100) of sorted values, nearest-rank.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub(crate) async fn run_burst<B: BurstIo>(
    io: &mut B,
    peer: SocketAddr,
    cfg: &QualityConfig,
) -> RelayQuality {
    let start = tokio::time::Instant::now();
    let end = start + cfg.max_duration;
    let size = cfg.payload_bytes.max(16);
    let mut sent_at: Vec<Option<tokio::time::Instant>> = vec![None; cfg.packets as usize];
    let mut rtts: Vec<Option<f64>> = vec![None; cfg.packets as usize];
    let mut next = 0u32;
    let mut next_send = start;
    let mut received_bytes = 0usize;
    while tokio::time::Instant::now() < end {
        let now = tokio::time::Instant::now();
        if next < cfg.packets && now >= next_send {
            let mut p = Vec::with_capacity(size);
            p.extend_from_slice(MAGIC);
            p.extend_from_slice(&next.to_be_bytes());
            p.resize(size, 0xA5);
            sent_at[next as usize] = Some(tokio::time::Instant::now());
            if !io.send(peer, &p).await {
                break;
            }
            next += 1;
            next_send += cfg.interval;
            continue;
        }
        if next >= cfg.packets && rtts.iter().all(|r| r.is_some()) {
            break;
        }
        // Once all went out, a lost packet is waited for as long as three
        // of the slowest round trips seen (at least 250 ms), not until
        // `max_duration`.
        let last_wait = {
            let slowest = rtts.iter().flatten().copied().fold(0.0_f64, f64::max);
            Duration::from_secs_f64((3.0 * slowest / 1000.0).max(0.25))
        };
        let end = if next >= cfg.packets {
            end.min(next_send + last_wait)
        } else {
            end
        };
        if now >= end {
            break;
        }
        let wake = if next < cfg.packets {
            next_send.min(end)
        } else {
            end
        };
        for d in io.recv_until(wake).await {
            if d.len() >= 12 && &d[..8] == MAGIC {
                let seq = u32::from_be_bytes([d[8], d[9], d[10], d[11]]) as usize;
                if let (Some(Some(t)), Some(slot)) = (sent_at.get(seq), rtts.get_mut(seq))
                    && slot.is_none()
                {
                    *slot = Some(t.elapsed().as_secs_f64() * 1000.0);
                    received_bytes += d.len();
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-3);
    let mut got: Vec<f64> = rtts.iter().flatten().copied().collect();
    got.sort_by(|a, b| a.total_cmp(b));
    let received = got.len() as u32;
    let sent = next;
    RelayQuality {
        sent,
        received,
        loss_percent: if sent == 0 {
            0.0
        } else {
            100.0 * f64::from(sent - received.min(sent)) / f64::from(sent)
        },
        rtt_p50_ms: percentile(&got, 50.0),
        rtt_p95_ms: percentile(&got, 95.0),
        throughput_kbps: (received_bytes as f64 * 8.0 / 1000.0) / elapsed,
    }
}

/// Access for the quality burst.
pub(crate) trait BurstIo {
    /// Sends one payload to the peer through the relay.
    fn send(
        &mut self,
        peer: SocketAddr,
        payload: &[u8],
    ) -> impl std::future::Future<Output = bool> + Send;
    /// Waits until `deadline` for peer data; returns what arrived.
    fn recv_until(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> impl std::future::Future<Output = Vec<Vec<u8>>> + Send;
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
