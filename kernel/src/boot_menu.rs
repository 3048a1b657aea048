//! The boot menu (docs/console.md): on a real machine there is no `CMDLINE=` to edit,
//! so before the program starts the kernel offers, for a short countdown, to change
//! this boot's command line with the keyboard — which app runs, which runs of the
//! suite, whether to export. `bf.menu=off` skips it (the tests' images carry it).
//!
//! [`Choice`] is the menu's state and what a key does to it, and writes the command
//! line it stands for ([`Choice::write_cmdline`]) into a caller's buffer: no
//! allocation, as this runs before the program (and its heap) starts. [`offer`] is the
//! thin part: the countdown, the PS/2 keyboard, the console.

use crate::arch::x86_64::tsc;
use crate::drivers::keyboard::Keyboard;
use crate::kprintln;

/// The runs of the suite the menu offers (`--tiers=`): the first keeps the image's own
/// choice, `all` (the suite's default) leaves the option out.
pub const TIER_CHOICES: [&str; 5] = ["as the image says", "all", "interp,t2", "t1,t2,tiered", "tiered"];

/// Most apps the menu lists (digits 1–9).
pub const MAX_APPS: usize = 9;

/// Which apps run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apps {
    /// As the image's command line says.
    Image,
    /// Every app (`--apps=all`).
    All,
    /// The `n`-th app of the list, from 1.
    One(usize),
}

/// The choice being made; it starts as the image's own command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Which apps run.
    pub apps: Apps,
    /// An index into [`TIER_CHOICES`].
    pub tiers: usize,
    /// Export the apps after their tiered run (`bf.export=`).
    pub export: bool,
}

/// What a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The choice may have changed; the menu goes on.
    Continue,
    /// Boot with the choice (Enter).
    Boot,
    /// Boot with the image's own command line (Esc).
    Keep,
}

impl Choice {
    /// Nothing changed yet: the image's own command line.
    pub const fn new() -> Choice {
        Choice { apps: Apps::Image, tiers: 0, export: false }
    }

    /// Applies `key` with `count` apps listed: `1`…`9` one app, `a` every app, `t` the
    /// next runs choice, `e` export on/off, Enter boots, Esc keeps the image's command
    /// line; any other key changes nothing.
    pub fn key(&mut self, key: char, count: usize) -> Step {
        match key {
            '\n' | '\r' => return Step::Boot,
            '\u{1b}' => return Step::Keep,
            'a' | 'A' => self.apps = Apps::All,
            d @ '1'..='9' => {
                let n = d as usize - '0' as usize;
                if n <= count.min(MAX_APPS) {
                    self.apps = Apps::One(n);
                }
            }
            't' | 'T' => self.tiers = (self.tiers + 1) % TIER_CHOICES.len(),
            'e' | 'E' => self.export = !self.export,
            _ => {}
        }
        Step::Continue
    }

