//! One process's file, written through fixed mappings, and the atomic read of any file.
//!
//! The file grows in chunks, each mapped once and never remapped or unmapped: a cell's address
//! stays valid for the life of the process, so the hot path is one atomic operation on it. A
//! new label set appends its record (under this file's mutex, held by the caller) and then
//! stores the committed length; readers never look past that length.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::format::{self, COMMITTED_AT, HEADER_LEN, SERIES_CELLS_AT};
use super::sys::{self, Mapping};

/// How much the file grows at a time (a multiple of any page size).
const CHUNK: u64 = 64 * 1024;

pub const ARCHIVE: &str = "ferrotel_archive.mmap";
pub const ARCHIVE_TMP: &str = "ferrotel_archive.tmp";

/// `ferrotel_<pid>.mmap`, or with a nonce when a live process elsewhere (another PID
/// namespace sharing the directory) has that name already.
fn process_file_name(pid: u32, nonce: Option<u64>) -> String {
    match nonce {
        None => format!("ferrotel_{pid}.mmap"),
        Some(n) => format!("ferrotel_{pid}_{n:016x}.mmap"),
    }
}

/// The pid a process file's name carries; None for any other name.
pub fn pid_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ferrotel_")?.strip_suffix(".mmap")?;
    rest.split('_').next()?.parse().ok()
}

/// A number no other file in the directory has: the archive records the process files it has
/// absorbed by it. The time and pid keep two forked children (same RNG state) apart.
pub fn file_id(pid: u32) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(pid).rotate_left(40) ^ fastrand::u64(..)
}

pub struct ProcessFile {
    /// Open, holding this process's lock on the file, for as long as the process lives.
    file: File,
    pub path: PathBuf,
    maps: Vec<(u64, Mapping)>,
    end: u64,
    limit: u64,
    families: HashMap<Vec<u8>, u64>,
    series: HashMap<(u64, Box<[String]>), NonNull<AtomicU64>>,
}

// SAFETY: the cell pointers point into this file's own mappings, which live as long as the
// process; the struct is only used under its directory's mutex.
unsafe impl Send for ProcessFile {}

