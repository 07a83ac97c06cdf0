//! The checkpoint directory's files besides the log: its lock, its metadata (format and
//! settings), its snapshot, and how each is written atomically.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::{Meta, FORMAT, LOCK, LOG, META};
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
        // What a first start that was cut short leaves: an empty log (made before the
        // metadata), and temporary files.
        .filter(|name| !(name == LOG && is_empty_log(&dir.join(LOG))))
        .filter(|name| ![META_TEMPORARY, LOG_TEMPORARY].contains(&name.as_str()))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let processes = names.iter().filter(|n| n.starts_with("process-")).count();
    if processes > 1 && dir.join("process-0").join(META).exists() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoint of a cluster of {processes} processes that all read (process-0 … process-{}): resume it with --processes {processes} --every-process-reads, or choose another directory",
            dir.display(),
            processes - 1
        )));
    }
    if processes == 1 && dir.join("process-0").join(META).exists() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoint of a cluster whose process 0 read the input (process-0): resume it as a cluster, with --processes and --hostfile as it ran, or choose another directory",
            dir.display()
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
    // Processes that would not read in this cluster would never replay their logs.
    let readers = match cluster.every_process_reads {
        true => cluster.processes,
        false => 1,
    };
    let beyond: Vec<String> = (readers..)
        .map(|i| format!("process-{i}"))
        .take_while(|name| dir.join(name).join(META).exists())
        .collect();
    if cluster.processes > 1 && !beyond.is_empty() {
        let written = readers + beyond.len();
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoints of {written} processes that all read, but this cluster would have {readers} read: the input logged by {} would be lost. Resume it with --processes {written} --every-process-reads, or choose another directory",
            dir.display(),
            beyond.join(", "),
        )));
    }
    Ok(())
}

/// Whether `path` is a log that holds nothing but its header.
fn is_empty_log(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| {
        bytes.len() == super::framing::FILE_HEADER
            && super::framing::check_file_header(&bytes, b"NETWCLOG", path).is_ok()
    })
}

/// The checksum of `settings` that the metadata keeps beside them.
pub(super) fn settings_checksum(settings: &Settings) -> u32 {
    super::framing::crc32(&serde_json::to_vec(settings).expect("settings serialize"))
}

/// Reads the metadata at `path`: its format must be this netwc's, its checksum right, and its
/// settings those of this run (or the run is refused with the differences).
pub(super) fn check_meta(path: &Path, settings: &Settings) -> Result<(), Error> {
    let text = std::fs::read(path)
        .map_err(|e| Error::runtime(format!("cannot read '{}': {e}", path.display())))?;
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::runtime(format!(
            "'{}' is corrupt or not a netwc checkpoint: {e}",
            path.display()
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| corrupt(&e))?;
    let format = value.get("format").and_then(serde_json::Value::as_u64);
    if let Some(format) = format.filter(|&f| f != u64::from(FORMAT)) {
        return Err(Error::runtime(format!(
            "'{}' has checkpoint format {format}, but this netwc reads format {FORMAT} only: resume it with the netwc that wrote it, or choose another directory",
            path.display()
        )));
    }
    let meta: Meta = serde_json::from_value(value).map_err(|e| corrupt(&e))?;
    if settings_checksum(&meta.settings) != meta.checksum {
        return Err(corrupt(&"the settings do not match their checksum"));
    }
    let differences = settings.differences(&meta.settings);
    if !differences.is_empty() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' was written by a run with other settings: {}; resume with the same settings or choose another directory",
            path.parent().unwrap_or(path).display(),
            differences.join("; ").replace(" there", " in the checkpoint")
        )));
    }
    Ok(())
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
