//! Cron expressions with seconds and optional years, in the Quartz dialect GoAkt uses.
//!
//! Instants are computed in UTC, on whole seconds, for the years 1970 to 2099, with the
//! calendar arithmetic done here on days since the Unix epoch (no date library).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const FIRST_YEAR: i64 = 1970;
const LAST_YEAR: i64 = 2099;
const SECONDS_PER_DAY: i64 = 86_400;
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Quartz numbers the days of the week from 1, Sunday, to 7, Saturday.
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Why a cron expression was rejected.
///
/// ```
/// use rakt_actor::CronExpr;
///
/// let err = "0 61 * * * ?".parse::<CronExpr>().unwrap_err();
/// assert_eq!(err.to_string(), "invalid cron expression \"0 61 * * * ?\": minute 61 is outside 0-59");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct CronError {
    /// The expression as given.
    pub expression: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A day-of-week rule beyond a plain set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeekdayRule {
    /// `d#n`: the `n`th such weekday of the month.
    Nth { weekday: u8, nth: u8 },
    /// `dL`: the last such weekday of the month.
    Last { weekday: u8 },
}

/// A parsed cron expression: `seconds minutes hours day-of-month month day-of-week [year]`.
///
/// Each field takes `*`, a value, a range `a-b`, a step `a/n`, `a-b/n` or `*/n`, and lists of
/// these separated by commas. Months and weekdays also take their three-letter English names
/// (`JAN`, `MON`); weekdays are numbered from 1 (Sunday) to 7 (Saturday), as in Quartz. The
/// day-of-month and day-of-week fields also take `?` (no constraint), the day-of-month `L`
/// (the last day of the month), and the day-of-week `dL` (the last `d` of the month) and
/// `d#n` (the `n`th `d` of the month). When both day fields constrain, a day matching either
/// matches. The year field, when present, takes 1970 to 2099.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use rakt_actor::CronExpr;
///
/// // At noon on the last Friday of every month.
/// let cron: CronExpr = "0 0 12 ? * 6L".parse()?;
/// // 2026-01-01T00:00:00Z; the last Friday of January 2026 is the 30th.
/// let new_year = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
/// let next = cron.next_after(new_year).expect("a next instant");
/// assert_eq!(next, new_year + Duration::from_secs(29 * 86_400 + 12 * 3_600));
/// # Ok::<(), rakt_actor::CronError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    seconds: u64,
    minutes: u64,
    hours: u64,
    /// Days of the month, bits 1 to 31.
    days: u64,
    last_day: bool,
    /// Bits 1 to 12.
    months: u64,
    /// Bits 1 (Sunday) to 7 (Saturday).
    weekdays: u64,
    weekday_rules: Vec<WeekdayRule>,
    /// The day-of-month field was `*` or `?`.
    any_day: bool,
    /// The day-of-week field was `*` or `?`.
    any_weekday: bool,
    /// Bits for the years from 1970; `None` when the field is absent or `*`.
    years: Option<[u64; 3]>,
}

