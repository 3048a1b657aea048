//! The CMOS real-time clock, read once at boot for `CLOCK_REALTIME`.

use x86_64::instructions::port::Port;

/// CMOS register numbers (MC146818).
mod register {
    pub const SECONDS: u8 = 0x00;
    pub const MINUTES: u8 = 0x02;
    pub const HOURS: u8 = 0x04;
    pub const DAY_OF_MONTH: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    /// Status A: bit 7 = update in progress.
    pub const STATUS_A: u8 = 0x0A;
    /// Status B: bit 1 = 24-hour clock, bit 2 = binary (not BCD).
    pub const STATUS_B: u8 = 0x0B;
    /// The century, where ACPI's FADT says (0x32 on QEMU and most PCs).
    pub const CENTURY: u8 = 0x32;
}

fn read_register(reg: u8) -> u8 {
    let mut index = Port::<u8>::new(0x70);
    let mut data = Port::<u8>::new(0x71);
    // SAFETY: ports 0x70/0x71 are the CMOS index/data pair; bit 7 of the index keeps
    // NMIs disabled, as they already are (interrupts stay off).
    unsafe {
        index.write(0x80 | reg);
        data.read()
    }
}

fn snapshot() -> [u8; 7] {
    // Wait until no update is in progress (status A bit 7), bounded.
    for _ in 0..1_000_000 {
        if read_register(register::STATUS_A) & 0x80 == 0 {
            break;
        }
    }
    [
        register::SECONDS,
        register::MINUTES,
        register::HOURS,
        register::DAY_OF_MONTH,
        register::MONTH,
        register::YEAR,
        register::CENTURY,
    ]
    .map(read_register)
}

/// Seconds since the Unix epoch per the RTC (UTC assumed, as QEMU provides), or `None`
/// if the values make no sense.
pub fn unix_seconds() -> Option<u64> {
    // Read twice until two snapshots agree, so an update cannot tear the value.
    let mut raw = snapshot();
    for _ in 0..5 {
        let again = snapshot();
        if again == raw {
            break;
        }
        raw = again;
    }
    let status_b = read_register(register::STATUS_B);
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| if bcd { (v & 0x0F) + (v >> 4) * 10 } else { v };
    let [sec, min, hour_raw, day, month, year, century] = raw;
    let pm = status_b & 0x02 == 0 && hour_raw & 0x80 != 0;
    let mut hour = conv(hour_raw & 0x7F) as u64;
    if status_b & 0x02 == 0 {
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let century = if century == 0 { 20 } else { conv(century) as i64 };
    let year = century * 100 + conv(year) as i64;
    let (month, day) = (conv(month) as i64, conv(day) as i64);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour as i64 * 3600 + conv(min) as i64 * 60 + conv(sec) as i64).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::days_from_civil;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 25), 20_782);
    }
}
