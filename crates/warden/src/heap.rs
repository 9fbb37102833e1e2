//! Live heap bytes, for memory benchmarks only (feature `heap-stats`).
//!
//! RSS cannot say what one held call costs: the allocator keeps freed pages,
//! so memory that is no longer used still counts. With this feature the
//! global allocator is wrapped by `cap::Cap`, which counts the bytes in live
//! allocations, and a plain thread writes that count to the file named by
//! `WARDEN_HEAP_STATS` every 100 ms (written aside, then renamed, so a
//! reader never sees half a number).

#[global_allocator]
pub static GLOBAL: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

/// Starts the writer when `WARDEN_HEAP_STATS` names a file.
pub fn start() {
    let Some(path) = std::env::var_os("WARDEN_HEAP_STATS").map(std::path::PathBuf::from) else {
        return;
    };
    let aside = path.with_extension("tmp");
    let spawned = std::thread::Builder::new()
        .name("heap-stats".into())
        .spawn(move || {
            loop {
                let live = GLOBAL.allocated();
                if std::fs::write(&aside, format!("{live}\n")).is_ok() {
                    let _ = std::fs::rename(&aside, &path);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    if let Err(e) = spawned {
        eprintln!("heap-stats: cannot start its thread: {e}");
    }
}