impl CronExpr {
    /// Parses an expression of six fields, or seven with the year.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        let fail = |reason: String| CronError {
            expression: expression.to_owned(),
            reason,
        };
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 6 && fields.len() != 7 {
            return Err(fail(format!(
                "expected 6 or 7 fields (seconds to day-of-week, then an optional year), got {}",
                fields.len()
            )));
        }
        let seconds = parse_field(fields[0], &Field::SECOND).map_err(&fail)?;
        let minutes = parse_field(fields[1], &Field::MINUTE).map_err(&fail)?;
        let hours = parse_field(fields[2], &Field::HOUR).map_err(&fail)?;
        let (days, last_day, any_day) = parse_days(fields[3]).map_err(&fail)?;
        let months = parse_field(fields[4], &Field::MONTH).map_err(&fail)?;
        let (weekdays, weekday_rules, any_weekday) = parse_weekdays(fields[5]).map_err(&fail)?;
        let years = match fields.get(6) {
            None | Some(&"*") => None,
            Some(field) => Some(parse_years(field).map_err(&fail)?),
        };
        Ok(Self {
            source: expression.to_owned(),
            seconds,
            minutes,
            hours,
            days,
            last_day,
            months,
            weekdays,
            weekday_rules,
            any_day,
            any_weekday,
            years,
        })
    }

    /// The first instant strictly after `after` that the expression matches, or `None` when
    /// there is none before the end of 2099.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let since_epoch = after.duration_since(UNIX_EPOCH).ok()?;
        let secs = i64::try_from(since_epoch.as_secs()).ok()?;
        let found = self.next_second(secs.checked_add(1)?)?;
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(found).ok()?))
    }

    /// The first matching second at or after `from`, in seconds since the epoch.
    fn next_second(&self, from: i64) -> Option<i64> {
        let mut ts = from.max(0);
        // Every pass either returns or moves `ts` to the start of a later second, minute, hour,
        // day, month or year; days are the finest unit it can step through one by one, so
        // this ends within the days up to 2099.
        loop {
            let day = ts.div_euclid(SECONDS_PER_DAY);
            let (year, month, dom) = civil_from_days(day);
            if year > LAST_YEAR {
                return None;
            }
            if !self.year_matches(year) {
                let next = (year + 1..=LAST_YEAR).find(|y| self.year_matches(*y))?;
                ts = days_from_civil(next, 1, 1) * SECONDS_PER_DAY;
                continue;
            }
            if !has(self.months, month) {
                let (y, m) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                ts = days_from_civil(y, m, 1) * SECONDS_PER_DAY;
                continue;
            }
            if !self.day_matches(year, month, dom, day) {
                ts = (day + 1) * SECONDS_PER_DAY;
                continue;
            }
            let second_of_day = ts.rem_euclid(SECONDS_PER_DAY);
            let (hour, minute, second) = (
                second_of_day / 3_600,
                second_of_day / 60 % 60,
                second_of_day % 60,
            );
            let day_start = day * SECONDS_PER_DAY;
            if !has(self.hours, hour) {
                ts = match next_bit(self.hours, hour) {
                    Some(h) => day_start + h * 3_600,
                    None => day_start + SECONDS_PER_DAY,
                };
                continue;
            }
            let hour_start = day_start + hour * 3_600;
            if !has(self.minutes, minute) {
                ts = match next_bit(self.minutes, minute) {
                    Some(m) => hour_start + m * 60,
                    None => hour_start + 3_600,
                };
                continue;
            }
            let minute_start = hour_start + minute * 60;
            if !has(self.seconds, second) {
                ts = match next_bit(self.seconds, second) {
                    Some(s) => minute_start + s,
                    None => minute_start + 60,
                };
                continue;
            }
            return Some(ts);
        }
    }

    fn year_matches(&self, year: i64) -> bool {
        match &self.years {
            None => (FIRST_YEAR..=LAST_YEAR).contains(&year),
            Some(bits) => {
                let offset = year - FIRST_YEAR;
                (0..=LAST_YEAR - FIRST_YEAR).contains(&offset)
                    && bits[(offset / 64) as usize] & (1 << (offset % 64)) != 0
            }
        }
    }

    fn day_matches(&self, year: i64, month: i64, dom: i64, day: i64) -> bool {
        let month_len = days_in_month(year, month);
        let by_date = has(self.days, dom) || (self.last_day && dom == month_len);
        // 1970-01-01 was a Thursday, day 5 in Quartz's numbering from Sunday = 1.
        let weekday = (day + 4).rem_euclid(7) + 1;
        let by_weekday = has(self.weekdays, weekday)
            || self.weekday_rules.iter().any(|rule| match *rule {
                WeekdayRule::Nth { weekday: w, nth } => {
                    i64::from(w) == weekday && (dom - 1) / 7 + 1 == i64::from(nth)
                }
                WeekdayRule::Last { weekday: w } => i64::from(w) == weekday && dom + 7 > month_len,
            });
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => by_date,
            (true, false) => by_weekday,
            (false, false) => by_date || by_weekday,
        }
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(expression: &str) -> Result<Self, Self::Err> {
        Self::parse(expression)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.source).finish()
    }
}

/// The bounds and names of one field.
struct Field {
    name: &'static str,
    min: i64,
    max: i64,
    names: &'static [&'static str],
    /// The value of the first name.
    first_named: i64,
}

