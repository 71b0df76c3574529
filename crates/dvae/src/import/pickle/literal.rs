//! The opcodes that push a plain value: ints, floats, strings, bytes, `None`, booleans.

use super::{Result, Value, bad};

/// Takes `n` bytes from the front of `input`, or fails without reading past its end.
pub(super) fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if input.len() < n {
        return bad(format!(
            "truncated: needed {n} more bytes, {} left",
            input.len()
        ));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

/// A little-endian unsigned integer of up to 8 bytes.
pub(super) fn le_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64)
}

/// A newline-terminated text argument (of `GLOBAL`, `PUT`, `GET`).
pub(super) fn line(input: &mut &[u8]) -> Result<String> {
    let Some(end) = input.iter().position(|&b| b == b'\n') else {
        return bad("truncated: a text argument has no end of line");
    };
    let text = String::from_utf8_lossy(&input[..end]).into_owned();
    *input = &input[end + 1..];
    Ok(text)
}

fn utf8(bytes: &[u8]) -> Result<Value> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Value::Str(s.to_string())),
        Err(_) => bad("a unicode string is not valid UTF-8"),
    }
}

/// The value `op` pushes, reading its argument from `input`; `None` if `op` is not one of
/// these opcodes.
pub(super) fn literal(op: u8, input: &mut &[u8]) -> Result<Option<Value>> {
    let v = match op {
        b'N' => Value::None,
        0x88 => Value::Bool(true),
        0x89 => Value::Bool(false),
        b'J' => {
            let v = i32::from_le_bytes(take(input, 4)?.try_into().expect("4 bytes"));
            Value::Int(v as i64)
        }
        b'K' => {
            let v = take(input, 1)?[0];
            Value::Int(v as i64)
        }
        b'M' => {
            let v = le_uint(take(input, 2)?);
            Value::Int(v as i64)
        }
        0x8a | 0x8b => {
            let n = if op == 0x8a {
                take(input, 1)?[0] as usize
            } else {
                le_uint(take(input, 4)?) as usize
            };
            let bytes = take(input, n)?;
            if n == 0 {
                Value::Int(0)
            } else if n <= 8 {
                let neg = bytes[n - 1] & 0x80 != 0;
                let mut buf = [if neg { 0xff } else { 0 }; 8];
                buf[..n].copy_from_slice(bytes);
                Value::Int(i64::from_le_bytes(buf))
            } else {
                Value::BigInt(bytes.to_vec())
            }
        }
        b'G' => {
            let v = f64::from_be_bytes(take(input, 8)?.try_into().expect("8 bytes"));
            Value::Float(v)
        }
        b'X' | 0x8c | 0x8d => {
            let n = match op {
                b'X' => le_uint(take(input, 4)?),
                0x8c => take(input, 1)?[0] as u64,
                _ => le_uint(take(input, 8)?),
            };
            utf8(take(input, n as usize)?)?
        }
        b'T' | b'U' | b'B' | b'C' | 0x8e => {
            let n = match op {
                b'T' | b'B' => le_uint(take(input, 4)?),
                b'U' | b'C' => take(input, 1)?[0] as u64,
                _ => le_uint(take(input, 8)?),
            };
            Value::Bytes(take(input, n as usize)?.to_vec())
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}
