//! `--watch DIR`: Spark's `textFileStream`. Each file that appears in the directory, under a
//! name that does not start with `.` or `_` (what `mv` of a finished file leaves, not what a
//! writer or Hadoop's committer is still writing), is read whole, a chunk at a time, its lines
//! counted as they are read. A name is read once.
//!
//! With `--checkpoint`, each chunk of a file carries where the file resumes after it (a
//! [`SourceOffset`] keyed by a hash of the file's name, the text kept in the log), so a
//! restart reads every file exactly once: on where a file was cut off, not at all where it
//! was read whole, and from its start where it appeared while netwc was down. A file's partial
//! line is never counted by a stop: the next start reads it from the file.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Event, Framed, LineFramer, Resumption, Sender, READ_SIZE};
use crate::config::{SplitRule, StartFrom, WatchSource};
use crate::error::Error;
use crate::vocab::SourceOffset;

/// How often the directory is listed. (A listing of a few thousand names takes well under a
/// millisecond; Spark lists once a batch.)
const POLL: Duration = Duration::from_millis(20);

/// The stable key of a file's name in the checkpoint: FNV-1a, 64 bits (two names in a
/// million share one with odds below 1 in 10^7).
fn file_key(name: &OsString) -> u64 {
    crate::stable_hash::fnv1a(name.as_encoded_bytes().iter().copied())
}

/// Whether a name is one to read: not hidden, not a file being written (`_COPYING_`,
/// `_temporary`).
fn is_counted(name: &OsString) -> bool {
    !name.as_encoded_bytes().starts_with(b".") && !name.as_encoded_bytes().starts_with(b"_")
}

/// Lists the directory now (it must be there and readable at start); starts the thread that
/// reads what appears. Files already there are read with `--from earliest` (else only noted
/// in `resume.started`, so that a checkpoint's restart knows them); a restart reads on where
/// `resume.offsets` says.
pub(super) fn start(
    watch: &WatchSource,
    split: SplitRule,
    resume: Resumption<'_>,
    sender: Sender,
) -> Result<(), Error> {
    let dir = watch.dir.clone();
    let present = list(&dir).map_err(|e| {
        Error::runtime(format!(
            "cannot watch --watch '{}': {e}; give a directory that exists and can be read",
            dir.display()
        ))
    })?;
    let mut watcher = Watcher {
        dir,
        split,
        seen: HashSet::new(),
        names: HashSet::new(),
        resume_at: resume.offsets.clone(),
        sender,
    };
    if !resume.resumed && watch.from == StartFrom::Latest {
        for (name, _) in &present {
            let key = file_key(name);
            watcher.seen.insert(key);
            watcher.names.insert(name.clone());
            let length = std::fs::metadata(watcher.dir.join(name)).map_or(0, |m| m.len());
            resume.started.insert(key, length);
        }
        log!(
            "watching '{}' for new files ({} there now are not read: --from earliest reads them)",
            watcher.dir.display(),
            present.len()
        );
    }
    std::thread::Builder::new()
        .name("netwc:watch".into())
        .spawn(move || {
            let end = watcher.run();
            watcher.sender.send(end);
        })
        .map_err(|e| Error::runtime(format!("could not start the --watch thread: {e}")))?;
    Ok(())
}

/// The names of the files to read in `dir`, oldest first (by modification time, then name).
fn list(dir: &Path) -> io::Result<Vec<(OsString, SystemTime)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !is_counted(&name) {
            continue;
        }
        // A file removed between the listing and here is no file to read.
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if metadata.is_file() {
            files.push((name, metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        }
    }
    files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(files)
}

/// Whether a file resumed at `from` resumes between the `\r` and the `\n` of a CRLF: that `\n`
/// ends the line already counted, and is skipped (a line ended by a lone `\r` is counted at
/// once, so a chunk can end between the two).
fn after_cr_lf(file: &mut File, from: u64) -> io::Result<bool> {
    if from == 0 {
        return Ok(false);
    }
    let mut two = [0; 2];
    file.seek(SeekFrom::Start(from - 1))?;
    let read = file.read(&mut two)?;
    Ok(read == 2 && two == *b"\r\n")
}

/// The reading thread's state.
struct Watcher {
    dir: PathBuf,
    split: SplitRule,
    /// The keys of the names read (or skipped) already.
    seen: HashSet<u64>,
    /// The names met by this run, to tell a name met again from two names of one key.
    names: HashSet<OsString>,
    /// Where a checkpoint says each file resumes.
    resume_at: BTreeMap<u64, u64>,
    sender: Sender,
}

impl Watcher {
    /// Reads each new file as it appears, until the run stops. Returns the event that ends
    /// the stream: only a directory that can no longer be listed ends it.
    fn run(&mut self) -> Event {
        loop {
            if self.sender.tails.stopping() {
                return Event::Ended;
            }
            let files = match list(&self.dir) {
                Ok(files) => files,
                Err(e) => {
                    return Event::Failed(format!(
                        "cannot list --watch '{}' any more: {e}",
                        self.dir.display()
                    ))
                }
            };
            for (name, _) in files {
                let key = file_key(&name);
                let new_name = self.names.insert(name.clone());
                if !self.seen.insert(key) {
                    if new_name {
                        log!(
                            "warning: '{}' is not read: its name has the same 64-bit key as a file read before (odds below 1 in 10^7 a million names); rename it to have it read",
                            self.dir.join(&name).display()
                        );
                    }
                    continue;
                }
                let from = self.resume_at.remove(&key).unwrap_or(0);
                if !self.read(&name, key, from) {
                    return Event::Ended;
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Reads the file `name` from byte `from` to its end, sending each chunk with where the
    /// file resumes after it. False when the run stops taking chunks.
    fn read(&mut self, name: &OsString, key: u64, from: u64) -> bool {
        let path = self.dir.join(name);
        let opened = File::open(&path).and_then(|mut f| {
            let start = from + u64::from(after_cr_lf(&mut f, from)?);
            f.seek(SeekFrom::Start(start))?;
            Ok((f, start))
        });
        let (mut file, start) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                log!(
                    "warning: '{}' was removed before it was read; its lines are not counted",
                    path.display()
                );
                return true;
            }
            Err(e) => {
                log!(
                    "warning: cannot read '{}': {e}; its lines are not counted",
                    path.display()
                );
                return true;
            }
        };
        let mut framer = LineFramer::new(self.split);
        let reader = self.sender.tails.new_reader();
        let mut buffer = vec![0; READ_SIZE];
        let mut offset = start;
        loop {
            if self.sender.tails.stopping() {
                return false;
            }
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log!(
                        "warning: reading '{}' failed at byte {offset}: {e}; the rest is not counted",
                        path.display()
                    );
                    break;
                }
            };
            offset += read as u64;
            self.sender.metrics.read(read);
            let framed = framer.push(&buffer[..read]);
            let resume_at = offset - framer.pending() as u64;
            if !self.send(framed, reader, key, resume_at) {
                return false;
            }
        }
        // The file's last line, with or without its newline.
        self.send(framer.finish(), reader, key, offset)
    }

    /// Sends a chunk of reader `reader` after which file `key` resumes at `next`.
    fn send(&self, framed: Option<Framed>, reader: u64, key: u64, next: u64) -> bool {
        let Some(mut framed) = framed else {
            return true;
        };
        framed.chunk.reader = reader;
        framed.chunk.resume = Some(SourceOffset {
            partition: key,
            from: None,
            next,
        });
        self.sender.send(Event::Text(framed))
    }
}
