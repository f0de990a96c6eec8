//! Reading a directory, and folding dead processes' files into one archive file.
//!
//! A scrape reads under the directory's shared lock; a fold (by a scrape that saw a dead
//! process, by `mark_process_dead`, by a process taking over a dead one's file name) holds it
//! exclusively, writes the new archive beside the old and renames it over, and only then removes
//! the files it absorbed. The archive lists their ids, so a fold killed before the removal
//! never makes them count twice. Counter, histogram and summary totals are kept; the `live…`
//! gauges of dead processes are dropped, the others kept as their mode merges them.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::file::{self, pid_of, ARCHIVE, ARCHIVE_TMP};
use super::format::{self, View, COMMITTED_AT};
use super::merge::Merged;
use super::{sys, unreadable, Layout};

/// A file's words and its parsed view, or why it cannot be read.
fn read(path: &Path, file: &File, f: impl FnOnce(&View<'_>)) -> bool {
    let result = file::snapshot(file).and_then(|words| format::parse(&words).map(|view| f(&view)));
    match result {
        Ok(()) => true,
        Err(why) => {
            unreadable(path, &why);
            false
        }
    }
}

/// The process files in `dir` that `wanted` picks, by pid.
fn process_files(dir: &Path, wanted: impl Fn(u32, &Path) -> bool) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(pid) = name.to_str().and_then(pid_of) {
            let path = entry.path();
            if wanted(pid, &path) {
                found.push((pid, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Merges every file of `dir`: the archive, then each process's. A file that cannot be read is
/// left out (counted and reported once); a dead process's file is then folded, if no other
/// scrape is folding already.
pub fn read_dir(dir: &Path) -> Merged {
    let mut merged = Merged::default();
    let mut dead = Vec::new();
    let mut read_all = || -> io::Result<()> {
        let _shared = sys::lock_dir(dir, false, true)?;
        let mut absorbed = HashSet::new();
        let archive = dir.join(ARCHIVE);
        match File::open(&archive) {
            Ok(file) => {
                read(&archive, &file, |view| {
                    merged.add(view, true);
                    absorbed.extend(view.absorbed.iter().copied());
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => unreadable(&archive, &e),
        }
        for (_, path) in process_files(dir, |_, _| true)? {
            let Ok(file) = File::open(&path) else {
                continue; // removed since listed
            };
            let ended = sys::try_lock(&file)?;
            read(&path, &file, |view| {
                if !absorbed.contains(&view.file_id) {
                    merged.add(view, ended);
                }
                if ended {
                    dead.push(path.clone());
                }
            });
        }
        Ok(())
    };
    if let Err(e) = read_all() {
        unreadable(dir, &e);
    }
    if !dead.is_empty() {
        if let Err(e) = fold(dir, |_, path| dead.iter().any(|d| d == path), false) {
            unreadable(dir, &e);
        }
    }
    merged
}

/// Folds the files of dead processes that `wanted` picks (by pid and path) into the archive;
/// with `wait` false, nothing happens while another process holds the directory.
pub fn fold(dir: &Path, wanted: impl Fn(u32, &Path) -> bool, wait: bool) -> io::Result<()> {
    let Some(_exclusive) = sys::lock_dir(dir, true, wait)? else {
        return Ok(());
    };
    let mut dead = Vec::new();
    for (_, path) in process_files(dir, wanted)? {
        if let Ok(file) = File::open(&path) {
            if sys::try_lock(&file)? {
                dead.push((path, file));
            }
        }
    }
    fold_locked(dir, dead)
}

/// For a process taking over a file name (its pid was a dead process's), holding the
/// directory: folds that file and removes it; false when its owner is alive.
pub fn fold_stale(dir: &Path, path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    if !sys::try_lock(&file)? {
        return Ok(false);
    }
    fold_locked(dir, vec![(path.to_owned(), file)])?;
    // Unreadable, it was left in place; it is of no use, and its name is needed.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(true),
    }
}

/// Holding the directory exclusively, and each file's lock: archive + `dead` → a new archive.
fn fold_locked(dir: &Path, dead: Vec<(PathBuf, File)>) -> io::Result<()> {
    if dead.is_empty() {
        return Ok(());
    }
    let mut merged = Merged::default();
    let mut absorbed = HashSet::new();
    let archive = dir.join(ARCHIVE);
    match File::open(&archive) {
        Ok(file) => {
            let readable = read(&archive, &file, |view| {
                merged.add(view, true);
                absorbed.extend(view.absorbed.iter().copied());
            });
            if !readable {
                // Kept aside for whoever wants to look; a new archive starts.
                std::fs::rename(&archive, dir.join(format!("{ARCHIVE}.unreadable")))?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut gone = Vec::new();
    let mut ids = Vec::new();
    for (path, file) in &dead {
        let folded = read(path, file, |view| {
            if !absorbed.contains(&view.file_id) {
                merged.add(view, true);
            }
            ids.push(view.file_id);
        });
        if folded {
            gone.push(path);
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    let tmp = dir.join(ARCHIVE_TMP);
    std::fs::write(&tmp, archive_bytes(&merged, &ids))?;
    std::fs::rename(&tmp, &archive)?;
    for path in gone {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The archive: the merged families as records of pid 0, and the ids of the files absorbed.
fn archive_bytes(merged: &Merged, absorbed: &[u64]) -> Vec<u8> {
    let mut out = format::header(0, file::file_id(0), 0).to_vec();
    for family in merged.families.values() {
        let family_at = out.len() as u64;
        out.extend(family.meta.record());
        for (key, acc) in &family.series {
            let cells: Vec<u64> = match &family.meta.layout {
                Layout::Counter => vec![acc.value.to_bits()],
                Layout::Gauge(mode) if mode.stamped() => vec![acc.value.to_bits(), acc.stamp.to_bits()],
                Layout::Gauge(_) => vec![acc.value.to_bits()],
                Layout::Histogram(_) | Layout::Summary => {
                    acc.counts.iter().copied().chain([acc.value.to_bits()]).collect()
                }
            };
            out.extend(format::series_record(family_at, key.pid, &cells, &key.values));
        }
    }
    for id in absorbed {
        out.extend(format::absorbed_record(*id));
    }
    let len = out.len() as u64;
    out[COMMITTED_AT..COMMITTED_AT + 8].copy_from_slice(&len.to_ne_bytes());
    out
}
