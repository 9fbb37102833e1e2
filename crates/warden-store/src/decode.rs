//! Strict decoding of stored record columns, the same for every backend.
//!
//! A negative count, a partly-NULL token set or an unknown enum value is an
//! error, never a default: the hash chain covers the decoded record, so a
//! stored value with no meaning must not decode to the record it replaced.

use warden_core::{Decision, Outcome, PrincipalKind, Usage};

use crate::StoreError;

fn corrupt(column: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column} {value}"))
}

/// A count for a signed column (saturating: counts never get near it).
pub fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored count back: negative is corrupt.
pub fn count(column: &str, v: Option<i64>) -> Result<Option<u64>, StoreError> {
    v.map(|v| u64::try_from(v).map_err(|_| corrupt(column, v)))
        .transpose()
}

/// A count that must be there.
pub fn required(column: &str, v: Option<i64>) -> Result<u64, StoreError> {
    count(column, v)?.ok_or_else(|| corrupt(column, "NULL"))
}

pub fn principal_kind(v: Option<&str>) -> Result<Option<PrincipalKind>, StoreError> {
    v.map(|k| PrincipalKind::parse(k).ok_or_else(|| corrupt("principal_kind", k)))
        .transpose()
}

pub fn decision(v: &str) -> Result<Decision, StoreError> {
    Decision::parse(v).ok_or_else(|| corrupt("decision", v))
}

pub fn outcome(v: &str) -> Result<Outcome, StoreError> {
    Outcome::parse(v).ok_or_else(|| corrupt("outcome", v))
}

pub fn status(v: i64) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| corrupt("status", v))
}

/// The four token columns: all NULL (no usage) or all set.
pub fn usage(
    [input, output, total, cached]: [Option<u64>; 4],
) -> Result<Option<Usage>, StoreError> {
    match (input, output, total, cached) {
        (None, None, None, None) => Ok(None),
        (Some(input_tokens), Some(output_tokens), Some(total_tokens), Some(cached_tokens)) => {
            Ok(Some(Usage {
                input_tokens,
                output_tokens,
                total_tokens,
                cached_tokens,
            }))
        }
        _ => Err(StoreError::Corrupt("token columns partly NULL".into())),
    }
}
