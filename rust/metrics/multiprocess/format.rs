//! The bytes of a multiprocess file. A header (magic, version, owner's pid, a random file id,
//! and the committed length), then 8-byte aligned records up to that length: a family (name,
//! help, unit, layout, label names), a series (its family's offset, label values and its
//! cells, each one aligned word), padding, or (in the archive) the id of a process file it has
//! absorbed. Records are only ever appended, and the committed length is stored last, so a
//! process killed at any point leaves a file that reads. Words are in the machine's byte order:
//! the files never leave the machine.

use smallvec::SmallVec;

use super::{GaugeMode, Layout};

pub const MAGIC: [u8; 8] = *b"FERROTMP";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 64;
/// Where the header keeps the committed length, an atomic word.
pub const COMMITTED_AT: usize = 32;

pub const TAG_PAD: u16 = 0;
pub const TAG_FAMILY: u16 = 1;
pub const TAG_SERIES: u16 = 2;
pub const TAG_ABSORBED: u16 = 3;

pub fn header(pid: u32, file_id: u64, committed: u64) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_ne_bytes());
    out[12..16].copy_from_slice(&(HEADER_LEN as u32).to_ne_bytes());
    out[16..20].copy_from_slice(&pid.to_ne_bytes());
    out[24..32].copy_from_slice(&file_id.to_ne_bytes());
    out[COMMITTED_AT..COMMITTED_AT + 8].copy_from_slice(&committed.to_ne_bytes());
    out
}

/// A record: its length and tag, then `body`, padded to 8 bytes.
fn record(tag: u16, body: &[u8]) -> Vec<u8> {
    let len = (8 + body.len()).next_multiple_of(8);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&tag.to_ne_bytes());
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(body);
    out.resize(len, 0);
    out
}

pub fn pad_record(len: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(len as u32).to_ne_bytes());
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// What a family record says.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyMeta {
    pub name: String,
    pub help: String,
    pub unit: String,
    pub layout: Layout,
    pub labelnames: Box<[String]>,
}

impl FamilyMeta {
    pub fn record(&self) -> Vec<u8> {
        let (kind, mode, bounds): (u8, u8, &[f64]) = match &self.layout {
            Layout::Counter => (1, 0, &[]),
            Layout::Gauge(mode) => (2, *mode as u8, &[]),
            Layout::Histogram(bounds) => (3, 0, bounds),
            Layout::Summary => (4, 0, &[]),
        };
        let mut body = vec![kind, mode];
        body.extend_from_slice(&(self.labelnames.len() as u16).to_ne_bytes());
        body.extend_from_slice(&(bounds.len() as u32).to_ne_bytes());
        for b in bounds {
            body.extend_from_slice(&b.to_bits().to_ne_bytes());
        }
        for s in [&self.name, &self.help, &self.unit]
            .into_iter()
            .chain(self.labelnames.iter())
        {
            put_str(&mut body, s);
        }
        record(TAG_FAMILY, &body)
    }
}

/// Where a series record's cells start, counted from the record's start.
pub const SERIES_CELLS_AT: usize = 24;

/// A series record: its family's offset, a pid (0: the file's owner), its cells, label values.
pub fn series_record(family: u64, pid: u32, cells: &[u64], values: &[String]) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + cells.len() * 8 + values.iter().map(|v| 4 + v.len()).sum::<usize>());
    body.extend_from_slice(&family.to_ne_bytes());
    body.extend_from_slice(&pid.to_ne_bytes());
    body.extend_from_slice(&(cells.len() as u32).to_ne_bytes());
    for c in cells {
        body.extend_from_slice(&c.to_ne_bytes());
    }
    for v in values {
        put_str(&mut body, v);
    }
    record(TAG_SERIES, &body)
}

pub fn absorbed_record(file_id: u64) -> Vec<u8> {
    record(TAG_ABSORBED, &file_id.to_ne_bytes())
}

/// One series as read: its family (an index into `View::families`), pid, cells and labels.
pub struct SeriesView<'a> {
    pub family: usize,
    pub pid: u32,
    pub cells: &'a [u64],
    /// Inline up to six: a scrape reads thousands of series per file, without allocating.
    pub values: SmallVec<[&'a str; 6]>,
}

/// A whole file as read, or why it cannot be.
pub struct View<'a> {
    pub pid: u32,
    pub file_id: u64,
    pub families: Vec<FamilyMeta>,
    pub series: Vec<SeriesView<'a>>,
    pub absorbed: Vec<u64>,
}

/// Reads a little-endian-or-not cursor over a record, failing on any overrun.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or("a record overruns its length")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        Ok(u16::from_ne_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_ne_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_ne_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    fn str(&mut self) -> Result<&'a str, &'static str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| "a string is not UTF-8")
    }
}

/// The file's words as bytes, in order.
pub fn as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: any u64 is 8 valid bytes; the slice covers exactly the words' memory.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) }
}

