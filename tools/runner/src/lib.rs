//! Booting BareFlow disk images in QEMU and reading what the machine prints on COM1.
//!
//! One place knows the QEMU command line: `make run`, `make bench` and the integration
//! tests all go through [`QemuConfig`]. KVM is used when it is hardware-assisted (see
//! [`kvm_status`]), with `-cpu host,-arch-capabilities` (plain `-cpu host` aborts under
//! the nested KVM here); TCG otherwise.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How QEMU executes guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// QEMU's software emulation.
    Tcg,
}

impl Accel {
    /// KVM if it can run the kernel (see [`kvm_status`]), TCG otherwise.
    pub fn best() -> Self {
        if kvm_status().usable() { Accel::Kvm } else { Accel::Tcg }
    }

    /// Every accelerator that can run the kernel on this machine (TCG always).
    pub fn available() -> Vec<Accel> {
        if kvm_status().usable() { vec![Accel::Kvm, Accel::Tcg] } else { vec![Accel::Tcg] }
    }

    /// Lower-case name, as used in METRIC names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What `/dev/kvm` offers on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmStatus {
    /// `/dev/kvm` opens and the CPU has VMX or SVM: guest code runs on the hardware.
    Hardware,
    /// `/dev/kvm` opens but the CPU has neither VMX nor SVM (e.g. the `kvm_pvm` module):
    /// KVM's instruction emulator would execute the guest, and it lacks SSE arithmetic
    /// (`xorps` ends in "KVM internal error ... emulation failure"), so the kernel
    /// cannot run there.
    EmulatedOnly,
    /// `/dev/kvm` does not open.
    Absent,
}

impl KvmStatus {
    /// Whether the kernel can run under this KVM.
    pub fn usable(self) -> bool {
        self == KvmStatus::Hardware
    }

    /// One line for logs: what was found and what the runner does about it.
    pub fn describe(self) -> &'static str {
        match self {
            KvmStatus::Hardware => "/dev/kvm opens and the CPU has VMX/SVM: KVM and TCG",
            KvmStatus::EmulatedOnly => {
                "/dev/kvm opens but the CPU has no VMX/SVM (software KVM such as kvm_pvm, whose \
                 instruction emulator cannot run SSE code): TCG only"
            }
            KvmStatus::Absent => "/dev/kvm does not open: TCG only",
        }
    }
}

/// Probes `/dev/kvm` and the CPU flags in `/proc/cpuinfo`.
pub fn kvm_status() -> KvmStatus {
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return KvmStatus::Absent;
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if cpu_has_virtualisation(&cpuinfo) { KvmStatus::Hardware } else { KvmStatus::EmulatedOnly }
}

/// Whether the first `flags` line of a `/proc/cpuinfo` text lists `vmx` or `svm`.
fn cpu_has_virtualisation(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .is_some_and(|(_, flags)| flags.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// How the boot disk is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskInterface {
    /// virtio-blk on PCI (what `make run` uses: the fastest BIOS reads).
    Virtio,
    /// The legacy IDE controller of `-machine pc`.
    Ide,
    /// A USB stick on an xHCI controller, as on real hardware.
    Usb,
    /// A SATA disk on q35's ICH9 AHCI controller (`-machine q35`).
    Ahci,
}

impl DiskInterface {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DiskInterface::Virtio => "virtio",
            DiskInterface::Ide => "ide",
            DiskInterface::Usb => "usb",
            DiskInterface::Ahci => "ahci",
        }
    }

    /// The QEMU machine type the interface needs: q35 for AHCI, pc otherwise.
    pub fn machine(self) -> &'static str {
        if self == DiskInterface::Ahci { "q35" } else { "pc" }
    }

    /// Parses `virtio`, `ide`, `usb` or `ahci`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "virtio" => DiskInterface::Virtio,
            "ide" => DiskInterface::Ide,
            "usb" => DiskInterface::Usb,
            "ahci" => DiskInterface::Ahci,
            _ => return None,
        })
    }
}

