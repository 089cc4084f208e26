//! `GET /api/metrics`: the server's state in Prometheus's text format, for an operator's
//! scraper (an admin's bearer token: `podium token --role admin --ttl 365d`). What
//! `/api/health` says, and what a dashboard or an alert needs besides: the people, the
//! recordings and how far behind real time they are, the refusals by reason, the disk.
use super::extract::Auth;
use super::{ApiError, AppState};
use crate::recording::counts::Refusal;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::Arc;

/// The exposition format's content type (version 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<Arc<AppState>>, auth: Auth) -> Result<impl IntoResponse, ApiError> {
    auth.check(|a| a.may_administer("read the metrics"))?;
    let rooms = state.rooms.list().await;
    let participants: usize = rooms.iter().map(|r| r.participant_count()).sum();
    let workers = state.pool.health().await;
    let sockets: usize = state.sockets.lock().values().sum();
    let recorder = &state.recorder;
    let capacity = recorder.capacity().await;
    let counts = recorder.counts();
    let mut out = Exposition::default();
    out.gauge("podium_workers", "mediasoup workers", workers.len() as f64);
    out.gauge("podium_workers_alive", "mediasoup workers alive (fewer than podium_workers: /api/health answers 503)", workers.iter().filter(|w| w.alive).count() as f64);
    out.gauge("podium_rooms", "rooms open", rooms.len() as f64);
    out.gauge("podium_participants", "people in the rooms", participants as f64);
    out.gauge("podium_signaling_sockets", "signaling sockets open", sockets as f64);
    out.gauge("podium_recordings_running", "recordings running or starting", capacity.running as f64);
    out.gauge("podium_recordings_capacity_estimate", "recordings of the server's settings that could run now in all (admission's estimate)", capacity.capacity_estimate as f64);
    out.gauge("podium_recording_lag_seconds_max", "how far the running recording furthest behind real time is", recorder.worst_lag().as_secs_f64());
    out.counter("podium_recordings_started_total", "recordings started", counts.started);
    out.counter("podium_recordings_start_failed_total", "recording starts admitted that failed before running (the log says why)", counts.start_failed);
    out.counter("podium_recordings_finished_total", "recordings that ended normally", counts.finished);
    out.counter("podium_recordings_failed_total", "recordings an error stopped (their file up to then plays)", counts.failed);
    out.header("podium_recordings_refused_total", "recording starts refused, by reason", "counter");
    for why in Refusal::ALL {
        out.sample("podium_recordings_refused_total", Some(("reason", why.label())), counts.refused(why) as f64);
    }
    if let Some(free) = recorder.disk_free().await {
        out.gauge("podium_recordings_disk_free_bytes", "free space on the recordings' disk", free as f64);
    }
    out.header("podium_build_info", "the running version", "gauge");
    out.sample("podium_build_info", Some(("version", env!("CARGO_PKG_VERSION"))), 1.0);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], out.text))
}

/// Prometheus's text format: a HELP and TYPE line per metric, then its samples. Names,
/// labels and help texts are this file's own constants (never a client's text).
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, label: Option<(&str, &str)>, value: f64) {
        match label {
            Some((key, v)) => {
                let _ = writeln!(self.text, "{name}{{{key}=\"{v}\"}} {value}");
            }
            None => {
                let _ = writeln!(self.text, "{name} {value}");
            }
        }
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "gauge");
        self.sample(name, None, value);
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, help, "counter");
        self.sample(name, None, value as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_written_in_prometheus_text_format() {
        let mut out = Exposition::default();
        out.gauge("podium_rooms", "rooms open", 3.0);
        out.gauge("podium_recording_lag_seconds_max", "lag", 0.25);
        out.counter("podium_recordings_started_total", "started", 12);
        out.header("podium_recordings_refused_total", "refused", "counter");
        out.sample("podium_recordings_refused_total", Some(("reason", "disk")), 2.0);
        assert_eq!(
            out.text,
            "# HELP podium_rooms rooms open\n# TYPE podium_rooms gauge\npodium_rooms 3\n\
             # HELP podium_recording_lag_seconds_max lag\n# TYPE podium_recording_lag_seconds_max gauge\npodium_recording_lag_seconds_max 0.25\n\
             # HELP podium_recordings_started_total started\n# TYPE podium_recordings_started_total counter\npodium_recordings_started_total 12\n\
             # HELP podium_recordings_refused_total refused\n# TYPE podium_recordings_refused_total counter\npodium_recordings_refused_total{reason=\"disk\"} 2\n"
        );
    }
}
