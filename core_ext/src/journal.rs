//! Event journal: a second consumer of the event ring that appends every event to a compact binary file
//! on its own thread, and the reader for that file (format and guarantees in docs/journal.md).
//!
//! Hot path: when a journal is attached, `EventRing::push_stamped` also copies the event into the ring's
//! `JournalTap` (a second bounded lock-free `EventRing` used as an MPSC hand-off buffer). That is one
//! relaxed flag load, a clone of the event body (a memcpy for books and trades; strings only on order
//! events) and one lock-free push: no lock, no syscall, no allocation for market data. The writer thread
//! wakes once per `flush_interval` (sooner when the tap is half full), encodes what is waiting into
//! checksummed frames and writes them with one `write` per wake-up.
//!
//! Loss bounds: a clean `close()` drains the tap and flushes + fsyncs before returning, so nothing pushed
//! before `close()` is lost. A crash (kill -9) loses what was still in the tap or in the frame being
//! written: at most one poll interval of events (1 ms by default); the reader stops cleanly at a torn
//! last frame. If the writer falls `capacity` events behind (disk stall), later book updates are dropped
//! from the journal (counted in `dropped`); every other kind goes through the tap's overflow spill.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::events::{
    monotonic_ns, BookUpdate, Event, EventBody, Fill, MarkPrice, OrderState, OrderUpdate, OperatorAction, Position,
    RateLimited, Resync, Side, Trade, Venue,
};
use crate::ring::{EventRing, JournalTap};

pub const MAGIC: &[u8; 8] = b"XTBJRNL\0";
pub const VERSION: u16 = 1;
/// Frames larger than this are refused by the reader (a corrupt length, not a real frame).
const MAX_FRAME_BYTES: u32 = 64 << 20;
/// Events per frame at most (a frame is the unit a crash can tear).
const MAX_FRAME_EVENTS: usize = 8192;

// ---------------------------------------------------------------------------------------------
// errors

#[derive(Debug)]
pub enum JournalError {
    Io(io::Error),
    /// The file is not a journal (bad magic or version) or its header is cut short.
    Header(String),
    /// A complete frame failed its checksum or did not decode; `frame` counts from 0.
    Corrupt { frame: u64, offset: u64, detail: String },
    AlreadyAttached,
    Closed,
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Io(e) => write!(f, "journal I/O error: {e}"),
            JournalError::Header(d) => write!(f, "journal header: {d}"),
            JournalError::Corrupt { frame, offset, detail } => {
                write!(f, "journal frame {frame} at byte {offset}: {detail}")
            }
            JournalError::AlreadyAttached => write!(f, "ring: a journal is already attached to this ring"),
            JournalError::Closed => write!(f, "journal is closed"),
        }
    }
}

impl std::error::Error for JournalError {}

impl From<io::Error> for JournalError {
    fn from(e: io::Error) -> Self {
        JournalError::Io(e)
    }
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE, reflected 0xEDB88320): 20 lines here instead of a new dependency in the shared Cargo.toml.

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

// ---------------------------------------------------------------------------------------------
// record encoding: LEB128 varints, zigzag for signed values, timestamps as deltas within a frame

fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

const K_BOOK: u8 = 0;
const K_RESYNC: u8 = 1;
const K_TRADE: u8 = 2;
const K_ORDER: u8 = 3;
const K_FILL: u8 = 4;
const K_POSITION: u8 = 5;
const K_RATE_LIMITED: u8 = 6;
const K_OPERATOR: u8 = 7;
const K_MARK: u8 = 8;

/// Timestamp delta state of one frame (reset at each frame, so every frame decodes on its own).
#[derive(Default)]
struct Deltas {
    recv_ns: i64,
}

