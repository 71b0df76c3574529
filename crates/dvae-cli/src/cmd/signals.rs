//! SIGINT (Ctrl-C) and SIGTERM (what batch schedulers such as SLURM and Kubernetes send
//! before SIGKILL) stop a long command after its next checkpoint instead of killing it; the
//! command then exits with 128 + the signal's number, as a shell reports a process that the
//! signal ended: 130 for SIGINT, 143 for SIGTERM.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The number of the last signal that asked to stop (0: none yet).
fn received() -> &'static Arc<AtomicUsize> {
    static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// A flag that SIGINT or SIGTERM sets from now on (the signals no longer end the process).
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registering fails only for a signal that cannot be caught; these two can.
        let _ = signal_hook::flag::register_usize(signal, received().clone(), signal as usize);
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    stop
}

/// The exit status of a command that stopped on a signal: 128 + its number (130 when no
/// signal was seen, as for a stop asked some other way).
pub fn exit_status() -> u8 {
    match received().load(Ordering::SeqCst) {
        0 => 128 + SIGINT as u8,
        s => 128u8.saturating_add(s as u8),
    }
}
