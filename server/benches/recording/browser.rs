//! The browser-compositing recorder (placeholder: being written).
use super::Env;

pub async fn run(_env: &Env) {
    println!("browser: not written yet");
}
