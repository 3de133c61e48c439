//! What the transports may ask of the daemon itself (`control::Hooks`): the
//! shutdown, a reload, reopening the event log, following it, upgrading in
//! place, the dashboard's address.

use std::sync::mpsc::Sender;
use std::sync::Arc;

use super::DaemonEvent;
use crate::control::{self, Hooks};
use crate::reload::Reloader;
use crate::supervisor::Supervisor;

/// What the transports may ask of the daemon itself.
pub(super) fn hooks(
    events: Sender<DaemonEvent>,
    reloader: Arc<Reloader>,
    sup: Arc<Supervisor>,
    (web_url, web_token): (
        Box<dyn Fn() -> control::Reply + Send + Sync>,
        Option<String>,
    ),
) -> Hooks {
    let events = parking_lot::Mutex::new(events);
    let live_streams = Arc::new(control::live_streams::LiveStreams::default());
    let upgrader = crate::upgrade::Upgrader::new(
        sup.clone(),
        reloader.clone(),
        live_streams.clone(),
        web_token,
    );
    let hub = sup.hub().clone();
    Hooks {
        subscribe_notices: Box::new(move |sink| sup.hub().subscribe_notices(sink)),
        follow_events: Box::new(move || hub.follow_events()),
        shutdown_waiters: Arc::default(),
        connections: Arc::default(),
        web_url,
        upgrade: Box::new(move |binary, reply_to, by| upgrader.upgrade(binary, reply_to, by)),
        live_streams,
        shutdown: Box::new(move |source, how| {
            let _ = events
                .lock()
                .send(DaemonEvent::ShutdownRequested(source, how));
        }),
        reload: {
            let reloader = reloader.clone();
            Box::new(move |change| reloader.change(change))
        },
        reopen: {
            let reloader = reloader.clone();
            Box::new(move || reloader.reopen_log())
        },
        follow_log: {
            let followers = reloader.log_followers();
            Box::new(move |sink| followers.follow(sink))
        },
        socket_path: Box::new(move || reloader.socket_path().unwrap_or_default()),
    }
}