impl ProcessFile {
    /// This process's file in `dir`, made under the directory's exclusive lock; a file of a
    /// dead process with the same pid is folded into the archive first.
    pub fn create(dir: &Path) -> io::Result<Self> {
        sys::supported()?;
        let pid = std::process::id();
        let _lock = sys::lock_dir(dir, true, true)?;
        let mut path = dir.join(process_file_name(pid, None));
        if path.exists() && !super::archive::fold_stale(dir, &path)? {
            path = dir.join(process_file_name(pid, Some(file_id(pid))));
        }
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        Self::start(file, &path, pid).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })
    }

    fn start(file: File, path: &Path, pid: u32) -> io::Result<Self> {
        if !sys::try_lock(&file)? {
            return Err(io::Error::other("a new file is locked by another process"));
        }
        sys::allocate(&file, 0, CHUNK)?;
        let map = sys::map(&file, 0, CHUNK as usize, true)?;
        let header = format::header(pid, file_id(pid), HEADER_LEN as u64);
        // SAFETY: the mapping is CHUNK bytes, more than a header, and nothing else uses it yet.
        unsafe { std::ptr::copy_nonoverlapping(header.as_ptr(), map.ptr.as_ptr(), header.len()) };
        Ok(Self {
            file,
            path: path.to_owned(),
            maps: vec![(0, map)],
            end: HEADER_LEN as u64,
            limit: CHUNK,
            families: HashMap::new(),
            series: HashMap::new(),
        })
    }

    /// The cells (`words` words) of one label set of the family whose record is `family`,
    /// appended the first time this process sees them.
    pub fn cells(&mut self, family: &[u8], values: &[String], words: usize) -> io::Result<NonNull<AtomicU64>> {
        let family_at = match self.families.get(family) {
            Some(at) => *at,
            None => {
                let at = self.append(family)?;
                self.families.insert(family.to_vec(), at);
                at
            }
        };
        let key = (family_at, Box::<[String]>::from(values));
        if let Some(cells) = self.series.get(&key) {
            return Ok(*cells);
        }
        let at = self.append(&format::series_record(family_at, 0, &vec![0; words], values))?;
        let cells = self.address(at + SERIES_CELLS_AT as u64).cast::<AtomicU64>();
        self.series.insert(key, cells);
        Ok(cells)
    }

    fn address(&self, offset: u64) -> NonNull<u8> {
        let (start, map) = self
            .maps
            .iter()
            .rev()
            .find(|(start, _)| *start <= offset)
            .expect("offsets start in the first mapping");
        // SAFETY: records never cross a mapping's end, so `offset` is inside this one.
        unsafe { map.ptr.add((offset - start) as usize) }
    }

    fn append(&mut self, record: &[u8]) -> io::Result<u64> {
        let need = record.len() as u64;
        if self.end + need > self.limit {
            self.grow(need)?;
        }
        let at = self.end;
        // SAFETY: [at, at + need) lies in the last mapping, past the committed length, where no
        // reader looks and no cell points.
        unsafe { std::ptr::copy_nonoverlapping(record.as_ptr(), self.address(at).as_ptr(), record.len()) };
        self.end += need;
        // SAFETY: the header is in the first mapping, 8-byte aligned; readers load it atomically.
        let committed = unsafe { self.maps[0].1.ptr.add(COMMITTED_AT).cast::<AtomicU64>().as_ref() };
        committed.store(self.end, Ordering::Release);
        Ok(at)
    }

    /// Maps a new chunk after the last; the rest of the last one becomes padding.
    fn grow(&mut self, need: u64) -> io::Result<()> {
        let size = need.next_multiple_of(CHUNK);
        sys::allocate(&self.file, self.limit, size)?;
        let map = sys::map(&self.file, self.limit, size as usize, true)?;
        let rest = self.limit - self.end;
        if rest > 0 {
            let pad = format::pad_record(rest as usize);
            // SAFETY: at least 8 bytes (records are multiples of 8) past the committed length.
            unsafe { std::ptr::copy_nonoverlapping(pad.as_ptr(), self.address(self.end).as_ptr(), pad.len()) };
        }
        self.maps.push((self.limit, map));
        self.end = self.limit;
        self.limit += size;
        Ok(())
    }

    /// In a forked child, for the parent's file: whatever still points into it writes private
    /// memory from now on, and the child's copy of the descriptor is closed (the lock stays
    /// the parent's).
    pub fn abandon(self) {
        for (_, map) in self.maps {
            map.detach();
        }
    }
}

/// A file's committed words, each read atomically (its process may be writing its cells).
pub fn snapshot(file: &File) -> Result<Vec<u64>, &'static str> {
    let len = file.metadata().map_err(|_| "cannot be read")?.len() as usize;
    if len < HEADER_LEN {
        return Err("shorter than a header");
    }
    let map = sys::map(file, 0, len, false).map_err(|_| "cannot be mapped")?;
    let words = map.ptr.cast::<AtomicU64>();
    // SAFETY: the mapping holds at least the header's 8 words, page-aligned; words are only
    // read atomically, and only below the file's length.
    let word = |i: usize| unsafe { words.add(i).as_ref() }.load(Ordering::Relaxed);
    let result = if word(0) != u64::from_ne_bytes(format::MAGIC) {
        Err("not a ferrotel multiprocess file (bad magic)")
    } else {
        // SAFETY: as above; Acquire pairs with the writer's Release of the same word.
        let committed = unsafe { words.add(COMMITTED_AT / 8).as_ref() }.load(Ordering::Acquire) as usize;
        if committed < HEADER_LEN || committed > len || committed % 8 != 0 {
            Err("truncated: shorter than its header says")
        } else {
            Ok((0..committed / 8).map(word).collect())
        }
    };
    map.unmap();
    result
}
