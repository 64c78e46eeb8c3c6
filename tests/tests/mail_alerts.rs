//! Mail alerts against a real SMTP server: Debian's aiosmtpd (its Mailbox
//! handler writes each mail it takes to a maildir) in vigil's namespace.
//! vigil (150) becomes master beside keepalived and mails it; keepalived
//! (200) joins and preempts, and vigil mails that it is backup; a real
//! server whose check fails is mailed as DOWN. The mails have keepalived's
//! subjects and bodies.

use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Pair};

/// The mails in a maildir, oldest first (by the server's file names).
fn mails(dir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<_> =
        std::fs::read_dir(dir.join("new")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

#[test]
fn state_changes_and_a_down_server_are_mailed() {
    if !vigil_tests::require(
        std::path::Path::new("/usr/lib/python3/dist-packages/aiosmtpd").exists(),
        "aiosmtpd (apt-get install python3-aiosmtpd)",
    ) {
        return;
    }
    let Some(mut p) = Pair::new("mail") else { return };
    let vg = p.vg.clone();
    let maildir = p.dir.join("maildir");
    let _smtp = KillOnDrop(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &vg,
                "/usr/bin/python3",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                "127.0.0.1:2525",
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p.dir.join("smtp.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    p.top[1] = "global_defs {\n router_id LB1\n notification_email {\n  ops@example.com\n  root\n }\n notification_email_from vigil@lb1.example.com\n smtp_server 127.0.0.1 2525\n smtp_connect_timeout 5\n no_checker_emails\n}\nvirtual_server 192.0.2.50 80 {\n delay_loop 1\n protocol TCP\n real_server 127.0.0.1 1 {\n  smtp_alert\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n real_server 127.0.0.1 2 {\n  smtp_alert\n  TCP_CHECK {\n   connect_timeout 1\n  }\n  TCP_CHECK {\n   connect_port 3\n   connect_timeout 1\n  }\n }\n}\n".to_string();
    p.extra[1] = " smtp_alert\n".to_string();
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    let master = vigil_tests::eventually(Duration::from_secs(15), || {
        mails(&maildir).iter().any(|m| m.contains("Subject: [LB1] VRRP Instance VI_1 - Entering MASTER state"))
    });
    let all = mails(&maildir);
    assert!(master.is_some(), "no MASTER mail; {} mails: {all:#?}", all.len());
    let m = all.iter().find(|m| m.contains("Entering MASTER state")).unwrap();
    assert!(m.contains("From: vigil@lb1.example.com"), "{m}");
    assert!(m.contains("To: ops@example.com,\n root") || m.contains("To: ops@example.com,\r\n root"), "{m}");
    assert!(m.contains("=> VRRP Instance is now owning VRRP VIPs <="), "{m}");
    // Both recipients were given to the server (aiosmtpd records them).
    assert!(m.contains("X-RcptTo: ops@example.com, root"), "{m}");

    let down = vigil_tests::eventually(Duration::from_secs(15), || {
        mails(&maildir)
            .iter()
            .any(|m| m.contains("Subject: [LB1] Realserver [127.0.0.1]:1 of virtual server 192.0.2.50:80 - DOWN"))
    });
    assert!(down.is_some(), "no DOWN mail: {:#?}", mails(&maildir));
    let m = mails(&maildir).into_iter().find(|m| m.contains("- DOWN")).unwrap();
    assert!(m.contains("=> CHECK failed on service : "), "{m}");
    // no_checker_emails: the server with two failing checks leaves its pool
    // once, and is mailed once.
    let second = "Subject: [LB1] Realserver [127.0.0.1]:2 of virtual server 192.0.2.50:80 - DOWN";
    let down = vigil_tests::eventually(Duration::from_secs(15), || mails(&maildir).iter().any(|m| m.contains(second)));
    assert!(down.is_some(), "no DOWN mail for the second server: {:#?}", mails(&maildir));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(mails(&maildir).iter().filter(|m| m.contains(second)).count(), 1, "{:#?}", mails(&maildir));

    p.keepalived(3, 200, "0.5");
    // The first BACKUP mail is from the start (INIT -> BACKUP); the one
    // after the MASTER mail is keepalived's preemption.
    let backup_after_master = || {
        let all = mails(&maildir);
        let at = all.iter().position(|m| m.contains("Entering MASTER state"))?;
        all[at..].iter().find(|m| m.contains("Subject: [LB1] VRRP Instance VI_1 - Entering BACKUP state")).cloned()
    };
    let m = vigil_tests::eventually(Duration::from_secs(15), || backup_after_master().is_some())
        .and_then(|_| backup_after_master())
        .unwrap_or_else(|| panic!("no BACKUP mail after the MASTER one: {:#?}", mails(&maildir)));
    assert!(m.contains("=> VRRP Instance is nolonger owning VRRP VIPs <="), "{m}");
}
