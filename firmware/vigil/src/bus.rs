//! One config bus. PID 1 publishes each config it applies, with its
//! generation, once; each consumer (the supervisors of the VRRP child, the
//! checkers and the updater; the balancer) takes its part of the newest
//! when it is ready, and says which generation it took.
//!
//! A watch holds only the newest value: nothing queues, so nothing is
//! dropped when a consumer is busy. (Configs went into bounded queues with
//! `try_send`; a full queue dropped one, and as the running config had
//! already been replaced, no later commit sent it again: issue 16, bug 1.)
//! A consumer that wakes after several commits skips to the last.

use std::sync::Arc;
use tokio::sync::watch;
use vigil_config::Config;

/// What a consumer runs from a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The VRRP daemon: all but the virtual servers.
    Vrrp,
    /// The checkers: the virtual servers (they get the whole config).
    Checkers,
    /// The updater: its channel, window and key (the whole config).
    Updates,
    /// The BFD child: the `bfd_instance` blocks.
    Bfd,
}

impl Part {
    const ALL: [Part; 4] = [Part::Vrrp, Part::Checkers, Part::Updates, Part::Bfd];

    /// Whether going from `a` to `b` changes this part.
    fn changed(self, a: &Config, b: &Config) -> bool {
        match self {
            Part::Vrrp => {
                a.global != b.global
                    || a.interfaces != b.interfaces
                    || a.vrrp_instances != b.vrrp_instances
                    || a.sync_groups != b.sync_groups
                    || a.vrrp_scripts != b.vrrp_scripts
                    || a.track_processes != b.track_processes
                    || a.track_files != b.track_files
                    || a.bfd_instances != b.bfd_instances
            }
            Part::Checkers => {
                a.virtual_servers != b.virtual_servers
                    || a.virtual_server_groups != b.virtual_server_groups
                    || a.bfd_instances != b.bfd_instances
            }
            Part::Updates => a.global.updates != b.global.updates,
            Part::Bfd => a.bfd_instances != b.bfd_instances || a.global.supervision != b.global.supervision,
        }
    }

    /// This part of `config`, as its consumer is given it.
    pub fn take(self, config: &Arc<Config>) -> Arc<Config> {
        match self {
            Part::Vrrp => vrrp_part(config),
            Part::Bfd => Arc::new(Config {
                global: config.global.clone(),
                bfd_instances: config.bfd_instances.clone(),
                ..Config::default()
            }),
            Part::Checkers | Part::Updates => config.clone(),
        }
    }

    /// The generation at which this part last changed.
    pub fn generation(self, p: &Published) -> u64 {
        p.parts[self as usize]
    }
}

/// What of a config the VRRP daemon runs: all but the virtual servers (with
/// thousands of real servers, most of a config; neither the VRRP child nor
/// its supervisor keeps a copy of them).
pub fn vrrp_part(c: &Config) -> Arc<Config> {
    Arc::new(Config {
        global: c.global.clone(),
        interfaces: c.interfaces.clone(),
        vrrp_instances: c.vrrp_instances.clone(),
        sync_groups: c.sync_groups.clone(),
        virtual_servers: Default::default(),
        virtual_server_groups: Default::default(),
        vrrp_scripts: c.vrrp_scripts.clone(),
        track_processes: c.track_processes.clone(),
        track_files: c.track_files.clone(),
        bfd_instances: c.bfd_instances.clone(),
    })
}

/// The newest config on the bus.
#[derive(Debug, Clone)]
pub struct Published {
    pub config: Arc<Config>,
    /// The config store's generation (0: the config read at start).
    pub generation: u64,
    /// When it was published (ms since the Unix epoch).
    pub at_ms: u64,
    /// Per [`Part`], the generation at which it last changed: a consumer
    /// that skipped commits still tags its part with the number PID 1 does
    /// (the checkers' health reports are matched on it).
    parts: [u64; 4],
}

pub type Subscriber = watch::Receiver<Published>;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The sending end, owned by PID 1's event loop.
pub struct Bus(watch::Sender<Published>);

impl Bus {
    /// The config running at start, generation 0.
    pub fn new(config: Arc<Config>) -> Bus {
        Bus(watch::channel(Published { config, generation: 0, at_ms: now_ms(), parts: [0; 4] }).0)
    }

    /// Makes `config` (generation `generation`) the newest.
    pub fn publish(&self, config: Arc<Config>, generation: u64) {
        self.0.send_modify(|p| {
            for part in Part::ALL {
                if part.changed(&p.config, &config) {
                    p.parts[part as usize] = generation;
                }
            }
            p.config = config;
            p.generation = generation;
            p.at_ms = now_ms();
        });
    }

    pub fn subscribe(&self) -> Subscriber {
        self.0.subscribe()
    }

    pub fn newest(&self) -> Published {
        self.0.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_priority(p: u8) -> Arc<Config> {
        let text = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n priority {p}\n virtual_ipaddress {{\n  192.0.2.1/24\n }}\n}}\n"
        );
        Arc::new(vigil_config::keepalived::import_str("t.conf", &text).unwrap().config)
    }

    /// Thirty commits while the consumer does not look: it then reads the
    /// last one, tagged with the generation at which its part changed.
    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_consumer_gets_the_newest_config_and_its_generation() {
        let bus = Bus::new(with_priority(100));
        let mut sub = bus.subscribe();
        sub.borrow_and_update();
        for k in 1..=30u8 {
            bus.publish(with_priority(100 + k), u64::from(k));
        }
        // A commit that changes nothing (the same config again): no part
        // changed with it.
        bus.publish(with_priority(130), 31);
        assert!(sub.has_changed().unwrap());
        let p = sub.borrow_and_update().clone();
        assert_eq!(p.generation, 31);
        assert_eq!(p.config.vrrp_instances[0].priority, 130);
        assert_eq!(Part::Vrrp.generation(&p), 30);
        assert_eq!(Part::Updates.generation(&p), 0, "the updates' settings never changed");
        assert_eq!(Part::Checkers.generation(&p), 0, "no virtual server changed");
        // A change of the updates' poll is the updater's and (the global
        // section) the VRRP daemon's, not the checkers'.
        let mut other = (*with_priority(130)).clone();
        other.global.updates.poll_s = 60;
        bus.publish(Arc::new(other), 32);
        let p = sub.borrow_and_update().clone();
        assert_eq!(
            (Part::Vrrp.generation(&p), Part::Updates.generation(&p), Part::Checkers.generation(&p)),
            (32, 32, 0)
        );
        assert!(Part::Vrrp.take(&p.config).virtual_servers.is_empty());
    }
}