fn encode(out: &mut Vec<u8>, d: &mut Deltas, recv_ns: i64, decoded_ns: i64, body: &EventBody) {
    let (kind, flags) = match body {
        EventBody::Book(b) => (K_BOOK, (b.best_bid.is_some() as u8) | ((b.best_ask.is_some() as u8) << 1)),
        EventBody::Resync(_) => (K_RESYNC, 0),
        EventBody::Trade(t) => (K_TRADE, t.taker_side as u8),
        EventBody::Order(o) => (K_ORDER, (o.order_id.is_some() as u8) | ((o.reason.is_some() as u8) << 1)),
        EventBody::Fill(f) => (K_FILL, (f.side as u8) | ((f.maker as u8) << 1)),
        EventBody::Position(_) => (K_POSITION, 0),
        EventBody::RateLimited(_) => (K_RATE_LIMITED, 0),
        EventBody::Operator(_) => (K_OPERATOR, 0),
        EventBody::Mark(m) => (K_MARK, (m.index_px.is_some() as u8) | ((m.funding_rate.is_some() as u8) << 1)),
    };
    out.push(kind | (flags << 4));
    put_i(out, recv_ns.wrapping_sub(d.recv_ns));
    put_i(out, decoded_ns.wrapping_sub(recv_ns));
    d.recv_ns = recv_ns;
    match body {
        EventBody::Book(b) => {
            out.push(b.venue.id());
            put_u(out, b.book_id as u64);
            put_u(out, b.seq);
            if let Some((px, sz)) = b.best_bid {
                put_i(out, px);
                put_i(out, sz);
            }
            if let Some((px, sz)) = b.best_ask {
                // The ask as a distance from the bid: the spread is small, so this is 1-2 bytes.
                put_i(out, px.wrapping_sub(b.best_bid.map_or(0, |b| b.0)));
                put_i(out, sz);
            }
        }
        EventBody::Resync(r) => {
            out.push(r.venue.id());
            put_u(out, r.book_id as u64);
            put_str(out, &r.reason);
        }
        EventBody::Trade(t) => {
            out.push(t.venue.id());
            put_u(out, t.book_id as u64);
            put_i(out, t.px);
            put_i(out, t.sz);
            put_u(out, t.trade_id);
        }
        EventBody::Order(o) => {
            out.push(o.venue.id());
            put_u(out, o.client_id);
            out.push(o.state as u8);
            put_i(out, o.filled);
            put_i(out, o.avg_px);
            if let Some(s) = &o.order_id {
                put_str(out, s);
            }
            if let Some(s) = &o.reason {
                put_str(out, s);
            }
        }
        EventBody::Fill(f) => {
            out.push(f.venue.id());
            put_u(out, f.client_id);
            put_u(out, f.trade_id);
            put_i(out, f.px);
            put_i(out, f.sz);
            put_i(out, f.fee);
        }
        EventBody::Position(p) => {
            out.push(p.venue.id());
            put_u(out, p.book_id as u64);
            put_i(out, p.size);
            put_i(out, p.entry_px);
        }
        EventBody::RateLimited(r) => {
            put_str(out, &r.key);
            put_u(out, r.wait_ns);
        }
        EventBody::Operator(o) => {
            put_str(out, &o.action);
            put_str(out, &o.detail);
        }
        EventBody::Mark(m) => {
            out.push(m.venue.id());
            put_u(out, m.book_id as u64);
            put_i(out, m.mark_px);
            if let Some(px) = m.index_px {
                put_i(out, px.wrapping_sub(m.mark_px)); // near the mark: 1-3 bytes
            }
            if let Some(r) = m.funding_rate {
                put_i(out, r);
            }
            put_u(out, m.venue_ms);
            put_i(out, (m.next_funding_ms as i64).wrapping_sub(m.venue_ms as i64)); // hours ahead: 4-5 bytes
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("record cut short")?;
        self.pos += 1;
        Ok(b)
    }

    fn u(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7F) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn i(&mut self) -> Result<i64, String> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn u32(&mut self, field: &str) -> Result<u32, String> {
        u32::try_from(self.u()?).map_err(|_| format!("{field} out of range"))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u()? as usize;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("string cut short")?;
        let s = std::str::from_utf8(&self.buf[self.pos..end]).map_err(|_| "string is not UTF-8")?;
        self.pos = end;
        Ok(s.to_owned())
    }

    fn venue(&mut self) -> Result<Venue, String> {
        let b = self.byte()?;
        Venue::from_id(b).ok_or_else(|| format!("unknown venue code {b} (a plugin venue must be registered first)"))
    }
}

fn side(bit: u8) -> Side {
    if bit & 1 == 0 {
        Side::Bid
    } else {
        Side::Ask
    }
}

fn decode(c: &mut Cursor<'_>, d: &mut Deltas) -> Result<(i64, i64, EventBody), String> {
    let tag = c.byte()?;
    let (kind, flags) = (tag & 0x0F, tag >> 4);
    let recv_ns = d.recv_ns.wrapping_add(c.i()?);
    let decoded_ns = recv_ns.wrapping_add(c.i()?);
    d.recv_ns = recv_ns;
    let body = match kind {
        K_BOOK => {
            let venue = c.venue()?;
            let book_id = c.u32("book_id")?;
            let seq = c.u()?;
            let best_bid = if flags & 1 != 0 { Some((c.i()?, c.i()?)) } else { None };
            let best_ask = if flags & 2 != 0 {
                let px = c.i()?.wrapping_add(best_bid.map_or(0, |b| b.0));
                Some((px, c.i()?))
            } else {
                None
            };
            EventBody::Book(BookUpdate { venue, book_id, best_bid, best_ask, seq })
        }
        K_RESYNC => EventBody::Resync(Resync { venue: c.venue()?, book_id: c.u32("book_id")?, reason: c.string()? }),
        K_TRADE => EventBody::Trade(Trade {
            venue: c.venue()?,
            book_id: c.u32("book_id")?,
            px: c.i()?,
            sz: c.i()?,
            trade_id: c.u()?,
            taker_side: side(flags),
        }),
        K_ORDER => {
            let venue = c.venue()?;
            let client_id = c.u()?;
            let code = c.byte()?;
            let state = *OrderState::ALL.get(code as usize).ok_or_else(|| format!("unknown order state {code}"))?;
            let filled = c.i()?;
            let avg_px = c.i()?;
            let order_id = if flags & 1 != 0 { Some(c.string()?) } else { None };
            let reason = if flags & 2 != 0 { Some(c.string()?) } else { None };
            EventBody::Order(OrderUpdate { venue, client_id, order_id, state, filled, avg_px, reason })
        }
        K_FILL => EventBody::Fill(Fill {
            venue: c.venue()?,
            client_id: c.u()?,
            trade_id: c.u()?,
            px: c.i()?,
            sz: c.i()?,
            fee: c.i()?,
            side: side(flags),
            maker: flags & 2 != 0,
        }),
        K_POSITION => EventBody::Position(Position {
            venue: c.venue()?,
            book_id: c.u32("book_id")?,
            size: c.i()?,
            entry_px: c.i()?,
        }),
        K_RATE_LIMITED => EventBody::RateLimited(RateLimited { key: c.string()?, wait_ns: c.u()? }),
        K_OPERATOR => EventBody::Operator(OperatorAction { action: c.string()?, detail: c.string()? }),
        K_MARK => {
            let venue = c.venue()?;
            let book_id = c.u32("book_id")?;
            let mark_px = c.i()?;
            let index_px = if flags & 1 != 0 { Some(c.i()?.wrapping_add(mark_px)) } else { None };
            let funding_rate = if flags & 2 != 0 { Some(c.i()?) } else { None };
            let venue_ms = c.u()?;
            let next_funding_ms = (venue_ms as i64).wrapping_add(c.i()?) as u64;
            EventBody::Mark(MarkPrice { venue, book_id, mark_px, index_px, funding_rate, next_funding_ms, venue_ms })
        }
        other => return Err(format!("unknown event kind {other}")),
    };
    Ok((recv_ns, decoded_ns, body))
}

// ---------------------------------------------------------------------------------------------
// the writer

#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Capacity of the hand-off buffer (only used by the first attach to a ring).
    pub capacity: usize,
    /// How long the writer sleeps when the buffer is empty: the crash-loss window.
    pub flush_interval: Duration,
    /// fsync at most this often (power-loss window); `None`: only on flush() and close().
    pub fsync_interval: Option<Duration>,
    /// Opaque UTF-8 text stored in the header (xtb writes JSON: markets, scales, run id).
    pub meta: String,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            capacity: 1 << 16,
            flush_interval: Duration::from_millis(1),
            fsync_interval: Some(Duration::from_secs(1)),
            meta: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub events: u64,
    pub frames: u64,
    pub bytes: u64,
}