/// Parses a file's words (up to its committed length), checking every length and reference.
pub fn parse(words: &[u64]) -> Result<View<'_>, &'static str> {
    let bytes = as_bytes(words);
    if bytes.len() < HEADER_LEN {
        return Err("shorter than a header");
    }
    if bytes[..8] != MAGIC {
        return Err("not a ferrotel multiprocess file (bad magic)");
    }
    let mut head = Cursor { bytes, at: 8 };
    if head.u32()? != VERSION {
        return Err("written by another version of ferrotel");
    }
    if head.u32()? as usize != HEADER_LEN {
        return Err("bad header length");
    }
    let pid = head.u32()?;
    head.u32()?;
    let file_id = head.u64()?;
    let mut view = View {
        pid,
        file_id,
        families: Vec::new(),
        series: Vec::new(),
        absorbed: Vec::new(),
    };
    // A family's offset in the file → its index in `view.families`.
    let mut family_at = std::collections::HashMap::new();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let mut head = Cursor { bytes, at };
        let len = head.u32()? as usize;
        let tag = head.u16()?;
        if len < 8 || len % 8 != 0 || at + len > bytes.len() {
            return Err("a record has a bad length");
        }
        let mut body = Cursor {
            bytes: &bytes[..at + len],
            at: at + 8,
        };
        match tag {
            TAG_PAD => {}
            TAG_FAMILY => {
                family_at.insert(at as u64, view.families.len());
                view.families.push(family(&mut body)?);
            }
            TAG_SERIES => {
                let family = *family_at.get(&body.u64()?).ok_or("a series names no family")?;
                let pid = body.u32()?;
                let ncells = body.u32()? as usize;
                if ncells != view.families[family].layout.words() {
                    return Err("a series has the wrong number of cells");
                }
                let first = (at + SERIES_CELLS_AT) / 8;
                body.take(ncells * 8)?;
                let cells = &words[first..first + ncells];
                let nlabels = view.families[family].labelnames.len();
                let values = (0..nlabels).map(|_| body.str()).collect::<Result<_, _>>()?;
                view.series.push(SeriesView {
                    family,
                    pid,
                    cells,
                    values,
                });
            }
            TAG_ABSORBED => view.absorbed.push(body.u64()?),
            _ => return Err("a record of an unknown kind"),
        }
        at += len;
    }
    Ok(view)
}

fn family(body: &mut Cursor<'_>) -> Result<FamilyMeta, &'static str> {
    let kind = body.take(1)?[0];
    let mode = body.take(1)?[0];
    let nlabels = body.u16()? as usize;
    let nbounds = body.u32()? as usize;
    let mut bounds = Vec::with_capacity(nbounds.min(4096));
    for _ in 0..nbounds {
        bounds.push(f64::from_bits(body.u64()?));
    }
    let layout = match kind {
        1 => Layout::Counter,
        2 => Layout::Gauge(GaugeMode::from_code(mode).ok_or("an unknown gauge mode")?),
        3 if !bounds.is_empty() => Layout::Histogram(bounds.into()),
        4 => Layout::Summary,
        _ => return Err("a family of an unknown kind"),
    };
    let name = body.str()?.to_owned();
    let help = body.str()?.to_owned();
    let unit = body.str()?.to_owned();
    let labelnames = (0..nlabels)
        .map(|_| body.str().map(str::to_owned))
        .collect::<Result<_, _>>()?;
    Ok(FamilyMeta {
        name,
        help,
        unit,
        layout,
        labelnames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<u64> {
        bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_ne_bytes(w)
            })
            .collect()
    }

    fn sample_file() -> Vec<u8> {
        let family = FamilyMeta {
            name: "requests".into(),
            help: "Requests".into(),
            unit: String::new(),
            layout: Layout::Histogram(vec![0.5, f64::INFINITY].into()),
            labelnames: vec!["path".to_string()].into(),
        };
        let mut file = header(42, 7, 0).to_vec();
        let family_at = file.len() as u64;
        file.extend(family.record());
        file.extend(series_record(
            family_at,
            0,
            &[3, 4, 2.5f64.to_bits()],
            &["/a".to_string()],
        ));
        file.extend(absorbed_record(99));
        let len = file.len() as u64;
        file[COMMITTED_AT..COMMITTED_AT + 8].copy_from_slice(&len.to_ne_bytes());
        file
    }

    #[test]
    fn a_written_file_reads_back() {
        let words = words(&sample_file());
        let view = parse(&words).unwrap();
        assert_eq!((view.pid, view.file_id, view.absorbed.as_slice()), (42, 7, &[99][..]));
        assert_eq!(view.families[0].name, "requests");
        let series = &view.series[0];
        assert_eq!(
            (series.values.as_slice(), series.cells),
            (&["/a"][..], &[3, 4, 2.5f64.to_bits()][..])
        );
    }

    #[test]
    fn every_truncation_and_a_foreign_file_fail_cleanly() {
        let file = sample_file();
        for cut in (0..file.len()).step_by(8) {
            let words = words(&file[..cut]);
            // A cut at a record boundary is a shorter valid file; anywhere else an error.
            let parsed = parse(&words);
            if let Ok(view) = &parsed {
                assert!(view.series.len() <= 1);
            }
        }
        let mut foreign = file.clone();
        foreign[..8].copy_from_slice(b"NOTOURS!");
        assert!(parse(&words(&foreign)).is_err());
        let mut garbled = file;
        garbled[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse(&words(&garbled)).is_err());
    }
}
