//! Every keyword keepalived 2.2.7 knows, in any block: the bold keywords
//! of its keepalived.conf(5) (Debian bookworm's package), with the
//! deprecated spellings it still reads (`lb_algo`, `nb_get_retry`, ...).
//! A statement whose keyword is here and that vigil does not act on is a
//! warning ("keepalived's, ignored"); one that is in neither keepalived's
//! list nor vigil's is a typo, and an error.

/// Sorted, for a binary search.
pub const KEEPALIVED: &[&str] = &[
    "BFD_CHECK",
    "DNS_CHECK",
    "FILE_CHECK",
    "HTTP_GET",
    "MISC_CHECK",
    "PING_CHECK",
    "SMTP_CHECK",
    "SSL_GET",
    "TCP_CHECK",
    "UDP_CHECK",
    "accept",
    "advert_int",
    "alpha",
    "auth_pass",
    "auth_type",
    "authentication",
    "bfd_cpu_affinity",
    "bfd_instance",
    "bfd_no_swap",
    "bfd_priority",
    "bfd_process_name",
    "bfd_rlimit_rttime",
    "bfd_rt_priority",
    "bind_if",
    "bind_port",
    "bind_to",
    "bindto",
    "ca",
    "certificate",
    "check_unicast_src",
    "checker",
    "checker_cpu_affinity",
    "checker_log_all_failures",
    "checker_no_swap",
    "checker_priority",
    "checker_process_name",
    "checker_rlimit_rttime",
    "checker_rt_priority",
    "child_wait_time",
    "config_save_dir",
    "connect_ip",
    "connect_port",
    "connect_timeout",
    "data_use_instance",
    "dbus_service_name",
    "debug",
    "default_interface",
    "delay",
    "delay_before_retry",
    "delay_loop",
    "digest",
    "dont_track_primary",
    "down_timer_adverts",
    "dynamic",
    "dynamic_interfaces",
    "enable_dbus",
    "enable_script_security",
    "enable_sni",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_vrrp",
    "enable_traps",
    "fall",
    "fast_recovery",
    "fifo_write_vrrp_states_on_reload",
    "file",
    "fork_delay",
    "full_command",
    "fwmark",
    "garp_extra_if",
    "garp_group",
    "garp_interval",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_delay",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_master_repeat",
    "global_defs",
    "global_tracking",
    "gna_interval",
    "group",
    "ha_suspend",
    "helo_name",
    "higher_prio_send_advert",
    "hoplimit",
    "host",
    "http_protocol",
    "hysteresis",
    "idle_tx",
    "include",
    "include_check",
    "inhibit_on_failure",
    "init_fail",
    "init_file",
    "instance",
    "interface",
    "interfaces",
    "interval",
    "ip_family",
    "kernel_rx_buf_size",
    "key",
    "lb_algo",
    "lb_kind",
    "linkbeat_interfaces",
    "linkbeat_use_polling",
    "log_all_failures",
    "log_unknown_vrids",
    "lower_prio_no_advert",
    "lthreshold",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_method",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "lvs_sched",
    "lvs_sync_daemon",
    "lvs_sync_daemon_interface",
    "lvs_timeouts",
    "max_auto_priority",
    "max_hops",
    "mcast_dst_ip",
    "mcast_src_ip",
    "min_auto_priority_delay",
    "min_rx",
    "min_tx",
    "misc_dynamic",
    "misc_path",
    "misc_timeout",
    "multiplier",
    "name",
    "namespace_with_ipsets",
    "native_ipv6",
    "nb_get_retry",
    "nb_sock_retry",
    "neighbor_ip",
    "net_namespace",
    "net_namespace_ipvs",
    "nftables",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_priority",
    "no_accept",
    "no_checker_emails",
    "no_email_faults",
    "nopreempt",
    "notification_email",
    "notification_email_from",
    "notify",
    "notify_backup",
    "notify_deleted",
    "notify_down",
    "notify_fault",
    "notify_fifo",
    "notify_fifo_script",
    "notify_master",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "notify_stop",
    "notify_up",
    "old_unicast_checksum",
    "omega",
    "one_packet_scheduling",
    "ops",
    "param_match",
    "passive",
    "password",
    "path",
    "payload",
    "persistence_engine",
    "persistence_granularity",
    "persistence_timeout",
    "preempt",
    "preempt_delay",
    "priority",
    "process",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "process_name",
    "process_names",
    "promote_secondaries",
    "protocol",
    "quorum",
    "quorum_down",
    "quorum_max",
    "quorum_up",
    "random_seed",
    "real_server",
    "regex",
    "regex_max_offset",
    "regex_min_offset",
    "regex_no_match",
    "regex_options",
    "regex_stack",
    "reload_check_config",
    "reload_file",
    "reload_repeat",
    "reload_time_file",
    "require_reply",
    "retry",
    "rise",
    "router_id",
    "rs_init_notifies",
    "script",
    "script_security",
    "script_user",
    "shutdown_script",
    "shutdown_script_timeout",
    "skip_check_adv_addr",
    "smtp_alert",
    "smtp_alert_checker",
    "smtp_alert_vrrp",
    "smtp_connect_timeout",
    "smtp_helo_name",
    "smtp_server",
    "snmp_name",
    "snmp_socket",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "source_ip",
    "startup_script",
    "startup_script_timeout",
    "state",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "status_code",
    "strict_mode",
    "sync_group_tracking_weight",
    "terminate_delay",
    "timeout",
    "tmp_config_directory",
    "track_bfd",
    "track_file",
    "track_group",
    "track_interface",
    "track_process",
    "track_script",
    "track_src_ip",
    "ttl",
    "tun_flags",
    "tun_port",
    "tun_type",
    "type",
    "umask",
    "unicast_fault_no_peer",
    "unicast_peer",
    "unicast_src_ip",
    "unicast_ttl",
    "url",
    "use_ipvlan",
    "use_pid_dir",
    "use_vmac",
    "use_vmac_addr",
    "user",
    "uthreshold",
    "verify_cert",
    "version",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_router_id",
    "virtual_routes",
    "virtual_rules",
    "virtual_server",
    "virtual_server_group",
    "virtualhost",
    "vmac_addr_prefix",
    "vmac_prefix",
    "vmac_xmit_base",
    "vrf",
    "vrrp",
    "vrrp_check_unicast_src",
    "vrrp_cpu_affinity",
    "vrrp_down_timer_adverts",
    "vrrp_garp_extra_if",
    "vrrp_garp_interval",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_master_repeat",
    "vrrp_gna_interval",
    "vrrp_higher_prio_send_advert",
    "vrrp_instance",
    "vrrp_ipsets",
    "vrrp_iptables",
    "vrrp_lower_prio_no_advert",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_min_garp",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "vrrp_no_swap",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "vrrp_priority",
    "vrrp_process_name",
    "vrrp_rlimit_rttime",
    "vrrp_rt_priority",
    "vrrp_rx_bufs_multiplier",
    "vrrp_rx_bufs_policy",
    "vrrp_script",
    "vrrp_skip_check_adv_addr",
    "vrrp_startup_delay",
    "vrrp_strict",
    "vrrp_sync_group",
    "vrrp_track_file",
    "vrrp_track_process",
    "vrrp_version",
    "warmup",
    "weight",
];

