//! Topic matching usable in constants, for compile-time checks in generated code.

/// The end of the level that starts at `start` (the index of the next `/`, or the length).
const fn level_end(s: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < s.len() && s[i] != b'/' {
        i += 1;
    }
    i
}

const fn same_level(
    f: &[u8],
    f_start: usize,
    f_end: usize,
    t: &[u8],
    t_start: usize,
    t_end: usize,
) -> bool {
    if f_end - f_start != t_end - t_start {
        return false;
    }
    let mut k = 0;
    while k < f_end - f_start {
        if f[f_start + k] != t[t_start + k] {
            return false;
        }
        k += 1;
    }
    true
}

/// [`matches`](super::matches) as a `const fn`: whether `topic` matches `filter`.
pub const fn matches_const(filter: &str, topic: &str) -> bool {
    let f = filter.as_bytes();
    let t = topic.as_bytes();
    if !t.is_empty() && t[0] == b'$' && !f.is_empty() && (f[0] == b'+' || f[0] == b'#') {
        return false;
    }
    let (mut i, mut j) = (0, 0);
    loop {
        let f_end = level_end(f, i);
        if f_end - i == 1 && f[i] == b'#' {
            return true;
        }
        let t_end = level_end(t, j);
        let wildcard = f_end - i == 1 && f[i] == b'+';
        if !wildcard && !same_level(f, i, f_end, t, j, t_end) {
            return false;
        }
        let filter_has_more = f_end < f.len();
        let topic_has_more = t_end < t.len();
        if !filter_has_more {
            return !topic_has_more;
        }
        i = f_end + 1;
        if !topic_has_more {
            // Only a final `#` matches the parent level.
            return f.len() - i == 1 && f[i] == b'#';
        }
        j = t_end + 1;
    }
}
