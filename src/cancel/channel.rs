//! The bridge to crossbeam channels: a receiver that disconnects when the token is cancelled,
//! for threads that wait in `crossbeam_channel::select!` rather than on the token.

use crossbeam_channel::Receiver;

use super::CancelToken;

impl CancelToken {
    /// A channel that never carries a message and disconnects when the token is cancelled,
    /// so a thread blocked in `crossbeam_channel::select!` can also wake on cancel.
    pub fn cancelled_channel(&self) -> Receiver<()> {
        let mut st = self.node.lock();
        if st.reason.is_some() {
            // Already cancelled: a receiver whose sender is gone, disconnected from the start.
            return crossbeam_channel::bounded(0).1;
        }
        let (_, rx) = st
            .cancel_channel
            .get_or_insert_with(|| crossbeam_channel::bounded(0));
        rx.clone()
    }
}

// These run on real threads; under the `loom` feature the primitives work only inside a
// loom model, so there the models in `loom_models.rs` stand in for them.
#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::cancel::Reason;

    /// A writer asks for a channel per buffer: a terabyte is a million calls, and the node
    /// must not keep a million registrations until the cancel.
    #[test]
    fn cancelled_channel_registrations_stay_bounded() {
        let t = CancelToken::new();
        let child = t.child();
        let kept: Vec<_> = (0..1000).map(|_| child.cancelled_channel()).collect();
        for _ in 0..100_000 {
            drop(child.cancelled_channel());
        }
        let registered = child.node.lock().cancel_channel.iter().count();
        assert_eq!(
            registered, 1,
            "one registration per node, however many waiters"
        );
        t.cancel(Reason::User);
        assert!(
            kept.iter()
                .all(|rx| rx.try_recv().is_err_and(|e| e.is_disconnected()))
        );
    }

    #[test]
    fn cancelled_channel_disconnects() {
        let t = CancelToken::new();
        let rx = t.cancelled_channel();
        assert!(rx.try_recv().is_err_and(|e| e.is_empty()));
        t.cancel(Reason::User);
        assert!(rx.try_recv().is_err_and(|e| e.is_disconnected()));
        assert!(
            t.cancelled_channel()
                .try_recv()
                .is_err_and(|e| e.is_disconnected())
        );
    }
}