/// Whether keepalived knows `word` as a keyword (in some block).
pub fn known_to_keepalived(word: &str) -> bool {
    KEEPALIVED.binary_search(&word).is_ok()
}

/// Options of `ip route` (and keepalived's route lines) that take a value
/// or stand alone: a word that is one of these is never a route's
/// destination.
pub fn known_route_option(word: &str) -> bool {
    matches!(
        word,
        "src"
            | "to"
            | "via"
            | "gw"
            | "dev"
            | "oif"
            | "metric"
            | "priority"
            | "preference"
            | "table"
            | "scope"
            | "onlink"
            | "realm"
            | "realms"
            | "mtu"
            | "advmss"
            | "rtt"
            | "rttvar"
            | "reordering"
            | "window"
            | "cwnd"
            | "initcwnd"
            | "initrwnd"
            | "ssthresh"
            | "features"
            | "quickack"
            | "congctl"
            | "pref"
            | "protocol"
            | "tos"
            | "dsfield"
            | "nexthop"
            | "weight"
            | "fastopen_no_cookie"
            | "no_cooked"
            | "ttl-propagate"
            | "encap"
            | "expires"
            | "hoplimit"
            | "rto_min"
            | "lock"
            | "throw"
            | "or"
    )
}

/// keepalived's keywords for what vigil deliberately does another way,
/// with what does it in vigil. An import says this instead of "not
/// supported": the operator learns where the feature went.
const REPLACED: &[(&[&str], &str)] = &[
    (
        &[
            "enable_snmp_checker",
            "enable_snmp_rfc",
            "enable_snmp_rfcv2",
            "enable_snmp_rfcv3",
            "enable_snmp_vrrp",
            "enable_traps",
            "snmp_name",
            "snmp_socket",
        ],
        "vigil has no SNMP agent: `show vrrp`, `show checkers` and `show ipvs` at the console, the logs and mail alerts say what it would",
    ),
    (&["dbus_service_name", "enable_dbus"], "vigil has no D-Bus: the console shell reads and changes the state"),
    (
        &[
            "fifo_write_vrrp_states_on_reload",
            "lvs_notify_fifo",
            "lvs_notify_fifo_script",
            "notify_fifo",
            "notify_priority_changes",
            "notify_fifo_script",
            "vrrp_notify_fifo",
            "vrrp_notify_fifo_script",
            "vrrp_notify_priority_changes",
        ],
        "vigil writes no FIFO: notify programs (notify, notify_master, notify_up, ...) and mail alerts carry the same events",
    ),
    (
        &[
            "bfd_cpu_affinity",
            "bfd_no_swap",
            "bfd_priority",
            "bfd_process_name",
            "bfd_rlimit_rttime",
            "bfd_rt_priority",
            "checker_cpu_affinity",
            "checker_no_swap",
            "checker_priority",
            "checker_process_name",
            "checker_rlimit_rttime",
            "checker_rt_priority",
            "child_wait_time",
            "max_auto_priority",
            "min_auto_priority_delay",
            "process_name",
            "process_names",
            "umask",
            "use_pid_dir",
            "vrrp_cpu_affinity",
            "vrrp_no_swap",
            "vrrp_priority",
            "vrrp_process_name",
            "vrrp_rlimit_rttime",
            "vrrp_rt_priority",
        ],
        "vigil's supervisor starts, watches (heartbeats) and restarts its own VRRP and checker processes; how they are scheduled is the firmware's, not the config's",
    ),
    (
        &[
            "kernel_rx_buf_size",
            "lvs_netlink_cmd_rcv_bufs",
            "lvs_netlink_cmd_rcv_bufs_force",
            "lvs_netlink_monitor_rcv_bufs",
            "lvs_netlink_monitor_rcv_bufs_force",
            "process_monitor_rcv_bufs",
            "process_monitor_rcv_bufs_force",
            "vrrp_netlink_cmd_rcv_bufs",
            "vrrp_netlink_cmd_rcv_bufs_force",
            "vrrp_netlink_monitor_rcv_bufs",
            "vrrp_netlink_monitor_rcv_bufs_force",
            "vrrp_rx_bufs_multiplier",
            "vrrp_rx_bufs_policy",
        ],
        "vigil sizes its own sockets (a receive task per socket; drops are counted in `show vrrp`)",
    ),
    (
        &[
            "namespace_with_ipsets",
            "nftables",
            "nftables_counters",
            "nftables_ifindex",
            "nftables_priority",
            "vrrp_ipsets",
            "vrrp_iptables",
        ],
        "vigil keeps `no_accept` with nf_tables itself, in a table of its own",
    ),
    (
        &[
            "config_save_dir",
            "include_check",
            "reload_check_config",
            "reload_file",
            "reload_repeat",
            "reload_time_file",
            "tmp_config_directory",
        ],
        "vigil's config is a store of generations on flash: `commit`, `commit confirmed`, `rollback` and the import's checks replace reload files",
    ),
    (
        &["instance", "net_namespace", "net_namespace_ipvs"],
        "the appliance runs one vigil in its own network namespace (the `@ID` lines take the host name)",
    ),
    (
        &["log_unknown_vrids"],
        "vigil always counts adverts for other VRIDs by reason, logs them rate-limited, and shows them in `show vrrp`",
    ),
    (
        &["nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark"],
        "vigil programs every address of a virtual_server_group range as an IPVS service of its own (checked once for the group): no nf_tables marks stand for the group",
    ),
    (
        &["data_use_instance"],
        "vigil writes no .data or .stats dump files: `show vrrp`, `show checkers` and `show ipvs` at the console say what they held",
    ),
    (
        &["old_unicast_checksum"],
        "vigil checksums unicast adverts as the RFCs say, as keepalived does since 1.3.8; a peer older than that is out of its support",
    ),
    (
        &["fast_recovery"],
        "vigil checks every url of an HTTP_GET/SSL_GET in each round (a real server comes up once all pass, with no delay_loop between urls): what fast_recovery asks for, always",
    ),
    (
        &["regex_stack"],
        "vigil's regex matcher does not backtrack and needs no stack (a pattern's compiled size is bounded instead)",
    ),
    (
        &["dynamic_interfaces"],
        "vigil always waits for an instance's interface (and its address) and starts the instance when it appears, saying so",
    ),
    (&["debug", "random_seed"], "vigil's logs are set at the console, not by these switches"),
    (
        &["check_unicast_src", "vrrp_check_unicast_src"],
        "vigil always checks it: with unicast peers, an advert from any other address is dropped and counted (`show vrrp`: not a unicast peer)",
    ),
    (
        &["linkbeat_interfaces", "linkbeat_use_polling"],
        "vigil follows links by netlink (carrier), as every driver the boards carry reports it; there is no MII/ethtool polling",
    ),
];

