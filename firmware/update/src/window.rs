//! When an installed update may reboot the appliance: `update_window
//! HH:MM-HH:MM` (UTC; it may span midnight). Outside it the slot waits on
//! trial-to-be until the window opens.

const DAY: u32 = 86_400;

/// Seconds from `now` (seconds since midnight UTC) until the window
/// `(start, end)` (minutes since midnight) is open: 0 when it is.
pub fn until_open(now: u32, (start, end): (u16, u16)) -> u32 {
    let now = now % DAY;
    let (s, e) = (u32::from(start) * 60 % DAY, u32::from(end) * 60 % DAY);
    let inside = if s < e { (s..e).contains(&now) } else { now >= s || now < e };
    if inside { 0 } else { (s + DAY - now) % DAY }
}

/// `HH:MM-HH:MM` for the operator.
pub fn text((start, end): (u16, u16)) -> String {
    format!("{:02}:{:02}-{:02}:{:02} UTC", start / 60, start % 60, end / 60, end % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_opens_when_it_says_across_midnight_too() {
        let w = (2 * 60, 4 * 60); // 02:00-04:00
        assert_eq!(until_open(2 * 3600, w), 0);
        assert_eq!(until_open(3 * 3600 + 59 * 60, w), 0);
        assert_eq!(until_open(4 * 3600, w), 22 * 3600, "closed at its end");
        assert_eq!(until_open(3600, w), 3600);
        let night = (23 * 60 + 30, 60); // 23:30-01:00
        assert_eq!(until_open(23 * 3600 + 45 * 60, night), 0);
        assert_eq!(until_open(30 * 60, night), 0);
        assert_eq!(until_open(3600, night), 22 * 3600 + 30 * 60);
        assert_eq!(until_open(12 * 3600, night), 11 * 3600 + 30 * 60);
        assert_eq!(text(night), "23:30-01:00 UTC");
    }
}
