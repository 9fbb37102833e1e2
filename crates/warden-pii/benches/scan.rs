//! Scan throughput on 1 KB and 32 KB of chat-like text, with and without PII,
//! against a baseline in the same run: one pass of `memchr` for `@` over the
//! same bytes (the floor for touching every byte).
//!
//! Run: `cargo bench -p warden-pii`.
#![expect(clippy::print_stdout, reason = "benchmark")]

use std::hint::black_box;
use std::time::Instant;

fn text(bytes: usize, pii: bool) -> String {
    let clean = "Please summarise the quarterly report and list the three biggest risks, \
                 with owners and dates, in a short table. ";
    let dirty = "Contact jane.doe@example.com, card 4111 1111 1111 1111, from 10.0.12.7. ";
    let mut s = String::with_capacity(bytes + 200);
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(if pii && i % 4 == 3 { dirty } else { clean });
        i += 1;
    }
    s.truncate(bytes);
    s
}

fn mb_per_s(bytes: usize, iters: u32, start: Instant) -> f64 {
    (bytes as f64 * f64::from(iters)) / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    for (size, iters) in [(1024, 20_000), (32 * 1024, 1_000)] {
        for pii in [false, true] {
            let t = text(size, pii);
            let start = Instant::now();
            for _ in 0..iters {
                black_box(memchr_count(black_box(t.as_bytes())));
            }
            let floor = mb_per_s(size, iters, start);
            let start = Instant::now();
            let mut findings = 0;
            for _ in 0..iters {
                findings = black_box(warden_pii::scan(black_box(&t))).len();
            }
            let scan = mb_per_s(size, iters, start);
            println!(
                "{:>5} B, pii={pii:<5}: scan {scan:>8.1} MB/s ({findings} findings); byte-pass floor {floor:>8.1} MB/s; ratio {:.3}",
                size,
                scan / floor
            );
        }
    }
}

fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'@').count()
}
