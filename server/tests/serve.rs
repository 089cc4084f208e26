//! The real `podium serve`: health, web UI, shutdown and bad flags.
mod common;

use common::{descendants, is_alive, temp_dir, Server};
use std::process::Command;
use std::time::Duration;

#[test]
fn health_reports_every_worker() {
    let server = Server::start(&["--workers", "2"]);
    let health: serde_json::Value = ureq::get(&server.url("/api/health")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let workers = health["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{health}");
    for w in workers {
        assert_eq!(w["alive"], true, "{w}");
        assert!(w["udp_port"].as_u64().unwrap() > 0, "worker has no WebRTC UDP port: {w}");
        assert!(w["tcp_port"].as_u64().unwrap() > 0, "worker has no WebRTC TCP port: {w}");
    }
}

#[test]
fn rtc_tcp_off_listens_for_media_on_udp_only() {
    let server = Server::start(&["--workers", "1", "--rtc-tcp", "off"]);
    let health: serde_json::Value = ureq::get(&server.url("/api/health")).call().unwrap().body_mut().read_json().unwrap();
    let worker = &health["workers"][0];
    let udp_port = worker["udp_port"].as_u64().unwrap();
    assert!(udp_port > 0, "{health}");
    assert_eq!(worker["tcp_port"], 0, "{health}");
    // Nothing takes TCP on the media port.
    let refused = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], udp_port as u16).into(), Duration::from_secs(2));
    assert!(refused.is_err(), "TCP connected to the media port with --rtc-tcp off");
}

#[test]
fn serves_the_web_ui_and_json_404s() {
    let server = Server::start(&["--workers", "1"]);
    let mut page = ureq::get(&server.url("/")).call().unwrap();
    let html = page.body_mut().read_to_string().unwrap();
    assert!(html.contains("Podium"), "{html}");
    // Page routes of the single-page UI get the same page.
    assert_eq!(ureq::get(&server.url("/rooms/standup")).call().unwrap().status(), 200);
    let err = ureq::get(&server.url("/api/nope")).call().unwrap_err();
    assert!(matches!(err, ureq::Error::StatusCode(404)), "{err:?}");
}

#[test]
fn sigterm_stops_within_5_s_and_leaves_no_child() {
    let mut server = Server::start(&["--workers", "2"]);
    // The server answers before we stop it, so shutdown has something to close.
    ureq::get(&server.url("/api/health")).call().unwrap();
    let children = descendants(server.pid());
    let (status, took) = server.terminate(Duration::from_secs(5));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    for pid in children {
        assert!(!is_alive(pid), "child process {pid} outlived the server");
    }
}

fn podium(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_podium")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_flag_error(args: &[&str], flag: &str) {
    let (code, stderr) = podium(args);
    assert_eq!(code, 2, "exit code for {args:?}; stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.contains(flag), "does not name {flag}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn bad_flags_get_one_line_naming_the_flag_and_exit_2() {
    let ok_dir = temp_dir("flags");
    let ok_dir = ok_dir.to_str().unwrap();
    assert_flag_error(&["serve", "--listen", "nonsense", "--recordings-dir", ok_dir], "--listen");
    assert_flag_error(&["serve", "--recordings-dir", "/proc/podium-cannot-be-here"], "--recordings-dir");
    assert_flag_error(&["serve", "--workers", "0", "--recordings-dir", ok_dir], "--workers");
    assert_flag_error(&["serve", "--rtc-port", "70000", "--recordings-dir", ok_dir], "--rtc-port");
    assert_flag_error(&["serve", "--bogus"], "--bogus");
    assert_flag_error(&["serve", "--listen", "0.0.0.0:0", "--recordings-dir", ok_dir], "--announced-ip");
}

#[test]
fn env_fallback_is_honoured_and_named_in_help() {
    let (code, stderr) = {
        let out = Command::new(env!("CARGO_BIN_EXE_podium"))
            .args(["serve"])
            .env("PODIUM_LISTEN", "nonsense")
            .output()
            .unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    let help = Command::new(env!("CARGO_BIN_EXE_podium")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for env in ["PODIUM_LISTEN", "PODIUM_RECORDINGS_DIR", "PODIUM_ANNOUNCED_IP", "PODIUM_RTC_PORT", "PODIUM_WORKERS"] {
        assert!(help.contains(env), "--help does not mention {env}");
    }
}