/// What vigil has instead of keepalived's `keyword`, if it deliberately
/// does that another way.
pub fn replaced_by(keyword: &str) -> Option<&'static str> {
    REPLACED.iter().find(|(ks, _)| ks.contains(&keyword)).map(|(_, why)| *why)
}

/// keepalived's keywords vigil does not act on yet (said as "not
/// supported"): kept here so that what is left is a list, not a guess.
/// Empty: the last, `vrf`, is read as keepalived 2.2.7 reads it (ignored
/// beside `interface`; without one refused, as 2.2.7 refuses it).
pub const NOT_YET: &[&str] = &[];

/// The closest keyword of `candidates` to `word`, if it is close enough to
/// be the one meant (a typo: a letter or two off, or swapped).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    let len = word.chars().count();
    candidates
        .into_iter()
        // Lengths further apart than the limit cannot be close: skip the
        // distance (a pasted config full of typos stays cheap).
        .filter(|c| c.len().abs_diff(len) <= limit)
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_has_the_keywords_of_every_block() {
        assert!(KEEPALIVED.windows(2).all(|w| w[0] < w[1]));
        for k in ["priority", "vrrp_script", "virtual_server_group", "lb_algo", "nb_get_retry", "bindto", "smtp_alert"]
        {
            assert!(known_to_keepalived(k), "{k}");
        }
        assert!(!known_to_keepalived("priorty"));
    }

    #[test]
    fn what_vigil_replaces_and_what_is_left_are_keepalived_keywords() {
        let mut seen = std::collections::BTreeSet::new();
        for (ks, why) in REPLACED {
            assert!(!why.is_empty());
            for k in *ks {
                assert!(known_to_keepalived(k), "{k} is not keepalived's");
                assert!(seen.insert(*k), "{k} twice");
                assert!(!crate::keepalived::edit::is_vigil_keyword(k), "{k}: vigil reads it");
            }
        }
        for k in NOT_YET {
            assert!(known_to_keepalived(k), "{k} is not keepalived's");
            assert!(seen.insert(*k), "{k} both replaced and not yet");
        }
        assert_eq!(replaced_by("enable_traps").map(|w| w.starts_with("vigil has no SNMP agent")), Some(true));
        assert_eq!(replaced_by("priority"), None);
    }

    #[test]
    fn typos_find_what_was_meant() {
        let all = KEEPALIVED.iter().copied();
        assert_eq!(closest("priorty", all.clone()), Some("priority"));
        assert_eq!(closest("virtual_ipadress", all.clone()), Some("virtual_ipaddress"));
        assert_eq!(closest("adver_int", all.clone()), Some("advert_int"));
        assert_eq!(closest("zzzzzz", all), None);
    }
}
