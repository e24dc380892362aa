//! A progress bar on standard error: redrawn in place on a terminal, and a line per tenth
//! of the work otherwise (so that logs of long jobs stay short).

use std::io::IsTerminal;

/// Progress of a job in named stages.
pub struct Progress {
    tty: bool,
    stage: String,
    shown: u64,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            stage: String::new(),
            shown: 0,
            drawn: false,
        }
    }

    /// Shows `done` of `total` units of `what`.
    pub fn update(&mut self, what: &str, done: u64, total: u64) {
        let total = total.max(done);
        if total == 0 {
            return;
        }
        if what != self.stage {
            if self.tty && self.drawn {
                eprintln!();
            }
            self.stage = what.to_owned();
            self.shown = 0;
        }
        let width = 30usize;
        let filled = (done as u128 * width as u128 / total as u128) as usize;
        let bar = format!("{}{}", "#".repeat(filled), " ".repeat(width - filled));
        if self.tty {
            eprint!("\r[{bar}] {done}/{total} {what}");
            self.drawn = true;
        } else if done == total || done >= self.shown + total.div_ceil(10) {
            eprintln!("[{bar}] {done}/{total} {what}");
            self.shown = done;
        }
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.tty && self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}
