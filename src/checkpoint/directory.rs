//! The checkpoint directory's files besides the log: its lock, its metadata (format and
//! settings), its snapshot, and how each is written atomically.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::{Meta, Snapshot, FORMAT, LOCK, META};
use crate::error::Error;
use crate::settings::Settings;

/// Takes the directory's lock, or says which process holds it. The lock file holds the PID of
/// its holder, for that message; the lock itself is `flock`, which dies with its process, so a
/// `kill -9` leaves nothing stale behind.
pub(super) fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::runtime(format!("cannot open '{}': {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("process {pid}"),
            };
            return Err(Error::runtime(format!(
                "--checkpoint '{}' is in use by another netwc ({holder}): one run per directory; stop that run first or choose another directory",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::runtime(format!(
                "cannot lock '{}': {e}",
                path.display()
            )))
        }
    }
    let written = file
        .set_len(0)
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    written.map_err(|e| Error::runtime(format!("cannot write '{}': {e}", path.display())))?;
    Ok(file)
}

/// A directory without our metadata is refused unless it is empty (or only holds a lock file
/// a first start left): it may hold someone's files. A cluster's checkpoint (`process-I`
/// folders) gets a message of its own.
pub(super) fn refuse_foreign(dir: &Path) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != LOCK)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let processes = names.iter().filter(|n| n.starts_with("process-")).count();
    if processes > 0 && dir.join("process-0").join(META).exists() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoint of a cluster of {processes} processes (process-0 … process-{}): resume it with --processes {processes}, or choose another directory",
            dir.display(),
            processes - 1
        )));
    }
    Err(Error::runtime(format!(
        "--checkpoint '{}' holds files but no {META}: it is not a netwc checkpoint; choose an empty or new directory",
        dir.display()
    )))
}

/// A cluster keeps its checkpoint in `DIR/process-I`: a DIR that holds a single process's
/// checkpoint is refused, or the cluster would start afresh beside it.
pub fn check_cluster_layout(
    dir: &Path,
    cluster: &crate::config::ClusterConfig,
) -> Result<(), Error> {
    if cluster.processes > 1 && dir.join(META).exists() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoint of a single process: resume it without --processes, or choose another directory",
            dir.display()
        )));
    }
    Ok(())
}

pub(super) fn check_meta(path: &Path, settings: &Settings) -> Result<(), Error> {
    let text = std::fs::read(path)
        .map_err(|e| Error::runtime(format!("cannot read '{}': {e}", path.display())))?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| {
        Error::runtime(format!(
            "'{}' is corrupt or not a netwc checkpoint: {e}",
            path.display()
        ))
    })?;
    if meta.format > FORMAT {
        return Err(Error::runtime(format!(
            "'{}' has checkpoint format {}, newer than this netwc's {FORMAT}: use a newer netwc or another directory",
            path.display(),
            meta.format
        )));
    }
    let stored = match meta.format {
        1 => Settings::from_format_1(&meta.settings).ok_or_else(|| {
            Error::runtime(format!(
                "'{}' was written by an older netwc (checkpoint format 1) with settings this netwc cannot read: choose another directory",
                path.display()
            ))
        })?,
        _ => meta.settings,
    };
    let differences = settings.differences(&stored);
    if !differences.is_empty() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' was written by a run with other settings: {}; resume with the same settings or choose another directory",
            path.parent().unwrap_or(path).display(),
            differences.join("; ").replace(" there", " in the checkpoint")
        )));
    }
    Ok(())
}

pub(super) fn read_snapshot(path: &Path) -> Result<Option<Snapshot>, Error> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::runtime(format!(
                "cannot read '{}': {e}",
                path.display()
            )))
        }
    };
    let snapshot: Snapshot = serde_json::from_slice(&text).map_err(|e| {
        Error::runtime(format!(
            "the snapshot '{}' is corrupt ({e}); it cannot be restored safely",
            path.display()
        ))
    })?;
    if snapshot.format > FORMAT {
        return Err(Error::runtime(format!(
            "the snapshot '{}' has format {}, newer than this netwc's {FORMAT}",
            path.display(),
            snapshot.format
        )));
    }
    Ok(Some(snapshot))
}

/// Writes `bytes` to `temporary`, syncs it, and renames it over `path`, then syncs the folder:
/// a reader sees the old file or the new one, never a part.
pub(crate) fn write_atomically(temporary: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let written = (|| {
        let mut file = File::create(temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(temporary, path)
    })();
    if written.is_err() {
        // A full disk must not stay full of a half-written copy: the next try (or a restart)
        // would fail for its sake.
        let _ = std::fs::remove_file(temporary);
    }
    written?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Where [`write_atomically`] writes the settings before they take their name.
pub(crate) const META_TEMPORARY: &str = "meta.tmp";
/// Where [`write_atomically`] writes a snapshot before it takes its name.
pub(crate) const SNAPSHOT_TEMPORARY: &str = "snapshot.tmp";
/// Where [`write_atomically`] writes the log's tail when a snapshot lets it drop its head.
pub(crate) const LOG_TEMPORARY: &str = "wal.log.tmp";

/// Removes what an interrupted write left in `dir` (a crash between writing a temporary file
/// and renaming it): never read, it only takes space. Call it under the directory's lock.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<(), Error> {
    for name in [META_TEMPORARY, SNAPSHOT_TEMPORARY, LOG_TEMPORARY] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => log!("removed '{}', left by an interrupted write", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::runtime(format!(
                    "cannot remove '{}', left by an interrupted write: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}
