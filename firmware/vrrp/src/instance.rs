//! One VRRP instance as RFC 5798 (v3) and RFC 3768 (v2) specify it, in the
//! quinn-proto style: events go in with the time they happened
//! (`start`, `handle_advert`, `handle_timeout`, `set_link`, `set_priority`,
//! `shutdown`); what to do comes out of `poll_action()`, and when to call
//! back out of `poll_timeout()`. No sockets, no sleeps.

use crate::wire::Repr;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub version: u8,
    pub vrid: u8,
    /// 1..=255; 255 means this router owns the addresses.
    pub priority: u8,
    /// Centiseconds (v2: a multiple of 100).
    pub advert_int_cs: u16,
    pub preempt: bool,
    /// After start, a higher-priority backup waits this long before it
    /// preempts a lower-priority master.
    pub preempt_delay: Duration,
    /// The virtual addresses.
    pub addrs: Vec<IpAddr>,
    /// This router's own address on the link: the tie-break, and the source.
    pub primary: IpAddr,
    /// v2 simple password.
    pub auth: Option<[u8; 8]>,
    /// A second gratuitous ARP / NA burst this long after becoming master
    /// (zero: none, as keepalived's `garp_master_delay 0`).
    pub garp_delay: Duration,
    /// Repeat the announcement this often while master (None: never).
    pub garp_refresh: Option<Duration>,
    /// A second burst this long after a lower-priority master was
    /// answered (keepalived's `garp_lower_prio_delay`; zero: none).
    pub garp_lower_prio_delay: Duration,
    /// keepalived's `garp_extra_if`: while master, its addresses on other
    /// interfaces are announced again this often (None: never).
    pub garp_extra: Option<Duration>,
    /// Adverts a backup misses before it takes over: Master_Down_Interval
    /// is this many advert intervals and the skew (the RFCs' 3;
    /// keepalived's `down_timer_adverts`).
    pub down_timer_adverts: u8,
    /// keepalived's `skip_check_adv_addr`: an advert from the same router
    /// as the last one taken is not checked for its addresses again.
    pub skip_check_adv_addr: bool,
    /// keepalived's `lower_prio_no_advert`: a master does not answer a
    /// lower-priority master (the split brain heals on that one's timers).
    pub lower_prio_no_advert: bool,
    /// keepalived's `higher_prio_send_advert`: a master that hears a
    /// higher-priority one sends an advert of its own as it steps down.
    pub higher_prio_send_advert: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advertisement (to the group or the unicast peers).
    Send(Repr),
    /// Add the virtual addresses to the interface.
    AddAddresses,
    RemoveAddresses,
    /// Announce the virtual addresses: gratuitous ARP / unsolicited NA (a
    /// burst of the kind's length).
    Announce(Burst),
    /// Announce its addresses on other interfaces only (`garp_extra_if`).
    AnnounceElsewhere,
    /// A master heard a lower-priority master (keepalived's
    /// `notify_master_rx_lower_pri`): at most one an advert interval.
    HeardLower {
        from: IpAddr,
        priority: u8,
    },
    /// For notify scripts and the log.
    StateChange {
        from: State,
        to: State,
    },
}

/// Which announcement a burst is: each has its own length (keepalived's
/// `garp_master_repeat`, `garp_master_refresh_repeat`,
/// `garp_lower_prio_repeat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burst {
    /// On becoming master, and its second burst `garp_delay` later.
    Master,
    /// The periodic refresh while master.
    Refresh,
    /// After a lower-priority master was answered, and the second burst.
    LowerPrio,
}

/// Why an advertisement was not acted on (counted, and logged with a rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    #[error("another VRRP version")]
    Version,
    #[error("another VRID")]
    Vrid,
    #[error("a wrong password")]
    Auth,
    /// v2: the advertisement interval differs from ours.
    #[error("another advert interval")]
    Interval,
    /// Not in a state that listens (Initialize, Fault).
    #[error("not listening (INIT or FAULT)")]
    NotListening,
    /// Its virtual addresses are not ours, and it is not the owner (RFC
    /// 3768 7.1 / RFC 5798 7.1: a misconfiguration; drop and log).
    #[error("other virtual addresses")]
    Addresses,
}

impl Dropped {
    pub const ALL: [Dropped; 6] =
        [Dropped::Version, Dropped::Vrid, Dropped::Auth, Dropped::Interval, Dropped::NotListening, Dropped::Addresses];
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub dropped: u64,
    /// `dropped`, by reason (indexed as [`Dropped::ALL`]).
    pub dropped_by: [u64; 6],
    pub priority_zero_received: u64,
    pub address_list_mismatch: u64,
    pub became_master: u64,
    /// Times it left MASTER (keepalived's `release_master`).
    pub released_master: u64,
    /// State changes of any kind.
    pub transitions: u64,
    /// Adverts sent with priority 0 (resigning).
    pub priority_zero_sent: u64,
    /// Adverts from a lower-priority master answered (a split brain
    /// healing: see [`Instance::handle_advert`]).
    pub lower_priority_answered: u64,
    /// Adverts that called for an answer (priority 0, a lower-priority
    /// master) when one had just been sent: not answered again.
    pub answers_limited: u64,
}