/// Everything that varies between boots.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// The raw disk image to boot.
    pub image: PathBuf,
    /// KVM or TCG.
    pub accel: Accel,
    /// How the disk is attached.
    pub disk: DiskInterface,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Show the VGA window (otherwise `-display none`).
    pub display: bool,
    /// Open a QEMU monitor on this Unix socket (for `sendkey`).
    pub monitor_socket: Option<PathBuf>,
    /// Attach the disk in snapshot mode (writes go to a temporary overlay), so a run
    /// never changes the image; `false` boots writable and the image keeps what the
    /// kernel wrote.
    pub snapshot: bool,
    /// More raw images attached as virtio-blk disks, always in snapshot mode (e.g. to
    /// check that the kernel picks the disk it booted from among several).
    pub extra_disks: Vec<PathBuf>,
    /// The QEMU CPU model (`-cpu`), e.g. `Nehalem` to boot on an older CPU; `None` =
    /// `max` under TCG, `host,-arch-capabilities` under KVM.
    pub cpu: Option<String>,
    /// Open QEMU's GDB stub on this TCP port of localhost and start halted, before the
    /// BIOS's first instruction (`-gdb tcp:127.0.0.1:PORT -S`): a debugger attaches and
    /// continues (docs/debugging.md).
    pub gdb_port: Option<u16>,
    /// Attach QEMU's isa-debug-exit device, through which the kernel's exit ends QEMU
    /// with its status; without it the kernel halts at its end as on a PC, and the
    /// machine stays up (its screen can be read through the monitor).
    pub debug_exit: bool,
}

/// QEMU reports `(status << 1) | 1` for a kernel that wrote `status` to isa-debug-exit.
pub fn kernel_status(qemu: ExitStatus) -> Option<u32> {
    let code = qemu.code()?;
    (code & 1 == 1).then_some((code as u32) >> 1)
}

impl QemuConfig {
    /// A headless boot of `image` on virtio with the best accelerator and 1 GiB of RAM.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Self {
            image: image.into(),
            accel: Accel::best(),
            disk: DiskInterface::Virtio,
            memory_mib: 1024,
            display: false,
            monitor_socket: None,
            snapshot: true,
            extra_disks: Vec::new(),
            cpu: None,
            gdb_port: None,
            debug_exit: true,
        }
    }

    /// The full QEMU command.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-machine", self.disk.machine(), "-m", &self.memory_mib.to_string(), "-no-reboot"]);
        let (accel, default_cpu) = match self.accel {
            Accel::Kvm => (["-enable-kvm"].as_slice(), "host,-arch-capabilities"),
            Accel::Tcg => (["-accel", "tcg"].as_slice(), "max"),
        };
        cmd.args(accel).args(["-cpu", self.cpu.as_deref().unwrap_or(default_cpu)]);
        cmd.args(["-serial", "stdio"]);
        if self.debug_exit {
            cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        }
        if !self.display {
            cmd.args(["-display", "none"]);
        }
        match &self.monitor_socket {
            Some(path) => cmd.args(["-monitor", &format!("unix:{},server=on,wait=off", path.display())]),
            None => cmd.args(["-monitor", "none"]),
        };
        let file = format!(
            "file={},format=raw,if=none,id=boot{}",
            self.image.display(),
            if self.snapshot { ",snapshot=on" } else { "" }
        );
        cmd.args(["-drive", &file]);
        match self.disk {
            DiskInterface::Virtio => cmd.args(["-device", "virtio-blk-pci,drive=boot,bootindex=0"]),
            DiskInterface::Ide => cmd.args(["-device", "ide-hd,drive=boot,bus=ide.0,bootindex=0"]),
            DiskInterface::Usb => cmd.args(["-device", "qemu-xhci", "-device", "usb-storage,drive=boot,bootindex=0"]),
            // q35's AHCI controller (00:1f.2) has one bus per port, ide.0 … ide.5.
            DiskInterface::Ahci => cmd.args(["-device", "ide-hd,drive=boot,bus=ide.0,bootindex=0"]),
        };
        for (i, extra) in self.extra_disks.iter().enumerate() {
            let drive = format!("file={},format=raw,if=none,id=extra{i},snapshot=on", extra.display());
            cmd.args(["-drive", &drive, "-device", &format!("virtio-blk-pci,drive=extra{i}")]);
        }
        if let Some(port) = self.gdb_port {
            cmd.args(["-gdb", &format!("tcp:127.0.0.1:{port}"), "-S"]);
        }
        cmd
    }

    /// Starts QEMU; COM1 output is collected in the background.
    pub fn spawn(&self) -> std::io::Result<Running> {
        let mut child = self.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let serial = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().expect("piped stdout");
        let sink = serial.clone();
        let echo = std::env::var_os("BAREFLOW_ECHO_SERIAL").is_some();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if echo {
                    let _ = std::io::stdout().write_all(&buf[..n]);
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]).replace('\r', ""));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let err_sink = stderr.clone();
        thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            err_sink.lock().unwrap().push_str(&s);
        });
        Ok(Running { child, serial, stderr, started: Instant::now(), config: self.clone() })
    }

    /// Boots and waits until QEMU exits or `timeout` passes (then kills it).
    pub fn run(&self, timeout: Duration) -> std::io::Result<Outcome> {
        let mut running = self.spawn()?;
        let status = running.wait_exit(timeout);
        Ok(running.finish(status))
    }
}

