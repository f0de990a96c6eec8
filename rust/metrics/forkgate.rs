//! The fork gate: a render reads the registry and its families holding their locks, with the GIL
//! released (on the `/metrics` server's thread, or in any thread rendering detached). A `fork()`
//! from another thread at that moment would give the child those locks held by a thread it does
//! not have. Each such render holds the gate shared; the before-fork hook takes it exclusively,
//! so it waits for renders in progress (they need no GIL to finish) and holds new ones back until
//! just after the fork, in both processes.
//!
//! Only GIL-free work may run inside the gate: the forking thread holds the GIL while it waits.

use parking_lot::{RwLock, RwLockReadGuard};

use crate::runtime::hooks::{on_fork, ForkHooks};

static GATE: RwLock<()> = RwLock::new(());

/// Held by a render for as long as it holds registry or family locks without the GIL.
pub fn enter() -> RwLockReadGuard<'static, ()> {
    GATE.read()
}

fn close() {
    std::mem::forget(GATE.write());
}

fn open() {
    if GATE.is_locked_exclusive() {
        // SAFETY: close() took the gate exclusively in the forking thread and forgot the guard;
        // no other thread can hold it while it is held so, and in the child that thread is the
        // only one. This is the matching release.
        unsafe { GATE.force_unlock_write() };
    }
}

/// Registered at import, before the multiprocess mode's hooks (whose lock a render may take
/// inside the gate): `before` hooks run in registration order.
pub fn init() {
    on_fork(ForkHooks {
        before: close,
        parent: open,
        child: open,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_closes_for_a_fork_and_opens_after_it() {
        init();
        let reader = enter();
        assert!(GATE.try_write().is_none(), "a render in progress holds the gate");
        drop(reader);
        close();
        assert!(GATE.try_read().is_none(), "renders wait while a fork is under way");
        open();
        assert!(GATE.try_read().is_some());
    }
}
