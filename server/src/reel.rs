//! `podium reel RECORDING.mp4`: the highlight reel of a recording outside any server,
//! from the mp4 and its sidecar, by the same rules and code as the review page's
//! button (compositor::review::highlights).
use crate::cli::ReelArgs;
use anyhow::{bail, Context, Result};
use compositor::review::highlights;
use compositor::review::reel::Rules;
use compositor::output::sidecar::{Sidecar, Status};
use std::io::Write;

pub fn run(args: &ReelArgs) -> Result<()> {
    let recording = &args.recording;
    if !recording.is_file() {
        bail!("{} is not a file", recording.display());
    }
    let sidecar_path = recording.with_extension("json");
    let sidecar = Sidecar::read(&sidecar_path).with_context(|| format!("the reel needs the recording's sidecar, {}, beside it", sidecar_path.display()))?;
    if sidecar.status == Status::Recording {
        eprintln!("note: the sidecar says the recording was still running; the reel covers what the file holds");
    }
    let output = args.output.clone().unwrap_or_else(|| highlights::default_output(recording));
    let rules = Rules { max_total_ms: args.max_seconds * 1000, ..Rules::default() };
    let started = std::time::Instant::now();
    let mut stderr = std::io::stderr();
    let clips = highlights::build(recording, &sidecar, &rules, &output, |p| {
        let _ = write!(stderr, "\rcutting the highlights: {:>3.0} %", p * 100.0);
    })
    .with_context(|| format!("cannot make the reel of {}", recording.display()))?;
    eprintln!();
    let total: u64 = clips.iter().map(|c| c.source_end_ms - c.source_start_ms).sum();
    println!("{} clips, {:.1} s, in {} ({:.1} s to make):", clips.len(), total as f64 / 1000.0, output.display(), started.elapsed().as_secs_f64());
    for c in &clips {
        println!("  {:>9} - {:<9} {:<24} score {:.3}", clock(c.source_start_ms), clock(c.source_end_ms), c.name, c.score);
    }
    println!("clips listed in {}", highlights::clips_path(&output).display());
    Ok(())
}

/// `h:mm:ss.s` or `m:ss.s`.
fn clock(ms: u64) -> String {
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, (ms % 60_000) as f64 / 1000.0);
    if h > 0 { format!("{h}:{m:02}:{s:04.1}") } else { format!("{m}:{s:04.1}") }
}
