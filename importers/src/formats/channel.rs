//! A reader thread that owns a format's decoder and hands features over a bounded channel, so
//! memory is bounded by the channel (256 features), not by the file, whatever the decoder's
//! borrowing rules.
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::RawFeature;
use crate::error::ImportError;

/// What a reader sends.
pub type Item = Result<RawFeature, ImportError>;

/// Features arriving from a reader thread.
pub struct ChannelStream {
    rx: Option<Receiver<Item>>,
    reader: Option<JoinHandle<()>>,
    done: bool,
}

impl ChannelStream {
    /// Run `read` on a thread named `name`; it sends features (and at most one error, last) and
    /// returns when done or when `send` fails (the consumer went away).
    pub fn spawn(
        name: &str,
        read: impl FnOnce(&SyncSender<Item>) + Send + 'static,
    ) -> std::io::Result<ChannelStream> {
        let (tx, rx) = sync_channel::<Item>(256);
        let reader = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || read(&tx))?;
        Ok(ChannelStream {
            rx: Some(rx),
            reader: Some(reader),
            done: false,
        })
    }
}

impl Iterator for ChannelStream {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        match self.rx.as_ref()?.recv() {
            Ok(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(ok) => Some(ok),
            Err(_) => {
                self.done = true;
                None
            }
        }
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