impl Field {
    const SECOND: Field = Field::numeric("second", 0, 59);
    const MINUTE: Field = Field::numeric("minute", 0, 59);
    const HOUR: Field = Field::numeric("hour", 0, 23);
    const DAY: Field = Field::numeric("day of month", 1, 31);
    const MONTH: Field = Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        first_named: 1,
    };
    const WEEKDAY: Field = Field {
        name: "day of week",
        min: 1,
        max: 7,
        names: &WEEKDAYS,
        first_named: 1,
    };
    const YEAR: Field = Field::numeric("year", FIRST_YEAR, LAST_YEAR);

    const fn numeric(name: &'static str, min: i64, max: i64) -> Self {
        Self {
            name,
            min,
            max,
            names: &[],
            first_named: 0,
        }
    }

    fn value(&self, text: &str) -> Result<i64, String> {
        let value = match text.parse::<i64>() {
            Ok(value) => value,
            Err(_) => self
                .names
                .iter()
                .position(|name| name.eq_ignore_ascii_case(text))
                .map(|index| index as i64 + self.first_named)
                .ok_or_else(|| format!("{} {text:?} is not a number or a name", self.name))?,
        };
        if !(self.min..=self.max).contains(&value) {
            return Err(format!(
                "{} {value} is outside {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(value)
    }
}

/// Parses a list of values, ranges and steps into bits `min..=max`; `*` sets them all.
fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut bits = 0_u64;
    for part in text.split(',') {
        for value in values(part, field)? {
            bits |= 1 << value;
        }
    }
    Ok(bits)
}

/// The values one comma-separated part of a field stands for.
fn values(part: &str, field: &Field) -> Result<impl Iterator<Item = i64>, String> {
    let (range, step) = match part.split_once('/') {
        Some((range, step)) => {
            let step = step
                .parse::<i64>()
                .ok()
                .filter(|step| *step > 0)
                .ok_or_else(|| format!("{} step {step:?} is not a positive number", field.name))?;
            (range, Some(step))
        }
        None => (part, None),
    };
    let (first, last) = match range {
        "*" => (field.min, field.max),
        "" => return Err(format!("empty {} field part", field.name)),
        _ => match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (field.value(a)?, field.value(b)?);
                if a > b {
                    return Err(format!("{} range {a}-{b} runs backwards", field.name));
                }
                (a, b)
            }
            // `a/n` runs from `a` to the end of the field.
            None if step.is_some() => (field.value(range)?, field.max),
            None => {
                let value = field.value(range)?;
                (value, value)
            }
        },
    };
    let step = step.unwrap_or(1) as usize;
    Ok((first..=last).step_by(step))
}

/// The day-of-month field: bits, whether `L` was given, and whether it constrains nothing.
fn parse_days(text: &str) -> Result<(u64, bool, bool), String> {
    if text == "*" || text == "?" {
        return Ok((0, false, true));
    }
    let mut bits = 0;
    let mut last = false;
    for part in text.split(',') {
        if part.eq_ignore_ascii_case("L") {
            last = true;
        } else if part.contains(['W', 'w']) || part.contains(['L', 'l']) {
            return Err(format!(
                "day of month {part:?} is not supported: use numbers, ranges, steps or L"
            ));
        } else {
            bits |= parse_field(part, &Field::DAY)?;
        }
    }
    Ok((bits, last, false))
}

/// The day-of-week field: bits, `dL` and `d#n` rules, and whether it constrains nothing.
fn parse_weekdays(text: &str) -> Result<(u64, Vec<WeekdayRule>, bool), String> {
    if text == "*" || text == "?" {
        return Ok((0, Vec::new(), true));
    }
    let mut bits = 0;
    let mut rules = Vec::new();
    let weekday = |text: &str| Field::WEEKDAY.value(text).map(|value| value as u8);
    for part in text.split(',') {
        if let Some((day, nth)) = part.split_once('#') {
            let nth = nth
                .parse::<u8>()
                .ok()
                .filter(|nth| (1..=5).contains(nth))
                .ok_or_else(|| format!("day of week {part:?}: the week after '#' must be 1-5"))?;
            rules.push(WeekdayRule::Nth {
                weekday: weekday(day)?,
                nth,
            });
        } else if part.eq_ignore_ascii_case("L") {
            // Quartz reads a bare `L` here as Saturday, the last day of the week.
            bits |= 1 << 7;
        } else if let Some(day) = part.strip_suffix(['L', 'l']).filter(|day| !day.is_empty()) {
            rules.push(WeekdayRule::Last {
                weekday: weekday(day)?,
            });
        } else {
            bits |= parse_field(part, &Field::WEEKDAY)?;
        }
    }
    Ok((bits, rules, false))
}

fn parse_years(text: &str) -> Result<[u64; 3], String> {
    let mut bits = [0_u64; 3];
    for part in text.split(',') {
        for year in values(part, &Field::YEAR)? {
            let offset = year - FIRST_YEAR;
            bits[(offset / 64) as usize] |= 1 << (offset % 64);
        }
    }
    Ok(bits)
}

fn has(bits: u64, value: i64) -> bool {
    (0..64).contains(&value) && bits & (1 << value) != 0
}

