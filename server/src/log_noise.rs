//! Log lines that cry wolf, kept out of the log. An ERROR an operator cannot act on teaches
//! them to skip ERRORs; each line dropped here is named, with the reason it is benign.
//!
//! - mediasoup's Rust crate logs "Producer for dominant speaker event not found" at
//!   ERROR when its ActiveSpeakerObserver names a producer that closed while the
//!   worker's notification was on its way (someone left as they were the dominant
//!   speaker). mediasoup's Node layer ignores that notification without a word; the
//!   room's own speaker detector, fed the AudioLevelObserver, already dropped the
//!   participant on their leave. Found by a churn probe: 58 joins and leaves gave one.
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The benign lines, all logged at ERROR: (target, the message's start).
const BENIGN: &[(&str, &str)] = &[("mediasoup::router::active_speaker_observer", "Producer for dominant speaker event not found")];

/// A layer that disables the events of [`BENIGN`] for the whole subscriber.
#[derive(Debug, Default, Clone, Copy)]
pub struct DropBenign;

impl<S: Subscriber> Layer<S> for DropBenign {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        // All of them are ERRORs: nothing else is looked into (mediasoup's debug lines,
        // with RUST_LOG=debug, are many).
        if *event.metadata().level() != tracing::Level::ERROR {
            return true;
        }
        // Libraries that log through the `log` crate (mediasoup) come in through the
        // bridge's own callsite, target "log", with their target as a field.
        let target = event.metadata().target();
        if target != "log" && !BENIGN.iter().any(|(t, _)| *t == target) {
            return true;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = fields.log_target.as_deref().unwrap_or(target);
        !BENIGN.iter().any(|(t, start)| *t == target && fields.message.starts_with(start))
    }
}

/// An event's message and, from the `log` bridge, its target, as text.
#[derive(Default)]
struct Fields {
    message: String,
    log_target: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "log.target" => self.log_target = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "log.target" => self.log_target = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// Collects the messages that got through.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.message);
        }
    }

    #[test]
    fn the_named_benign_error_is_dropped_and_everything_else_kept() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(DropBenign).with(seen.clone());
        // mediasoup logs through the `log` crate, bridged as `init` does (the logger is
        // global; the bridge sends to this thread's subscriber).
        let _ = tracing_log::LogTracer::init();
        tracing::subscriber::with_default(subscriber, || {
            let id = "c0ffee00-0000-4000-8000-000000000000";
            // The very call in mediasoup 0.33.1's router/active_speaker_observer.rs.
            log::error!(target: "mediasoup::router::active_speaker_observer", "Producer for dominant speaker event not found: {}", id);
            log::error!(target: "mediasoup::router::active_speaker_observer", "Failed to parse notification: {}", "bad");
            log::error!(target: "mediasoup::router::audio_level_observer", "Producer for dominant speaker event not found: {}", id);
            tracing::error!(target: "mediasoup::router::active_speaker_observer", "Producer for dominant speaker event not found: {}", id);
            tracing::warn!("Producer for dominant speaker event not found, in Podium's own words");
        });
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "Failed to parse notification: bad",
                "Producer for dominant speaker event not found: c0ffee00-0000-4000-8000-000000000000",
                "Producer for dominant speaker event not found, in Podium's own words"
            ],
            "only the one line, from its own module, is dropped (through the bridge or not)"
        );
    }
}