#[derive(Default)]
struct Control {
    stop: bool,
    flush_requested: u64,
    flush_done: u64,
    stats: WriterStats,
    error: Option<String>,
}

struct Shared {
    ctl: Mutex<Control>,
    /// Wakes the writer (flush / stop) and the callers waiting for it.
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.ctl.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running journal: one writer thread draining one ring's tap into one file.
pub struct Journal {
    tap: Arc<JournalTap>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

fn header_bytes(meta: &str, start_mono: i64, start_wall: i64) -> Vec<u8> {
    let mut h = Vec::with_capacity(32 + meta.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    h.extend_from_slice(&start_mono.to_le_bytes());
    h.extend_from_slice(&start_wall.to_le_bytes());
    h.extend_from_slice(meta.as_bytes());
    h
}

fn wall_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

struct WriterLoop {
    tap: Arc<JournalTap>,
    shared: Arc<Shared>,
    out: BufWriter<File>,
    payload: Vec<u8>,
    opts: JournalOptions,
    last_fsync: Instant,
}

impl WriterLoop {
    /// Encode and write up to one frame of what is waiting; returns the number of events written.
    fn write_frame(&mut self) -> io::Result<usize> {
        self.payload.clear();
        let mut d = Deltas::default();
        let mut n = 0usize;
        while n < MAX_FRAME_EVENTS {
            let Some(ev) = self.tap.buffer.pop() else { break };
            encode(&mut self.payload, &mut d, ev.recv_ns, ev.decoded_ns, &ev.body);
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        let mut head = [0u8; 12];
        head[0..4].copy_from_slice(&(self.payload.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&(n as u32).to_le_bytes());
        head[8..12].copy_from_slice(&crc32(&self.payload).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.payload)?;
        let mut ctl = self.shared.lock();
        ctl.stats.events += n as u64;
        ctl.stats.frames += 1;
        ctl.stats.bytes += (12 + self.payload.len()) as u64;
        Ok(n)
    }

    /// Write everything waiting now, hand it to the OS, and fsync when asked or when due.
    fn drain(&mut self, force_sync: bool) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.write_frame()?;
            total += n;
            if n < MAX_FRAME_EVENTS {
                break;
            }
        }
        if total > 0 || force_sync {
            self.out.flush()?;
        }
        let due = self.opts.fsync_interval.is_some_and(|iv| total > 0 && self.last_fsync.elapsed() >= iv);
        if force_sync || due {
            self.out.get_ref().sync_data()?;
            self.last_fsync = Instant::now();
        }
        Ok(total)
    }

    fn run(mut self) {
        let result = (|| -> io::Result<()> {
            loop {
                let wrote = self.drain(false)?;
                let ctl = self.shared.lock();
                if ctl.stop {
                    drop(ctl);
                    self.drain(true)?;
                    return Ok(());
                }
                if ctl.flush_requested > ctl.flush_done {
                    let target = ctl.flush_requested;
                    drop(ctl);
                    self.drain(true)?;
                    let mut ctl = self.shared.lock();
                    ctl.flush_done = target;
                    self.shared.cv.notify_all();
                    continue;
                }
                // Sleep one interval between drains (or until flush()/close() wakes us) unless the tap is
                // half full: draining in bursts keeps the writer off the cache lines the producers are
                // writing, which is most of what a journal costs them.
                if wrote == 0 || self.tap.buffer.len() < self.tap.capacity() / 2 {
                    let _unused = self.shared.cv.wait_timeout(ctl, self.opts.flush_interval);
                }
            }
        })();
        let mut ctl = self.shared.lock();
        if let Err(e) = result {
            ctl.error = Some(e.to_string());
        }
        // The writer is gone: release anyone waiting on a flush.
        ctl.stop = true;
        ctl.flush_done = ctl.flush_requested;
        self.shared.cv.notify_all();
    }
}

impl Journal {
    /// Start journaling `ring` into a new file at `path` (truncated if it exists).
    pub fn attach(ring: &EventRing, path: impl AsRef<Path>, opts: JournalOptions) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let tap = ring.journal_tap(opts.capacity);
        if tap.active.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(JournalError::AlreadyAttached);
        }
        let started = (|| -> Result<Journal, JournalError> {
            let file = File::create(&path)?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            out.write_all(&header_bytes(&opts.meta, monotonic_ns(), wall_ns()))?;
            out.flush()?;
            let shared = Arc::new(Shared { ctl: Mutex::new(Control::default()), cv: Condvar::new() });
            let writer = WriterLoop {
                tap: Arc::clone(&tap),
                shared: Arc::clone(&shared),
                out,
                payload: Vec::with_capacity(1 << 16),
                opts,
                last_fsync: Instant::now(),
            };
            let thread = std::thread::Builder::new().name("xtb-journal".into()).spawn(move || writer.run())?;
            Ok(Journal { tap: Arc::clone(&tap), shared, thread: Some(thread), path })
        })();
        if started.is_err() {
            tap.active.store(false, Ordering::Release);
        }
        started
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> WriterStats {
        self.shared.lock().stats
    }

    /// Book updates left out because the writer was `capacity` events behind.
    pub fn dropped(&self) -> u64 {
        self.tap.dropped.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.thread.is_none()
    }

    /// Everything pushed before this call is written and fsynced when it returns.
    pub fn flush(&self) -> Result<(), JournalError> {
        if self.thread.is_none() {
            return Err(JournalError::Closed);
        }
        let mut ctl = self.shared.lock();
        ctl.flush_requested += 1;
        let target = ctl.flush_requested;
        self.shared.cv.notify_all();
        while ctl.flush_done < target {
            ctl = self.shared.cv.wait(ctl).unwrap_or_else(|p| p.into_inner());
        }
        match &ctl.error {
            Some(e) => Err(JournalError::Io(io::Error::other(e.clone()))),
            None => Ok(()),
        }
    }

    /// Stop taking events, write everything taken, fsync, join the writer. Idempotent.
    pub fn close(&mut self) -> Result<WriterStats, JournalError> {
        let Some(thread) = self.thread.take() else {
            return Ok(self.stats());
        };
        // Producers stop copying first; the writer's final drain then sees every completed push.
        self.tap.active.store(false, Ordering::Release);
        {
            let mut ctl = self.shared.lock();
            ctl.stop = true;
            self.shared.cv.notify_all();
        }
        let joined = thread.join();
        let ctl = self.shared.lock();
        if joined.is_err() {
            return Err(JournalError::Io(io::Error::other("journal writer thread panicked")));
        }
        match &ctl.error {
            Some(e) => Err(JournalError::Io(io::Error::other(e.clone()))),
            None => Ok(ctl.stats),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

// ---------------------------------------------------------------------------------------------
// the reader

#[derive(Debug, Clone)]
pub struct JournalHeader {
    pub version: u16,
    pub start_monotonic_ns: i64,
    pub start_wall_ns: i64,
    pub meta: String,
}

/// Reads a journal frame by frame. A torn last frame (the writer died mid-write) ends the journal
/// and sets `truncated`; a bad frame followed by more data is an error naming the frame.
pub struct JournalReader {
    file: io::BufReader<File>,
    pub header: JournalHeader,
    offset: u64,
    file_len: u64,
    frame: u64,
    next_seq: u64,
    pub truncated: bool,
    done: bool,
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

impl JournalReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let f = File::open(path.as_ref())?;
        let file_len = f.metadata()?.len();
        let mut file = io::BufReader::with_capacity(1 << 16, f);
        let mut fixed = [0u8; 32];
        if read_full(&mut file, &mut fixed)? < 32 {
            return Err(JournalError::Header("file shorter than the 32-byte header".into()));
        }
        if &fixed[0..8] != MAGIC {
            return Err(JournalError::Header("bad magic: not an xtb journal".into()));
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Err(JournalError::Header(format!("version {version} not supported (this build reads {VERSION})")));
        }
        let meta_len = u32::from_le_bytes(fixed[12..16].try_into().unwrap_or_default()) as usize;
        let start_monotonic_ns = i64::from_le_bytes(fixed[16..24].try_into().unwrap_or_default());
        let start_wall_ns = i64::from_le_bytes(fixed[24..32].try_into().unwrap_or_default());
        if meta_len as u64 > file_len.saturating_sub(32) {
            return Err(JournalError::Header(format!("meta length {meta_len} runs past the end of the file")));
        }
        let mut meta = vec![0u8; meta_len];
        read_full(&mut file, &mut meta)?;
        let meta = String::from_utf8(meta).map_err(|_| JournalError::Header("meta is not UTF-8".into()))?;
        Ok(JournalReader {
            file,
            header: JournalHeader { version, start_monotonic_ns, start_wall_ns, meta },
            offset: 32 + meta_len as u64,
            file_len,
            frame: 0,
            next_seq: 1,
            truncated: false,
            done: false,
        })
    }

    /// (bytes consumed, file size).
    pub fn progress(&self) -> (u64, u64) {
        (self.offset, self.file_len)
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    fn torn(&mut self) -> Result<Option<Vec<Event>>, JournalError> {
        self.truncated = true;
        self.done = true;
        Ok(None)
    }

    /// The next frame's events (`seq` numbered 1, 2, ... across the file), or None at the end.
    pub fn next_frame(&mut self) -> Result<Option<Vec<Event>>, JournalError> {
        if self.done {
            return Ok(None);
        }
        let start = self.offset;
        let mut head = [0u8; 12];
        let got = read_full(&mut self.file, &mut head)?;
        if got == 0 {
            self.done = true;
            return Ok(None);
        }
        if got < 12 {
            return self.torn();
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let count = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let crc = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        let end = start + 12 + len as u64;
        let corrupt = |detail: String| JournalError::Corrupt { frame: self.frame, offset: start, detail };
        if len > MAX_FRAME_BYTES || end > self.file_len {
            // Runs past the end: the tail the writer was writing when it died.
            if end >= self.file_len {
                return self.torn();
            }
            return Err(corrupt(format!("frame length {len} is not plausible")));
        }
        let mut payload = vec![0u8; len as usize];
        if read_full(&mut self.file, &mut payload)? < payload.len() {
            return self.torn();
        }
        self.offset = end;
        if crc32(&payload) != crc {
            if end == self.file_len {
                return self.torn();
            }
            return Err(corrupt("checksum mismatch".into()));
        }
        let mut c = Cursor { buf: &payload, pos: 0 };
        let mut d = Deltas::default();
        // Every record takes at least 4 bytes: a corrupt count cannot make us allocate more than the frame.
        let mut events = Vec::with_capacity((count as usize).min(payload.len() / 4));
        for i in 0..count {
            let (recv_ns, decoded_ns, body) =
                decode(&mut c, &mut d).map_err(|e| corrupt(format!("event {i}: {e}")))?;
            events.push(Event { seq: self.next_seq, recv_ns, decoded_ns, body });
            self.next_seq += 1;
        }
        if c.pos != payload.len() {
            return Err(corrupt(format!("{} bytes left after {count} events", payload.len() - c.pos)));
        }
        self.frame += 1;
        Ok(Some(events))
    }

    /// Every remaining event.
    pub fn read_all(&mut self) -> Result<Vec<Event>, JournalError> {
        let mut all = Vec::new();
        while let Some(frame) = self.next_frame()? {
            all.extend(frame);
        }
        Ok(all)
    }
}

/// Replay windows: the journal's events grouped by recorded time, book updates coalesced per window
/// (the replay's stand-in for the live dispatcher's per-burst conflating drain).
///
/// A window starts at the `recv_ns` of its first event and holds every following event with
/// `recv_ns < start + window_ns`. Within it only the last update of each (venue, book_id) is kept, at
/// its own position; every other event keeps its place.
pub struct Windows {
    reader: JournalReader,
    window_ns: i64,
    frame: std::vec::IntoIter<Event>,
    current: Vec<Event>,
    current_end: Option<i64>,
    /// Raw events read from the file so far (before coalescing).
    pub events_read: u64,
    /// Book updates dropped by coalescing (superseded within their window).
    pub coalesced: u64,
}

/// Keep only the last book update of each (venue, book_id); returns how many were dropped.
pub fn coalesce_books(events: &mut Vec<Event>) -> usize {
    let before = events.len();
    if events.iter().filter(|e| e.body.is_conflatable()).nth(1).is_none() {
        return 0;
    }
    let mut seen = std::collections::HashSet::new();
    let mut keep = vec![true; events.len()];
    for (i, ev) in events.iter().enumerate().rev() {
        if let EventBody::Book(b) = &ev.body {
            keep[i] = seen.insert((b.venue, b.book_id));
        }
    }
    let mut flags = keep.into_iter();
    events.retain(|_| flags.next().unwrap_or(true));
    before - events.len()
}

impl Windows {
    pub fn new(reader: JournalReader, window_ns: i64) -> Self {
        Windows {
            reader,
            window_ns: window_ns.max(1),
            frame: Vec::new().into_iter(),
            current: Vec::new(),
            current_end: None,
            events_read: 0,
            coalesced: 0,
        }
    }

    pub fn reader(&self) -> &JournalReader {
        &self.reader
    }

    fn next_event(&mut self) -> Result<Option<Event>, JournalError> {
        loop {
            if let Some(ev) = self.frame.next() {
                self.events_read += 1;
                return Ok(Some(ev));
            }
            match self.reader.next_frame()? {
                Some(frame) => self.frame = frame.into_iter(),
                None => return Ok(None),
            }
        }
    }

    /// Complete windows as (end_ns, events) until about `max_events` raw events were read; the last
    /// window of the file comes out at the end. Empty at the end of the journal.
    pub fn next_windows(&mut self, max_events: u64) -> Result<Vec<(i64, Vec<Event>)>, JournalError> {
        let mut out = Vec::new();
        let stop_at = self.events_read.saturating_add(max_events.max(1));
        while self.events_read < stop_at || out.is_empty() {
            let Some(ev) = self.next_event()? else {
                if let Some(end) = self.current_end.take() {
                    let mut events = std::mem::take(&mut self.current);
                    self.coalesced += coalesce_books(&mut events) as u64;
                    out.push((end, events));
                }
                break;
            };
            match self.current_end {
                Some(end) if ev.recv_ns < end => {}
                Some(end) => {
                    let mut events = std::mem::take(&mut self.current);
                    self.coalesced += coalesce_books(&mut events) as u64;
                    out.push((end, events));
                    self.current_end = Some(ev.recv_ns.saturating_add(self.window_ns));
                }
                None => self.current_end = Some(ev.recv_ns.saturating_add(self.window_ns)),
            }
            self.current.push(ev);
        }
        Ok(out)
    }
}

/// Benchmark hook: ns per push+pop on a ring (as `ring::bench_push_pop_ns` with `push_stamped`), with a
/// journal writing to `journal_path` attached when given. The difference is the journal's hot-path cost.
pub fn bench_push_pop_journal_ns(n: u64, journal_path: Option<&Path>) -> Result<f64, JournalError> {
    let ring = EventRing::new(1024);
    let mut journal = match journal_path {
        Some(p) => Some(Journal::attach(&ring, p, JournalOptions::default())?),
        None => None,
    };
    let n = n.max(1);
    let start = Instant::now();
    let mut sink = 0u64;
    for i in 0..n {
        let body = std::hint::black_box(EventBody::Book(BookUpdate {
            venue: Venue::Lighter,
            book_id: 1,
            best_bid: Some((100_000 + (i & 7) as i64, 5)),
            best_ask: Some((100_010, 7)),
            seq: i,
        }));
        ring.push_stamped(i as i64, i as i64, body);
        if let Some(ev) = ring.pop() {
            sink = sink.wrapping_add(ev.seq);
        }
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    std::hint::black_box(sink);
    if let Some(j) = journal.as_mut() {
        j.close()?;
    }
    Ok(per)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtb-journal-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("events.journal")
    }

    fn book(seq: u64) -> EventBody {
        EventBody::Book(BookUpdate { venue: Venue::Backpack, book_id: 2, best_bid: Some((100, 3)), best_ask: Some((101, 4)), seq })
    }

    fn order() -> EventBody {
        EventBody::Order(OrderUpdate {
            venue: Venue::Lighter,
            client_id: 42,
            order_id: Some("9001".into()),
            state: OrderState::Rejected,
            filled: 0,
            avg_px: 0,
            reason: Some("post-only would cross".into()),
        })
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn clean_close_keeps_everything_in_push_order() {
        let path = tmp("clean");
        let ring = EventRing::new(8); // smaller than the run: the main ring conflates, the journal does not
        let mut j = Journal::attach(&ring, &path, JournalOptions { meta: "{\"run\":1}".into(), ..Default::default() }).unwrap();
        for i in 0..20_000u64 {
            ring.push_stamped(1_000 + i as i64, 2_000 + i as i64, if i % 100 == 7 { order() } else { book(i) });
            if i % 3 == 0 {
                ring.pop();
            }
        }
        let stats = j.close().unwrap();
        assert_eq!(stats.events, 20_000);
        assert_eq!(j.dropped(), 0);
        let mut r = JournalReader::open(&path).unwrap();
        assert_eq!(r.header.meta, "{\"run\":1}");
        let all = r.read_all().unwrap();
        assert!(!r.truncated);
        assert_eq!(all.len(), 20_000);
        for (i, ev) in all.iter().enumerate() {
            assert_eq!(ev.seq, i as u64 + 1);
            assert_eq!(ev.recv_ns, 1_000 + i as i64);
            assert_eq!(ev.decoded_ns, 2_000 + i as i64);
            let want = if i % 100 == 7 { order() } else { book(i as u64) };
            assert_eq!(ev.body, want);
        }
        // Pushes after close are not journaled, and a second journal can attach.
        ring.push(0, book(1));
        let mut j2 = Journal::attach(&ring, tmp("second"), JournalOptions::default()).unwrap();
        assert!(matches!(Journal::attach(&ring, tmp("third"), JournalOptions::default()), Err(JournalError::AlreadyAttached)));
        assert_eq!(j2.close().unwrap().events, 0);
    }

    #[test]
    fn flush_writes_everything_pushed_before_it() {
        let path = tmp("flush");
        let ring = EventRing::new(64);
        let j = Journal::attach(&ring, &path, JournalOptions { flush_interval: Duration::from_secs(3600), ..Default::default() }).unwrap();
        for i in 0..10 {
            ring.push(i, book(i as u64));
        }
        j.flush().unwrap();
        // The writer is still running (it sleeps an hour between polls): the file already holds all ten.
        let all = JournalReader::open(&path).unwrap().read_all().unwrap();
        assert_eq!(all.len(), 10);
        drop(j);
    }

    #[test]
    fn torn_tail_is_reported_not_fatal_and_mid_file_damage_is_an_error() {
        let path = tmp("torn");
        let ring = EventRing::new(64);
        let j = Journal::attach(&ring, &path, JournalOptions::default()).unwrap();
        for i in 0..5 {
            ring.push(i, book(i as u64));
        }
        j.flush().unwrap();
        for i in 5..9 {
            ring.push(i, book(i as u64));
        }
        drop(j);
        let bytes = std::fs::read(&path).unwrap();
        let mut r = JournalReader::open(&path).unwrap();
        let first = r.next_frame().unwrap().unwrap().len();
        assert_eq!(first, 5);
        let header_and_first = r.offset as usize;
        // Cut inside the second frame: the first frame's events survive, the reader says truncated.
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let mut r = JournalReader::open(&path).unwrap();
        assert_eq!(r.read_all().unwrap().len(), 5);
        assert!(r.truncated);
        // Flip a payload byte of the first frame: an error naming frame 0.
        let mut bad = bytes.clone();
        bad[header_and_first - 1] ^= 0xFF;
        std::fs::write(&path, &bad).unwrap();
        let err = JournalReader::open(&path).unwrap().read_all().unwrap_err();
        assert!(err.to_string().contains("frame 0"), "{err}");
        std::fs::write(&path, b"not a journal at all, just some text").unwrap();
        assert!(matches!(JournalReader::open(&path), Err(JournalError::Header(_))));
    }

    #[test]
    fn many_producers_lose_nothing() {
        let path = tmp("mp");
        let ring = Arc::new(EventRing::new(1 << 10));
        let mut j = Journal::attach(&ring, &path, JournalOptions { capacity: 1 << 10, ..Default::default() }).unwrap();
        let handles: Vec<_> = (0..3u64)
            .map(|p| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        ring.push(0, EventBody::Trade(Trade { venue: Venue::Lighter, book_id: p as u32, px: 1, sz: 1, taker_side: Side::Ask, trade_id: i }));
                        ring.pop();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        j.close().unwrap();
        let all = JournalReader::open(&path).unwrap().read_all().unwrap();
        assert_eq!(all.len(), 60_000);
        let mut last = [None::<u64>; 3];
        for ev in all {
            let EventBody::Trade(t) = ev.body else { panic!("not a trade") };
            let p = t.book_id as usize;
            assert!(last[p].is_none_or(|prev| t.trade_id == prev + 1), "producer order kept");
            last[p] = Some(t.trade_id);
        }
    }

    #[test]
    fn windows_coalesce_books_per_window_and_keep_everything_else() {
        let path = tmp("windows");
        let ring = EventRing::new(1 << 10);
        let mut j = Journal::attach(&ring, &path, JournalOptions::default()).unwrap();
        // 0..10 ns: books 0,1 of book_id 2, a trade, book 2; 10..: one book.
        for (t, body) in [(0, book(0)), (3, book(1)), (4, order()), (9, book(2)), (10, book(3)), (25, book(4))] {
            ring.push_stamped(t, t, body);
        }
        j.close().unwrap();
        let mut w = Windows::new(JournalReader::open(&path).unwrap(), 10);
        let mut all = Vec::new();
        loop {
            let got = w.next_windows(2).unwrap();
            if got.is_empty() {
                break;
            }
            all.extend(got);
        }
        let shape: Vec<(i64, Vec<i64>)> = all.iter().map(|(end, evs)| (*end, evs.iter().map(|e| e.recv_ns).collect())).collect();
        assert_eq!(shape, vec![(10, vec![4, 9]), (20, vec![10]), (35, vec![25])]);
        assert_eq!((w.events_read, w.coalesced), (6, 2));
    }

    #[test]
    fn bench_hook_runs() {
        assert!(bench_push_pop_journal_ns(1000, None).unwrap() > 0.0);
        assert!(bench_push_pop_journal_ns(1000, Some(&tmp("bench"))).unwrap() > 0.0);
    }

    fn venue() -> impl Strategy<Value = Venue> {
        (0usize..Venue::BUILTIN.len()).prop_map(|i| Venue::BUILTIN[i])
    }

    fn level() -> impl Strategy<Value = Option<(i64, i64)>> {
        proptest::option::of((any::<i64>(), any::<i64>()))
    }

    fn body() -> impl Strategy<Value = EventBody> {
        prop_oneof![
            (venue(), any::<u32>(), level(), level(), any::<u64>())
                .prop_map(|(venue, book_id, best_bid, best_ask, seq)| EventBody::Book(BookUpdate { venue, book_id, best_bid, best_ask, seq })),
            (venue(), any::<u32>(), ".{0,20}").prop_map(|(venue, book_id, reason)| EventBody::Resync(Resync { venue, book_id, reason })),
            (venue(), any::<u32>(), any::<i64>(), any::<i64>(), any::<bool>(), any::<u64>()).prop_map(
                |(venue, book_id, px, sz, ask, trade_id)| EventBody::Trade(Trade { venue, book_id, px, sz, taker_side: side(ask as u8), trade_id })
            ),
            (venue(), any::<u64>(), proptest::option::of("[0-9a-z]{0,12}"), 0usize..9, any::<i64>(), any::<i64>(), proptest::option::of(".{0,16}"))
                .prop_map(|(venue, client_id, order_id, st, filled, avg_px, reason)| EventBody::Order(OrderUpdate {
                    venue, client_id, order_id, state: OrderState::ALL[st], filled, avg_px, reason
                })),
            (venue(), any::<u64>(), any::<u64>(), any::<bool>(), any::<i64>(), any::<i64>(), any::<bool>(), any::<i64>()).prop_map(
                |(venue, client_id, trade_id, ask, px, sz, maker, fee)| EventBody::Fill(Fill { venue, client_id, trade_id, side: side(ask as u8), px, sz, maker, fee })
            ),
            (venue(), any::<u32>(), any::<i64>(), any::<i64>()).prop_map(|(venue, book_id, size, entry_px)| EventBody::Position(Position { venue, book_id, size, entry_px })),
            (".{0,16}", any::<u64>()).prop_map(|(key, wait_ns)| EventBody::RateLimited(RateLimited { key, wait_ns })),
            (".{0,16}", ".{0,64}").prop_map(|(action, detail)| EventBody::Operator(OperatorAction { action, detail })),
            (venue(), any::<u32>(), any::<i64>(), any::<Option<i64>>(), any::<Option<i64>>(), any::<u64>(), any::<u64>())
                .prop_map(|(venue, book_id, mark_px, index_px, funding_rate, next_funding_ms, venue_ms)| {
                    EventBody::Mark(MarkPrice { venue, book_id, mark_px, index_px, funding_rate, next_funding_ms, venue_ms })
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever goes into the ring comes back out of the file, equal, in order, with its timestamps.
        #[test]
        fn write_read_round_trip(events in proptest::collection::vec((any::<i64>(), any::<i64>(), body()), 0..300)) {
            let path = tmp("prop");
            let ring = EventRing::new(1 << 10);
            let mut j = Journal::attach(&ring, &path, JournalOptions::default()).unwrap();
            for (recv, dec, b) in &events {
                ring.push_stamped(*recv, *dec, b.clone());
            }
            j.close().unwrap();
            let got = JournalReader::open(&path).unwrap().read_all().unwrap();
            prop_assert_eq!(got.len(), events.len());
            for (ev, (recv, dec, b)) in got.iter().zip(&events) {
                prop_assert_eq!(ev.recv_ns, *recv);
                prop_assert_eq!(ev.decoded_ns, *dec);
                prop_assert_eq!(&ev.body, b);
            }
        }
    }
}