/// The lowest set bit above `after`.
fn next_bit(bits: u64, after: i64) -> Option<i64> {
    let from = after + 1;
    if from >= 64 {
        return None;
    }
    let above = bits >> from;
    (above != 0).then(|| from + i64::from(above.trailing_zeros()))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
///
/// Counts in 400-year eras starting on March 1st, so that the leap day ends a year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719,468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01: the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since the epoch of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> SystemTime {
        let secs = days_from_civil(year, month, day) * SECONDS_PER_DAY
            + hour * 3_600
            + minute * 60
            + second;
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    fn next(expression: &str, after: SystemTime) -> Option<SystemTime> {
        CronExpr::parse(expression)
            .expect("valid")
            .next_after(after)
    }

    #[test]
    fn the_calendar_round_trips_every_day_from_1970_to_2100() {
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..=days_from_civil(2100, 12, 31) {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            assert_eq!(days_from_civil(year, month, day), days);
            day += 1;
            if day > days_in_month(year, month) {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn every_fifteen_minutes() {
        let start = at(2026, 3, 14, 10, 7, 30);
        assert_eq!(
            next("0 */15 * * * ?", start),
            Some(at(2026, 3, 14, 10, 15, 0))
        );
        let on_the_dot = at(2026, 3, 14, 10, 15, 0);
        assert_eq!(
            next("0 */15 * * * ?", on_the_dot),
            Some(at(2026, 3, 14, 10, 30, 0))
        );
        assert_eq!(
            next("0 */15 * * * ?", at(2026, 12, 31, 23, 50, 0)),
            Some(at(2027, 1, 1, 0, 0, 0))
        );
    }

    #[test]
    fn seconds_lists_and_ranges() {
        let start = at(2026, 1, 1, 0, 0, 0);
        assert_eq!(next("5,10 * * * * ?", start), Some(at(2026, 1, 1, 0, 0, 5)));
        assert_eq!(
            next("10-12 0 0 * * ?", at(2026, 1, 1, 0, 0, 12)),
            Some(at(2026, 1, 2, 0, 0, 10))
        );
    }

    #[test]
    fn names_and_weekdays() {
        // 2026-01-01 is a Thursday.
        let start = at(2026, 1, 1, 0, 0, 0);
        assert_eq!(
            next("0 30 9 ? * MON-FRI", start),
            Some(at(2026, 1, 1, 9, 30, 0))
        );
        assert_eq!(next("0 30 9 ? * 2", start), Some(at(2026, 1, 5, 9, 30, 0)));
        assert_eq!(next("0 0 0 1 jun ?", start), Some(at(2026, 6, 1, 0, 0, 0)));
    }

    #[test]
    fn leap_days_and_years() {
        let start = at(2026, 1, 1, 0, 0, 0);
        assert_eq!(
            next("0 0 12 29 2 ?", start),
            Some(at(2028, 2, 29, 12, 0, 0))
        );
        assert_eq!(next("0 0 12 29 2 ? 2029-2031", start), None);
        assert_eq!(
            next("0 0 0 1 1 ? 2030/5", start),
            Some(at(2030, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 0 1 1 ? 2030/5", at(2030, 1, 1, 0, 0, 0)),
            Some(at(2035, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 0 30 2 ?", start),
            None,
            "February never has a 30th"
        );
    }

    #[test]
    fn last_days_and_nth_weekdays() {
        let start = at(2026, 2, 1, 0, 0, 0);
        assert_eq!(next("0 0 0 L * ?", start), Some(at(2026, 2, 28, 0, 0, 0)));
        // The third Friday of February 2026 is the 20th; the last Monday is the 23rd.
        assert_eq!(
            next("0 0 8 ? * FRI#3", start),
            Some(at(2026, 2, 20, 8, 0, 0))
        );
        assert_eq!(next("0 0 8 ? * 2L", start), Some(at(2026, 2, 23, 8, 0, 0)));
    }

    #[test]
    fn both_day_fields_match_either() {
        // The 13th, or any Friday: 2026-02-06 is the first Friday of February.
        let start = at(2026, 2, 1, 0, 0, 0);
        assert_eq!(next("0 0 0 13 * FRI", start), Some(at(2026, 2, 6, 0, 0, 0)));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let reason = |expression: &str| CronExpr::parse(expression).expect_err(expression).reason;
        assert!(reason("* * * * *").contains("expected 6 or 7 fields"));
        assert!(reason("0 0 24 * * ?").contains("hour 24 is outside 0-23"));
        assert!(reason("0 0 0 * FOO ?").contains("not a number or a name"));
        assert!(reason("0 0 0 * * 8").contains("outside 1-7"));
        assert!(reason("*/0 * * * * ?").contains("not a positive number"));
        assert!(reason("0 5-2 * * * ?").contains("runs backwards"));
        assert!(reason("0 0 0 * * ? 2100").contains("outside 1970-2099"));
        assert!(reason("0 0 0 15W * ?").contains("not supported"));
        assert!(reason("0 0 0 ? * MON#6").contains("1-5"));
        assert!(reason("0 0 0 ,1 * ?").contains("empty"));
    }

    #[test]
    fn times_before_the_epoch_have_no_next() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(next("* * * * * ?", before), None);
    }
}
