//! Host-test helper: [`MockPlatform`], a [`Platform`] for unit tests — "user memory" is
//! a set of registered heap buffers, the console is a byte vector, memory calls are
//! recorded.

use std::cell::RefCell;

use linux_abi::errno::{ENOMEM, Errno};

use super::{Platform, ProcessState, fd};

/// A registered buffer: (address, length, writable, the bytes).
type Region = (u64, u64, bool, Box<[u8]>);

/// A test machine.
pub struct MockPlatform {
    regions: RefCell<Vec<Region>>,
    /// Bytes written to the console, per fd.
    pub output: Vec<(u64, Vec<u8>)>,
    /// Kernel log lines.
    pub logs: Vec<String>,
    /// Console input still to be read.
    pub input: Vec<u8>,
    /// Current FS base.
    pub fs: u64,
    /// Current program break.
    pub brk: u64,
    /// The status passed to `exit`, if any.
    pub exited: Option<u8>,
    /// Next address `map_anonymous` hands out.
    pub next_map: u64,
    /// Recorded protect/unmap calls: (op, addr, len, prot).
    pub memory_calls: Vec<(&'static str, u64, u64, u64)>,
    /// Process state.
    pub state: ProcessState,
    /// Monotonic clock value.
    pub now_ns: u64,
    /// The file system (none mounted unless a test attaches one).
    pub files: crate::fs::Files,
    /// The descriptor table.
    pub descriptors: fd::Table,
}

impl MockPlatform {
    /// A machine with no user memory.
    pub fn new() -> Self {
        MockPlatform {
            regions: RefCell::new(Vec::new()),
            output: Vec::new(),
            logs: Vec::new(),
            input: Vec::new(),
            fs: 0,
            brk: 0x4000_0000,
            exited: None,
            next_map: 0x7000_0000,
            memory_calls: Vec::new(),
            state: ProcessState::new(),
            now_ns: 1_500_000_000,
            files: crate::fs::Files::new(),
            descriptors: fd::Table::new(),
        }
    }

    fn register(&self, data: Box<[u8]>, writable: bool) -> u64 {
        let addr = data.as_ptr() as u64;
        let len = data.len() as u64;
        self.regions.borrow_mut().push((addr, len, writable, data));
        addr
    }

    /// A zeroed writable buffer of `len` bytes; returns its address.
    pub fn buffer(&self, len: usize) -> u64 {
        self.register(vec![0u8; len].into_boxed_slice(), true)
    }

    /// A read-only buffer holding `bytes`; returns its address.
    pub fn read_only_buffer(&self, bytes: &[u8]) -> u64 {
        self.register(bytes.to_vec().into_boxed_slice(), false)
    }

    /// A writable buffer holding `bytes`; returns its address.
    pub fn writable_copy(&self, bytes: &[u8]) -> u64 {
        self.register(bytes.to_vec().into_boxed_slice(), true)
    }

    /// Reads back `len` bytes of a registered buffer.
    pub fn peek(&self, addr: u64, len: usize) -> Vec<u8> {
        assert!(self.user_readable(addr, len as u64), "peek outside registered memory");
        // SAFETY: checked above against a live registered buffer.
        unsafe { std::slice::from_raw_parts(addr as *const u8, len).to_vec() }
    }

    /// Everything written to `fd`, as text.
    pub fn text(&self, fd: u64) -> String {
        let bytes: Vec<u8> = self.output.iter().filter(|(f, _)| *f == fd).flat_map(|(_, b)| b.clone()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn inside(&self, addr: u64, len: u64, need_write: bool) -> bool {
        let Some(end) = addr.checked_add(len) else { return false };
        len > 0 && self.regions.borrow().iter().any(|(a, l, w, _)| addr >= *a && end <= a + l && (*w || !need_write))
    }
}

impl Default for MockPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for MockPlatform {
    fn user_readable(&self, addr: u64, len: u64) -> bool {
        self.inside(addr, len, false)
    }
    fn user_writable(&self, addr: u64, len: u64) -> bool {
        self.inside(addr, len, true)
    }
    fn readable_prefix(&self, addr: u64, max: u64) -> u64 {
        self.regions
            .borrow()
            .iter()
            .find(|(a, l, _, _)| addr >= *a && addr < a + l)
            .map_or(0, |(a, l, _, _)| (a + l - addr).min(max))
    }
    fn console_write(&mut self, fd: u64, bytes: &[u8]) {
        self.output.push((fd, bytes.to_vec()));
    }
    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        n
    }
    fn log(&mut self, args: core::fmt::Arguments<'_>) {
        self.logs.push(args.to_string());
    }
    fn monotonic_ns(&self) -> u64 {
        self.now_ns
    }
    fn realtime_ns(&self) -> u64 {
        1_700_000_000_000_000_000 + self.now_ns
    }
    fn sleep_ns(&mut self, ns: u64) {
        self.now_ns += ns;
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
    }
    fn set_fs_base(&mut self, base: u64) {
        self.fs = base;
    }
    fn fs_base(&self) -> u64 {
        self.fs
    }
    fn memory_totals(&self) -> (u64, u64) {
        (1 << 30, 512 << 20)
    }
    fn stack_size(&self) -> u64 {
        8 << 20
    }
    fn brk(&mut self, addr: u64) -> u64 {
        if (0x4000_0000..=0x5000_0000).contains(&addr) {
            self.brk = addr;
        }
        self.brk
    }
    fn map_anonymous(&mut self, len: u64, prot: u64) -> Result<u64, Errno> {
        if len > 1 << 40 {
            return Err(ENOMEM);
        }
        let addr = self.next_map;
        self.next_map += len;
        self.memory_calls.push(("map", addr, len, prot));
        Ok(addr)
    }
    fn map_fixed(&mut self, addr: u64, len: u64, prot: u64) -> Result<u64, Errno> {
        self.memory_calls.push(("fixed", addr, len, prot));
        Ok(addr)
    }
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        self.memory_calls.push(("unmap", addr, len, 0));
        Ok(())
    }
    fn protect(&mut self, addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
        self.memory_calls.push(("protect", addr, len, prot));
        Ok(())
    }
    fn process(&mut self) -> &mut ProcessState {
        &mut self.state
    }
    fn files(&mut self) -> &mut crate::fs::Files {
        &mut self.files
    }
    fn descriptors(&mut self) -> &mut fd::Table {
        &mut self.descriptors
    }
    fn exit(&mut self, status: u8) {
        self.exited = Some(status);
    }
}