    /// The `--apps=` value the choice stands for (`base`'s own when unchanged; `all`
    /// when `base` has none).
    pub fn apps_value<'a>(&self, base: &'a str, apps: &[&'a str]) -> &'a str {
        match self.apps {
            Apps::One(n) => apps.get(n - 1).copied().unwrap_or("all"),
            Apps::All => "all",
            Apps::Image => base.split_ascii_whitespace().find_map(|w| w.strip_prefix("--apps=")).unwrap_or("all"),
        }
    }

    /// Writes `base` (the image's command line) with the choice into `out`: what the
    /// choice changed replaces `base`'s word for it (`--apps=`, `--tiers=` — left out
    /// for every run — and, when exporting, `bf.export=<apps>`); everything else is
    /// kept. Returns the length, or `None` if `out` is too small.
    pub fn write_cmdline(&self, base: &str, apps: &[&str], out: &mut [u8]) -> Option<usize> {
        let app = self.apps_value(base, apps);
        let replaced = |w: &str| {
            (self.apps != Apps::Image && w.starts_with("--apps="))
                || (self.tiers != 0 && w.starts_with("--tiers="))
                || (self.export && w.starts_with("bf.export="))
        };
        let mut len = 0;
        // Appends one word made of `parts`, after a space unless it is the first.
        let mut word = |parts: &[&str]| -> Option<()> {
            if len > 0 {
                *out.get_mut(len)? = b' ';
                len += 1;
            }
            for part in parts {
                out.get_mut(len..len + part.len())?.copy_from_slice(part.as_bytes());
                len += part.len();
            }
            Some(())
        };
        for kept in base.split_ascii_whitespace().filter(|w| !replaced(w)) {
            word(&[kept])?;
        }
        if self.apps != Apps::Image {
            word(&["--apps=", app])?;
        }
        if self.tiers > 1 {
            word(&["--tiers=", TIER_CHOICES[self.tiers]])?;
        }
        if self.export {
            word(&["bf.export=", app])?;
        }
        Some(len)
    }
}

impl Default for Choice {
    fn default() -> Self {
        Self::new()
    }
}

/// How long the countdown waits for a key.
const COUNTDOWN_MS: u64 = 2000;
/// How long the menu waits for the next key before booting the choice.
const IDLE_MS: u64 = 60_000;

/// Offers the menu: waits [`COUNTDOWN_MS`] for a key; if one comes, runs the menu
/// on the console until Enter (or a minute without a key) and writes the chosen
/// command line into `out`, returning its length. `None`: boot with `base` (no key, or
/// Esc).
pub fn offer(base: &str, out: &mut [u8]) -> Option<usize> {
    let mut apps = [""; MAX_APPS];
    let mut count = 0;
    for (slot, name) in apps.iter_mut().zip(bf_app_list::names_in_list()) {
        *slot = name;
        count += 1;
    }
    let apps = &apps[..count];
    let mut keyboard = Keyboard::new();
    kprintln!(
        "boot menu: press a key within {} s to choose the app and runs (bf.menu=off skips this)",
        COUNTDOWN_MS / 1000
    );
    let deadline = tsc::rdtsc() + tsc::tsc_hz() * COUNTDOWN_MS / 1000;
    wait_key(&mut keyboard, deadline)?;
    let mut choice = Choice::new();
    for (i, name) in apps.iter().enumerate() {
        kprintln!("boot menu:   {} {}", i + 1, name);
    }
    loop {
        kprintln!(
            "boot menu: apps {} (1-{count} one, a all), runs {} (t), export {} (e); Enter boots, Esc keeps \"{}\"",
            choice.apps_value(base, apps),
            TIER_CHOICES[choice.tiers],
            if choice.export { "on" } else { "off" },
            base
        );
        let deadline = tsc::rdtsc() + tsc::tsc_hz() * IDLE_MS / 1000;
        let step = match wait_key(&mut keyboard, deadline) {
            Some(key) => choice.key(key, count),
            None => Step::Boot,
        };
        match step {
            Step::Continue => {}
            Step::Keep => return None,
            Step::Boot => return choice.write_cmdline(base, apps, out),
        }
    }
}

/// The next key typed before `deadline` (a TSC value), as a character.
fn wait_key(keyboard: &mut Keyboard, deadline: u64) -> Option<char> {
    while tsc::rdtsc() < deadline {
        match keyboard.poll() {
            Some(pc_keyboard::DecodedKey::Unicode(c)) => return Some(c),
            Some(pc_keyboard::DecodedKey::RawKey(_)) => return Some(' '),
            None => core::hint::spin_loop(),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPS: [&str; 3] = ["fib", "sieve", "tinyllama"];

    fn cmdline(choice: &Choice, base: &str) -> String {
        let mut out = [0u8; 256];
        let len = choice.write_cmdline(base, &APPS, &mut out).expect("fits");
        String::from_utf8(out[..len].to_vec()).unwrap()
    }

    #[test]
    fn keys_choose_the_apps_the_runs_and_export() {
        let mut c = Choice::new();
        assert_eq!(c.key('2', APPS.len()), Step::Continue);
        assert_eq!(c.apps, Apps::One(2));
        assert_eq!(c.key('7', APPS.len()), Step::Continue);
        assert_eq!(c.apps, Apps::One(2), "no 7th app: unchanged");
        c.key('t', APPS.len());
        c.key('e', APPS.len());
        assert_eq!((c.tiers, c.export), (1, true));
        assert_eq!(c.key('x', APPS.len()), Step::Continue);
        assert_eq!(c.key('\n', APPS.len()), Step::Boot);
        assert_eq!(c.key('\u{1b}', APPS.len()), Step::Keep);
        c.key('a', APPS.len());
        assert_eq!(c.apps_value("--apps=fib", &APPS), "all");
    }

    #[test]
    fn the_choice_replaces_only_what_it_changed() {
        let base = "--no-jit --apps=fib --tiers=t1 bf.snapshot=off X=1";
        let mut c = Choice::new();
        assert_eq!(cmdline(&c, base), base, "nothing chosen: the image's own line");
        assert_eq!(c.apps_value(base, &APPS), "fib");
        c.key('3', APPS.len());
        assert_eq!(cmdline(&c, base), "--no-jit --tiers=t1 bf.snapshot=off X=1 --apps=tinyllama");
        c.key('t', APPS.len()); // all: the option goes
        assert_eq!(cmdline(&c, base), "--no-jit bf.snapshot=off X=1 --apps=tinyllama");
        c.key('t', APPS.len());
        c.key('e', APPS.len());
        assert_eq!(
            cmdline(&c, base),
            "--no-jit bf.snapshot=off X=1 --apps=tinyllama --tiers=interp,t2 bf.export=tinyllama"
        );
        let mut all = Choice::new();
        all.key('e', APPS.len());
        assert_eq!(cmdline(&all, ""), "bf.export=all", "no --apps in the image: every app");
    }

    #[test]
    fn a_buffer_too_small_is_refused() {
        let mut c = Choice::new();
        c.key('1', APPS.len());
        let mut out = [0u8; 8];
        assert_eq!(c.write_cmdline("--no-jit", &APPS, &mut out), None);
    }
}