/// A QEMU process that is (or was) running.
pub struct Running {
    child: Child,
    serial: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    started: Instant,
    config: QemuConfig,
}

/// What a finished boot left behind.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the guest wrote to COM1 (`\r` removed).
    pub serial: String,
    /// QEMU's own error output.
    pub stderr: String,
    /// QEMU's exit status; `None` if it had to be killed.
    pub qemu_status: Option<ExitStatus>,
    /// The status the kernel wrote to isa-debug-exit, if QEMU exited that way.
    pub kernel_status: Option<u32>,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Outcome {
    /// The values of every `METRIC <name> <value> <unit>` line, in order.
    pub fn metrics(&self) -> Vec<(String, f64, String)> {
        parse_metrics(&self.serial)
    }

    /// The value of one METRIC.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics().into_iter().find(|(n, _, _)| n == name).map(|(_, v, _)| v)
    }
}

/// Parses `METRIC <name> <value> <unit>` lines.
pub fn parse_metrics(text: &str) -> Vec<(String, f64, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.trim().strip_prefix("METRIC ")?.split_whitespace();
            let name = words.next()?.to_string();
            let value = words.next()?.parse().ok()?;
            Some((name, value, words.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

impl Running {
    /// What COM1 has shown so far.
    pub fn serial(&self) -> String {
        self.serial.lock().unwrap().clone()
    }

    /// Waits until COM1 shows `needle`, QEMU exits, or `timeout` passes.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.serial().contains(needle) {
                return true;
            }
            if self.is_running() {
                thread::sleep(Duration::from_millis(20));
            } else {
                // Let the reader thread drain the pipe before the last look.
                thread::sleep(Duration::from_millis(100));
                return self.serial().contains(needle);
            }
        }
        false
    }

    /// Whether QEMU is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for QEMU to exit; kills it after `timeout`. Returns its status if it exited.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection to QEMU's monitor ([`QemuConfig::monitor_socket`]).
    fn monitor(&self) -> std::io::Result<UnixStream> {
        UnixStream::connect(self.config.monitor_socket.as_ref().ok_or(std::io::ErrorKind::NotFound)?)
    }

    /// Types `keys` (QEMU `sendkey` names, e.g. `h`, `ret`) through the monitor socket.
    pub fn send_keys(&mut self, keys: &[&str]) -> std::io::Result<()> {
        let mut stream = self.monitor()?;
        for key in keys {
            writeln!(stream, "sendkey {key}")?;
            thread::sleep(Duration::from_millis(60));
        }
        Ok(())
    }

    /// Copies `len` bytes of the guest's physical memory at `address` into the file
    /// `to` through the monitor (`pmemsave`), and waits until the file is complete (the
    /// VGA text buffer: `0xB8000`, 4000 bytes).
    pub fn save_memory(&mut self, address: u64, len: u64, to: &Path) -> std::io::Result<Vec<u8>> {
        let _ = std::fs::remove_file(to);
        let mut stream = self.monitor()?;
        // Quoted: the monitor would read `4000 /path` as a division.
        writeln!(stream, "pmemsave {address:#x} {len} \"{}\"", to.display())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(bytes) = std::fs::read(to)
                && bytes.len() as u64 == len
            {
                return Ok(bytes);
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::ErrorKind::TimedOut.into())
    }

    /// Kills QEMU if it still runs and collects everything.
    pub fn finish(mut self, status: Option<ExitStatus>) -> Outcome {
        let status = status.or_else(|| {
            let _ = self.child.kill();
            let _ = self.child.wait();
            None
        });
        // The reader threads end when the pipes close; give them a moment.
        thread::sleep(Duration::from_millis(100));
        Outcome {
            serial: self.serial(),
            stderr: self.stderr.lock().unwrap().clone(),
            kernel_status: status.and_then(kernel_status),
            qemu_status: status,
            elapsed: self.started.elapsed(),
        }
    }
}

