//! Which cells live in which file. With a directory set, every new child of a counter, gauge,
//! histogram or summary has its cells pointed at a fixed place in this process's file there;
//! families declared before the directory was set are pointed when it is. After `fork()` the
//! child makes its own file and points every tracked cell there (starting from zero: what the
//! parent counted stays in the parent's file), then turns its view of the parent's file into
//! private memory, so a cell missed on the way can never count twice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::file::ProcessFile;
use super::format::FamilyMeta;
use super::{sys, unwritable};
use crate::metrics::exposition::FamilyDesc;
use crate::metrics::family::{Core, Family};
use crate::metrics::value::SharedCell;
use crate::runtime::hooks::{self, ForkHooks};

/// A child's cells, whatever its metric type.
trait SharedCore: Send + Sync {
    fn shared_cells(&self) -> Vec<&dyn SharedCell>;
}

impl<C: Core> SharedCore for C {
    fn shared_cells(&self) -> Vec<&dyn SharedCell> {
        self.cells()
    }
}

/// A family whose children are pointed when a directory is set after it was declared.
trait TrackedFamily: Send + Sync {
    fn attach_children(&self);
}

impl<C: Core> TrackedFamily for Family<C> {
    fn attach_children(&self) {
        for child in self.children() {
            attach(&self.desc, &self.config, &child.values, &child.core);
        }
    }
}

/// One label set in a file: enough to append it again in a forked child's file.
struct Series {
    dir: Arc<Path>,
    family: Vec<u8>,
    words: usize,
    stamped: bool,
    values: Box<[String]>,
    core: Weak<dyn SharedCore>,
}

struct State {
    /// Where new cells go; None: they stay in this process.
    active: Option<Arc<Path>>,
    /// This process's file in each directory it has written to.
    files: Vec<(Arc<Path>, ProcessFile)>,
    series: Vec<Series>,
    families: Vec<Weak<dyn TrackedFamily>>,
    /// How many entries were alive at the last sweep: the lists are swept when they double.
    swept: (usize, usize),
}

static STATE: Mutex<State> = Mutex::new(State {
    active: None,
    files: Vec::new(),
    series: Vec::new(),
    families: Vec::new(),
    swept: (0, 0),
});
/// `STATE.active.is_some()`, read without the lock when a child is made.
static ENABLED: AtomicBool = AtomicBool::new(false);

impl State {
    /// Points `core`'s cells at the series' place in this process's file, made when missing.
    fn share(&mut self, series: &Series, core: &dyn SharedCore) -> bool {
        let index = match self.files.iter().position(|(dir, _)| *dir == series.dir) {
            Some(i) => i,
            None => match ProcessFile::create(&series.dir) {
                Ok(file) => {
                    self.files.push((series.dir.clone(), file));
                    self.files.len() - 1
                }
                Err(e) => {
                    unwritable(&series.dir, &e);
                    return false;
                }
            },
        };
        let file = &mut self.files[index].1;
        let cells = core.shared_cells();
        if cells.len() + usize::from(series.stamped) != series.words {
            return false;
        }
        match file.cells(&series.family, &series.values, series.words) {
            Ok(words) => {
                for (i, cell) in cells.into_iter().enumerate() {
                    // SAFETY: the file's mappings are never unmapped while the process lives
                    // (a forked child turns them private instead), and cells are only accessed
                    // atomically; `words` has a word per cell, and one more when stamped.
                    unsafe { cell.share(words.add(i), series.stamped) };
                }
                true
            }
            Err(e) => {
                unwritable(&file.path, &e);
                false
            }
        }
    }

    fn keep(&mut self, series: Series) {
        if self.series.len() >= 2 * self.swept.0.max(64) {
            self.series.retain(|s| s.core.strong_count() > 0);
            self.swept.0 = self.series.len();
        }
        self.series.push(series);
    }
}

/// Called as a child is made: points its cells into this process's file when a directory is
/// set (a cheap atomic check otherwise).
pub fn attach<C: Core>(desc: &FamilyDesc, config: &C::Config, values: &[String], core: &Arc<C>) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(layout) = C::layout(config) else {
        return;
    };
    let mut state = STATE.lock();
    let Some(dir) = state.active.clone() else {
        return;
    };
    let meta = FamilyMeta {
        name: desc.name.clone(),
        help: desc.help.clone(),
        unit: desc.unit.clone(),
        labelnames: desc.labelnames.clone(),
        layout,
    };
    let core: Arc<dyn SharedCore> = core.clone();
    let series = Series {
        dir,
        family: meta.record(),
        words: meta.layout.words(),
        stamped: meta.layout.stamped(),
        values: values.into(),
        core: Arc::downgrade(&core),
    };
    if state.share(&series, &*core) {
        state.keep(series);
    }
}

/// Called as a family is declared, so a directory set later reaches its children.
pub fn track<C: Core>(family: &Arc<Family<C>>) {
    if C::layout(&family.config).is_none() {
        return;
    }
    let family: Arc<dyn TrackedFamily> = family.clone();
    let mut state = STATE.lock();
    if state.families.len() >= 2 * state.swept.1.max(64) {
        state.families.retain(|f| f.strong_count() > 0);
        state.swept.1 = state.families.len();
    }
    state.families.push(Arc::downgrade(&family));
}

/// Sets where new cells go (None: in this process); with `existing`, the children of every
/// family declared so far go there too, each keeping what it has counted.
pub fn set_directory(dir: Option<PathBuf>, existing: bool) {
    let enabled = dir.is_some();
    let families: Vec<_> = {
        let mut state = STATE.lock();
        state.active = dir.map(Arc::from);
        ENABLED.store(enabled, Ordering::Relaxed);
        match enabled && existing {
            true => state.families.iter().filter_map(Weak::upgrade).collect(),
            false => Vec::new(),
        }
    };
    if enabled {
        // Registered now, after the HTTP recorder's (whose `before` records what is queued,
        // into these files): `before` hooks run in registration order.
        hooks::on_fork(ForkHooks {
            before: before_fork,
            parent: after_fork_in_parent,
            child: after_fork_in_child,
        });
    }
    for family in families {
        family.attach_children();
    }
}

/// Whether a directory is set: one atomic load.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn active() -> Option<PathBuf> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    STATE.lock().active.as_deref().map(Path::to_owned)
}

/// Held across `fork()`: the child never inherits a file halfway through an append, nor a
/// directory lock taken by another thread.
fn before_fork() {
    std::mem::forget(STATE.lock());
    std::mem::forget(sys::FORK_GUARD.write());
}

fn unlock() {
    // SAFETY: `before_fork` took both in the forking thread and forgot the guards; these are the
    // matching unlocks (in the child, that thread is the only one).
    unsafe {
        if sys::FORK_GUARD.is_locked_exclusive() {
            sys::FORK_GUARD.force_unlock_write();
        }
        if STATE.is_locked() {
            STATE.force_unlock();
        }
    }
}

fn after_fork_in_parent() {
    unlock();
}

/// The child's own file, and every live cell pointed into it.
fn after_fork_in_child() {
    unlock();
    let mut state = STATE.lock();
    let inherited: Vec<ProcessFile> = state.files.drain(..).map(|(_, file)| file).collect();
    let series = std::mem::take(&mut state.series);
    for series in series {
        if let Some(core) = series.core.upgrade() {
            if state.share(&series, &*core) {
                state.series.push(series);
            }
        }
    }
    for file in inherited {
        file.abandon();
    }
}