pub struct Instance {
    cfg: Config,
    state: State,
    /// The master's interval, learnt from its adverts (v3).
    master_adver_interval_cs: u16,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    garp_timer: Option<Instant>,
    /// The burst `garp_timer` sends.
    garp_next: Burst,
    /// When a lower-priority master was last said (`HeardLower`).
    heard_lower: Option<Instant>,
    /// The next `garp_extra` announcement.
    extra_timer: Option<Instant>,
    started: Option<Instant>,
    link_up: bool,
    /// Another member of this instance's sync group is in FAULT.
    group_fault: bool,
    actions: VecDeque<Action>,
    /// When a master last answered an advert out of turn.
    answered: Option<Instant>,
    /// Whose advert was taken last (for `skip_check_adv_addr`).
    last_from: Option<IpAddr>,
    pub stats: Stats,
}

fn cs(d: u32) -> Duration {
    Duration::from_millis(u64::from(d) * 10)
}

impl Instance {
    pub fn new(cfg: Config) -> Instance {
        let mai = cfg.advert_int_cs;
        Instance {
            cfg,
            state: State::Initialize,
            master_adver_interval_cs: mai,
            adver_timer: None,
            master_down_timer: None,
            garp_timer: None,
            garp_next: Burst::Master,
            heard_lower: None,
            extra_timer: None,
            started: None,
            link_up: true,
            group_fault: false,
            actions: VecDeque::new(),
            answered: None,
            last_from: None,
            stats: Stats::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn priority(&self) -> u8 {
        self.cfg.priority
    }

    /// Skew_Time: ((256 - Priority) * Master_Adver_Interval) / 256, kept to
    /// the microsecond as keepalived does (truncating to centiseconds would
    /// make it 0 at short intervals: at 10 ms and priority 100 it is 6.09 ms).
    pub fn skew_time(&self) -> Duration {
        let mai = u64::from(if self.cfg.version == 3 { self.master_adver_interval_cs } else { 100 });
        // v2 (RFC 3768): (256 - Priority) / 256 seconds, i.e. the same with 100 cs.
        Duration::from_micros((256 - u64::from(self.cfg.priority)) * mai * 10_000 / 256)
    }

    /// Master_Down_Interval: 3 (`down_timer_adverts`) *
    /// Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        let mai = if self.cfg.version == 3 { self.master_adver_interval_cs } else { self.cfg.advert_int_cs };
        cs(u32::from(self.cfg.down_timer_adverts.max(1)) * u32::from(mai)) + self.skew_time()
    }

    /// Whether actions wait for [`Instance::poll_action`].
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The action [`Instance::poll_action`] gives next, left in place.
    pub fn peek_action(&self) -> Option<&Action> {
        self.actions.front()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.adver_timer, self.master_down_timer, self.garp_timer, self.extra_timer].into_iter().flatten().min()
    }

    fn advert(&self, priority: u8) -> Repr {
        Repr {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.advert_int_cs,
            addrs: self.cfg.addrs.clone(),
            auth: if self.cfg.version == 2 { self.cfg.auth } else { None },
        }
    }

