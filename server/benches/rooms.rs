//! Memory per room (docs/benchmarks.md): the server's resident memory as rooms are made
//! and left, each by one participant that joins (the room is made), creates a transport
//! and leaves (the room closes): every step awaits the mediasoup worker, as a browser's
//! join does. A server that keeps anything per room or per session grows in step.
//!
//!     [PODIUM_BEFORE_BIN=OLD/podium] cargo bench -p server --bench rooms -- [ROOMS]   (default 21000)
//!
//! With `PODIUM_BEFORE_BIN`, that build is churned first, then this one, in one run.
//!
//! Clients come from 127.0.2.1 … 127.0.3.254, so that the per-client join pace (60,
//! then 10 a second) does not hold the churn back. The figure: the growth per room
//! from the first checkpoint (allocator warm) to the last.
#[path = "../tests/common/ws.rs"]
#[allow(dead_code)]
mod ws;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHECKPOINT: usize = 3000;
const CLIENTS_AT_ONCE: usize = 4;

fn main() {
    let rooms: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(21_000);
    if let Some(before) = std::env::var_os("PODIUM_BEFORE_BIN") {
        println!("== the build before ({})", before.to_string_lossy());
        churn(std::path::Path::new(&before), rooms);
        println!("== this build");
    }
    churn(std::path::Path::new(env!("CARGO_BIN_EXE_podium")), rooms);
}

/// Makes and leaves `rooms` rooms on a new server of `binary`, printing its memory.
fn churn(binary: &std::path::Path, rooms: usize) {
    let dir = std::env::temp_dir().join(format!("podium-bench-rooms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--rtc-port", "0", "--workers", "1", "--recordings-dir"])
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn podium");
    let stdout = child.stdout.take().unwrap();
    let base = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("Podium is running on ").map(|u| u.trim().to_string()))
        .expect("podium reported no address");
    let pid = child.id();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("rooms\tRSS (kB)\trooms/s");
    let start_rss = rss_kb(pid);
    println!("0\t{start_rss}\t");
    let made = Arc::new(AtomicUsize::new(0));
    let mut checkpoints = Vec::new();
    while made.load(Ordering::SeqCst) < rooms {
        let began = Instant::now();
        let before = made.load(Ordering::SeqCst);
        let target = (before + CHECKPOINT).min(rooms);
        runtime.block_on(async {
            let tasks: Vec<_> = (0..CLIENTS_AT_ONCE)
                .map(|worker| {
                    let (base, made) = (base.clone(), Arc::clone(&made));
                    tokio::spawn(async move {
                        loop {
                            let n = made.fetch_add(1, Ordering::SeqCst);
                            if n >= target {
                                made.fetch_sub(1, Ordering::SeqCst);
                                return;
                            }
                            one_room(&base, n, worker).await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        // Let the last sessions end and their rooms close.
        std::thread::sleep(Duration::from_secs(1));
        let n = made.load(Ordering::SeqCst);
        let rss = rss_kb(pid);
        println!("{n}\t{rss}\t{:.0}", (n - before) as f64 / began.elapsed().as_secs_f64());
        checkpoints.push((n, rss));
    }
    if let (Some(&(n0, r0)), Some(&(n1, r1))) = (checkpoints.first(), checkpoints.last()) {
        if n1 > n0 {
            println!("growth from {n0} to {n1} rooms: {:.2} KB per room ({} kB in all)", (r1 as f64 - r0 as f64) / (n1 - n0) as f64, r1 as i64 - r0 as i64);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One room's life: join (the room is made), a transport, leave (the room closes).
async fn one_room(base: &str, n: usize, worker: usize) {
    // 127.0.2.0 … 127.0.3.255 without .0 and .255: 508 clients, each making a room
    // every 508th time, far under its join pace.
    let k = n % 508;
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 2 + (k / 254) as u8, 1 + (k % 254) as u8));
    let mut c = ws::Client::connect_from(base, &format!("churn-{worker}-{n}"), source).await;
    c.ok("join", json!({"name": "Churn"})).await;
    c.ok("create_transport", json!({"direction": "send"})).await;
    c.ok("leave", json!({})).await;
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}