/// The workspace root (this crate lives in `tools/runner`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_are_parsed() {
        let text = "noise\nMETRIC boot.load_mib_s 61.5 MiB/s\r\nMETRIC bad\nMETRIC n 3 bytes\n";
        let m = parse_metrics(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], ("boot.load_mib_s".into(), 61.5, "MiB/s".into()));
        assert_eq!(m[1].1, 3.0);
    }

    #[test]
    fn kvm_uses_the_cpu_model_that_works_here() {
        let mut c = QemuConfig::new("x.img");
        c.accel = Accel::Kvm;
        let args: Vec<String> = c.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w[0] == "-cpu" && w[1] == "host,-arch-capabilities"));
        assert!(args.iter().any(|a| a.contains("snapshot=on")));
    }

    #[test]
    fn the_cpu_model_can_be_chosen() {
        let args = |c: &QemuConfig| -> Vec<String> {
            c.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect()
        };
        let mut c = QemuConfig::new("x.img");
        c.accel = Accel::Tcg;
        assert!(args(&c).windows(2).any(|w| w[0] == "-cpu" && w[1] == "max"));
        assert!(args(&c).windows(2).any(|w| w[0] == "-accel" && w[1] == "tcg"));
        c.cpu = Some("Nehalem".into());
        assert!(args(&c).windows(2).any(|w| w[0] == "-cpu" && w[1] == "Nehalem"));
        assert_eq!(args(&c).iter().filter(|a| *a == "-cpu").count(), 1);
        c.accel = Accel::Kvm;
        assert!(args(&c).windows(2).any(|w| w[0] == "-cpu" && w[1] == "Nehalem"));
        assert!(args(&c).iter().any(|a| a == "-enable-kvm"));
    }

    #[test]
    fn ahci_boots_q35_and_writable_drops_the_snapshot() {
        let mut c = QemuConfig::new("x.img");
        c.disk = DiskInterface::Ahci;
        c.snapshot = false;
        let args: Vec<String> = c.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w[0] == "-machine" && w[1] == "q35"));
        assert!(args.iter().any(|a| a.starts_with("ide-hd,drive=boot,bus=ide.0")));
        assert!(!args.iter().any(|a| a.contains("snapshot=on")));
        for d in ["virtio", "ide", "usb", "ahci"] {
            assert_eq!(DiskInterface::parse(d).map(DiskInterface::name), Some(d));
        }
        assert_eq!(DiskInterface::Ide.machine(), "pc");
    }

    #[test]
    fn the_gdb_stub_listens_on_localhost_and_starts_halted() {
        let args = |c: &QemuConfig| -> Vec<String> {
            c.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect()
        };
        let mut c = QemuConfig::new("x.img");
        assert!(!args(&c).iter().any(|a| a == "-gdb" || a == "-S"), "no stub unless asked");
        c.gdb_port = Some(4321);
        let a = args(&c);
        assert!(a.windows(2).any(|w| w[0] == "-gdb" && w[1] == "tcp:127.0.0.1:4321"), "{a:?}");
        assert!(a.iter().any(|x| x == "-S"), "halted until the debugger continues");
    }

    #[test]
    fn virtualisation_flags_are_read_from_the_flags_line() {
        assert!(cpu_has_virtualisation("processor\t: 0\nflags\t\t: fpu vme vmx sse\n"));
        assert!(cpu_has_virtualisation("flags\t: fpu svm\n"));
        assert!(!cpu_has_virtualisation("flags\t: fpu sse2 hypervisor\nmodel name: vmx-like\n"));
        assert!(!cpu_has_virtualisation("flags\t: fpu vmxx\n"));
        assert!(!cpu_has_virtualisation(""));
    }
}

