//! Hooks that upper layers register at start-up, so a lower layer can reach them without
//! importing them: "settle before read" (work still queued on a recorder thread is recorded
//! before a scrape, a collect, a flush or a reconfiguration reads it) and the fork sequence.

use parking_lot::RwLock;

/// What a pipeline does around `fork()`: `before` runs in the forking thread, `parent` and
/// `child` just after, in the process each names.
#[derive(Clone, Copy)]
pub struct ForkHooks {
    pub before: fn(),
    pub parent: fn(),
    pub child: fn(),
}

static SETTLE: RwLock<Vec<fn()>> = RwLock::new(Vec::new());
static FORK: RwLock<Vec<ForkHooks>> = RwLock::new(Vec::new());

/// Registers work to finish before any read of recorded telemetry (once per hook).
pub fn on_settle(hook: fn()) {
    let mut hooks = SETTLE.write();
    if !hooks.iter().any(|h| std::ptr::fn_addr_eq(*h, hook)) {
        hooks.push(hook);
    }
}

impl ForkHooks {
    fn same(&self, other: &ForkHooks) -> bool {
        std::ptr::fn_addr_eq(self.before, other.before)
            && std::ptr::fn_addr_eq(self.parent, other.parent)
            && std::ptr::fn_addr_eq(self.child, other.child)
    }
}

/// Registers a pipeline's fork hooks (once for the same three functions).
pub fn on_fork(hooks: ForkHooks) {
    let mut all = FORK.write();
    if !all.iter().any(|h| h.same(&hooks)) {
        all.push(hooks);
    }
}

/// Runs every settle hook: called by whatever reads telemetry, before it reads.
pub fn settle() {
    let hooks: Vec<fn()> = SETTLE.read().clone();
    for hook in hooks {
        hook();
    }
}

fn fork_hooks() -> Vec<ForkHooks> {
    FORK.read().clone()
}

/// Before `fork()`: in registration order (a pipeline registered later may feed an earlier one).
pub(crate) fn before_fork() {
    for hooks in fork_hooks() {
        (hooks.before)();
    }
}

/// After `fork()`, in the parent: in reverse order, releasing what `before_fork` took.
pub(crate) fn after_fork_in_parent() {
    for hooks in fork_hooks().iter().rev() {
        (hooks.parent)();
    }
}

/// After `fork()`, in the child: in reverse order.
pub(crate) fn after_fork_in_child() {
    for hooks in fork_hooks().iter().rev() {
        (hooks.child)();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SETTLED: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        SETTLED.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn a_settle_hook_runs_once_per_settle_however_often_registered() {
        on_settle(count);
        on_settle(count);
        let before = SETTLED.load(Ordering::SeqCst);
        settle();
        assert_eq!(SETTLED.load(Ordering::SeqCst), before + 1);
    }
}
