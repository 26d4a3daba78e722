//! Sizes, rates and durations as people write and read them — parsed from the command
//! line (`30s`, `1m30s`, `500ms`; `50MB/s`, `1.5GiB/s`, `800k`) and shown by both front ends
//! (`1.5 GiB`, `3 min 05 s`). One module, so the CLI and the window say the same.

use std::time::Duration;

/// The longest duration accepted (100 years): anything longer is surely a typo, and the
/// clock cannot add much more to "now" without overflowing.
const MAX_DURATION_SECS: f64 = 100.0 * 365.25 * 24.0 * 3600.0;

/// Parses `30s`, `500ms`, `2m`, `1h`, `1m30s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration_unbounded(s)?;
    if d.as_secs_f64() > MAX_DURATION_SECS {
        return Err(format!(
            "duration '{}' is too long (at most 100 years)",
            s.trim()
        ));
    }
    Ok(d)
}

fn parse_duration_unbounded(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("invalid duration '{s}' (examples: 30s, 500ms, 2m, 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    // Each part is rounded to the nanosecond on its own and the parts are added exactly, so
    // `4661h45ms` is not 2 ns off as a sum of floats would be.
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let part = Duration::try_from_secs_f64(value * scale).map_err(|_| bad())?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = &rest[unit_end..];
    }
    Ok(total)
}

/// Parses a rate in bytes per second: `50MB/s`, `50M`, `1.5GiB/s`, `800k`, `1000`. Decimal
/// units are powers of 1000, `Ki`/`Mi`/`Gi` powers of 1024.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("invalid rate '{t}' (examples: 50MB/s, 800k, 1.5GiB/s)");
    let t2 = t.strip_suffix("/s").unwrap_or(t);
    let num_end = t2
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t2.len());
    let value: f64 = t2[..num_end].parse().map_err(|_| bad())?;
    let unit = t2[num_end..].trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let rate = value * scale;
    if !(1.0..=1e15).contains(&rate) {
        return Err(bad());
    }
    // Rounded, not truncated: `524288.536k` is 524288536.0 less a hair in floating point.
    Ok(rate.round() as u64)
}

/// `1.5 GiB`-style size for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// "1 h 02 min", "3 min 05 s", "12.3 s".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50MB/s"), Ok(50_000_000));
        assert_eq!(parse_rate("1MiB/s"), Ok(1_048_576));
        assert_eq!(parse_rate("800k"), Ok(800_000));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }
}