/// Hides `METRIC` lines from a stream of COM1 output on its way to a terminal
/// (`bfrun` without `--metrics`): the figures stay on COM1 for tests and benches, the
/// terminal shows the story. Lines are passed on as soon as they cannot be `METRIC`
/// lines, so output stays live.
#[derive(Debug, Default)]
pub struct MetricFilter {
    /// The start of the current line while it may still be a `METRIC` line.
    pending: Vec<u8>,
    /// The current line is being shown (it cannot be a `METRIC` line).
    showing: bool,
    /// The current line is being hidden.
    hiding: bool,
    /// `METRIC` lines hidden so far.
    pub hidden: usize,
}

impl MetricFilter {
    /// The prefix of the lines hidden.
    const PREFIX: &'static [u8] = b"METRIC ";

    /// The bytes of `input` to show, given everything fed before.
    pub fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.showing {
                out.push(b);
            } else if !self.hiding {
                self.pending.push(b);
                if self.pending.len() == Self::PREFIX.len() && self.pending == Self::PREFIX {
                    self.hiding = true;
                    self.pending.clear();
                } else if !Self::PREFIX.starts_with(&self.pending) {
                    self.showing = true;
                    out.append(&mut self.pending);
                }
            }
            if b == b'\n' {
                if self.hiding {
                    self.hidden += 1;
                }
                out.append(&mut self.pending);
                (self.showing, self.hiding) = (false, false);
            }
        }
        out
    }
}

/// Folds repeated lines of a stream on its way to a terminal (after [`MetricFilter`]):
/// a line identical to the one before is not shown again; the next different line (or
/// [`RepeatFilter::finish`]) is preceded by `(the line above N more times)`. The suite's
/// self-checked result lines (the same line for every run of an app) become one line
/// and a count. Like [`MetricFilter`], a line is passed on as soon as it differs from
/// the one before, so output stays live (the loader's progress dots included).
#[derive(Debug, Default)]
pub struct RepeatFilter {
    /// The last line shown, with its newline.
    previous: Vec<u8>,
    /// The current line while it may still repeat `previous`.
    pending: Vec<u8>,
    /// The current line as shown so far (it differs from `previous`).
    current: Vec<u8>,
    showing: bool,
    /// How many times `previous` repeated since it was shown.
    repeats: usize,
}

