//! One small handle every task holds to learn that the daemon is stopping.

use tokio::sync::watch;

/// Cloneable stop signal. Tasks check it between units of work and `await` it while idle.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that triggers a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A new stop signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// True once stopping has begun.
    pub fn is_stopping(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when stopping begins (at once if it already has).
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|s| *s).await;
    }
}

impl ShutdownTrigger {
    /// Tells every holder to stop.
    pub fn stop(&self) {
        let _ = self.tx.send(true);
    }
}
