//! Just enough of Python's pickle format to read InsightFace `.bin`
//! verification sets, without Python and without running anything from the
//! file.
//!
//! Written here rather than taken from `serde-pickle` because the sets wrap
//! every JPEG in a numpy array (`numpy.core.multiarray._reconstruct` +
//! `BUILD` state), which a serde mapping drops; this reader keeps calls and
//! their state as plain values ([`Value::Object`]) and never imports or
//! calls anything.

use std::collections::HashMap;
use std::rc::Rc;

/// A value built by the pickle machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// Any integer that fits in 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// `bytes` (protocol 3+) or a Python 2 `str` (protocol 2): raw bytes.
    /// Shared, because the memo keeps a second reference to every value and
    /// a `.bin` set is mostly bytes: copying them would double its memory.
    Bytes(Rc<Vec<u8>>),
    /// A unicode string.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict, as key/value pairs in order.
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name` (never imported).
    Global(String, String),
    /// `callable(*args)` with the state later given by `BUILD`, if any.
    Object {
        /// What would have been called.
        callable: Box<Value>,
        /// Its arguments.
        args: Vec<Value>,
        /// The `BUILD` state.
        state: Option<Box<Value>>,
    },
}

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleError {
    /// The data ended inside an instruction.
    #[error("truncated: the data ends at byte {0} inside an instruction")]
    Truncated(usize),
    /// An opcode this reader does not implement.
    #[error("unsupported pickle opcode 0x{opcode:02x} at byte {at}")]
    Unsupported {
        /// The opcode.
        opcode: u8,
        /// Its offset.
        at: usize,
    },
    /// The instructions do not make sense (stack underflow, bad memo index…).
    #[error("malformed pickle at byte {at}: {reason}")]
    Malformed {
        /// Offset of the instruction.
        at: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Deepest nesting of lists, tuples, dicts and objects accepted. A `.bin`
/// set nests 3 deep; unbounded nesting would overflow the stack when the
/// value is measured or dropped.
pub const MAX_DEPTH: usize = 64;

/// Values a pickle may build or copy in all (each memo GET or DUP copies
/// its value). A `.bin` set of 12,000 images builds about 20,000; a memo
/// bomb of a few hundred bytes would build 2^n without this bound.
pub const MAX_VALUES: usize = 20_000_000;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    at: usize,
    /// Values that may still be built or copied (from [`MAX_VALUES`]).
    budget: usize,
}

/// `(values, depth)` of `v`, visiting at most `budget` values; `None` when
/// it holds more. Recursion stays within [`MAX_DEPTH`] + 1 because every
/// value on the stack was admitted within it.
fn measure(v: &Value, budget: usize) -> Option<(usize, usize)> {
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::List(items) | Value::Tuple(items) => Box::new(items.iter()),
        Value::Dict(pairs) => Box::new(pairs.iter().flat_map(|(k, v)| [k, v])),
        Value::Object {
            callable,
            args,
            state,
        } => Box::new(
            std::iter::once(callable.as_ref())
                .chain(args.iter())
                .chain(state.iter().map(|s| s.as_ref())),
        ),
        _ => return (budget >= 1).then_some((1, 0)),
    };
    let (mut values, mut depth) = (1, 0);
    for child in children {
        let (n, d) = measure(child, budget.checked_sub(values)?)?;
        values += n;
        depth = depth.max(d + 1);
    }
    (values <= budget).then_some((values, depth))
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(PickleError::Truncated(self.data.len()))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated(self.data.len()))?;
        self.pos += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn bad(&self, reason: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            at: self.at,
            reason: reason.into(),
        }
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack.pop().ok_or_else(|| self.bad("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        let at = self.at;
        self.stack.last_mut().ok_or(PickleError::Malformed {
            at,
            reason: "stack underflow".into(),
        })
    }

    /// The items pushed since the last MARK, removing the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.bad("no MARK"))?;
        if mark > self.stack.len() {
            return Err(self.bad("MARK above the stack"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn bytes(&mut self, n: usize) -> Result<Value, PickleError> {
        Ok(Value::Bytes(Rc::new(self.take(n)?.to_vec())))
    }

    fn text(&mut self, n: usize) -> Result<Value, PickleError> {
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec())
            .map(Value::Str)
            .map_err(|_| self.bad("string is not UTF-8"))
    }

    /// Charges `v`'s size to the budget and checks that a container
    /// holding it stays within [`MAX_DEPTH`].
    fn admit(&mut self, v: &Value) -> Result<(), PickleError> {
        let (values, depth) = measure(v, self.budget).ok_or_else(|| {
            self.bad(format!(
                "the pickle builds more than {MAX_VALUES} values (a memo bomb?)"
            ))
        })?;
        if depth + 1 > MAX_DEPTH {
            return Err(self.bad(format!("values nest deeper than {MAX_DEPTH}")));
        }
        self.budget -= values;
        Ok(())
    }

    fn admit_all(&mut self, items: &[Value]) -> Result<(), PickleError> {
        items.iter().try_for_each(|v| self.admit(v))
    }

    /// A copy of `v`, charged to the budget.
    fn copy(&mut self, v: Value) -> Result<Value, PickleError> {
        self.admit(&v)?;
        Ok(v)
    }

    fn memo_get(&mut self, key: u32) -> Result<Value, PickleError> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.bad(format!("memo {key} was never stored")))?;
        self.copy(v)
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let top = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| self.bad("stack underflow"))?;
        let top = self.copy(top)?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn extend_top(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        self.admit_all(&items)?;
        let at = self.at;
        match self.top()? {
            Value::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(PickleError::Malformed {
                at,
                reason: "APPEND to something that is not a list".into(),
            }),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        self.admit_all(&items)?;
        let at = self.at;
        if !items.len().is_multiple_of(2) {
            return Err(self.bad("odd number of dict items"));
        }
        match self.top()? {
            Value::Dict(dict) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
                Ok(())
            }
            _ => Err(PickleError::Malformed {
                at,
                reason: "SETITEM on something that is not a dict".into(),
            }),
        }
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            self.at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                0x95 => {
                    self.u64()?; // FRAME length: frames are only a read-ahead hint
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(self.u8()?);
                    let raw = self.take(n)?;
                    if n > 8 {
                        return Err(self.bad("integer wider than 64 bits"));
                    }
                    let mut buf = if raw.last().is_some_and(|&b| b & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(raw);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'I' => {
                    let line = self.line()?;
                    let v = match line.as_str() {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        s => Value::Int(s.parse().map_err(|_| self.bad("bad INT"))?),
                    };
                    self.stack.push(v);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(v));
                }
                b'U' => {
                    // SHORT_BINSTRING: a Python 2 `str`, i.e. raw bytes.
                    let n = usize::from(self.u8()?);
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                0x8e => {
                    let n = usize::try_from(self.u64()?).map_err(|_| self.bad("size"))?;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                0x96 => {
                    // BYTEARRAY8
                    let n = usize::try_from(self.u64()?).map_err(|_| self.bad("size"))?;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).map_err(|_| self.bad("size"))?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.admit_all(&items)?;
                    self.stack.push(Value::List(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.admit_all(&items)?;
                    self.stack.push(Value::Tuple(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(Vec::new()));
                    self.set_items(items)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(self.bad("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.admit_all(&items)?;
                    self.stack.push(Value::Tuple(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    self.extend_top(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_top(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let k = self.line()?.parse().map_err(|_| self.bad("bad PUT"))?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = u32::from(self.u8()?);
                    let v = self.memo_get(k)?;
                    self.stack.push(v);
                }
                b'j' => {
                    let k = self.u32()?;
                    let v = self.memo_get(k)?;
                    self.stack.push(v);
                }
                b'g' => {
                    let k = self.line()?.parse().map_err(|_| self.bad("bad GET"))?;
                    let v = self.memo_get(k)?;
                    self.stack.push(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err(self.bad("STACK_GLOBAL needs two strings")),
                    }
                }
                b'R' | 0x81 => {
                    // REDUCE / NEWOBJ: recorded, never called.
                    let args = match self.pop()? {
                        Value::Tuple(a) => a,
                        _ => return Err(self.bad("call arguments are not a tuple")),
                    };
                    let callable = Box::new(self.pop()?);
                    self.admit_all(&args)?;
                    self.admit(&callable)?;
                    self.stack.push(Value::Object {
                        callable,
                        args,
                        state: None,
                    });
                }
                b'b' => {
                    let state = self.pop()?;
                    self.admit(&state)?;
                    let at = self.at;
                    match self.top()? {
                        Value::Object { state: slot, .. } => *slot = Some(Box::new(state)),
                        _ => {
                            return Err(PickleError::Malformed {
                                at,
                                reason: "BUILD on something that is not an object".into(),
                            });
                        }
                    }
                }
                b'0' => {
                    self.pop()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    let v = self.copy(v)?;
                    self.stack.push(v);
                }
                opcode => {
                    return Err(PickleError::Unsupported {
                        opcode,
                        at: self.at,
                    });
                }
            }
        }
    }
}

/// Runs the pickle in `data` and returns the value it builds.
pub fn load(data: &[u8]) -> Result<Value, PickleError> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        at: 0,
        budget: MAX_VALUES,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_protocol_2_tuple_of_strings_and_bools() {
        // pickle.dumps((['ab', 'c'], [True, False]), protocol=2) under Python 2.
        let data = b"\x80\x02]q\x00(U\x02abq\x01U\x01cq\x02e]q\x03(\x88\x89e\x86q\x04.";
        assert_eq!(
            load(data).unwrap(),
            Value::Tuple(vec![
                Value::List(vec![
                    Value::Bytes(Rc::new(b"ab".to_vec())),
                    Value::Bytes(Rc::new(b"c".to_vec()))
                ]),
                Value::List(vec![Value::Bool(true), Value::Bool(false)]),
            ])
        );
    }

    #[test]
    fn truncated_and_unknown_input_are_errors_not_panics() {
        let data = b"\x80\x02]q\x00(U\x05ab";
        assert!(matches!(load(data), Err(PickleError::Truncated(_))));
        assert!(matches!(
            load(b"\x80\x02\xff"),
            Err(PickleError::Unsupported { opcode: 0xff, .. })
        ));
        assert!(matches!(load(b"a."), Err(PickleError::Malformed { .. })));
    }

    /// `[]`, then 60 times: put it in the memo and replace it by a list of
    /// two copies. Copying on every GET, this is 2^60 values.
    #[test]
    fn a_memo_bomb_is_refused_quickly() {
        let mut data = b"\x80\x02]".to_vec();
        for _ in 0..60 {
            data.extend_from_slice(b"q\x00(h\x00h\x00l");
        }
        data.push(b'.');
        assert!(data.len() < 500);
        let started = std::time::Instant::now();
        let err = load(&data).unwrap_err();
        assert!(err.to_string().contains("memo bomb"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    /// A million nested lists: refused at the depth limit, no stack overflow.
    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let mut data = b"\x80\x02".to_vec();
        data.extend(std::iter::repeat_n(b']', 1_000_000));
        data.extend(std::iter::repeat_n(b'a', 999_999));
        data.push(b'.');
        let err = load(&data).unwrap_err();
        assert!(err.to_string().contains("nest deeper"), "{err}");
        // DUP and tuples count too.
        let mut data = b"\x80\x02N".to_vec();
        data.extend(std::iter::repeat_n(0x85u8, 100));
        data.push(b'.');
        assert!(load(&data).unwrap_err().to_string().contains("nest deeper"));
    }
}
