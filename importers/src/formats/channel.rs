//! A reader thread that owns a format's decoder and hands features over a bounded channel in
//! batches, so memory is bounded by the channel (4 batches of 512 features), not by the file,
//! whatever the decoder's borrowing rules. Batches, because a channel hand-over per feature costs
//! more (futex wake-ups, cache misses) than decoding a small feature.
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use std::thread::JoinHandle;

use super::RawFeature;
use crate::error::ImportError;

/// What a reader sends.
pub type Item = Result<RawFeature, ImportError>;

/// Features per batch.
const BATCH: usize = 512;
/// Batches in flight.
const BATCHES: usize = 4;

/// The reader thread's end: collects items into batches.
pub struct BatchSender<T = Item> {
    tx: SyncSender<Vec<T>>,
    batch: Vec<T>,
}

/// The consumer went away.
#[derive(Debug)]
pub struct Disconnected;

/// A batching channel: the sender's end and the receiver of whole batches.
pub fn batch_channel<T>() -> (BatchSender<T>, Receiver<Vec<T>>) {
    let (tx, rx) = sync_channel::<Vec<T>>(BATCHES);
    (
        BatchSender {
            tx,
            batch: Vec::with_capacity(BATCH),
        },
        rx,
    )
}

impl<T> BatchSender<T> {
    /// Queue an item; a full batch is handed over (blocking while the channel is full).
    pub fn send(&mut self, item: T) -> Result<(), Disconnected> {
        self.batch.push(item);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Disconnected> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.send(full).map_err(|_| Disconnected)
    }
}

impl<T> Drop for BatchSender<T> {
    /// The last, partial batch (also when the reader panics: what it read before is delivered,
    /// then the consumer learns of the panic).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

thread_local! {
    static DECODER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this is a format decoder's thread. A panic there comes from a decoder (often a
/// third-party crate) meeting a damaged file, and [`ChannelStream`] turns it into the import's
/// error, with the panic's message: a panic hook need not report it as a crash of onemap's own.
pub fn on_decoder_thread() -> bool {
    DECODER.with(|d| d.get())
}

/// Features arriving from a reader thread.
pub struct ChannelStream {
    rx: Option<Receiver<Vec<Item>>>,
    pending: std::vec::IntoIter<Item>,
    reader: Option<JoinHandle<()>>,
    done: bool,
    path: PathBuf,
    name: String,
    received: usize,
}

/// Stack of the importers' reader and checking threads. Parsers that recurse are bounded
/// ([`onemap_engine::geometry::nesting`], serde_json's 128 levels), and this leaves them room
/// many times over.
pub const WORKER_STACK_BYTES: usize = 16 << 20;

/// Start an importer thread: a named thread with [`WORKER_STACK_BYTES`] of stack that runs
/// under the starting thread's work context, so a cancelled request stops it too.
pub fn spawn_worker<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    let ctx = onemap_engine::context::current();
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(WORKER_STACK_BYTES)
        .spawn(move || onemap_engine::context::run_in_opt(ctx, work))
}

impl ChannelStream {
    /// Run `read` on a thread named `name`; it sends features (and at most one error, last) and
    /// returns when done or when `send` fails (the consumer went away).
    pub fn spawn(
        name: &str,
        path: &Path,
        read: impl FnOnce(&mut BatchSender) + Send + 'static,
    ) -> std::io::Result<ChannelStream> {
        let (mut tx, rx) = batch_channel::<Item>();
        let reader = spawn_worker(name, move || {
            DECODER.with(|d| d.set(true));
            read(&mut tx)
        })?;
        Ok(ChannelStream {
            rx: Some(rx),
            pending: Vec::new().into_iter(),
            reader: Some(reader),
            done: false,
            path: path.to_path_buf(),
            name: name.to_string(),
            received: 0,
        })
    }
}

impl Iterator for ChannelStream {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if self.done {
                return None;
            }
            match self.pending.next() {
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(ok) => {
                    self.received += 1;
                    return Some(ok);
                }
                None => {}
            }
            match self.rx.as_ref()?.recv() {
                Ok(batch) => self.pending = batch.into_iter(),
                Err(_) => return self.hung_up(),
            }
        }
    }
}

impl ChannelStream {
    /// The reader hung up: the end of the file, or a decoder that panicked on damaged input. The
    /// second must not pass for the first (a silently truncated layer).
    fn hung_up(&mut self) -> Option<Item> {
        self.done = true;
        let panic = self.reader.take().and_then(|h| h.join().err())?;
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        Some(Err(ImportError::Malformed {
            path: self.path.clone(),
            reason: format!(
                "the {} failed on feature {} (the file is damaged?){what}",
                self.name, self.received
            ),
        }))
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        drop(self.rx.take());
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

/// A decoder's error in words an analyst can act on (I/O end-of-file errors say "truncated").
pub fn explain(e: impl std::fmt::Display) -> String {
    let m = e.to_string();
    if m.contains("failed to fill whole buffer") || m.contains("unexpected end of file") {
        format!("the file ends in the middle of this feature (truncated copy?) ({m})")
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_panics_is_an_error_not_the_end_of_the_file() {
        let stream = ChannelStream::spawn("test reader", Path::new("x.bin"), |tx| {
            for index in 0..2 {
                let _ = tx.send(Ok(RawFeature {
                    index,
                    geometry: None,
                    properties: Vec::new(),
                }));
            }
            panic!("decoder bug on damaged input");
        })
        .unwrap();
        let items: Vec<Item> = stream.collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        let err = items[2]
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("the test reader failed on feature 2"), "{err}");
    }

    #[test]
    fn a_reader_that_finishes_ends_the_stream() {
        let stream = ChannelStream::spawn("test reader", Path::new("x.bin"), |tx| {
            let _ = tx.send(Ok(RawFeature {
                index: 0,
                geometry: None,
                properties: Vec::new(),
            }));
        })
        .unwrap();
        assert_eq!(stream.count(), 1);
    }
}