    fn send(&mut self, priority: u8) {
        self.stats.adverts_sent += 1;
        if priority == 0 {
            self.stats.priority_zero_sent += 1;
        }
        let a = self.advert(priority);
        self.actions.push_back(Action::Send(a));
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            self.stats.transitions += 1;
            if self.state == State::Master {
                self.stats.released_master += 1;
            }
            self.actions.push_back(Action::StateChange { from: self.state, to });
            self.state = to;
        }
    }

    fn become_master(&mut self, now: Instant) {
        self.stats.became_master += 1;
        self.send(self.cfg.priority);
        self.actions.push_back(Action::AddAddresses);
        self.actions.push_back(Action::Announce(Burst::Master));
        self.adver_timer = Some(now + cs(u32::from(self.cfg.advert_int_cs)));
        self.master_down_timer = None;
        self.second_burst(now, self.cfg.garp_delay, Burst::Master);
        self.extra_timer = self.cfg.garp_extra.map(|d| now + d);
        self.set_state(State::Master);
    }

    /// The next announcement: a second burst `delay` from now, or with no
    /// delay the refresh (if any).
    fn second_burst(&mut self, now: Instant, delay: Duration, kind: Burst) {
        if delay.is_zero() {
            self.garp_timer = self.cfg.garp_refresh.map(|r| now + r);
            self.garp_next = Burst::Refresh;
        } else {
            self.garp_timer = Some(now + delay);
            self.garp_next = kind;
        }
    }

    fn become_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.actions.push_back(Action::RemoveAddresses);
        }
        self.adver_timer = None;
        self.garp_timer = None;
        self.extra_timer = None;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.set_state(State::Backup);
    }

    /// Startup event: the owner (255) becomes master at once; everyone
    /// else listens as backup for Master_Down_Interval first.
    pub fn start(&mut self, now: Instant) {
        self.started = Some(now);
        self.master_adver_interval_cs = self.cfg.advert_int_cs;
        if !self.link_up || self.group_fault {
            self.set_state(State::Fault);
        } else if self.cfg.priority == 255 {
            self.become_master(now);
        } else {
            self.become_backup(now);
        }
    }

    /// Startup of a daemon that was master a moment ago (its addresses are
    /// still up): master at once, so the addresses do not flap; if another
    /// router is master meanwhile, the usual rules settle it.
    pub fn resume_master(&mut self, now: Instant) {
        self.started = Some(now);
        self.master_adver_interval_cs = self.cfg.advert_int_cs;
        if !self.link_up || self.group_fault {
            self.set_state(State::Fault);
        } else {
            self.become_master(now);
        }
    }

    /// Shutdown event: a master resigns with priority 0, so a backup takes
    /// over after Skew_Time instead of Master_Down_Interval.
    pub fn shutdown(&mut self) {
        self.leave(State::Initialize);
    }

    /// Stops taking part: a master resigns (priority 0, addresses removed),
    /// every timer stops.
    fn leave(&mut self, to: State) {
        if self.state == State::Master {
            self.send(0);
            self.actions.push_back(Action::RemoveAddresses);
        }
        self.adver_timer = None;
        self.master_down_timer = None;
        self.garp_timer = None;
        self.extra_timer = None;
        self.set_state(to);
    }

    /// One of its addresses was removed by someone else while it was
    /// master (keepalived: "Netlink reflector reports IP ... removed"): it
    /// resigns (priority 0, addresses removed) and listens as backup, so a
    /// backup router takes over at once; with no other router it becomes
    /// master again after Master_Down_Interval and adds them back.
    pub fn address_lost(&mut self, now: Instant) {
        if self.state == State::Master {
            self.send(0);
            self.become_backup(now);
        }
    }

    /// The instance's interface went down (FAULT, resigning if master) or
    /// came back (a fresh start).
    pub fn set_link(&mut self, now: Instant, up: bool) {
        if up != self.link_up {
            self.link_up = up;
            self.refault(now);
        }
    }

    /// Before [`Instance::start`]: whether the link (and what is tracked
    /// with weight 0) is up, for the start to take into account. No effect
    /// once started.
    pub fn set_link_before_start(&mut self, up: bool) {
        if self.started.is_none() {
            self.link_up = up;
        }
    }

    /// This instance's own fault (its link or a weight-0 track), as opposed
    /// to a fault it follows as a sync-group member.
    pub fn own_fault(&self) -> bool {
        !self.link_up
    }

    /// A sync group's other member went to FAULT (true) or every member is
    /// healthy again (false).
    pub fn set_group_fault(&mut self, now: Instant, fault: bool) {
        if fault != self.group_fault {
            self.group_fault = fault;
            self.refault(now);
        }
    }

    fn refault(&mut self, now: Instant) {
        let fault = !self.link_up || self.group_fault;
        if fault && self.state != State::Fault {
            self.leave(State::Fault);
        } else if !fault && self.state == State::Fault {
            self.start(now);
        }
    }

    /// A sync-group member became master: a backup follows at once.
    pub fn follow_master(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.become_master(now);
        }
    }

    /// A sync-group member fell back to backup: a master follows.
    pub fn follow_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.become_backup(now);
        }
    }

    /// Tracking changed the effective priority (1..=254 unless owner).
    pub fn set_priority(&mut self, priority: u8) {
        self.cfg.priority = priority.max(1);
    }

    fn preempt_now(&self, now: Instant) -> bool {
        self.cfg.preempt && self.started.is_none_or(|s| now >= s + self.cfg.preempt_delay)
    }

    /// An advertisement that parsed and passed the TTL check.
    pub fn handle_advert(&mut self, now: Instant, src: IpAddr, adv: &Repr) -> Result<(), Dropped> {
        let r = self.check(src, adv);
        if let Err(why) = r {
            self.stats.dropped += 1;
            if let Some(i) = Dropped::ALL.iter().position(|d| *d == why) {
                self.stats.dropped_by[i] += 1;
            }
            if why == Dropped::Addresses {
                self.stats.address_list_mismatch += 1;
            }
            return r;
        }
        self.last_from = Some(src);
        self.stats.adverts_received += 1;
        if adv.priority == 0 {
            self.stats.priority_zero_received += 1;
        }
        match self.state {
            State::Backup => {
                if adv.priority == 0 {
                    self.master_down_timer = Some(now + self.skew_time());
                } else if !self.preempt_now(now) || adv.priority >= self.cfg.priority {
                    if self.cfg.version == 3 {
                        self.master_adver_interval_cs = adv.interval_cs.max(1);
                    }
                    self.master_down_timer = Some(now + self.master_down_interval());
                }
                // else: a lower-priority master; the timer runs out and we preempt.
            }
            State::Master => {
                if adv.priority == 0 {
                    // RFC 5798 6.4.3: answer at once, so that backups do not
                    // take over after Skew_Time (rate-limited: a flood of
                    // them is not answered one for one).
                    if self.may_answer(now) {
                        self.send(self.cfg.priority);
                        self.adver_timer = Some(now + cs(u32::from(self.cfg.advert_int_cs)));
                    }
                } else if adv.priority > self.cfg.priority
                    || (adv.priority == self.cfg.priority && ip_greater(src, self.cfg.primary))
                {
                    if self.cfg.version == 3 {
                        self.master_adver_interval_cs = adv.interval_cs.max(1);
                    }
                    if self.cfg.higher_prio_send_advert {
                        self.send(self.cfg.priority);
                    }
                    self.become_backup(now);
                } else {
                    let interval = cs(u32::from(self.cfg.advert_int_cs));
                    if adv.priority < self.cfg.priority && self.heard_lower.is_none_or(|t| now >= t + interval) {
                        self.heard_lower = Some(now);
                        self.actions.push_back(Action::HeardLower { from: src, priority: adv.priority });
                    }
                    if !self.cfg.lower_prio_no_advert && self.may_answer(now) {
                        // Another master, lower: a split brain healing. It
                        // backs off once it hears us; hosts that learnt its
                        // MAC for the addresses meanwhile are told ours at
                        // once (keepalived does the same), not when their
                        // caches expire, and again `garp_lower_prio_delay`
                        // later.
                        self.stats.lower_priority_answered += 1;
                        self.send(self.cfg.priority);
                        self.actions.push_back(Action::Announce(Burst::LowerPrio));
                        if !self.cfg.garp_lower_prio_delay.is_zero() {
                            self.second_burst(now, self.cfg.garp_lower_prio_delay, Burst::LowerPrio);
                        }
                        self.adver_timer = Some(now + interval);
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
        Ok(())
    }

    /// At most one answer out of turn per quarter advertisement interval.
    fn may_answer(&mut self, now: Instant) -> bool {
        let gap = cs(u32::from(self.cfg.advert_int_cs)) / 4;
        if self.answered.is_some_and(|t| now < t + gap) {
            self.stats.answers_limited += 1;
            return false;
        }
        self.answered = Some(now);
        true
    }

    fn check(&self, src: IpAddr, adv: &Repr) -> Result<(), Dropped> {
        if matches!(self.state, State::Initialize | State::Fault) {
            return Err(Dropped::NotListening);
        }
        if adv.version != self.cfg.version {
            return Err(Dropped::Version);
        }
        if adv.vrid != self.cfg.vrid {
            return Err(Dropped::Vrid);
        }
        if self.cfg.version == 2 {
            if adv.auth != self.cfg.auth {
                return Err(Dropped::Auth);
            }
            if adv.interval_cs != self.cfg.advert_int_cs {
                return Err(Dropped::Interval);
            }
        }
        let skip = self.cfg.skip_check_adv_addr && self.last_from == Some(src);
        if adv.priority != 255 && !skip && !same_set(&adv.addrs, &self.cfg.addrs) {
            return Err(Dropped::Addresses);
        }
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.master_down_timer.is_some_and(|t| now >= t) && self.state == State::Backup {
            self.become_master(now);
        }
        if self.adver_timer.is_some_and(|t| now >= t) && self.state == State::Master {
            self.send(self.cfg.priority);
            self.adver_timer = Some(now + cs(u32::from(self.cfg.advert_int_cs)));
        }
        if self.garp_timer.is_some_and(|t| now >= t) && self.state == State::Master {
            self.actions.push_back(Action::Announce(self.garp_next));
            self.garp_timer = self.cfg.garp_refresh.map(|r| now + r);
            self.garp_next = Burst::Refresh;
        }
        if self.extra_timer.is_some_and(|t| now >= t) && self.state == State::Master {
            self.actions.push_back(Action::AnnounceElsewhere);
            self.extra_timer = self.cfg.garp_extra.map(|d| now + d);
        }
    }
}

/// The same addresses in any order (lists are short: at most a few dozen).
fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// Tie-break: the numerically greater primary address wins.
fn ip_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) > u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) > u128::from(b),
        _ => false,
    }
}
