//! A bounded front for an actor whose mailbox the network can flood: at most `capacity`
//! messages wait; past that, new ones are dropped and counted, and the owner reports the count.
//! (ractor mailboxes are unbounded; an unbounded queue fed by the network is a memory attack.)

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use ractor::{ActorRef, Message};

#[derive(Debug)]
pub struct Front {
    capacity: usize,
    pending: AtomicUsize,
    dropped: AtomicU64,
    reported: AtomicU64,
}

impl Front {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            pending: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        })
    }

    /// Sends `msg` to `actor` unless the front is full or the actor gone; then counts a drop.
    pub fn send<M: Message>(&self, actor: &ActorRef<M>, msg: M) {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.capacity || actor.cast(msg).is_err()
        {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The actor took one message sent through the front.
    pub fn taken(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Messages sent through the front and not yet taken.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// How many more messages fit now. A single sender that sends at most this many loses none:
    /// that is how ingest hands events to the correlator without dropping or queuing unboundedly.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.pending())
    }

    /// Drops in all.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Drops since the previous call, for the owner to report.
    pub fn unreported_drops(&self) -> u64 {
        let dropped = self.dropped();
        dropped - self.reported.swap(dropped, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::Actor;

    struct Sink;

    impl Actor for Sink {
        type Msg = ();
        type State = ();
        type Arguments = ();

        async fn pre_start(
            &self,
            _: ActorRef<()>,
            _: (),
        ) -> Result<(), ractor::ActorProcessingErr> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_full_front_drops_and_counts() {
        let (sink, handle) = Actor::spawn(None, Sink, ()).await.unwrap();
        let front = Front::new(2);
        // Nothing is taken, so the third message finds the front full.
        for _ in 0..5 {
            front.send(&sink, ());
        }
        assert_eq!(
            (
                front.dropped(),
                front.unreported_drops(),
                front.unreported_drops()
            ),
            (3, 3, 0)
        );
        assert_eq!((front.pending(), front.room()), (2, 0));
        front.taken();
        assert_eq!(front.room(), 1);
        front.send(&sink, ());
        assert_eq!(front.dropped(), 3, "room was made for one");
        sink.stop(None);
        handle.await.unwrap();
        front.send(&sink, ());
        assert_eq!(
            front.dropped(),
            4,
            "a stopped actor's messages count as dropped"
        );
    }
}
