//! The local object directory's own needs: files read a large piece at a
//! time, new objects flushed to disk with their folders, and the staging
//! files of a cut-off multipart upload removed.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::objects::ObjectError;

/// Removes the staging files object_store writes beside `file` during a
/// multipart upload: `<name>#<number>`.
pub(super) fn remove_staging_files(file: &std::path::Path) -> std::io::Result<()> {
    let (Some(folder), Some(name)) = (file.parent(), file.file_name()) else {
        return Ok(());
    };
    let prefix = format!("{}#", name.to_string_lossy());
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let entry_name = entry.file_name();
        let entry_name = entry_name.to_string_lossy();
        let staged = entry_name
            .strip_prefix(&prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if staged {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Size of each read from the local directory: one chunk of it is in
/// memory per retrieval.
pub const LOCAL_READ: u64 = 1024 * 1024;

/// Streams `range` of a local file in [`LOCAL_READ`] pieces, each read on
/// the blocking pool. The next piece is read while the current one is
/// consumed (opened from the seal and sent), so disk and network overlap;
/// at most two pieces are in memory and no thread waits on a slow reader.
pub(super) fn read_file(
    file: std::fs::File,
    path: std::path::PathBuf,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, Result<Bytes, ObjectError>> {
    let mut reader = FileReader {
        file: Arc::new(file),
        path: Arc::new(path),
        at: range.start,
        end: range.end,
        next: None,
    };
    reader.read_ahead();
    futures::stream::unfold(reader, |mut reader| async move {
        let next = reader.next.take()?;
        let piece = match next.await {
            Ok(Ok(piece)) => piece,
            Ok(Err(e)) => {
                let e = ObjectError::Unavailable(object_store::Error::Generic {
                    store: "local",
                    source: format!("{}: {e}", reader.path.display()).into(),
                });
                return Some((Err(e), reader));
            }
            Err(e) => {
                let e = ObjectError::Unavailable(object_store::Error::JoinError { source: e });
                return Some((Err(e), reader));
            }
        };
        reader.read_ahead();
        Some((Ok(Bytes::from(piece)), reader))
    })
    .boxed()
}

/// A local file being read piece by piece, one piece ahead.
struct FileReader {
    file: Arc<std::fs::File>,
    path: Arc<std::path::PathBuf>,
    /// Where the next read starts.
    at: u64,
    end: u64,
    /// The read under way, if any bytes remain.
    next: Option<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>>,
}

impl FileReader {
    fn read_ahead(&mut self) {
        if self.at >= self.end {
            return;
        }
        let length = (self.end - self.at).min(LOCAL_READ) as usize;
        let (file, at) = (self.file.clone(), self.at);
        self.at += length as u64;
        self.next = Some(tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek};
            // Pieces are read one after another, so the file's own position
            // serves; read_to_end fills the buffer without zeroing it first.
            let mut buffer = Vec::with_capacity(length);
            (&*file).seek(std::io::SeekFrom::Start(at))?;
            (&*file).take(length as u64).read_to_end(&mut buffer)?;
            if buffer.len() < length {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(buffer)
        }));
    }
}

/// What makes a new local object durable: the file, and every folder from
/// its own up to the store's root, since the upload may have created any of
/// them (or another upload may have, without having flushed it yet).
pub(super) struct LocalFlush {
    pub(super) root: std::path::PathBuf,
    pub(super) file: std::path::PathBuf,
}

impl LocalFlush {
    /// Flushes them all at once: the syncs share the file system's journal
    /// commits, so this takes about as long as one.
    pub(super) async fn run(self) -> Result<(), ObjectError> {
        let paths = std::iter::once(self.file.as_path()).chain(
            self.file
                .ancestors()
                .skip(1)
                .take_while(|folder| folder.starts_with(&self.root)),
        );
        let syncs = paths.map(|path| {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
        });
        for synced in futures::future::join_all(syncs).await {
            synced
                .map_err(|e| local_error(std::io::Error::other(e)))?
                .map_err(local_error)?;
        }
        Ok(())
    }
}

pub(super) fn local_error(e: std::io::Error) -> ObjectError {
    ObjectError::Unavailable(object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    })
}
