//! Durable Raft storage for the metadata quorum: the log (one JSON entry per line, fsynced on
//! append, rewritten atomically on truncate/purge), the vote and committed id (an atomically
//! replaced JSON file), and the state machine whose snapshot is the serialized image.

use super::TypeConfig;
use super::image::{ClusterImage, Outcome};
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, LogState, RaftLogReader, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Cursor, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

type NodeId = u64;
type SErr = StorageError<NodeId>;

fn io_write(e: &std::io::Error) -> SErr {
    StorageIOError::write_logs(AnyError::new(e)).into()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct HardState {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
}

struct LogInner {
    dir: PathBuf,
    hard: HardState,
    log: BTreeMap<u64, Entry<TypeConfig>>,
}

impl LogInner {
    fn log_path(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }

    fn save_hard(&self) -> std::io::Result<()> {
        let data = serde_json::to_vec(&self.hard).map_err(std::io::Error::other)?;
        crate::log::write_atomic(&self.dir.join("state.json"), &data)
    }

    fn rewrite_log(&self) -> std::io::Result<()> {
        let mut data = Vec::new();
        for e in self.log.values() {
            serde_json::to_writer(&mut data, e).map_err(std::io::Error::other)?;
            data.push(b'\n');
        }
        crate::log::write_atomic(&self.log_path(), &data)
    }
}

/// The Raft log and vote. Cloning shares the same storage (the reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    pub fn open(dir: &Path) -> Result<Self, super::ClusterError> {
        std::fs::create_dir_all(dir)?;
        let hard: HardState = match std::fs::read(dir.join("state.json")) {
            Ok(d) => serde_json::from_slice(&d)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HardState::default(),
            Err(e) => return Err(e.into()),
        };
        let mut log = BTreeMap::new();
        match std::fs::read(dir.join("log.jsonl")) {
            Ok(d) => {
                for line in d.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    // A torn last line (crash mid-append) was never acknowledged: drop it.
                    let Ok(e) = serde_json::from_slice::<Entry<TypeConfig>>(line) else {
                        tracing::warn!("dropping a torn raft log entry");
                        break;
                    };
                    if hard.last_purged.is_some_and(|p| e.log_id.index <= p.index) {
                        continue;
                    }
                    log.insert(e.log_id.index, e);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let inner = LogInner {
            dir: dir.to_path_buf(),
            hard,
            log,
        };
        inner.rewrite_log()?;
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        Ok(self
            .lock()
            .log
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let g = self.lock();
        let last_purged_log_id = g.hard.last_purged;
        let last_log_id = g
            .log
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.hard.vote = Some(*vote);
        g.save_hard()
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SErr> {
        Ok(self.lock().hard.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.hard.committed = committed;
        g.save_hard().map_err(|e| io_write(&e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, SErr> {
        Ok(self.lock().hard.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let result = (|| {
            let mut g = self.lock();
            let mut data = Vec::new();
            let mut added = Vec::new();
            for e in entries {
                serde_json::to_writer(&mut data, &e).map_err(std::io::Error::other)?;
                data.push(b'\n');
                added.push(e);
            }
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(g.log_path())?;
            f.write_all(&data)?;
            f.sync_data()?;
            for e in added {
                g.log.insert(e.log_id.index, e);
            }
            Ok::<_, std::io::Error>(())
        })();
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = io_write(&e);
                callback.log_io_completed(Err(e));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.log.retain(|i, _| *i < log_id.index);
        g.rewrite_log().map_err(|e| io_write(&e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.hard.last_purged = Some(log_id);
        g.save_hard().map_err(|e| io_write(&e))?;
        g.log.retain(|i, _| *i > log_id.index);
        g.rewrite_log().map_err(|e| io_write(&e))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SnapshotFile {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, openraft::BasicNode>,
    image: ClusterImage,
    snapshot_id: String,
}

/// The state machine: the image shared with the broker, the last applied id and membership.
#[derive(Clone)]
pub struct StateMachine {
    dir: PathBuf,
    pub image: Arc<RwLock<ClusterImage>>,
    state: Arc<Mutex<SnapshotFile>>,
    /// The last applied log index; brokers reconcile their partitions when it moves.
    pub applied: Arc<watch::Sender<u64>>,
}

impl StateMachine {
    pub fn open(dir: &Path) -> Result<Self, super::ClusterError> {
        let snap: SnapshotFile = match std::fs::read(dir.join("snapshot.json")) {
            Ok(d) => serde_json::from_slice(&d)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SnapshotFile::default(),
            Err(e) => return Err(e.into()),
        };
        let applied = snap.last_applied.map_or(0, |l| l.index);
        Ok(StateMachine {
            dir: dir.to_path_buf(),
            image: Arc::new(RwLock::new(snap.image.clone())),
            state: Arc::new(Mutex::new(snap)),
            applied: Arc::new(watch::channel(applied).0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SnapshotFile> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn image_mut(&self) -> std::sync::RwLockWriteGuard<'_, ClusterImage> {
        self.image
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn current(&self) -> SnapshotFile {
        let mut s = self.lock().clone();
        s.image = self
            .image
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        s
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let mut s = self.current();
        s.snapshot_id = format!(
            "{}-{}",
            s.last_applied.map_or(0, |l| l.index),
            crate::now_ms()
        );
        let data = serde_json::to_vec(&s).map_err(|e| io_write(&std::io::Error::other(e)))?;
        crate::log::write_atomic(&self.dir.join("snapshot.json"), &data)
            .map_err(|e| io_write(&e))?;
        self.lock().snapshot_id = s.snapshot_id.clone();
        Ok(Snapshot {
            meta: SnapshotMeta {
                last_log_id: s.last_applied,
                last_membership: s.membership,
                snapshot_id: s.snapshot_id,
            },
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<NodeId>>,
            StoredMembership<NodeId, openraft::BasicNode>,
        ),
        SErr,
    > {
        let s = self.lock();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let mut last = None;
        {
            let mut image = self.image_mut();
            let mut s = self.lock();
            for e in entries {
                s.last_applied = Some(e.log_id);
                last = Some(e.log_id.index);
                match e.payload {
                    EntryPayload::Blank => out.push(Outcome::Ok),
                    EntryPayload::Normal(cmd) => {
                        let o = image.apply(&cmd);
                        tracing::debug!(?cmd, ?o, "applied metadata command");
                        out.push(o);
                    }
                    EntryPayload::Membership(m) => {
                        s.membership = StoredMembership::new(Some(e.log_id), m);
                        out.push(Outcome::Ok);
                    }
                }
            }
        }
        if let Some(i) = last {
            self.applied.send_replace(i);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SErr> {
        let data = snapshot.into_inner();
        let mut s: SnapshotFile =
            serde_json::from_slice(&data).map_err(|e| io_write(&std::io::Error::other(e)))?;
        s.last_applied = meta.last_log_id;
        s.membership = meta.last_membership.clone();
        s.snapshot_id = meta.snapshot_id.clone();
        let data = serde_json::to_vec(&s).map_err(|e| io_write(&std::io::Error::other(e)))?;
        crate::log::write_atomic(&self.dir.join("snapshot.json"), &data)
            .map_err(|e| io_write(&e))?;
        *self.image_mut() = s.image.clone();
        let applied = s.last_applied.map_or(0, |l| l.index);
        *self.lock() = s;
        self.applied.send_replace(applied);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        let data = match std::fs::read(self.dir.join("snapshot.json")) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_write(&e)),
        };
        let s: SnapshotFile =
            serde_json::from_slice(&data).map_err(|e| io_write(&std::io::Error::other(e)))?;
        Ok(Some(Snapshot {
            meta: SnapshotMeta {
                last_log_id: s.last_applied,
                last_membership: s.membership,
                snapshot_id: s.snapshot_id,
            },
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