/// Properties of the unit parsers: they answer every string with a value or an error, never a
/// panic, and read back exactly what a person would type for a value.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// 100 years, in whole hours.
    const MAX_DURATION_HOURS: u64 = 876_600;

    /// Duration units as a person may spell them, with their length in milliseconds.
    const DURATION_UNITS: [(&str, u64); 6] = [
        ("ms", 1),
        ("s", 1000),
        ("sec", 1000),
        ("m", 60_000),
        ("min", 60_000),
        ("h", 3_600_000),
    ];

    /// Rate units as a person may spell them, with the bytes they stand for.
    const RATE_UNITS: [(&str, u64); 16] = [
        ("", 1),
        ("/s", 1),
        ("B/s", 1),
        ("k", 1000),
        ("K", 1000),
        ("kB/s", 1000),
        (" KB", 1000),
        ("Ki", 1024),
        ("KiB/s", 1024),
        ("M", 1_000_000),
        ("MB/s", 1_000_000),
        ("mib", 1 << 20),
        (" MiB/s", 1 << 20),
        ("G", 1_000_000_000),
        ("GB/s", 1_000_000_000),
        ("GiB/s", 1 << 30),
    ];

    /// The largest rate accepted, in bytes per second.
    const MAX_RATE: u64 = 1_000_000_000_000_000;

    /// Strings near the grammar (digits, dots, unit letters, signs, spaces) and any at all.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9.hmsecinkKMGTiBb/ +eE-]{0,24}",
            "[0-9]{0,400}(ms|s|m|h|k|GiB/s)?",
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_string_makes_a_parser_panic(s in text()) {
            if let Ok(d) = parse_duration(&s) {
                prop_assert!(d.as_secs_f64() <= MAX_DURATION_SECS, "{s:?} gave {d:?}");
            }
            if let Ok(r) = parse_rate(&s) {
                prop_assert!((1..=MAX_RATE).contains(&r), "{s:?} gave {r}");
            }
        }

        #[test]
        fn milliseconds_read_back_exactly(n in 0u64..=1_000_000_000) {
            prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
        }

        #[test]
        fn hours_minutes_seconds_read_back_exactly(
            h in 0u64..=800_000,
            m in 0u64..10_000,
            s in 0u64..100_000,
        ) {
            let want = Duration::from_secs(h * 3600 + m * 60 + s);
            prop_assert_eq!(parse_duration(&format!("{h}h{m}m{s}s")), Ok(want));
            prop_assert_eq!(parse_duration(&format!(" {s}sec{h}h{m}min ")), Ok(want));
        }

        #[test]
        fn mixed_units_add_up(
            parts in prop::collection::vec(
                (0u64..100_000, prop::sample::select(&DURATION_UNITS[..])),
                1..5,
            ),
        ) {
            let text: String = parts.iter().map(|(n, (unit, _))| format!("{n}{unit}")).collect();
            let ms: u64 = parts.iter().map(|(n, (_, scale))| n * scale).sum();
            prop_assert_eq!(parse_duration(&text), Ok(Duration::from_millis(ms)), "{}", text);
        }

        #[test]
        fn seconds_with_a_fraction_read_back_exactly(s in 0u64..1_000_000, ms in 0u64..1000) {
            let want = Duration::from_millis(s * 1000 + ms);
            prop_assert_eq!(parse_duration(&format!("{s}.{ms:03}s")), Ok(want));
            prop_assert_eq!(parse_duration(&format!("{s}.{ms:03}")), Ok(want));
        }

        #[test]
        fn a_hundred_years_is_the_limit(
            h in prop_oneof![
                0u64..=10 * MAX_DURATION_HOURS,
                MAX_DURATION_HOURS - 48..=MAX_DURATION_HOURS + 48,
            ],
        ) {
            let got = parse_duration(&format!("{h}h"));
            if h <= MAX_DURATION_HOURS {
                prop_assert_eq!(got, Ok(Duration::from_secs(h * 3600)));
            } else {
                prop_assert!(got.is_err_and(|e| e.contains("100 years")), "{h}h");
            }
        }

        #[test]
        fn absurd_durations_are_errors(secs in (MAX_DURATION_SECS as u64 + 1)..=u64::MAX) {
            let got = parse_duration(&format!("{secs}s"));
            prop_assert!(got.is_err_and(|e| e.contains("100 years")), "{secs}s");
            let overflowing = format!("{secs}{}", "0".repeat(300));
            prop_assert!(parse_duration(&overflowing).is_err(), "{overflowing}");
        }

        #[test]
        fn rates_read_back_exactly(
            (unit, scale, n) in prop::sample::select(&RATE_UNITS[..])
                .prop_flat_map(|(unit, scale)| (Just(unit), Just(scale), 1..=MAX_RATE / scale)),
        ) {
            prop_assert_eq!(parse_rate(&format!("{n}{unit}")), Ok(n * scale));
            let zero = format!("0{unit}");
            prop_assert!(parse_rate(&zero).is_err(), "{zero}");
            let too_fast = format!("{}{unit}", MAX_RATE / scale + 1);
            prop_assert!(parse_rate(&too_fast).is_err(), "{too_fast}");
        }

        #[test]
        fn decimal_rates_read_back_exactly(whole in 0u64..1_000_000, frac in 0u64..1000) {
            prop_assume!(whole + frac > 0);
            let want = whole * 1000 + frac;
            prop_assert_eq!(parse_rate(&format!("{whole}.{frac:03}k")), Ok(want));
            prop_assert_eq!(parse_rate(&format!("{whole}.{frac:03}MB/s")), Ok(want * 1000));
        }

        #[test]
        fn fractions_of_a_byte_are_rejected(frac in 0u64..1000) {
            let text = format!("0.{frac:03}");
            prop_assert!(parse_rate(&text).is_err(), "{text}");
        }

        // Below 1 TiB: `parse_rate` knows no `T` unit.
        #[test]
        fn human_bytes_reads_back_within_rounding(n in 0u64..1 << 40) {
            let text = human_bytes(n);
            if n < 1024 {
                prop_assert_eq!(&text, &format!("{n} B"));
            }
            // One decimal place: off by at most half a tenth of the unit shown.
            let mut unit = 1u64;
            while n / unit >= 1024 {
                unit *= 1024;
            }
            match parse_rate(&text) {
                Ok(back) => prop_assert!(back.abs_diff(n) <= unit / 20 + 1, "{n}: {text}: {back}"),
                Err(e) => prop_assert!(n == 0, "{n}: {text}: {e}"),
            }
        }

        #[test]
        fn human_bytes_never_panics(n in any::<u64>()) {
            let text = human_bytes(n);
            prop_assert!(text.ends_with('B') && text.contains(' '), "{text}");
        }
    }
}
