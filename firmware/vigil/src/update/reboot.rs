//! PID 1's side of an update's reboot: a slot on trial gets its tries, the
//! VRRP masters hand over first, the updater hears what it works for.

use std::time::Duration;
use tracing::info;

/// How long masters wait for a backup to take over before a reboot.
pub const HANDOVER: Duration = Duration::from_secs(10);

/// Before a reboot into an update: when this node masters an instance, the
/// VRRP child resigns them (priority 0) and answers once a backup has taken
/// each over (or after `HANDOVER`). Returns whether it was asked.
pub async fn hand_over(
    vrrp: &tokio::sync::mpsc::Sender<crate::supervise::Control>,
    states: &tokio::sync::watch::Receiver<Vec<(String, crate::ipc::VrrpState)>>,
) -> bool {
    let masters: Vec<String> =
        states.borrow().iter().filter(|(_, s)| *s == crate::ipc::VrrpState::Master).map(|(n, _)| n.clone()).collect();
    if masters.is_empty() {
        return false;
    }
    info!("update: handing over {} before the reboot", masters.join(", "));
    vrrp.send(crate::supervise::Control::Message {
        down: crate::ipc::Down::Handover { wait_ms: HANDOVER.as_millis() as u32 },
        fds: Vec::new(),
        sticky: false,
    })
    .await
    .is_ok()
}

/// Seconds since midnight UTC, by the wall clock.
pub fn seconds_of_day() -> u32 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now.as_secs() % 86_400) as u32
}

/// Boots a slot on trial gets.
pub const TRIES: u8 = 3;

/// The updater learns what booted (again, once a trial is kept).
pub async fn tell_updater(
    tx: Option<&tokio::sync::mpsc::Sender<crate::supervise::Control>>,
    facts: crate::update::Facts,
) {
    let Some(tx) = tx else { return };
    let _ = tx
        .send(crate::supervise::Control::Message {
            down: crate::ipc::Down::Update(crate::update::Command::Facts(facts)),
            fds: Vec::new(),
            sticky: true,
        })
        .await;
}