impl RepeatFilter {
    /// The bytes of `input` to show, given everything fed before.
    pub fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.showing {
                out.push(b);
                self.current.push(b);
            } else {
                self.pending.push(b);
                if !self.previous.starts_with(&self.pending) {
                    out.extend(self.note());
                    out.extend_from_slice(&self.pending);
                    self.current = std::mem::take(&mut self.pending);
                    self.showing = true;
                }
            }
            if b == b'\n' {
                if self.showing {
                    self.previous = std::mem::take(&mut self.current);
                    self.showing = false;
                } else {
                    self.repeats += 1;
                    self.pending.clear();
                }
            }
        }
        out
    }

    /// What is still held back at the end of the stream: the count of repeats, and a
    /// last line without its newline that so far matched the one before.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = self.note();
        out.append(&mut self.pending);
        out
    }

    /// The repeat count's line, if the previous line repeated (and resets the count).
    fn note(&mut self) -> Vec<u8> {
        match std::mem::take(&mut self.repeats) {
            0 => Vec::new(),
            n => {
                // The stream's own line ending (COM1's is CR LF).
                let end = if self.previous.ends_with(b"\r\n") { "\r\n" } else { "\n" };
                format!("(the line above {n} more time{}){end}", if n == 1 { "" } else { "s" }).into_bytes()
            }
        }
    }
}

#[cfg(test)]
mod repeat_filter_tests {
    use super::RepeatFilter;

    #[test]
    fn repeated_lines_become_a_count_and_the_rest_passes_at_once() {
        let text =
            "fib: 5 ok\nfib: 5 ok\nfib: 5 ok\ntier: x\nfib: 5 ok\nfib: 5\nLoading ..\nLoading ...\nend\nend\nend";
        let expected = "fib: 5 ok\n(the line above 2 more times)\ntier: x\nfib: 5 ok\nfib: 5\nLoading ..\nLoading ...\nend\n(the line above 1 more time)\nend";
        for chunk in [1, 3, text.len()] {
            let mut f = RepeatFilter::default();
            let mut out: Vec<u8> = text.as_bytes().chunks(chunk).flat_map(|c| f.feed(c)).collect();
            out.extend(f.finish());
            assert_eq!(String::from_utf8(out).unwrap(), expected, "chunks of {chunk}");
        }
        let mut crlf = RepeatFilter::default();
        assert_eq!(crlf.feed(b"a\r\na\r\nb\r\n"), b"a\r\n(the line above 1 more time)\r\nb\r\n", "COM1's CR LF kept");
        // Live: a line is shown as soon as it differs from the one before.
        let mut live = RepeatFilter::default();
        assert_eq!(live.feed(b"Loading ..."), b"Loading ...");
        assert_eq!(live.feed(b"\nLoad"), b"\n", "held back while it may repeat");
        assert_eq!(live.feed(b"er"), b"Loader");
    }
}

#[cfg(test)]
mod metric_filter_tests {
    use super::MetricFilter;

    #[test]
    fn metric_lines_are_hidden_and_the_rest_passes_at_once() {
        let mut f = MetricFilter::default();
        let text = "boot: ok\nMETRIC boot.load_ms 3.1 ms\nMETRICS are not metrics\nME\n\nfib: 5 ok\nMETRIC a 1 x\nM\nMETRIC b 2 y\n";
        // Fed byte by byte, in chunks, and whole: the same output.
        let whole = MetricFilter::default().feed(text.as_bytes());
        let bytewise: Vec<u8> = text.bytes().flat_map(|b| f.feed(&[b])).collect();
        let mut g = MetricFilter::default();
        let chunked: Vec<u8> = text.as_bytes().chunks(5).flat_map(|c| g.feed(c)).collect();
        let expected = "boot: ok\nMETRICS are not metrics\nME\n\nfib: 5 ok\nM\n";
        assert_eq!(String::from_utf8(whole).unwrap(), expected);
        assert_eq!(String::from_utf8(bytewise).unwrap(), expected);
        assert_eq!(String::from_utf8(chunked).unwrap(), expected);
        assert_eq!((f.hidden, g.hidden), (3, 3));
        // A line that is not a METRIC line is shown before its end arrives (live output).
        let mut live = MetricFilter::default();
        assert_eq!(live.feed(b"tier: matmul -> t"), b"tier: matmul -> t");
        assert_eq!(live.feed(b"METRIC"), b"METRIC", "in the middle of a line it is text");
        assert_eq!(live.feed(b"\nMETR"), b"\n", "held back while it may be a METRIC line");
    }
}
