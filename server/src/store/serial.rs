//! One SQLite connection used from async code.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

/// A connection that runs work on the blocking pool, one piece at a time. At most
/// [`QUEUED`] callers wait at the connection's lock in the blocking pool (so the next piece
/// starts as soon as one ends); the others wait for their turn in async code. Waiting in the
/// blocking pool started a thread per waiting request, each with its stack and allocator
/// caches: under load that added tens of megabytes for nothing, since the work runs one at
/// a time anyway.
#[derive(Clone)]
pub struct Serial {
    connection: Arc<Mutex<Connection>>,
    turn: Arc<Semaphore>,
}

/// Callers let through to the blocking pool at once.
pub const QUEUED: usize = 4;

impl Serial {
    pub fn new(connection: Connection) -> Serial {
        Serial { connection: Arc::new(Mutex::new(connection)), turn: Arc::new(Semaphore::new(QUEUED)) }
    }

    /// Runs `work` with the connection; `Err` says why it did not finish (shutting down, or
    /// a panic in it). A panic in earlier work does not lock the connection away: SQLite
    /// rolls back what that work left open.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> Result<T, String> {
        let _turn = self.turn.acquire().await.map_err(|_| "shutting down".to_string())?;
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut guard)
        })
        .await
        .map_err(|e| format!("task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_one_at_a_time_and_callers_wait_outside_the_blocking_pool() {
        let serial = Serial::new(Connection::open_in_memory().unwrap());
        serial.run(|c| c.execute_batch("CREATE TABLE t (n INTEGER)").unwrap()).await.unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls = (0..64).map(|n| {
            let (serial, running, most) = (serial.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                serial
                    .run(move |c| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        c.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })
        });
        for call in futures_util::future::join_all(calls).await {
            call.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        let count: i64 =
            serial.run(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()).await.unwrap();
        assert_eq!(count, 64);
        // A panic in work is an error for that caller; the next caller still runs, and an
        // open transaction the panic left behind was rolled back.
        let failed = serial
            .run(|c| {
                let tx = c.transaction().unwrap();
                tx.execute("INSERT INTO t VALUES (99)", []).unwrap();
                panic!("boom")
            })
            .await;
        assert!(failed.is_err_and(|e| e.contains("task failed")));
        let count: i64 =
            serial.run(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()).await.unwrap();
        assert_eq!(count, 64);
    }
}
